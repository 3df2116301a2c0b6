"""Package layering and release bookkeeping (the wheel itself: tests/packaging, `make wheel`)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import circleci_network

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "circleci_network"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions and TYPE_CHECKING blocks."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{f.relative_to(ROOT)} imports {name}"
        for f in files
        for name in _imports(f)
        if any(name == bad or name.startswith(f"{bad}.") for bad in forbidden)
    )


CLOUDS = ("circleci_network.aws", "circleci_network.gcp", "circleci_network.stacks")
PROVIDERS = ("cdktf_cdktf_provider_aws", "cdktf_cdktf_provider_google")
# The repository's own folders, not in the wheel: the library must never import them.
REPOSITORY_ONLY = ("stacks", "tests", "bench", "main")


def test_the_layers_import_only_downwards() -> None:
    core = sorted(PACKAGE.glob("*.py"))
    in_folder = {d: sorted((PACKAGE / d).rglob("*.py")) for d in ("model", "tooling", "aws", "gcp", "audit", "stacks")}
    problems = [
        *_violations(core, (*CLOUDS, *PROVIDERS)),
        # The model: rules, options, resolve. Nothing above it, and no cdktf.
        *_violations(
            in_folder["model"],
            (*CLOUDS, *PROVIDERS, "circleci_network.tooling", "circleci_network.audit", "cdktf", "constructs", "jsii"),
        ),
        *_violations(in_folder["tooling"], (*CLOUDS, *PROVIDERS)),
        *_violations(in_folder["aws"], ("circleci_network.gcp", "circleci_network.stacks", PROVIDERS[1])),
        *_violations(in_folder["gcp"], ("circleci_network.aws", "circleci_network.stacks", PROVIDERS[0])),
        *_violations(in_folder["audit"], (*CLOUDS, *PROVIDERS, "circleci_network.tooling", "cdktf", "constructs")),
        *_violations([PACKAGE / "stacks" / "aws.py"], ("circleci_network.gcp", "circleci_network.stacks.gcp")),
        *_violations([PACKAGE / "stacks" / "gcp.py"], ("circleci_network.aws", "circleci_network.stacks.aws")),
        *_violations(sorted(PACKAGE.rglob("*.py")), REPOSITORY_ONLY),
    ]
    assert problems == []


def test_the_core_the_audit_and_the_environments_load_no_provider() -> None:
    code = (
        "import json, sys\n"
        "import circleci_network, circleci_network.audit\n"
        "plain = sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'jsii', 'constructs'))\n"
        "import circleci_network.stacks, circleci_network.stacks.environments\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('cdktf_cdktf_provider', 'circleci_network.aws',"
        " 'circleci_network.gcp', 'circleci_network.stacks.aws', 'circleci_network.stacks.gcp')))\n"
        "print(json.dumps([plain, loaded]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    plain, loaded = json.loads(done.stdout)
    assert plain == [], "the core and the audit read JSON without cdktf"
    assert loaded == []


def test_the_changelog_has_an_unreleased_section_and_the_version_is_pep_440() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert sections and sections[0] == "Unreleased"
    version = circleci_network.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|(a|b|rc)\d+)?", version), version
    if ".dev" not in version:  # a release names its own section
        assert version in sections
