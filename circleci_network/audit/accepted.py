"""The team's accepted findings (``NetworkIntent.accepted_findings``) applied to a stack's findings.

An acceptance covers one finding about a resource of the team's, matched by check and address.
One that matches nothing fails (it would hide the next resource given that address), and an
accepted security group must not ride along with one of ours: a resource in the stack that
attaches both would apply its rules, which the audit does not read, to circleci's instances.
An acceptance never covers one of circleci's own resources: a load balancer or security group
that our resources (the Helm values and the record, our tagged resources, our listeners and
rules) reference, or that bears our name, stays ours whatever its tags say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from circleci_network.audit.facts import HELM_VALUES_LOCAL
from circleci_network.audit.findings import Finding
from circleci_network.audit.terraform_json import OUR_TAGS, Json, address, all_resources, resources
from circleci_network.model.accepted_findings import ACCEPTABLE_CHECKS, AcceptedFinding
from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent
from circleci_network.model.resource_names import LOAD_BALANCER_SHORT_NAMES
from circleci_network.model.roles import Role

#: The accepted checks whose resource may turn out to be circleci's own: check -> resource kind.
_OWN_KINDS = {"load-balancer-role": "aws_lb", "security-group-role": "aws_security_group"}
_RULE_KINDS = ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule", "aws_security_group_rule")


def _named(kind: str) -> re.Pattern[str]:
    """``kind.name`` inside any expression (``${concat([kind.name.id], …)}``), not a data source's."""
    return re.compile(rf"(?<![\w.-]){kind}\.([A-Za-z0-9_-]+)")


_GROUP, _LB, _TARGET_GROUP = _named("aws_security_group"), _named("aws_lb"), _named("aws_lb_target_group")
#: What names a security group the audit cannot resolve: a data source, a variable, a local, a module, an ID.
_UNRESOLVABLE = re.compile(r"\bdata\.[\w-]+\.[\w-]+|\b(?:var|local|module)\.[\w-]+|\bsg-[0-9a-f]+")
#: Keys whose lists name resources without attaching them.
_NOT_ATTACHING = frozenset({"depends_on", "lifecycle", "//"})


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
    own = circleci_own(stack, intent) if any(a.check in _OWN_KINDS for a in intent.accepted_findings) else {}
    refused = {
        a.key: why
        for a in intent.accepted_findings
        if a.check in _OWN_KINDS
        and a.resource.split(".", 1)[0] == _OWN_KINDS[a.check]
        and (why := own.get(a.resource)) is not None
    }
    by_key = {a.key: a for a in intent.accepted_findings if a.key not in refused}
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
        if acceptance.key in refused:
            failing.append(
                Finding(
                    "accepted-finding",
                    acceptance.resource,
                    f"accepts {acceptance.check} on it, but it is circleci's own ({refused[acceptance.key]}): "
                    "it cannot be accepted; give it back its circleci/role tag and remove the acceptance",
                )
            )
        elif acceptance.key not in used:
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


def circleci_own(stack: Json, intent: NetworkIntent) -> dict[str, str]:
    """Load balancers and security groups that are circleci's whatever their tags say, with why:
    named by our locals (the record, the Helm values), by a resource with our tags, by a listener
    forwarding to our target groups or a rule on our groups; a load balancer in one of our groups;
    or bearing our names."""
    own: dict[str, str] = {}
    for what, value in _our_referrers(stack):
        text = json.dumps(value)
        for kind, pattern in (("aws_lb", _LB), ("aws_security_group", _GROUP)):
            for name in pattern.findall(text):
                own.setdefault(address(kind, name), f"{what} names it")
    our_groups = _our_groups(stack)
    for name, lb in resources(stack, "aws_lb").items():
        if carried := sorted(set(_GROUP.findall(json.dumps(lb.get("security_groups")))) & our_groups):
            own.setdefault(address("aws_lb", name), f"it is in circleci's {_addresses(carried)}")
        if lb.get("name") in {f"{intent.name}-{short}" for short in LOAD_BALANCER_SHORT_NAMES.values()}:
            own.setdefault(address("aws_lb", name), f"it bears circleci's name {lb.get('name')!r}")
    for name, group in resources(stack, "aws_security_group").items():
        if group.get("name") in {f"{intent.name}-{role.value}" for role in Role}:
            own.setdefault(address("aws_security_group", name), f"it bears circleci's name {group.get('name')!r}")
    return own


def _tagged(resource: Json) -> bool:
    tags = resource.get("tags")
    return isinstance(tags, dict) and any(tag in tags for tag in OUR_TAGS)


def _our_groups(stack: Json) -> set[str]:
    return {n for n, g in resources(stack, "aws_security_group").items() if _tagged(g)}


def _our_referrers(stack: Json) -> Iterator[tuple[str, object]]:
    """(what it is, its JSON) for everything of ours that may name a load balancer or group."""
    found = stack.get("locals")
    for key, value in (found if isinstance(found, dict) else {}).items():
        if HELM_VALUES_LOCAL in key:
            yield f"local.{key}", value
        elif INTENT_LOCAL in key and isinstance(value, dict):
            yield f"local.{key}", {k: v for k, v in value.items() if k != "accepted_findings"}
    our_groups = _our_groups(stack)
    our_target_groups = {n for n, g in resources(stack, "aws_lb_target_group").items() if _tagged(g)}
    for kind, name, resource in all_resources(stack):
        where = address(kind, name)
        if _tagged(resource):
            yield f"{where} (tagged {'/'.join(t for t in OUR_TAGS if t in resource['tags'])})", resource
        elif kind == "aws_lb_listener" and set(_TARGET_GROUP.findall(json.dumps(resource))) & our_target_groups:
            yield f"{where} (forwarding to circleci's target group)", resource
        elif kind in _RULE_KINDS and set(_GROUP.findall(str(resource.get("security_group_id")))) & our_groups:
            yield f"{where} (a rule on circleci's group)", resource


def _attached_with_ours(stack: Json, used: list[AcceptedFinding]) -> list[Finding]:
    foreign = {a.resource.split(".", 1)[1] for a in used if a.check == "security-group-role"}
    if not foreign:
        return []
    groups = resources(stack, "aws_security_group")
    ours = {
        name
        for name, group in groups.items()
        if isinstance(group.get("tags"), dict) and "circleci/role" in group["tags"]
    }
    findings = []
    for kind, name, resource in all_resources(stack):
        where = address(kind, name)
        if kind == "aws_network_interface_sg_attachment":
            theirs = sorted(set(_GROUP.findall(str(resource.get("security_group_id")))) & foreign)
            if theirs:
                findings.append(
                    Finding(
                        "security-group-attachment",
                        where,
                        f"attaches {_addresses(theirs)} (accepted as yours) to a network interface the audit cannot "
                        "tell from circleci's (its instance may carry circleci's group): attach it in the "
                        "instance's or launch template's own list",
                    )
                )
            continue
        for strings in _attachment_lists(resource):
            named = {group for text in strings for group in _GROUP.findall(text)}
            theirs = sorted(named & foreign)
            if not theirs:
                continue
            with_ours = sorted(named & ours)
            unknown = sorted(
                {m.group(0) for text in strings for m in _UNRESOLVABLE.finditer(text)}
                | {f"aws_security_group.{g}" for g in named - set(groups)}
            )
            if with_ours:
                findings.append(
                    Finding(
                        "security-group-attachment",
                        where,
                        f"attaches {_addresses(theirs)} (accepted as yours) beside circleci's {_addresses(with_ours)}: "
                        "its rules would apply to circleci's instances unaudited; attach only circleci's group",
                    )
                )
            elif unknown:
                findings.append(
                    Finding(
                        "security-group-attachment",
                        where,
                        f"attaches {_addresses(theirs)} (accepted as yours) beside {', '.join(unknown)}, which the "
                        "audit cannot resolve (it may be circleci's group): name only groups of the stack, "
                        "as ${aws_security_group.<name>.id}",
                    )
                )
    return findings


def _addresses(names: list[str]) -> str:
    return ", ".join(address("aws_security_group", n) for n in names)


def _attachment_lists(value: object) -> list[list[str]]:
    """The strings that attach groups together: each list's strings (launch templates, instances, ENIs and
    load balancers list their groups), and each string alone (``${concat([a.id], [b.id])}``)."""
    found: list[list[str]] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(v for k, v in item.items() if k not in _NOT_ATTACHING)
        elif isinstance(item, list):
            strings = [v for v in item if isinstance(v, str)]
            if strings:
                found.append(strings)
            stack.extend(v for v in item if isinstance(v, (dict, list)))
        elif isinstance(item, str):
            found.append([item])
    return found
