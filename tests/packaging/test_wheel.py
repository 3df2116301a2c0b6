"""The wheel users install: what it holds, its metadata, and that a one-cloud install works.

`make wheel` builds it and passes it in CIRCLECI_NETWORK_WHEEL; run alone, the test builds
its own. Needs pip and the package index (a fresh venv installs the [aws] extra under
constraints.txt), hence the ``tools`` mark.
"""

from __future__ import annotations

import email.parser
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import circleci_network

pytestmark = pytest.mark.tools

ROOT = Path(__file__).resolve().parents[2]
WHEEL_VARIABLE = "CIRCLECI_NETWORK_WHEEL"
SDIST_VARIABLE = "CIRCLECI_NETWORK_SDIST"


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=900)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get(WHEEL_VARIABLE)
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)], ROOT)
    (built,) = out.glob("circleci_network-*.whl")
    return built


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get(SDIST_VARIABLE)
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("sdist")
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)], ROOT)
    (built,) = out.glob("circleci_network-*.tar.gz")
    return built


def test_the_sdist_rebuilds_the_same_wheel(sdist: Path, wheel: Path, tmp_path: Path) -> None:
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    # setup.py copies the start-up hook from startup/: without MANIFEST.in the sdist lacked it and
    # building a wheel from the sdist failed.
    assert {"startup/circleci_network.pth", "startup/_circleci_network_startup.py", "setup.py"} <= members
    assert not any(name.startswith(("tests/", "stacks/", "bench/")) for name in members), "only the library"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(sdist)],
        tmp_path,
    )
    (rebuilt,) = tmp_path.glob("circleci_network-*.whl")
    assert sorted(_names(rebuilt)) == sorted(_names(wheel))


def test_the_wheel_holds_the_library_and_nothing_else(wheel: Path) -> None:
    names = _names(wheel)
    top_level = {name.split("/")[0] for name in names}
    dist_info = f"circleci_network-{circleci_network.__version__}.dist-info"
    # Besides the package, only the start-up hook (setup.py): the .pth runs it at interpreter start.
    startup = {"circleci_network.pth", "_circleci_network_startup.py"}
    assert top_level == {"circleci_network", dist_info, *startup}, "no stacks/, tests/, bench/ or main.py"
    for needed in (
        "py.typed",
        "tooling/lazy_provider_index.js",
        "__init__.py",
        "model/__init__.py",
        "tooling/__init__.py",
        "aws/__init__.py",
        "gcp/__init__.py",
    ):
        assert f"circleci_network/{needed}" in names
    # Every module of the source tree is shipped (a subpackage missing its __init__.py would be dropped).
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "circleci_network").rglob("*.py")}
    assert source - set(names) == set()
    for stack in ("stacks/__init__.py", "stacks/aws.py", "stacks/gcp.py", "stacks/environments.py"):
        assert f"circleci_network/{stack}" in names


def test_the_metadata_states_ranges_and_one_extra_per_cloud(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
    assert metadata["Version"] == circleci_network.__version__
    assert set(metadata.get_all("Provides-Extra") or []) >= {"aws", "gcp", "dev"}
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    pinned = [str(r) for r in requires if any(s.operator in ("==", "===") for s in r.specifier)]
    assert pinned == [], "exact pins belong in constraints.txt, not the metadata"
    by_extra = {
        r.name: (str(r.marker) if r.marker else None, str(r.specifier)) for r in requires if "dev" not in str(r.marker)
    }
    assert by_extra == {
        "cdktf": (None, "<0.22,>=0.21"),
        "constructs": (None, "<11,>=10.4.2"),
        "cdktf-cdktf-provider-aws": ('extra == "aws"', "<22,>=21"),
        "cdktf-cdktf-provider-google": ('extra == "gcp"', "<17,>=16"),
    }


# Run in the fresh venv, from a folder without the source tree: only the installed wheel is importable.
CHECK_CORE = """
import importlib.util, json, sys
import circleci_network, circleci_network.audit, circleci_network.stacks, circleci_network.stacks.environments
assert circleci_network.__file__.startswith(sys.prefix), circleci_network.__file__
providers = sorted(m for m in sys.modules if m.startswith("cdktf_cdktf_provider"))
errors = {}
for module in ("circleci_network.aws", "circleci_network.gcp"):
    try:
        __import__(module)
    except ModuleNotFoundError as error:
        errors[module] = str(error)
print(json.dumps({"version": circleci_network.__version__, "providers": providers, "errors": errors,
                  "stacks": importlib.util.find_spec("stacks") is not None}))
"""

CHECK_AWS = """
import importlib.util, json, sys
from circleci_network.tooling.provider_loading import load_provider_javascript_lazily
load_provider_javascript_lazily()
from cdktf import App, Testing
from circleci_network.aws import AwsNetworkProps, VpcProps
from circleci_network.stacks.aws import AwsStackProps, CircleciAwsStack
app = App()
props = AwsStackProps(region="eu-west-1", network=AwsNetworkProps(vpc=VpcProps(availability_zones=("eu-west-1a", "eu-west-1b"))))
stack = json.loads(Testing.synth(CircleciAwsStack(app, "circleci-aws", props=props)))
print(json.dumps({"google": importlib.util.find_spec("cdktf_cdktf_provider_google") is not None,
                  "google_loaded": any(m.startswith("cdktf_cdktf_provider_google") for m in sys.modules),
                  "vpcs": len(stack["resource"]["aws_vpc"]), "provider": sorted(stack["provider"])}))
"""


def test_a_fresh_venv_installs_the_core_then_only_aws(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    pip = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-c",
        str(ROOT / "constraints.txt"),
    ]

    _run([*pip, str(wheel)], tmp_path)
    core = json.loads(_run([python, "-c", CHECK_CORE], tmp_path).stdout)
    assert core["version"] == circleci_network.__version__
    assert core["providers"] == [], "the core, the audit and the environments load no provider"
    assert core["stacks"] is False, "no top-level `stacks` package is installed"
    assert set(core["errors"]) == {"circleci_network.aws", "circleci_network.gcp"}
    assert "circleci-network[aws]" in core["errors"]["circleci_network.aws"]
    assert "circleci-network[gcp]" in core["errors"]["circleci_network.gcp"]

    _run([*pip, f"{wheel}[aws]"], tmp_path)
    aws = json.loads(_run([python, "-c", CHECK_AWS], tmp_path).stdout)
    assert aws == {"google": False, "google_loaded": False, "vpcs": 1, "provider": ["aws"]}
