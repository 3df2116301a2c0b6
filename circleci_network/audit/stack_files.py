"""Where cdktf puts synthesized stacks: one iterator for every writer of files beside them
(scanner baselines, Helm values, policies) and for the audit."""

from __future__ import annotations

from pathlib import Path

STACK_FILE = "cdk.tf.json"


def synthesized_stacks(outdir: str | Path) -> list[Path]:
    """``<outdir>/stacks/*/cdk.tf.json``, sorted."""
    return sorted(Path(outdir).glob(f"stacks/*/{STACK_FILE}"))


def stack_files(path: Path) -> list[Path]:
    """``cdktf.out`` (or its ``stacks`` folder), a stack folder, or a ``.tf.json`` file; [] if none."""
    if path.is_file():
        return [path]
    return synthesized_stacks(path) or sorted(path.glob(f"*/{STACK_FILE}")) or sorted(path.glob("*.tf.json"))


def stack_name(file: Path) -> str:
    return file.parent.name if file.name == STACK_FILE else file.name.removesuffix(".json").removesuffix(".tf")
