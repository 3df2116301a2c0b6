"""Resolve once: the rules in force for one network, each with the ports it arrives on and the
addresses its peer stands for.

``resolve_policy`` is the only place that decides transparency, applies the NodePorts and turns
a peer into CIDRs (``HardeningOptions.peer_cidrs``). The security groups, network ACLs, GCP
firewall and naming table, the Helm values and the audit's expected side all read the
``ResolvedPolicy`` it returns. Facts only a cloud (or, in the audit, the JSON) knows come in as
``PeerAddresses``, v4 internet mode's NAT translation among them: the rows between roles behind
NAT and a public load balancer are resolved here to the addresses the packet really carries
(``nat_translation.rendered_peer``), so no renderer and no audit view translates anything.
Core module: no cloud, no cdktf, no audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from circleci_network.errors import ConfigurationError
from circleci_network.model.nat_translation import NatTranslation, rendered_peer
from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import PlatformOptions, aws_platform_rules, gcp_platform_rules
from circleci_network.model.ports import Port
from circleci_network.model.roles import OutsidePeer, Role
from circleci_network.model.rules import (
    CustomPeer,
    Direction,
    Peer,
    RuleSource,
    SourceKind,
    TrafficRule,
    active_rules,
    rerun_ingress_rules,
    roles_in,
)
from circleci_network.model.server_versions import ServerVersion
from circleci_network.model.vpc_endpoints import VpcEndpoints

NodePorts = Mapping[tuple[Role, int], int]


class Cloud(StrEnum):
    AWS = "aws"
    GCP = "gcp"


def load_balancers_transparent(cloud: Cloud | str, options: HardeningOptions) -> bool:
    """GCP's passthrough load balancers always are; on AWS it is an option."""
    return str(cloud) == Cloud.GCP.value or options.transparent_load_balancers


def _outside(peer: OutsidePeer) -> Any:
    """A field holding the cloud's addresses for ``peer`` (used when the options leave it open)."""
    return field(default=(), metadata={"peer": peer})


@dataclass(frozen=True)
class PeerAddresses:
    """What the cloud (or, in the audit, the JSON) knows and the options do not. A new outside
    peer whose addresses the cloud decides is one more ``_outside`` field."""

    dns_resolver: tuple[str, ...] = _outside(OutsidePeer.DNS_RESOLVER)
    """The cloud's resolver (AWS: the VPC base + 2 as /32; GCP: the metadata server)."""
    load_balancer_health_checks: tuple[str, ...] = _outside(OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS)
    """Where a transparent load balancer's probes come from (AWS: its subnets; GCP: Google's ranges)."""
    s3_prefix_list: tuple[str, ...] = _outside(OutsidePeer.S3_PREFIX_LIST)
    """
    Always empty: S3's managed prefix list has no ranges the library knows. The security groups name
    the list by ID (``SecurityGroupProps.s3_prefix_list_id``); the audit matches it by name.
    """
    roles: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    """
    Ranges standing for a role where a rule must name it by address (GCP egress, network ACLs,
    AWS load balancers without a security group); a role left out is named by identity only.
    """
    nat_translation: NatTranslation | None = None
    """
    v4 internet mode: roles reached at static public addresses from roles behind NAT. It also
    gives the two outside peers ``PROXY_PUBLIC_ADDRESSES`` and ``NAT_ADDRESSES`` their CIDRs.
    """

    def __post_init__(self) -> None:
        for f in fields(self):
            if "peer" in f.metadata:
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        object.__setattr__(self, "roles", {Role(r): tuple(c) for r, c in self.roles.items()})
        if self.nat_translation is not None and not isinstance(self.nat_translation, NatTranslation):
            raise ConfigurationError(
                "PeerAddresses.nat_translation",
                f"{self.nat_translation!r} is not a NatTranslation",
                "leave it None, or give circleci_network.model.nat_translation.NatTranslation(...)",
            )

    def outside(self) -> dict[OutsidePeer, tuple[str, ...]]:
        """The cloud's addresses per outside peer (the NAT translation's two: empty without one)."""
        own = {f.metadata["peer"]: getattr(self, f.name) for f in fields(self) if "peer" in f.metadata}
        return own | (self.nat_translation or NatTranslation()).peer_cidrs()


@dataclass(frozen=True)
class ResolvedRule:
    """One rule in force: the model's row (after transparency, ports as delivered), the peer it
    is rendered with and the CIDRs that peer stands for (a role's only when
    ``PeerAddresses.roles`` knows them)."""

    rule: TrafficRule
    peer_cidrs: tuple[str, ...]
    peer: Peer
    """
    The model's peer, except across NAT (v4 internet mode): the public addresses a role behind
    NAT sends to, the NAT addresses a public role admits (``rule.peer`` keeps the model's).
    """

    @property
    def rule_id(self) -> str:
        return self.rule.rule_id

    @property
    def role(self) -> Role:
        return self.rule.role

    @property
    def direction(self) -> Direction:
        return self.rule.direction

    @property
    def ports(self) -> tuple[Port, ...]:
        return self.rule.ports

    @property
    def peer_role(self) -> Role | None:
        """The peer's identity when it is one of our roles (and not translated by NAT)."""
        return self.peer if isinstance(self.peer, Role) else None

    @property
    def description(self) -> str:
        return self.rule.description

    @property
    def sources(self) -> tuple[RuleSource, ...]:
        return self.rule.sources

    @property
    def source_kind(self) -> SourceKind:
        """What the rule stands on: the guide, a platform's (or controller's) documentation, an option."""
        return self.rule.sources[0].kind if self.rule.sources else SourceKind.GUIDE


@dataclass(frozen=True)
class ResolvedPolicy:
    """Everything a renderer or the audit needs about one network's rules, worked out once."""

    cloud: Cloud
    options: HardeningOptions
    server_version: ServerVersion
    platform: PlatformOptions
    transparent_load_balancers: bool
    node_ports: NodePorts
    """The NodePort each (load balancer, listener port) delivers to; empty where none is assigned."""
    addresses: PeerAddresses
    outside: Mapping[OutsidePeer, tuple[str, ...]]
    """Every outside peer's CIDRs: the options', else the cloud's."""
    rules: tuple[ResolvedRule, ...]
    """The rules in force, in the model's order."""
    load_balancer_rules: tuple[ResolvedRule, ...]
    """
    Each load balancer's own rows (listeners, hop to the nodes), also when it is transparent and
    its rows moved to the nodes: its subnets still pass them (network ACLs).
    """
    _by_side: Mapping[tuple[Role, Direction], tuple[ResolvedRule, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        sides: dict[tuple[Role, Direction], list[ResolvedRule]] = {}
        for rule in self.rules:
            sides.setdefault((rule.role, rule.direction), []).append(rule)
        object.__setattr__(self, "_by_side", {key: tuple(rules) for key, rules in sides.items()})

    def peer_cidrs(self, peer: OutsidePeer) -> tuple[str, ...]:
        return self.outside.get(peer, ())

    def side(self, role: Role, direction: Direction) -> tuple[ResolvedRule, ...]:
        """``role``'s rules in one direction."""
        return self._by_side.get((role, direction), ())

    def rules_for(self, role: Role) -> tuple[ResolvedRule, ...]:
        return tuple(rule for rule in self.rules if rule.role is role)

    @property
    def roles(self) -> tuple[Role, ...]:
        """The roles holding at least one rule, in the enum's order."""
        return roles_in(tuple(rule.rule for rule in self.rules))

    @property
    def rerun_ingress_rules(self) -> tuple[ResolvedRule, ...]:
        """The job roles' rerun-with-SSH ingress (``rules.rerun_ingress_rules``)."""
        ids = {rule.rule_id for rule in rerun_ingress_rules(tuple(rule.rule for rule in self.rules))}
        return tuple(rule for rule in self.rules if rule.rule_id in ids)

    def node_port(self, load_balancer: Role, listener_port: int) -> int | None:
        return self.node_ports.get((load_balancer, listener_port))


def _platform_rules(
    cloud: Cloud,
    version: ServerVersion,
    platform: PlatformOptions | None,
    translation: NatTranslation | None,
    endpoints: VpcEndpoints | None,
) -> tuple[TrafficRule, ...]:
    if cloud is Cloud.GCP:  # what GKE adds (the chart's Service on v4) and the platform's rows
        nat_ranges = translation is not None and translation.load_balancer_source_ranges
        return gcp_platform_rules(version, platform, nat_source_ranges=nat_ranges)
    return aws_platform_rules(platform, endpoints)


def resolve_policy(
    options: HardeningOptions,
    *,
    cloud: Cloud | str,
    server_version: ServerVersion | None = None,
    platform: PlatformOptions | None = None,
    vpc_endpoints: VpcEndpoints | None = None,
    node_ports: NodePorts | None = None,
    addresses: PeerAddresses | None = None,
) -> ResolvedPolicy:
    """The rules in force for ``options`` on ``cloud``, each with its peer's CIDRs.

    Transparent load balancers' rows move to the nodes on the NodePorts of ``node_ports`` when
    given (an AWS NLB delivers there; GCP's passthrough keeps the port). A rule whose outside peer
    the options turn off is left out; nothing is widened. With ``addresses.nat_translation`` the
    rows across NAT name the public and NAT addresses instead of the roles. ``vpc_endpoints`` (AWS)
    adds the endpoints' rows; S3's prefix list resolves to no CIDRs (the security groups name the
    prefix list).
    """
    cloud = Cloud(cloud)
    version = server_version if server_version is not None else ServerVersion()
    addresses = addresses if addresses is not None else PeerAddresses()
    ports = dict(node_ports or {})
    transparent = load_balancers_transparent(cloud, options)
    translation = addresses.nat_translation
    extra = _platform_rules(cloud, version, platform, translation, vpc_endpoints)
    rules = active_rules(
        options,
        transparent_load_balancers=transparent,
        delivered_ports=ports if transparent and ports else None,
        server_version=version,
        platform_rules=extra,
    )
    given = addresses.outside()
    outside = {peer: options.peer_cidrs(peer, given) for peer in OutsidePeer}

    def resolved(rule: TrafficRule) -> ResolvedRule:
        peer = rendered_peer(rule, translation)
        if isinstance(peer, CustomPeer):
            cidrs = peer.cidrs
        elif isinstance(peer, OutsidePeer):
            cidrs = outside[peer]
        else:
            cidrs = addresses.roles.get(peer, ())
        return ResolvedRule(rule, cidrs, peer)

    in_force = tuple(resolved(rule) for rule in rules)
    if transparent:
        plain = active_rules(options, transparent_load_balancers=False, server_version=version, platform_rules=extra)
        layer = tuple(resolved(rule) for rule in plain if rule.role.is_load_balancer)
    else:
        layer = tuple(rule for rule in in_force if rule.role.is_load_balancer)
    return ResolvedPolicy(
        cloud=cloud,
        options=options,
        server_version=version,
        platform=platform if platform is not None else PlatformOptions(),
        transparent_load_balancers=transparent,
        node_ports=ports,
        addresses=addresses,
        outside=outside,
        rules=in_force,
        load_balancer_rules=layer,
    )
