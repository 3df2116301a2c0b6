"""The lazy provider JavaScript preload: what it rewrites, when it applies, and that output is unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from circleci_network.tooling.provider_loading import EAGER_JAVASCRIPT_VARIABLE, LAZY_INDEX_PRELOAD

ROOT = Path(__file__).resolve().parents[1]
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")


def _fresh_python(code: str, **env: str) -> str:
    # A new interpreter: in this one jsii may already be running, and NODE_OPTIONS must stay untouched.
    base = {k: v for k, v in os.environ.items() if k not in ("NODE_OPTIONS", EAGER_JAVASCRIPT_VARIABLE)}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**base, **env}, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


SET_UP = (
    "import os\n"
    "{before}from circleci_network.tooling.provider_loading import load_provider_javascript_lazily as f\n"
    "print(f(), os.environ.get('NODE_OPTIONS', ''))"
)


def test_the_preload_is_added_to_node_options_before_jsii_starts() -> None:
    out = _fresh_python(SET_UP.format(before=""), NODE_OPTIONS="--max-http-header-size=9000")
    assert out.startswith("True --max-http-header-size=9000 --require ")
    assert str(LAZY_INDEX_PRELOAD) in out


def test_it_does_nothing_once_jsii_runs_or_when_asked_for_eager_loading() -> None:
    assert _fresh_python(SET_UP.format(before="import constructs\n")) == "False"
    assert _fresh_python(SET_UP.format(before=""), **{EAGER_JAVASCRIPT_VARIABLE: "1"}) == "False"


@needs_node
def test_a_provider_index_requires_its_modules_on_first_use(tmp_path: Path) -> None:
    lib = tmp_path / "node_modules" / "@cdktf" / "provider-fake" / "lib"
    lib.mkdir(parents=True)
    (lib / "index.js").write_text(
        '"use strict";\nexports.b = exports.a = void 0;\n'
        'exports.a = require("./a");\nexports.b = require("./b-thing");\n'
    )
    (lib / "a.js").write_text("globalThis.loaded = (globalThis.loaded || []).concat('a'); exports.A = 1;\n")
    (lib / "b-thing.js").write_text("globalThis.loaded = (globalThis.loaded || []).concat('b'); exports.B = 2;\n")
    script = (
        "const p = require('@cdktf/provider-fake/lib/index.js');"
        "const before = globalThis.loaded || [];"
        "const value = p.b.B;"
        "console.log(JSON.stringify({before, value, after: globalThis.loaded, keys: Object.keys(p).sort()}));"
    )
    done = subprocess.run(
        ["node", "--require", str(LAZY_INDEX_PRELOAD), "-e", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == {"before": [], "value": 2, "after": ["b"], "keys": ["a", "b"]}


@needs_node
def test_main_synthesizes_the_same_stacks_with_lazy_provider_javascript(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k != "NODE_OPTIONS"}
    base |= {"CHECKPOINT_DISABLE": "1", "CIRCLECI_NETWORK_CLOUDS": "aws,gcp"}

    def synth(mode: str) -> Path:
        out = tmp_path / mode
        env = {**base, "CDKTF_OUTDIR": str(out)}
        if mode == "eager":
            command = [sys.executable, "main.py"]
            env[EAGER_JAVASCRIPT_VARIABLE] = "1"
        else:
            command = [sys.executable, "-m", "bench.apps.reference"]
        subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        return out

    with ThreadPoolExecutor(2) as pool:  # two cold jsii starts side by side
        eager, lazy = pool.map(synth, ["eager", "lazy"])
    files = sorted(p.relative_to(eager) for p in eager.rglob("*") if p.is_file())
    assert files, "main.py wrote nothing"
    assert files == sorted(p.relative_to(lazy) for p in lazy.rglob("*") if p.is_file())
    for name in files:
        assert (eager / name).read_bytes() == (lazy / name).read_bytes(), name


# What the wheel's circleci_network.pth does at interpreter start (an editable install has no .pth).
STARTUP = ROOT / "startup"
WITH_STARTUP_HOOK = f"import site\nsite.addsitedir({str(STARTUP)!r})\n"
PROBE = (
    "import os, sys\n"
    "{first}\n"
    "import jsii\n"  # imported, not started: node reads NODE_OPTIONS at the first assembly load
    "pkg = sys.modules['cdktf_cdktf_provider_google']\n"
    "loaded = sorted(m for m in sys.modules if m.startswith('cdktf_cdktf_provider_google.'))\n"
    "print(hasattr(pkg, '__all__'), loaded, pkg.compute_network.__name__, os.environ.get('NODE_OPTIONS', ''))"
)


@pytest.mark.parametrize(
    ("first", "startup_hook"),
    [
        ("import cdktf_cdktf_provider_google", True),  # the user's own import first: the .pth's hook
        ("import circleci_network, cdktf_cdktf_provider_google", False),  # ours first: no .pth needed
    ],
)
def test_a_provider_package_imports_bare_and_node_gets_the_preload_whatever_comes_first(
    first: str, startup_hook: bool
) -> None:
    code = (WITH_STARTUP_HOOK if startup_hook else "") + PROBE.format(first=first)
    all_defined, loaded, submodule, options = _fresh_python(code).split(" ", 3)
    # Its __init__ (which defines __all__ and imports ~1,000 modules) did not run; attributes still resolve.
    assert (all_defined, loaded) == ("False", "[]")
    assert submodule == "cdktf_cdktf_provider_google.compute_network"
    assert options == f'--require "{LAZY_INDEX_PRELOAD}"'


def test_the_import_hook_can_be_turned_off() -> None:
    code = WITH_STARTUP_HOOK + (
        "import sys, circleci_network\n"
        "print(sorted({type(f).__name__ if not isinstance(f, type) else f.__name__ for f in sys.meta_path}"
        " & {'_Trigger', 'LazyProviderFinder'}))"
    )
    assert _fresh_python(code) == "['LazyProviderFinder', '_Trigger']"
    assert _fresh_python(code, CIRCLECI_NETWORK_IMPORT_HOOK="0") == "[]"
    assert _fresh_python(code, CIRCLECI_NETWORK_IMPORT_HOOK=" Off") == "[]"


def test_an_unreadable_import_hook_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from circleci_network.errors import ConfigurationError
    from circleci_network.tooling.provider_loading import IMPORT_HOOK_VARIABLE, install_import_hook

    monkeypatch.setenv(IMPORT_HOOK_VARIABLE, "disabled")
    with pytest.raises(ConfigurationError, match=r"^CIRCLECI_NETWORK_IMPORT_HOOK: 'disabled' is neither on nor off"):
        install_import_hook()
    monkeypatch.setenv(IMPORT_HOOK_VARIABLE, "1")
    assert install_import_hook()


def test_the_build_puts_the_startup_hook_at_the_root_of_site_packages(tmp_path: Path) -> None:
    # setup.py's build_py fills build_lib, which is what the wheel installs into site-packages.
    build = tmp_path / "lib"
    code = (
        "import runpy, setuptools\n"
        "command = runpy.run_path('setup.py')['BuildPyWithStartupHook']\n"
        "build_py = command(setuptools.Distribution({'packages': ['circleci_network'], 'script_name': 'setup.py'}))\n"
        f"build_py.build_lib = {str(build)!r}\n"
        "build_py.ensure_finalized()\n"
        "build_py.run()\n"
        "print(sorted(p.rsplit('/', 1)[-1] for p in build_py.get_outputs(include_bytecode=False) if '/circleci_network/' not in p))"
    )
    assert _fresh_python(code) == "['_circleci_network_startup.py', 'circleci_network.pth']"
    assert (build / "circleci_network.pth").read_text() == "import _circleci_network_startup\n"
    assert (build / "_circleci_network_startup.py").is_file()
    assert (build / "circleci_network" / "__init__.py").is_file()
