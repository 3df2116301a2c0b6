"""Where cdktf puts synthesized stacks: one iterator for every writer of files beside them
(scanner baselines, Helm values, policies) and for the audit."""

from __future__ import annotations

from pathlib import Path

STACK_FILE = "cdk.tf.json"
#: What Terraform (and OpenTofu) read as one configuration from a folder, override files included.
_CONFIGURATION = (".tf", ".tf.json", ".tofu", ".tofu.json")


def synthesized_stacks(outdir: str | Path) -> list[Path]:
    """``<outdir>/stacks/*/cdk.tf.json``, sorted."""
    return sorted(Path(outdir).glob(f"stacks/*/{STACK_FILE}"))


def stack_files(path: Path) -> list[Path]:
    """``cdktf.out`` (or its ``stacks`` folder), a stack folder, or a ``.tf.json`` file; [] if none.
    A stack folder's stack is its ``cdk.tf.json``; ``read_beside`` names what else Terraform reads there."""
    if path.is_file():
        return [path]
    if (path / STACK_FILE).is_file():
        return [path / STACK_FILE]
    return synthesized_stacks(path) or sorted(path.glob(f"*/{STACK_FILE}")) or sorted(path.glob("*.tf.json"))


def read_beside(file: Path, *, given: bool = False) -> list[Path]:
    """The other files Terraform reads as one configuration with ``file`` (``extra.tf``, ``main.tf.json``,
    ``cdk_override.tf.json``): the audit reads the stack file alone, so each of these is refused.
    A file ``given`` by its own path is a stack apart unless it is a ``cdk.tf.json``."""
    if given and file.name != STACK_FILE:
        return []
    return sorted(
        other
        for other in file.parent.iterdir()
        if other.name != file.name and _configuration(other.name) and other.is_file()
    )


def _configuration(name: str) -> bool:
    """Terraform's own test: a configuration suffix, and not a hidden or editor's file."""
    ignored = name.startswith(".") or name.endswith("~") or (name.startswith("#") and name.endswith("#"))
    return not ignored and name.endswith(_CONFIGURATION)


def stack_name(file: Path) -> str:
    return file.parent.name if file.name == STACK_FILE else file.name.removesuffix(".json").removesuffix(".tf")
