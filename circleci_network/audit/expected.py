"""The model's answer to the audit's questions: the policy resolved from the recorded options and
the stack's own facts (``facts.stack_policy``), named the way the cloud must name it (identities
where it can, addresses where it cannot)."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import NamedTuple

from circleci_network.audit.public_addresses import every
from circleci_network.audit.space import AddressCell, PortCell, PortIndex, PortSpec, spans
from circleci_network.audit.views import DENIED, AddressBook, Endpoint, Verdict
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.ports import Port, Protocol
from circleci_network.model.resolve import ResolvedPolicy, ResolvedRule
from circleci_network.model.roles import Role
from circleci_network.model.rules import Direction, SourceKind


class _Entry(NamedTuple):
    """A rule as the hot loops read it."""

    rule: ResolvedRule
    label: str
    peer_role: Role | None
    """The peer matched by identity (no ranges stand for it)."""
    spans: tuple[tuple[int, int], ...]
    nodes_denied: bool


def port_spec(port: Port) -> PortSpec:
    if port.protocol is Protocol.ALL:
        return PortSpec("all")
    return PortSpec(port.protocol.value, port.from_port, port.to_port)


class ExpectedView:
    def __init__(
        self, intent: NetworkIntent, policy: ResolvedPolicy, book: AddressBook, *, as_rendered: bool = True
    ) -> None:
        """``as_rendered=False`` names every role by identity: the pure model, used to report
        what a cloud's rendering cannot avoid opening (notes, not failures)."""
        self.intent = intent
        self.policy = policy
        self.book = book
        self.as_rendered = as_rendered
        self.rules = policy.rules
        # GCP denies the nodes (and pods) the job roles' rerun-with-SSH ports (gcp/firewall.py).
        self._nodes_denied = {r.rule_id for r in policy.rerun_ingress_rules} if intent.cloud == "gcp" else set[str]()
        self._networks: dict[int, list[IPv4Network]] = {}  # per rule (by identity), parsed once
        # Asked tens of thousands of times per audit: index each rule's ports and peers once,
        # per side keyed by the role's identity and a bool (an Enum hashes in Python).
        by_side: dict[tuple[int, bool], list[_Entry]] = {}
        for rule in self.rules:
            networks = self.rule_networks(rule)
            by_side.setdefault((id(rule.role), rule.direction is Direction.INGRESS), []).append(
                _Entry(
                    rule,
                    f"{'platform rule' if rule.source_kind is SourceKind.PLATFORM else 'rule'} {rule.rule_id}",
                    rule.peer if isinstance(rule.peer, Role) and not networks else None,
                    spans(networks),
                    rule.rule_id in self._nodes_denied,
                )
            )
        self._by_side = {key: tuple(entries) for key, entries in by_side.items()}
        self._ports: dict[tuple[int, bool], PortIndex[_Entry]] = {}  # built per side when first asked

    def rule_networks(self, rule: ResolvedRule) -> list[IPv4Network]:
        """The ranges standing for the rule's peer. A role is matched by identity, except as an
        egress destination where the cloud names it by address (GCP; AWS without a group)."""
        if rule.peer_role is not None and (rule.direction is Direction.INGRESS or not self.as_rendered):
            return []
        found = self._networks.get(id(rule))
        if found is None:
            found = self._networks[id(rule)] = [IPv4Network(c) for c in rule.peer_cidrs]
        return found

    def port_specs(self) -> list[PortSpec]:
        return [port_spec(port) for rule in self.rules for port in rule.ports]

    def networks(self) -> list[IPv4Network]:
        return [n for rule in self.rules for n in self.rule_networks(rule)]

    def unmodelled(self) -> list[str]:
        return []

    def _on_port(self, role: Role, direction: Direction, port: PortCell) -> tuple[tuple[_Entry, ...], tuple[int, ...]]:
        """The rules of ``role``'s ``direction`` that match ``port``, and their places among that side's rules."""
        return self._index(role, direction).lookup(port)

    def _index(self, role: Role, direction: Direction) -> PortIndex[_Entry]:
        key = (id(role), direction is Direction.INGRESS)
        index = self._ports.get(key)
        if index is None:
            index = self._ports[key] = PortIndex(
                (e, [port_spec(p) for p in e.rule.ports]) for e in self._by_side.get(key, ())
            )
        return index

    def _decide(self, role: Role, direction: Direction, other: Endpoint, port: PortCell) -> Verdict:
        low, high, peer = other.cell.low, other.cell.high, other.role
        nodes = peer is Role.KUBERNETES_NODES
        because = [
            e.label
            for e in self._on_port(role, direction, port)[0]
            if not (nodes and e.nodes_denied)
            and (
                e.peer_role is peer
                if e.peer_role is not None
                else any(first <= low and high <= last for first, last in e.spans)
            )
        ]
        return Verdict(True, tuple(because)) if because else DENIED

    def port_class(self, role: Role, direction: str, port: PortCell) -> tuple[int, ...]:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        side = Direction.INGRESS if direction == "ingress" else Direction.EGRESS
        return self._on_port(role, side, port)[1]

    def port_classes(self, role: Role, direction: str, ports: Sequence[PortCell]) -> list[tuple[int, ...]]:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        side = Direction.INGRESS if direction == "ingress" else Direction.EGRESS
        return [places for _, places in self._index(role, side).lookup_all(ports)]

    def address_class(self, role: Role, direction: str, cell: AddressCell) -> tuple[object, ...]:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        side = Direction.INGRESS if direction == "ingress" else Direction.EGRESS
        always = side is Direction.EGRESS and any(cell.within(n) for n in self.book.always_reachable)
        low, high = cell.low, cell.high
        rules = self._by_side.get((id(role), side is Direction.INGRESS), ())
        return (
            always,
            *(i for i, e in enumerate(rules) if any(first <= low and high <= last for first, last in e.spans)),
        )

    def closed(self, role: Role, direction: str, port: PortCell) -> bool:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        side = Direction.INGRESS if direction == "ingress" else Direction.EGRESS
        return not self._on_port(role, side, port)[1]

    def egress(self, source: Role, destination: Endpoint, port: PortCell) -> Verdict:
        book = self.book
        if book.always_reachable and any(destination.cell.within(n) for n in book.always_reachable):
            return Verdict(True, ("platform: always reachable",))
        if self.book.nat and (public := self.book.nat.destinations(source, destination)) is not None:
            return every(self._decide(source, Direction.EGRESS, d, port) for d in public)
        return self._decide(source, Direction.EGRESS, destination, port)

    def ingress(self, destination: Role, source: Endpoint, port: PortCell) -> Verdict:
        translated = self.book.nat.sources(destination, source) if self.book.nat else None
        if destination in self.book.transparent:
            destination = Role.KUBERNETES_NODES
        if translated is not None:
            return every(self._decide(destination, Direction.INGRESS, s, port) for s in translated)
        return self._decide(destination, Direction.INGRESS, source, port)
