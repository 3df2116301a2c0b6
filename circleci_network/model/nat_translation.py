"""Flows to a load balancer's public address from roles behind NAT (v4 with internet-facing users).

Nomad clients reach an internet-facing ``circleci-proxy`` at its public address, so the packet
leaves through NAT and arrives from a NAT address. The guide's rows still name the roles
(``nomad-clients-out-4647-circleci-proxy``, ``circleci-proxy-in-4647``); rendered by address,
each end names what it really sees: the sender the proxy's public addresses, the proxy the NAT
addresses. :func:`rendered_peer` is that one decision; ``resolve.resolve_policy`` alone applies
it (``PeerAddresses.nat_translation``), so the renderers and the audit read translated rules.

Data only: no cloud is imported here. The addresses are Terraform references (known after
apply) or literals, each with a stable label for resource IDs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from circleci_network.errors import ConfigurationError
from circleci_network.model.roles import OutsidePeer, Role
from circleci_network.model.rules import Direction, Peer, TrafficRule


@dataclass(frozen=True)
class PublicAddress:
    """One static public address: ``cidr`` is ``<address>/32`` (a literal or a reference)."""

    label: str
    """Stable and ID-safe (e.g. the zone): part of resource IDs, so never derived from the address."""
    cidr: str
    """``<address>/32``: a literal, or a Terraform reference known after apply."""


@dataclass(frozen=True)
class NatTranslation:
    """Which roles are reached at public addresses, from which roles behind NAT, and the NAT's addresses."""

    public_addresses: Mapping[Role, tuple[PublicAddress, ...]] = field(default_factory=dict)
    """A role reached at its static public addresses (v4 internet mode: ``circleci-proxy``)."""
    behind_nat: frozenset[Role] = frozenset()
    """Roles in private subnets: their packets to a public address leave through NAT."""
    nat_addresses: tuple[PublicAddress, ...] = ()
    """The NAT's static addresses: what a public role sees as the source of those roles."""
    receivers: frozenset[Role] = frozenset()
    """
    Roles whose ingress rules admit the public roles' traffic; empty: the public roles themselves
    (AWS). GCP's passthrough proxy is transparent: its rows sit on the Kubernetes nodes.
    """
    load_balancer_source_ranges: bool = False
    """
    GCP: the chart's Service lists the NAT addresses in ``loadBalancerSourceRanges``, so GKE's
    ``k8s-fw`` rule admits them on every Service port (``controller_rules``).
    """

    def __post_init__(self) -> None:
        if any(self.public_addresses.values()) and not self.nat_addresses:
            raise ConfigurationError(
                "NatTranslation.nat_addresses",
                "is empty: the public roles could admit nobody behind NAT, so their rows would be dropped",
                "give the NAT's static addresses (AWS: the NAT gateways' public_ip; GCP: Cloud NAT's addresses)",
            )
        object.__setattr__(self, "public_addresses", dict(self.public_addresses))
        object.__setattr__(self, "behind_nat", frozenset(self.behind_nat))
        object.__setattr__(self, "receivers", frozenset(self.receivers))
        object.__setattr__(self, "nat_addresses", tuple(self.nat_addresses))

    def peer_cidrs(self) -> dict[OutsidePeer, tuple[str, ...]]:
        """The outside peers' CIDRs, for ``HardeningOptions.peer_cidrs``'s cloud defaults."""
        public = tuple(a.cidr for addresses in self.public_addresses.values() for a in addresses)
        return {
            OutsidePeer.PROXY_PUBLIC_ADDRESSES: public,
            OutsidePeer.NAT_ADDRESSES: tuple(a.cidr for a in self.nat_addresses),
        }

    def labels(self) -> dict[str, str]:
        """CIDR -> label, for resource IDs of rules naming these addresses."""
        every = [a for addresses in self.public_addresses.values() for a in addresses] + list(self.nat_addresses)
        return {a.cidr: a.label for a in every}


def rendered_peer(rule: TrafficRule, translation: NatTranslation | None) -> Peer:
    """The peer ``rule`` is rendered with: a role behind NAT sends to a public role's public
    addresses, and the public role admits it from the NAT addresses. Every other rule keeps its peer."""
    if translation is None or not isinstance(rule.peer, Role):
        return rule.peer
    public, behind = translation.public_addresses, translation.behind_nat
    receivers = translation.receivers or frozenset(public)
    if rule.direction is Direction.EGRESS and rule.role in behind and rule.peer in public:
        return OutsidePeer.PROXY_PUBLIC_ADDRESSES
    if rule.direction is Direction.INGRESS and rule.role in receivers and rule.peer in behind:
        return OutsidePeer.NAT_ADDRESSES
    return rule.peer
