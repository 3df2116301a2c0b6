"""A cdktf validation that fails ``synth`` when a stack holding one of our networks opens
other flows than the hardening guide asks for: a rule someone added by hand, an escape
hatch override, a widened port. It runs the audit on the stack's own Terraform JSON.

Turn it off per network with ``validate_against_spec=False`` (for example while a
deliberate exception is reviewed); ``python -m circleci_network audit`` still reports it.
"""

from __future__ import annotations

import jsii
from cdktf import TerraformStack
from constructs import Construct, IValidation

from circleci_network.audit.audit import AuditError, audit_stack
from circleci_network.audit.findings import Finding
from circleci_network.model.accepted_findings import ACCEPTABLE_CHECKS


@jsii.implements(IValidation)
class MatchesHardeningGuide:
    """Added to a network construct's node; cdktf calls ``validate`` during ``synth``."""

    def __init__(self, network: Construct) -> None:
        self._network = network

    def validate(self) -> list[str]:
        stack = TerraformStack.of(self._network)
        name = stack.node.id
        try:
            # to_terraform() resolves tokens: references read as "${aws_security_group.x.id}".
            result = audit_stack(stack.to_terraform(), name, with_notes=False)
        except AuditError as error:
            return [f"{error} (or set validate_against_spec=False on the network's props)"]
        if result.ok:
            return []
        return [
            f"{self._network.node.path} does not match the CircleCI hardening guide "
            "(set validate_against_spec=False on its props to synthesize anyway):",
            *(f"  {d}" for d in result.differences),
            *(f"  unmodelled: {u}" for u in result.unmodelled),
            *(f"  {f}" for f in result.findings),
            *_acceptance_hints(result.findings),
        ]


def _acceptance_hints(findings: list[Finding]) -> list[str]:
    """How to accept a finding about the team's own resource (never one about ours)."""
    own = [f for f in findings if f.check in ACCEPTABLE_CHECKS]
    if not own:
        return []
    return [
        "  if a resource above is your own (not circleci's), add it to the network props' accepted_findings "
        "with your reason (README: Your own resources in the stack):",
        *(f'    AcceptedFinding(check="{f.check}", resource="{f.resource}", reason="..."),' for f in own),
        "  (cdktf's skipValidation below would skip every check; `python -m circleci_network audit` still fails it)",
    ]


def validate_against_spec(network: Construct) -> None:
    network.node.add_validation(MatchesHardeningGuide(network))
