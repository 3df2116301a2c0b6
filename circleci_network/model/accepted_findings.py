"""Justified acceptances of audit findings about the resources a team keeps beside ours.

A platform team's stack holds more than our network: a database's security group, an ALB of its
own, a bastion. The audit cannot tell what those open for CircleCI, so it reports each one. An
``AcceptedFinding`` says "this one is ours, and here is why": recorded with the network (so a
policy pins it and a reviewer sees it), matched by check and Terraform address, and failing the
audit when it matches nothing. Only findings about resources that are not circleci-network's can
be accepted; the network's own checks (schemes, closed defaults, private tiers, flow logs) and
every flow cannot.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from circleci_network.errors import ConfigurationError
from circleci_network.model.checks import checked_keywords, require_fields

#: The audit's checks about resources the stack holds beside ours, and what accepting one means.
ACCEPTABLE_CHECKS: Mapping[str, str] = {
    "security-group-role": "an AWS security group of yours (no circleci/role tag); its rules are not audited",
    "load-balancer-role": "an AWS load balancer of yours (no circleci/role tag naming one of ours)",
    "subnet-tier": "an AWS subnet of yours in the VPC (no circleci/tier tag)",
    "public-subnet": "a resource of yours in the public subnets, beside the load balancers and NAT",
    "network": "a GCP firewall rule or subnetwork of yours on another network",
    "subnetwork": "a GCP subnetwork of yours on the network",
}
#: The cloud whose audit raises each of them.
CHECK_CLOUDS: Mapping[str, str] = {
    "security-group-role": "aws",
    "load-balancer-role": "aws",
    "subnet-tier": "aws",
    "public-subnet": "aws",
    "network": "gcp",
    "subnetwork": "gcp",
}

#: The audit's checks about circleci-network's own resources: never accepted (fix the stack instead).
OWN_CHECKS = frozenset(
    {
        "accepted-finding",
        "address-type",
        "default-network-acl",
        "default-security-group",
        "flow-logs",
        "load-balancer-annotations",
        "load-balancer-listeners",
        "load-balancer-scheme",
        "load-balancer-security-group",
        "load-balancer-values",
        "outside-peer",
        "policy",
        "private-subnet",
        "recorded-input",
        "security-group-attachment",
        "unread-resource",
        "vpc-endpoints",
    }
)

_ADDRESS = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*$")
_MIN_REASON = 10


@checked_keywords
@dataclass(frozen=True)
class AcceptedFinding:
    """One audit finding a team accepts, with its reason (cdk-nag's justified suppression)."""

    check: str
    """The finding's check ID as the audit prints it, e.g. ``"security-group-role"`` (see ``ACCEPTABLE_CHECKS``)."""
    resource: str
    """The Terraform address the finding names, e.g. ``"aws_security_group.rds"``."""
    reason: str
    """Why it is safe, for the reviewer of the policy file (at least 10 characters)."""

    def __post_init__(self) -> None:
        require_fields(self)
        for name in ("check", "resource", "reason"):
            if not isinstance(getattr(self, name), str):
                raise ConfigurationError(
                    f"AcceptedFinding.{name}", f"{getattr(self, name)!r} is not a string", "give a string"
                )
        if self.check not in ACCEPTABLE_CHECKS:
            if self.check in OWN_CHECKS or self.check.startswith("flow-") or self.check == "unmodelled":
                raise ConfigurationError(
                    "AcceptedFinding.check",
                    f"{self.check!r} is about circleci-network's own resources or flows, which cannot be accepted",
                    "fix the stack (an option such as HardeningOptions.extra_egress widens a flow on purpose), "
                    "or set validate_against_spec=False while the exception is reviewed",
                )
            close = difflib.get_close_matches(self.check, list(ACCEPTABLE_CHECKS), n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            raise ConfigurationError(
                "AcceptedFinding.check",
                f"{self.check!r} is no check the audit reports about your own resources",
                f"{hint}use one of {', '.join(ACCEPTABLE_CHECKS)}",
            )
        if not _ADDRESS.match(self.resource):
            raise ConfigurationError(
                "AcceptedFinding.resource",
                f"{self.resource!r} is not a Terraform resource address",
                'give the address the finding names, e.g. "aws_security_group.rds"',
            )
        if len(self.reason.strip()) < _MIN_REASON:
            raise ConfigurationError(
                "AcceptedFinding.reason",
                f"{self.reason!r} does not say why",
                f"write at least {_MIN_REASON} characters for the reviewer: what the resource is and why it is safe",
            )

    @property
    def key(self) -> tuple[str, str]:
        return (self.check, self.resource)

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "resource": self.resource, "reason": self.reason}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> AcceptedFinding:
        return AcceptedFinding(str(data["check"]), str(data["resource"]), str(data["reason"]))


def check_accepted_findings(accepted: object, field_name: str, cloud: str) -> tuple[AcceptedFinding, ...]:
    """``accepted`` as a tuple of ``AcceptedFinding``, each (check, resource) once, each a check of ``cloud``'s."""
    if isinstance(accepted, (str, bytes)) or not isinstance(accepted, Iterable):
        raise ConfigurationError(
            field_name, f"{accepted!r} is not a tuple of AcceptedFinding", "give a tuple, e.g. (AcceptedFinding(...),)"
        )
    items = tuple(accepted)
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        if not isinstance(item, AcceptedFinding):
            raise ConfigurationError(
                f"{field_name}[{index}]",
                f"{item!r} is not an AcceptedFinding",
                "give AcceptedFinding(check=..., resource=..., reason=...)",
            )
        if CHECK_CLOUDS[item.check] != cloud:
            theirs = ", ".join(c for c, where in CHECK_CLOUDS.items() if where == cloud)
            raise ConfigurationError(
                f"{field_name}[{index}].check",
                f"{item.check!r} is a check of the {CHECK_CLOUDS[item.check].upper()} audit, never raised on {cloud.upper()}",
                f"accept one of {theirs}",
            )
        if item.key in seen:
            raise ConfigurationError(
                f"{field_name}[{index}]",
                f"accepts {item.check} on {item.resource} a second time",
                "give each (check, resource) once",
            )
        seen.add(item.key)
    return items
