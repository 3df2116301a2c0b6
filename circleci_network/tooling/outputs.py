"""Stack outputs of a network, named the way Terraform modules for EKS or GKE take them.

Each network lists its outputs once (``CircleciAwsNetwork.outputs()`` /
``CircleciGcpNetwork.outputs()``); :func:`add_outputs` writes them into a stack. Output IDs
are unique per stack, so a second network in the same stack needs its own ``prefix``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from circleci_network.errors import ConfigurationError
from circleci_network.model.roles import Role

_PREFIX = re.compile(r"^([a-z][a-z0-9_]*_)?$")


@dataclass(frozen=True)
class Output:
    value: Any
    description: str


def snake(role_or_value: Role | str) -> str:
    """``k8s-nodes`` -> ``k8s_nodes``: Terraform names outputs and variables in snake case."""
    value = role_or_value.value if isinstance(role_or_value, Role) else role_or_value
    return value.replace("-", "_")


def add_outputs(
    scope: Construct, outputs: Mapping[str, Output], *, stack: TerraformStack | None, prefix: str
) -> dict[str, TerraformOutput]:
    """Adds every output to ``stack`` (default: the stack holding ``scope``) as ``prefix + name``."""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        raise ConfigurationError(
            "add_outputs.prefix",
            f"{prefix!r} is not an output name prefix",
            'use "" or lowercase letters, digits and "_", starting with a letter and ending with "_", e.g. "dev_"',
        )
    target = TerraformStack.of(scope) if stack is None else stack
    for name in outputs:
        if target.node.try_find_child(prefix + name) is not None:
            raise ConfigurationError(
                "add_outputs.prefix",
                f"stack {target.node.id!r} already has an output or construct {prefix + name!r}",
                'give each network in a stack its own prefix, e.g. add_outputs(stack, prefix="second_")',
            )
    return {
        name: TerraformOutput(target, prefix + name, value=output.value, description=output.description)
        for name, output in outputs.items()
    }
