"""Every GCP name the prefix reaches, with Google's limit, in one table.

Each props class checks the prefix against the names its construct builds (``kinds``);
``GcpNetworkProps`` checks all of them once, against the policy the firewall will render
(its version, platform and NAT translation), so the error names the field the user set.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from circleci_network.errors import ConfigurationError
from circleci_network.gcp.settings import NAME_LIMIT
from circleci_network.model.platform_rules import GoogleApiAccess
from circleci_network.model.resolve import ResolvedPolicy
from circleci_network.model.resource_names import gcp_subnet_name
from circleci_network.model.roles import COMPUTE_ROLES, Role
from circleci_network.model.rules import Direction, SpecSection
from circleci_network.model.server_versions import ServerVersion

#: Service account IDs are 6-30 characters.
ACCOUNT_ID_LIMIT = 30

#: Zones whose names must resolve to the chosen range: Google APIs, and the registries GKE
#: pulls system images from (Google's "Configure Private Google Access" DNS steps).
GOOGLE_API_ZONES = ("googleapis.com", "gcr.io", "pkg.dev")

#: Every kind of ``NamedResource``: what ``GcpNetworkProps`` checks.
ALL_KINDS = frozenset({"vpc", "identities", "firewall", "addresses", "private-google-access"})


@dataclass(frozen=True)
class NamedResource:
    kind: str  # which construct builds it: "vpc", "identities", "firewall", "addresses", "private-google-access"
    what: str
    name: str
    limit: int
    also: str = ""
    """Another way out than a shorter prefix, for the error's fix."""


def baseline_name(name: str, role: Role, direction: Direction) -> str:
    return f"{name}-{role.value}-deny-all-{direction.value}"


def rerun_deny_name(name: str, role: Role) -> str:
    return f"{name}-{role.value}-deny-rerun-from-k8s-nodes"


def job_deny_name(name: str) -> str:
    """With ``Platform.GKE`` only."""
    return f"{name}-k8s-nodes-deny-from-jobs"


def rule_name(name: str, rule_id: str) -> str:
    return f"{name}-{rule_id}"


def nat_address_name(name: str, index: int) -> str:
    return f"{name}-nat-{index}"


def google_api_route_name(name: str, access: GoogleApiAccess) -> str:
    return f"{name}-{access.value}-googleapis"


def google_api_zone_name(name: str, domain: str) -> str:
    return f"{name}-{domain.replace('.', '-')}"


def _firewall_names(prefix: str, policy: ResolvedPolicy) -> list[NamedResource]:
    """Every rule ``CircleciFirewall`` renders for ``policy``: its rules, the rerun denies,
    GKE's job deny, the deny-all baseline."""
    names = [
        NamedResource(
            "firewall",
            "firewall rule",
            rule_name(prefix, r.rule_id),
            NAME_LIMIT,
            " (or shorten the extra egress rule's name)"
            if r.rule.section in (SpecSection.USER_EXTRA_EGRESS, SpecSection.USER_NODE_EXTRA_EGRESS)
            else "",
        )
        for r in policy.rules
    ]
    denies = [rerun_deny_name(prefix, r.role) for r in policy.rerun_ingress_rules]
    if policy.platform.is_gke:
        denies.append(job_deny_name(prefix))
    denies += [baseline_name(prefix, role, d) for role in COMPUTE_ROLES for d in Direction]
    return names + [NamedResource("firewall", "firewall rule", n, NAME_LIMIT) for n in denies]


def names_from_prefix(
    prefix: str,
    *,
    region: str | None = None,
    server_version: ServerVersion | None = None,
    policy: ResolvedPolicy | None = None,
    nat_address_count: int = 0,
) -> list[NamedResource]:
    """Every GCP name built from the prefix: the subnet's needs ``region``; the firewall rules and
    Private Google Access need the firewall's resolved ``policy`` (whose server version then wins
    over ``server_version``); Cloud NAT's reserved addresses ``nat_address_count``."""
    version = policy.server_version if policy is not None else server_version or ServerVersion()
    names = [
        NamedResource("vpc", "network", prefix, NAME_LIMIT),
        NamedResource("vpc", "secondary range", f"{prefix}-pods", NAME_LIMIT),
        NamedResource("vpc", "secondary range", f"{prefix}-services", NAME_LIMIT),
        NamedResource("vpc", "route", f"{prefix}-internet-via-nat", NAME_LIMIT),
        NamedResource("vpc", "router", f"{prefix}-router", NAME_LIMIT),
        NamedResource("vpc", "Cloud NAT", f"{prefix}-nat", NAME_LIMIT),
    ]
    names += [
        NamedResource("vpc", "NAT address", nat_address_name(prefix, i), NAME_LIMIT) for i in range(nat_address_count)
    ]
    if region is not None:
        names.append(NamedResource("vpc", "subnet", gcp_subnet_name(prefix, region), NAME_LIMIT))
    for role in COMPUTE_ROLES:
        names.append(NamedResource("identities", "service account ID", f"{prefix}-{role.value}", ACCOUNT_ID_LIMIT))
        names.append(NamedResource("identities", "network tag", f"{prefix}-{role.value}", NAME_LIMIT))
    # LoadBalancerAddresses reserves one address per load balancer of the version.
    names += [NamedResource("addresses", "address", f"{prefix}-{r.value}", NAME_LIMIT) for r in version.load_balancers]
    if policy is not None:
        names += _firewall_names(prefix, policy)
        access = policy.platform.google_api_access
        if policy.platform.google_api_cidr is not None:
            names.append(
                NamedResource("private-google-access", "route", google_api_route_name(prefix, access), NAME_LIMIT)
            )
            names += [
                NamedResource("private-google-access", "DNS zone", google_api_zone_name(prefix, d), NAME_LIMIT)
                for d in GOOGLE_API_ZONES
            ]
    return names


def check_prefix_lengths(
    prefix: str,
    field: str,
    kinds: Collection[str],
    *,
    region: str | None = None,
    server_version: ServerVersion | None = None,
    policy: ResolvedPolicy | None = None,
    nat_address_count: int = 0,
) -> None:
    """Refuse a prefix that makes any name of ``kinds`` too long, naming the longest that breaks."""
    names = names_from_prefix(
        prefix, region=region, server_version=server_version, policy=policy, nat_address_count=nat_address_count
    )
    over = [n for n in names if n.kind in kinds and len(n.name) > n.limit]
    if over:
        worst = max(over, key=lambda n: len(n.name) - n.limit)
        excess = len(worst.name) - worst.limit
        raise ConfigurationError(
            field,
            f"{prefix!r} makes the {worst.what} name {worst.name!r} {len(worst.name)} characters, "
            f"over GCP's {worst.limit}",
            f"shorten the prefix by {excess} character{'s' if excess > 1 else ''}, "
            f"to at most {len(prefix) - excess}{worst.also}",
        )
