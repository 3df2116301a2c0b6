"""The model's answer to the audit's questions: the rules in force for the recorded options,
named the way the cloud must name them (identities where it can, addresses where it cannot)."""

from __future__ import annotations

from ipaddress import IPv4Network

from circleci_network.audit.space import PortCell, PortSpec
from circleci_network.audit.views import DENIED, AddressBook, Endpoint, Verdict
from circleci_network.intent import NetworkIntent
from circleci_network.ports import Port, Protocol
from circleci_network.roles import OutsidePeer, Role
from circleci_network.rules import CustomPeer, Direction, Peer, TrafficRule, active_rules


def port_spec(port: Port) -> PortSpec:
    if port.protocol is Protocol.ALL:
        return PortSpec("all")
    return PortSpec(port.protocol.value, port.from_port, port.to_port)


class ExpectedView:
    def __init__(self, intent: NetworkIntent, book: AddressBook, *, as_rendered: bool = True) -> None:
        """``as_rendered=False`` names every role by identity: the pure model, used to report
        what a cloud's rendering cannot avoid opening (notes, not failures)."""
        self.intent = intent
        self.book = book
        self.as_rendered = as_rendered
        self.rules = active_rules(intent.options, transparent_load_balancers=intent.transparent_load_balancers)

    def rule_networks(self, rule: TrafficRule) -> list[IPv4Network]:
        return [IPv4Network(c) for c in self._cidrs(rule.peer, rule.direction)]

    def _cidrs(self, peer: Peer, direction: Direction) -> tuple[str, ...]:
        if isinstance(peer, CustomPeer):
            return peer.cidrs
        if isinstance(peer, OutsidePeer):
            return self.intent.peer_cidrs(peer)
        if direction is Direction.EGRESS and self.as_rendered:
            return tuple(self.intent.egress_role_cidrs.get(peer, ()))
        return ()

    def port_specs(self) -> list[PortSpec]:
        return [port_spec(port) for rule in self.rules for port in rule.ports]

    def networks(self) -> list[IPv4Network]:
        return [n for rule in self.rules for n in self.rule_networks(rule)]

    def unmodelled(self) -> list[str]:
        return []

    def _matches(self, rule: TrafficRule, other: Endpoint) -> bool:
        peer = rule.peer
        if isinstance(peer, Role) and not self._cidrs(peer, rule.direction):
            return other.role is peer
        return any(other.cell.within(n) for n in self.rule_networks(rule))

    def _decide(self, role: Role, direction: Direction, other: Endpoint, port: PortCell) -> Verdict:
        because = tuple(
            f"rule {rule.rule_id}"
            for rule in self.rules
            if rule.role is role
            and rule.direction is direction
            and any(port_spec(p).matches(port) for p in rule.ports)
            and self._matches(rule, other)
        )
        return Verdict(True, because) if because else DENIED

    def egress(self, source: Role, destination: Endpoint, port: PortCell) -> Verdict:
        if any(destination.cell.within(n) for n in self.book.always_reachable):
            return Verdict(True, ("platform: always reachable",))
        return self._decide(source, Direction.EGRESS, destination, port)

    def ingress(self, destination: Role, source: Endpoint, port: PortCell) -> Verdict:
        if destination in self.book.transparent:
            destination = Role.KUBERNETES_NODES
        return self._decide(destination, Direction.INGRESS, source, port)
