"""The real `cdktf synth` (npm cdktf-cli, pinned in verify/package.json) on the project's
cdktf.json writes the same stacks as `python main.py`.

Measured with cdktf-cli 0.21.0: the outputs are identical, "//" metadata included. The
local backend's state path comes from the project directory, not the output directory,
so with both run from the project root no field legitimately differs, and none is ignored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.tools.tooling import PROJECT, require_executable, run, timed, tool_env

pytestmark = pytest.mark.tools


def cdktf_cli() -> Path:
    return require_executable(
        "cdktf",
        "CDKTF_CLI",
        PROJECT / "verify" / "node_modules" / ".bin" / "cdktf",
        "run `make verify`: it installs cdktf-cli from verify/package-lock.json (`npm ci --prefix verify`)",
    )


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(a.keys() | b.keys()) for d in differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path or '/'}: {json.dumps(a)[:200]} != {json.dumps(b)[:200]}"]


def written_files(outdir: Path) -> dict[str, Any]:
    """Every file of an output directory: JSON parsed (key order aside), others as text."""
    return {
        p.relative_to(outdir).as_posix(): json.loads(p.read_text())
        if p.suffix == ".json" or p.name.endswith(".baseline")
        else p.read_text()
        for p in sorted(outdir.rglob("*"))
        if p.is_file()
    }


def test_cdktf_cli_synth_writes_what_python_main_writes(synth_outdir: Path, tmp_path: Path) -> None:
    cli_outdir = tmp_path / "cdktf-cli.out"
    with timed("cdktf synth (npm cdktf-cli)"):
        run([cdktf_cli(), "synth", "--output", str(cli_outdir)], cwd=PROJECT, env=tool_env(CI="1"), timeout=600)
    from_cli, from_python = written_files(cli_outdir), written_files(synth_outdir)
    assert any(name.endswith("/cdk.tf.json") for name in from_python)
    assert sorted(from_cli) == sorted(from_python)
    found = [f"{name}{d}" for name in from_python for d in differences(from_cli[name], from_python[name])]
    assert found == [], "cdktf synth and python main.py differ:\n" + "\n".join(found[:40])
