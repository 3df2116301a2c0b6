"""The CircleCI Server Helm values this network decides, so the application and the network
cannot drift apart.

Each network records its values as the Terraform local ``circleci-helm-values``. After
``terraform apply``, ``terraform output -raw helm_values`` prints them as YAML with every
ID filled in; at synth, :func:`write_helm_values` writes ``circleci-helm-values.yaml``
beside each stack, where IDs known only after apply read as Terraform references.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cdktf import Fn, TerraformLocal
from constructs import Construct

from circleci_network.audit.stack_files import synthesized_stacks

HELM_VALUES_LOCAL = "circleci-helm-values"
VALUES_FILE = "circleci-helm-values.yaml"


class HelmValues(Construct):
    """The values map as a Terraform local; ``yaml`` is an expression for a stack output."""

    def __init__(
        self, scope: Construct, id: str, *, values: Mapping[str, Any], facts: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(scope, id)
        self.values = values
        #: Network facts no chart reads (v3/v4 profiles): a Terraform output, not values.
        self.facts = facts
        self.local = TerraformLocal(self, HELM_VALUES_LOCAL, dict(values))

    @property
    def yaml(self) -> str:
        return str(Fn.yamlencode(self.local.expression))


def write_helm_values(outdir: Path | str = "cdktf.out") -> list[Path]:
    """Writes the values file beside every synthesized stack that holds a network of ours."""
    written = []
    for stack_file in synthesized_stacks(outdir):
        locals_ = json.loads(stack_file.read_text()).get("locals", {})
        for key, values in locals_.items():
            if HELM_VALUES_LOCAL in key:
                target = stack_file.parent / VALUES_FILE
                header = (
                    f"# CircleCI Server Helm values decided by the network of stack {stack_file.parent.name}.\n"
                    "# ${...} values are known after `terraform apply`: take the complete file from\n"
                    "# `terraform output -raw helm_values` (network.add_outputs(stack) adds it).\n"
                )
                target.write_text(header + to_yaml(values))
                written.append(target)
    return written


_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./-]*$")


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for maps, lists and scalars (enough for values files, no dependency)."""
    pad = "  " * indent
    if isinstance(value, Mapping):
        if not value:
            return pad + "{}\n"
        lines = []
        for key, item in value.items():
            if _is_scalar(item) or not item:
                lines.append(f"{pad}{_scalar(str(key))}: {_scalar(item) if _is_scalar(item) else _empty(item)}\n")
            else:
                lines.append(f"{pad}{_scalar(str(key))}:\n{to_yaml(item, indent + 1)}")
        return "".join(lines)
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return pad + "[]\n"
        return "".join(
            f"{pad}- {_scalar(item)}\n" if _is_scalar(item) else f"{pad}-\n{to_yaml(item, indent + 1)}"
            for item in value
        )
    return pad + _scalar(value) + "\n"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _empty(value: Any) -> str:
    return "{}" if isinstance(value, Mapping) else "[]"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in {"true", "false", "null", "yes", "no", "on", "off", "~"}:
        return text
    return json.dumps(text)  # a JSON string is a valid YAML double-quoted scalar
