"""Every ```python block of README.md runs as written, in a fresh interpreter in an empty directory.

A block whose first line is ``# name.py`` is that file of the user's repo (written before any block
runs, so a test file can import ``main``); ``# test_*.py`` blocks run under pytest, the others as
scripts. A block that synthesizes must write stacks that pass the audit. A block is skipped only
with ``<!-- readme-test: skip: reason -->`` on the line before it, in README.md.

Like an installed package, the interpreter runs ``circleci_network.pth`` at start (the editable
install in .venv has none): the README's import order is then the fast one. ~3 s a block.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.apps.readme import STARTUP, Block, library_first, python_blocks

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


BLOCKS = python_blocks(README.read_text())


def test_the_readme_has_its_examples() -> None:
    # AWS and GCP stacks, and a test file using the plugin's fixtures.
    assert len(BLOCKS) >= 3
    assert any(b.file_name and b.file_name.startswith("test_") for b in BLOCKS)


def test_blocks_are_found_and_skips_need_a_reason() -> None:
    text = (
        "a\n```python\nprint(1)\n```\n<!-- readme-test: skip: needs AWS credentials -->\n```python\n# main.py\nx\n```\n"
    )
    assert python_blocks(text) == [
        Block(2, "print(1)\n", None, None),
        Block(6, "# main.py\nx\n", "main.py", "needs AWS credentials"),
    ]


def test_the_bench_moves_our_imports_first() -> None:
    code = "from cdktf import App\nfrom circleci_network.aws import X\n\nimport circleci_network\napp = App()\n"
    assert (
        library_first(code)
        == "from circleci_network.aws import X\nimport circleci_network\nfrom cdktf import App\n\napp = App()\n"
    )


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLECI_NETWORK_", "CDKTF_", "PYTEST_"))}
    env.pop("NODE_OPTIONS", None)
    # This checkout's package (the venv's editable install may point at another checkout).
    env |= {"PYTHONPATH": str(ROOT), "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _python(script: str) -> list[str]:
    # What site-packages' circleci_network.pth does at start, then the file as `python file.py`.
    run = f"import runpy, site; site.addsitedir({str(STARTUP)!r}); runpy.run_path({script!r}, run_name='__main__')"
    return [sys.executable, "-c", run]


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_a_readme_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    for other in BLOCKS:  # the user's repo: every named file
        if other.file_name:
            (tmp_path / other.file_name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / other.file_name).write_text(other.code)
    name = block.file_name or "block.py"
    (tmp_path / name).write_text(block.code)
    if Path(name).name.startswith("test_"):
        # As a user's pytest runs it, plugin included (named: the venv's install may predate its entry point).
        plugin = "import site; site.addsitedir({!r}); import pytest, sys; sys.exit(pytest.main(sys.argv[1:]))"
        command = [sys.executable, "-c", plugin.format(str(STARTUP)), name, "-p", "circleci_network.pytest_plugin"]
        done = _run([*command, "-p", "no:cacheprovider", "-q"], tmp_path)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return
    done = _run(_python(name), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    if "app.synth()" in block.code:
        stacks = list((tmp_path / "cdktf.out" / "stacks").glob("*/cdk.tf.json"))
        assert stacks, "the block synthesized nothing"
        audit = _run([sys.executable, "-m", "circleci_network", "audit", "cdktf.out"], tmp_path)
        assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
        if "write_synth_files(app.outdir)" in block.code:
            # The policy the team commits: the stack holds to it.
            folder = tmp_path / "policy"
            for stack in stacks:
                assert (stack.parent / "circleci-network-policy.json").is_file()
                assert (stack.parent / ".checkov.baseline").is_file()
                (folder / stack.parent.name).mkdir(parents=True)
                (stack.parent / "circleci-network-policy.json").rename(
                    folder / stack.parent.name / "circleci-network-policy.json"
                )
            held = _run(
                [sys.executable, "-m", "circleci_network", "audit", "cdktf.out", "--policy", "policy"], tmp_path
            )
            assert held.returncode == 0, held.stdout[-3000:] + held.stderr[-3000:]
