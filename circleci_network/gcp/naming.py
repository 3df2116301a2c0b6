"""Every GCP name the prefix reaches, with Google's limit, in one table.

Each props class checks the prefix against the names its construct builds (``kinds``);
``GcpNetworkProps`` checks all of them once, so the error names the field the user set.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from circleci_network.errors import ConfigurationError
from circleci_network.gcp.settings import NAME_LIMIT
from circleci_network.model.options import HardeningOptions
from circleci_network.model.resolve import Cloud, resolve_policy
from circleci_network.model.roles import COMPUTE_ROLES, LOAD_BALANCERS, Role
from circleci_network.model.rules import Direction
from circleci_network.model.server_versions import ServerVersion

#: Service account IDs are 6-30 characters.
ACCOUNT_ID_LIMIT = 30


@dataclass(frozen=True)
class NamedResource:
    kind: str  # which construct builds it: "vpc", "identities", "firewall", "addresses"
    what: str
    name: str
    limit: int


def baseline_name(name: str, role: Role, direction: Direction) -> str:
    return f"{name}-{role.value}-deny-all-{direction.value}"


def rerun_deny_name(name: str, role: Role) -> str:
    return f"{name}-{role.value}-deny-rerun-from-k8s-nodes"


def job_deny_name(name: str) -> str:
    """With ``Platform.GKE`` only (checked by ``FirewallProps``)."""
    return f"{name}-k8s-nodes-deny-from-jobs"


def names_from_prefix(
    prefix: str, region: str | None, hardening: HardeningOptions | None, server_version: ServerVersion | None = None
) -> list[NamedResource]:
    """Every GCP name built from the prefix (the subnet's needs ``region``, firewall rules ``hardening``)."""
    names = [
        NamedResource("vpc", "network", prefix, NAME_LIMIT),
        NamedResource("vpc", "secondary range", f"{prefix}-services", NAME_LIMIT),
        NamedResource("vpc", "route", f"{prefix}-internet-via-nat", NAME_LIMIT),
        NamedResource("vpc", "router", f"{prefix}-router", NAME_LIMIT),
        NamedResource("vpc", "Cloud NAT", f"{prefix}-nat", NAME_LIMIT),
    ]
    if region is not None:
        names.append(NamedResource("vpc", "subnet", f"{prefix}-{region}", NAME_LIMIT))
    for role in COMPUTE_ROLES:
        names.append(NamedResource("identities", "service account ID", f"{prefix}-{role.value}", ACCOUNT_ID_LIMIT))
        names.append(NamedResource("identities", "network tag", f"{prefix}-{role.value}", NAME_LIMIT))
    names += [NamedResource("addresses", "address", f"{prefix}-{role.value}", NAME_LIMIT) for role in LOAD_BALANCERS]
    if hardening is not None:
        # Names only: the rules' addresses do not matter here, so none are given.
        policy = resolve_policy(hardening, cloud=Cloud.GCP, server_version=server_version)
        names += [NamedResource("firewall", "firewall rule", f"{prefix}-{r.rule_id}", NAME_LIMIT) for r in policy.rules]
        names += [
            NamedResource("firewall", "firewall rule", baseline_name(prefix, role, d), NAME_LIMIT)
            for role in COMPUTE_ROLES
            for d in Direction
        ]
        names += [
            NamedResource("firewall", "firewall rule", rerun_deny_name(prefix, r.role), NAME_LIMIT)
            for r in policy.rerun_ingress_rules
        ]
    return names


def check_prefix_lengths(
    prefix: str,
    field: str,
    kinds: Collection[str],
    *,
    region: str | None = None,
    hardening: HardeningOptions | None = None,
    server_version: ServerVersion | None = None,
) -> None:
    """Refuse a prefix that makes any name of ``kinds`` too long, naming the longest that breaks."""
    names = names_from_prefix(prefix, region, hardening, server_version)
    over = [n for n in names if n.kind in kinds and len(n.name) > n.limit]
    if over:
        worst = max(over, key=lambda n: len(n.name) - n.limit)
        excess = len(worst.name) - worst.limit
        extra = " (or shorten extra egress rule names)" if worst.what == "firewall rule" else ""
        raise ConfigurationError(
            field,
            f"{prefix!r} makes the {worst.what} name {worst.name!r} {len(worst.name)} characters, "
            f"over GCP's {worst.limit}",
            f"use a prefix of at most {len(prefix) - excess} characters{extra}",
        )
