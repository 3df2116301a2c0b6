"""The team's accepted findings (``NetworkIntent.accepted_findings``) applied to a stack's findings.

An acceptance covers one finding about a resource of the team's, matched by check and address.
One that matches nothing fails (it would hide the next resource given that address), and an
accepted security group must not ride along with one of ours: a resource in the stack that
attaches both would apply its rules, which the audit does not read, to circleci's instances.
"""

from __future__ import annotations

from dataclasses import dataclass

from circleci_network.audit.findings import Finding
from circleci_network.audit.terraform_json import Json, address, all_resources, referenced, resources
from circleci_network.model.accepted_findings import ACCEPTABLE_CHECKS, AcceptedFinding
from circleci_network.model.intent import NetworkIntent


@dataclass(frozen=True)
class Accepted:
    """A finding the team accepted, with the reason it gave."""

    finding: Finding
    reason: str

    def __str__(self) -> str:
        return f"{self.finding} (accepted: {self.reason})"


def apply_acceptances(
    stack: Json, intent: NetworkIntent, findings: list[Finding]
) -> tuple[list[Finding], list[Accepted]]:
    """The findings that still fail, and those the record's acceptances cover."""
    by_key = {a.key: a for a in intent.accepted_findings}
    failing: list[Finding] = []
    accepted: list[Accepted] = []
    used: set[tuple[str, str]] = set()
    for finding in findings:
        acceptance = by_key.get((finding.check, finding.resource)) if finding.check in ACCEPTABLE_CHECKS else None
        if acceptance is None:
            failing.append(finding)
        else:
            accepted.append(Accepted(finding, acceptance.reason))
            used.add(acceptance.key)
    for acceptance in intent.accepted_findings:
        if acceptance.key not in used:
            failing.append(
                Finding(
                    "accepted-finding",
                    "option:accepted_findings",
                    f"accepts {acceptance.check} on {acceptance.resource}, which the audit does not find: remove it "
                    "(left in, it would accept whatever resource takes that address next)",
                )
            )
    failing += _attached_with_ours(stack, [a for a in intent.accepted_findings if a.key in used])
    return failing, accepted


def _attached_with_ours(stack: Json, used: list[AcceptedFinding]) -> list[Finding]:
    foreign = {a.resource.split(".", 1)[1] for a in used if a.check == "security-group-role"}
    if not foreign:
        return []
    ours = {
        name
        for name, group in resources(stack, "aws_security_group").items()
        if isinstance(group.get("tags"), dict) and "circleci/role" in group["tags"]
    }
    findings = []
    for kind, name, resource in all_resources(stack):
        for listed in _lists(resource):
            named = {group for v in listed if (group := referenced(v, "aws_security_group", "id")) is not None}
            theirs, with_ours = sorted(named & foreign), sorted(named & ours)
            if theirs and with_ours:
                findings.append(
                    Finding(
                        "security-group-attachment",
                        address(kind, name),
                        f"attaches {', '.join(address('aws_security_group', t) for t in theirs)} (accepted as "
                        f"yours) beside circleci's {', '.join(address('aws_security_group', o) for o in with_ours)}: "
                        "its rules would apply to circleci's instances unaudited; attach only circleci's group",
                    )
                )
    return findings


def _lists(value: object) -> list[list[object]]:
    """Every list inside a resource's JSON (security group IDs sit in lists: launch templates, ENIs, LBs)."""
    found: list[list[object]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            found.append(item)
            stack.extend(v for v in item if isinstance(v, (dict, list)))
    return found
