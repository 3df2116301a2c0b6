"""What the audit asks of a network: may this packet leave its source, may it enter its
destination. Both the synthesized JSON (per cloud) and the model answer the same questions."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, Protocol

from circleci_network.audit.space import AddressCell, AddressNames, PortCell, PortSpec
from circleci_network.model.roles import Role

if TYPE_CHECKING:
    from circleci_network.audit.public_addresses import NatPath


@dataclass(frozen=True)
class Endpoint:
    """A packet's other end: one of our roles (with an address cell of it), or an outside address."""

    role: Role | None
    cell: AddressCell


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    because: tuple[str, ...] = ()
    """The Terraform resources (or model rules) that decided it."""


DENIED = Verdict(False)


@dataclass
class AddressBook:
    """Where each role's instances live, read from the synthesized subnets and addresses."""

    ranges: dict[Role, list[IPv4Network]] = field(default_factory=dict)
    transparent: set[Role] = field(default_factory=set)
    """Roles without a filter of their own (transparent load balancers): the nodes behind them decide."""
    always_reachable: list[IPv4Network] = field(default_factory=list)
    """Outside addresses the cloud always lets through (GCP's metadata server)."""
    carve_out: list[IPv4Network] = field(default_factory=list)
    """Addresses inside role ranges that belong to no role (the AWS VPC resolver)."""
    nat: NatPath | None = None
    """v4 internet mode: roles behind NAT reach a public role at its public addresses, seen from NAT's."""
    names: AddressNames = field(default_factory=AddressNames)
    """The resources behind the stand-ins (``PublicPlacement.names``), for the text of results."""


class NetworkView(Protocol):
    book: AddressBook

    def port_specs(self) -> list[PortSpec]: ...

    def networks(self) -> list[IPv4Network]: ...

    def egress(self, source: Role, destination: Endpoint, port: PortCell) -> Verdict: ...

    def ingress(self, destination: Role, source: Endpoint, port: PortCell) -> Verdict: ...

    def port_class(self, role: Role, direction: str, port: PortCell) -> Hashable:
        """Equal for two ports on which ``role``'s ``direction`` rules (``"egress"``/``"ingress"``)
        give every address the same verdict, and ``closed`` the same answer: the rules that match
        the port. The flow search asks once per class, not per port."""
        ...

    def port_classes(self, role: Role, direction: str, ports: Sequence[PortCell]) -> Sequence[Hashable]:
        """``port_class`` of each of ``ports``, in order: one call for every port of a cut."""
        ...

    def address_class(self, role: Role, direction: str, cell: AddressCell) -> Hashable:
        """Equal for two outside addresses that ``role``'s ``direction`` rules, on any port, give
        the same verdict: the rules whose ranges hold the address. The flow search asks once
        per class of outside addresses, not per address."""
        ...

    def closed(self, role: Role, direction: str, port: PortCell) -> bool:
        """True when ``role`` can neither send to any role's address (``"egress"``) nor receive
        from any address (``"ingress"``) on ``port``: lets the flow search skip every cell."""
        ...

    def unmodelled(self) -> list[str]:
        """Grants the view cannot place (an unknown security group, IPv6, prefix lists)."""
        ...
