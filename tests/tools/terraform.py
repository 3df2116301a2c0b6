"""Terraform on a throw-away copy of a synthesized stack, with the local provider mirror.

The library pins hashicorp/aws 6.25.0 (the last prebuilt cdktf bindings); this machine's
mirror holds another version. Only the copy's ``*_override.tf.json`` relaxes the pin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.tools.tooling import require_executable, run, timed, tool_env

MIRROR_VARIABLE = "CIRCLECI_NETWORK_TF_MIRROR"
DEFAULT_MIRROR = Path("/opt/tf-plugins")
AWS_SOURCE = "registry.terraform.io/hashicorp/aws"


@dataclass(frozen=True)
class ProviderMirror:
    path: Path
    aws_version: str


def find_mirror() -> ProviderMirror:
    root = Path(os.environ.get(MIRROR_VARIABLE, str(DEFAULT_MIRROR)))
    versions = sorted(
        (p.name for p in (root / AWS_SOURCE).glob("*") if any(p.glob("*/terraform-provider-aws*"))),
        key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit()),
    )
    if not versions:
        pytest.fail(
            f"no hashicorp/aws provider in the filesystem mirror {root}/{AWS_SOURCE}/<version>/<os_arch>/: "
            f"set {MIRROR_VARIABLE} to a mirror (`terraform providers mirror DIR` on a machine with registry access)",
            pytrace=False,
        )
    return ProviderMirror(root, versions[-1])


def terraform_binary() -> Path:
    return require_executable(
        "terraform", "TERRAFORM", None, "install terraform >= 1.10 on PATH (or set TERRAFORM to its path)"
    )


class WorkingCopy:
    """A directory holding one stack's ``cdk.tf.json`` plus our override files."""

    def __init__(self, stack_file: Path, directory: Path, binary: Path, mirror: ProviderMirror) -> None:
        self.directory = directory
        self.binary = binary
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copy(stack_file, directory / "cdk.tf.json")
        cli_config = directory / "terraform.tfrc"
        cli_config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror.path}"\n    include = ["{AWS_SOURCE}"]\n  }}\n'
            '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
        )
        self.env = tool_env(TF_CLI_CONFIG_FILE=str(cli_config), TF_IN_AUTOMATION="1", TF_INPUT="0")
        for variable in ("TF_PLUGIN_CACHE_DIR", "TF_WORKSPACE", "TF_DATA_DIR"):
            self.env.pop(variable, None)
        # The mirror's version instead of the library's pin, and local state in this directory
        # (replaces whatever backend the stack names, S3 included).
        self.write_override(
            "verify_pin",
            {
                "terraform": {
                    "required_providers": {"aws": {"source": "hashicorp/aws", "version": mirror.aws_version}},
                    "backend": {"local": {"path": "terraform.tfstate"}},
                }
            },
        )

    def write_override(self, name: str, content: dict[str, Any]) -> Path:
        path = self.directory / f"{name}_override.tf.json"
        path.write_text(json.dumps(content, indent=2))
        return path

    def __call__(
        self, *args: str, step: str | None = None, ok_codes: tuple[int, ...] = (0,), timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        words = 2 if args[0] in ("state", "providers", "workspace") else 1  # flags go after the subcommand
        command = [str(self.binary), *args[:words], "-no-color", *args[words:]]
        if step is None:
            return run(command, cwd=self.directory, env=self.env, ok_codes=ok_codes, timeout=timeout)
        with timed(step):
            return run(command, cwd=self.directory, env=self.env, ok_codes=ok_codes, timeout=timeout)

    def show_plan(self, plan_file: str) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self("show", "-json", plan_file).stdout)
        return shown
