"""Audit synthesized stacks: effective flows of the JSON against the model for its options."""

from __future__ import annotations

import json
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

from circleci_network.audit.aws_view import AwsView
from circleci_network.audit.engine import (
    Difference,
    Flows,
    blocked_by,
    compare,
    cut,
    effective_flows,
    half_flows,
    stateless_filters,
)
from circleci_network.audit.expected import ExpectedView
from circleci_network.audit.gcp_view import GcpView
from circleci_network.audit.terraform_json import Json
from circleci_network.audit.views import NetworkView
from circleci_network.intent import INTENT_LOCAL, NetworkIntent
from circleci_network.roles import COMPUTE_ROLES


@dataclass
class StackAudit:
    stack: str
    intent: NetworkIntent
    flows: Flows
    expected: Flows
    differences: list[Difference]
    #: Grants the audit cannot place: each one fails the audit.
    unmodelled: list[str]
    #: What the cloud's rendering opens beyond the pure model (informational).
    inherent: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences and not self.unmodelled

    def summary(self) -> str:
        lines = [f"{self.stack} ({self.intent.cloud}): {'OK' if self.ok else 'DIFFERS FROM THE SPEC'}"]
        lines += [f"  {d}" for d in self.differences]
        lines += [f"  UNMODELLED: {u}" for u in self.unmodelled]
        return "\n".join(lines)


class AuditError(ValueError):
    """The JSON cannot be audited (no intent, or several networks in one stack)."""


def intents(stack: Json) -> list[NetworkIntent]:
    return [NetworkIntent.from_json(value) for key, value in stack.get("locals", {}).items() if INTENT_LOCAL in key]


def audit_stack(stack: Json, name: str = "stack", *, with_notes: bool = True) -> StackAudit:
    """``with_notes=False`` skips the informational ``inherent`` pass (synth-time validation)."""
    found = intents(stack)
    if len(found) != 1:
        raise AuditError(
            f"{name}: found {len(found)} circleci-network intents; the audit reads exactly one network per stack"
        )
    intent = found[0]
    actual: NetworkView = AwsView(stack, intent) if intent.cloud == "aws" else GcpView(stack, intent)
    for role, cidrs in intent.role_cidrs.items():
        actual.book.ranges.setdefault(role, [IPv4Network(c) for c in cidrs])
    unplaced = [role.value for role in COMPUTE_ROLES if not actual.book.ranges.get(role)]
    if unplaced:
        raise AuditError(
            f"{name}: cannot tell where {', '.join(unplaced)} live: the stack has no subnets of theirs; "
            "give SecurityGroupProps.role_subnet_cidrs when the subnets are managed elsewhere"
        )
    rendered = ExpectedView(intent, actual.book)
    pure = ExpectedView(intent, actual.book, as_rendered=False)
    cells = cut([actual, rendered, pure], actual.book)
    flows = effective_flows(actual, cells)
    expected = effective_flows(rendered, cells)
    differences = compare(flows, expected, lambda key: blocked_by(actual, cells, key))
    flagged = {(d.source, d.destination) for d in differences}
    for d in compare(half_flows(actual, cells), half_flows(rendered, cells)):
        # A one-sided difference matters only where no flow difference already names the pair.
        end = d.destination.split(" (")[0]
        if (d.source, end) not in flagged and (end, d.source) not in flagged:
            differences.append(d)
    if (filters := stateless_filters(actual)) is not None:
        differences += filters.stateless_differences(rendered, cells)
    return StackAudit(
        stack=name,
        intent=intent,
        flows=flows,
        expected=expected,
        differences=differences,
        unmodelled=actual.unmodelled(),
        inherent=[d for d in compare(expected, effective_flows(pure, cells)) if d.kind == "extra"]
        if with_notes
        else [],
    )


def stack_files(path: Path) -> list[Path]:
    """``cdktf.out`` (or its ``stacks`` folder), a stack folder, or a ``.tf.json`` file."""
    if path.is_file():
        return [path]
    found = (
        sorted(path.glob("stacks/*/cdk.tf.json"))
        or sorted(path.glob("*/cdk.tf.json"))
        or sorted(path.glob("*.tf.json"))
    )
    if not found:
        raise AuditError(f"{path}: no synthesized stacks (expected stacks/*/cdk.tf.json); run `make synth` first")
    return found


def audit_path(path: Path) -> list[StackAudit]:
    results = []
    for file in stack_files(path):
        stack = json.loads(file.read_text())
        if intents(stack):
            name = file.parent.name if file.name == "cdk.tf.json" else file.stem
            results.append(audit_stack(stack, name))
    return results


def assert_matches_spec(stack: Json | str | Path, name: str = "stack") -> StackAudit:
    """For users' own tests: fails with every missing and extra flow, and the resources behind it.

    ``stack`` is the synthesized stack as a dict, as JSON text (``Testing.synth(stack)``) or as
    the path of its ``cdk.tf.json``.
    """
    if isinstance(stack, str) and stack.lstrip().startswith("{"):
        loaded: Json = json.loads(stack)
    elif isinstance(stack, (str, Path)):
        loaded = json.loads(Path(stack).read_text())
    else:
        loaded = stack
    result = audit_stack(loaded, name)
    if not result.ok:
        raise AssertionError(result.summary())
    return result
