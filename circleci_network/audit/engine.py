"""Effective flows of a view, and the differences between two views."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, collapse_addresses, summarize_address_range
from typing import Protocol, runtime_checkable

from circleci_network.audit.space import (
    NO_NAMES,
    AddressCell,
    AddressNames,
    PortCell,
    address_cells,
    merge_port_cells,
    port_cells,
)
from circleci_network.audit.views import AddressBook, Endpoint, NetworkView, Verdict
from circleci_network.model.roles import Role

OUTSIDE = "outside"


@dataclass(frozen=True, order=True)
class FlowKey:
    source: str  # a role's value, or OUTSIDE
    destination: str
    port: PortCell
    outside: AddressCell | None = None  # the outside address, for flows to or from it


Flows = dict[FlowKey, tuple[str, ...]]


@dataclass(frozen=True)
class Cells:
    ports: list[PortCell]
    parties: dict[Role, list[AddressCell]]
    outside: list[AddressCell]


def cut(views: list[NetworkView], book: AddressBook) -> Cells:
    networks: list[IPv4Network] = []
    specs = []
    for view in views:
        networks += view.networks()
        specs += view.port_specs()
    for ranges in book.ranges.values():
        networks += ranges
    networks += book.carve_out + book.always_reachable
    cells = address_cells(networks)
    parties: dict[Role, list[AddressCell]] = {role: [] for role in book.ranges}
    for c in cells:
        if any(c.within(x) for x in book.carve_out):
            continue
        # The most specific range owns an address: a GCP load balancer's /32 inside the subnet
        # is the load balancer's, not the instances'; equal ranges share it (AWS internal NLBs).
        depth = {
            role: max((n.prefixlen for n in ranges if c.within(n)), default=-1) for role, ranges in book.ranges.items()
        }
        deepest = max(depth.values(), default=-1)
        if deepest >= 0:
            for role, d in depth.items():
                if d == deepest:
                    parties[role].append(c)
    inside = {c for cs in parties.values() for c in cs}
    return Cells(port_cells(specs), parties, [c for c in cells if c not in inside])


class PortFilter(Protocol):
    def admits(self, port: PortCell) -> bool: ...


@runtime_checkable
class StatelessFilters(Protocol):
    """Filters that judge a packet by both its ends and let its reply back only by a rule of
    their own (AWS network ACLs): applied on top of a view's stateful rules."""

    def filters_stateless(self) -> bool: ...

    def stateless_blockers(
        self, source: Endpoint, destination: Endpoint, port: PortCell, cells: Cells
    ) -> tuple[str, ...]: ...

    def stateless_ports(self, source: Endpoint, destination: Endpoint, protocol: str, cells: Cells) -> PortFilter:
        """Which ports of ``protocol`` have no ``stateless_blockers`` between the two ends."""
        ...

    def stateless_differences(self, expected: NetworkView, cells: Cells) -> list[Difference]: ...


def stateless_filters(view: NetworkView) -> StatelessFilters | None:
    return view if isinstance(view, StatelessFilters) and view.filters_stateless() else None


class Verdicts:
    """A view's answers for one cut, each asked once per class of ports the view cannot tell
    apart (``NetworkView.port_class``) and kept: the flow search, the one-sided pass and the
    explanations all ask the same questions, most of them for many ports."""

    def __init__(self, view: NetworkView, cells: Cells) -> None:
        self.view = view
        self.cells = cells
        self.filters = stateless_filters(view)
        self._index = {port: i for i, port in enumerate(cells.ports)}
        # By identity first: the passes ask with the cut's own port objects, and hashing a
        # PortCell (a frozen dataclass) costs more than the rest of the lookup.
        self._index_of = {id(port): i for i, port in enumerate(cells.ports)}
        self._classes: dict[tuple[Role, str], list[int]] = {}
        self._classes_by_id: dict[tuple[int, str], list[int]] = {}
        self._answers: dict[tuple[object, ...], Verdict] = {}
        self._first: dict[tuple[object, ...], Verdict | None] = {}
        self._closed: dict[tuple[int, str, int], bool] = {}
        self._outside: dict[tuple[Role, str, int], list[tuple[AddressCell, Verdict]]] = {}
        self._roles = {role.value: role for role in cells.parties}
        self._addresses: dict[tuple[Role, str], tuple[list[int], list[AddressCell]]] = {}
        self._signatures: list[tuple[int, ...]] | None = None
        self._stateless: dict[tuple[object, ...], list[PortFilter]] = {}
        self._pair_filters: dict[tuple[object, ...], PortFilter] = {}
        self._pair_sets: dict[tuple[object, ...], list[PortFilter]] = {}
        # Every role's addresses as endpoints, made once: the passes ask for them by the thousand.
        self.endpoints = {role: [Endpoint(role, c) for c in cs] for role, cs in cells.parties.items()}

    def classes(self, role: Role, direction: str) -> list[int]:
        """Per port of the cut (in order), a number per class of ports on which ``role``'s
        ``direction`` rules answer alike."""
        found = self._classes.get((role, direction))
        if found is None:
            numbers: dict[Hashable, int] = {}
            found = self._classes[(role, direction)] = [
                numbers.setdefault(c, len(numbers)) for c in self.view.port_classes(role, direction, self.cells.ports)
            ]
        return found

    def signatures(self) -> list[tuple[int, ...]]:
        """Per port of the cut (in order): equal for two ports every role's rules, both ways, answer alike."""
        if self._signatures is None:
            every = [self.classes(role, d) for role in self.cells.parties for d in ("egress", "ingress")]
            self._signatures = list(zip(*every, strict=True)) if every else [()] * len(self.cells.ports)
        return self._signatures

    def port_class(self, role: Role, direction: str, port: PortCell) -> int:
        i = self._index_of.get(id(port))
        if i is None or self.cells.ports[i] is not port:
            i = self._index[port]
        # Keyed by the role's identity (enum members are singletons): an Enum hashes in Python.
        found = self._classes_by_id.get((id(role), direction))
        if found is None:
            found = self._classes_by_id[(id(role), direction)] = self.classes(role, direction)
        return found[i]

    def closed(self, role: Role, direction: str, port: PortCell) -> bool:
        key = (id(role), direction, self.port_class(role, direction, port))
        found = self._closed.get(key)
        if found is None:
            found = self._closed[key] = self.view.closed(role, direction, port)
        return found

    def egress(self, source: Role, destination: Endpoint, port: PortCell) -> Verdict:
        return self._egress(source, self.port_class(source, "egress", port), destination, port)

    def _egress(self, source: Role, number: int, destination: Endpoint, port: PortCell) -> Verdict:
        """``egress``, with ``port``'s class of ``source``'s egress rules already known."""
        key = (True, id(source), number, id(destination.role), destination.cell.low)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = self.view.egress(source, destination, port)
        return found

    def ingress(self, destination: Role, source: Endpoint, port: PortCell) -> Verdict:
        return self._ingress(destination, self.port_class(destination, "ingress", port), source, port)

    def _ingress(self, destination: Role, number: int, source: Endpoint, port: PortCell) -> Verdict:
        """``ingress``, with ``port``'s class of ``destination``'s ingress rules already known."""
        key = (False, id(destination), number, id(source.role), source.cell.low)
        found = self._answers.get(key)
        if found is None:
            found = self._answers[key] = self.view.ingress(destination, source, port)
        return found

    def reaches(self, source: Role, destination: Role, port: PortCell, number: int | None = None) -> Verdict | None:
        """The first of ``source``'s egress verdicts to an address of ``destination`` that allows ``port``
        (``number``: ``port``'s class of ``source``'s egress rules, when already known)."""
        if number is None:
            number = self.port_class(source, "egress", port)
        key = (True, id(source), number, id(destination))
        if key not in self._first:
            self._first[key] = next(
                (v for e in self.endpoints[destination] if (v := self._egress(source, number, e, port)).allowed),
                None,
            )
        return self._first[key]

    def admits(self, destination: Role, source: Role, port: PortCell, number: int | None = None) -> Verdict | None:
        """The first of ``destination``'s ingress verdicts from an address of ``source`` that allows ``port``
        (``number``: ``port``'s class of ``destination``'s ingress rules, when already known)."""
        if number is None:
            number = self.port_class(destination, "ingress", port)
        key = (False, id(destination), number, id(source))
        if key not in self._first:
            self._first[key] = next(
                (v for e in self.endpoints[source] if (v := self._ingress(destination, number, e, port)).allowed),
                None,
            )
        return self._first[key]

    def stateless_ports(self, key: FlowKey) -> list[PortFilter]:
        """The stateless filters' verdicts for every pair of addresses ``key`` covers, each for all
        ports of its protocol: asked once per flow and class of ports, not per port."""
        port = key.port
        src, dst = self._roles.get(key.source), self._roles.get(key.destination)
        # Only a flow between two roles picks its pairs by the stateful verdicts (port by port);
        # with an outside end, every address of the role pairs with it, whatever the port.
        both = src is not None and dst is not None
        ask = (
            key.source,
            key.destination,
            key.outside,
            port.protocol,
            self.port_class(src, "egress", port) if both else None,  # type: ignore[arg-type]
            self.port_class(dst, "ingress", port) if both else None,  # type: ignore[arg-type]
        )
        found = self._stateless.get(ask)
        if found is None:
            senders, receivers = _stateless_ends(self, key)
            # Flows of different classes of ports mostly cover the same pairs of addresses.
            ends = (
                tuple((id(s.role), s.cell.low) for s in senders),
                tuple((id(r.role), r.cell.low) for r in receivers),
                port.protocol,
            )
            found = self._pair_sets.get(ends)
            if found is None:
                filters, cells, known = self.filters, self.cells, self._pair_filters
                assert filters is not None
                each: dict[int, PortFilter] = {}
                for s in senders:
                    for r in receivers:
                        # The same pair of addresses comes up in many flows: its filter is asked once.
                        pair = (id(s.role), s.cell.low, id(r.role), r.cell.low, port.protocol)
                        f = known.get(pair)
                        if f is None:
                            f = known[pair] = filters.stateless_ports(s, r, port.protocol, cells)
                        each[id(f)] = f
                found = self._pair_sets[ends] = list(each.values())
            self._stateless[ask] = found
        return found

    def outside(self, role: Role, direction: str, port: PortCell) -> list[tuple[AddressCell, Verdict]]:
        """The outside addresses ``role`` may send ``port`` to (``"egress"``) or receive it from, in order."""
        key = (role, direction, self.port_class(role, direction, port))
        found = self._outside.get(key)
        if found is None:
            ask = self.view.egress if direction == "egress" else self.view.ingress
            classes, first = self._address_classes(role, direction)
            verdicts = [ask(role, Endpoint(None, c), port) for c in first]
            found = self._outside[key] = [
                (c, v) for c, n in zip(self.cells.outside, classes, strict=True) if (v := verdicts[n]).allowed
            ]
        return found

    def _address_classes(self, role: Role, direction: str) -> tuple[list[int], list[AddressCell]]:
        """Per outside address (in order), a number per class of addresses ``role``'s
        ``direction`` rules answer alike; and the first address of each class."""
        found = self._addresses.get((role, direction))
        if found is None:
            numbers: dict[Hashable, int] = {}
            classes: list[int] = []
            first: list[AddressCell] = []
            for c in self.cells.outside:
                n = numbers.setdefault(self.view.address_class(role, direction, c), len(numbers))
                classes.append(n)
                if n == len(first):
                    first.append(c)
            found = self._addresses[(role, direction)] = (classes, first)
        return found


def _stateless_ends(verdicts: Verdicts, key: FlowKey) -> tuple[list[Endpoint], list[Endpoint]]:
    """The senders and receivers of a flow the stateful rules allow, for the stateless filters:
    every pair of one of each is a pair of addresses the flow covers."""
    src, dst = verdicts._roles.get(key.source), verdicts._roles.get(key.destination)
    if src is not None and dst is not None:
        port = key.port
        into, out = verdicts.port_class(dst, "ingress", port), verdicts.port_class(src, "egress", port)
        senders = [e for e in verdicts.endpoints[src] if verdicts._ingress(dst, into, e, port).allowed]
        receivers = [e for e in verdicts.endpoints[dst] if verdicts._egress(src, out, e, port).allowed]
        return senders, receivers
    if src is not None:
        return verdicts.endpoints[src], [Endpoint(None, key.outside)]  # type: ignore[arg-type]
    if dst is not None:
        return [Endpoint(None, key.outside)], verdicts.endpoints[dst]  # type: ignore[arg-type]
    return [], []


def stateless_blame(verdicts: Verdicts, key: FlowKey) -> tuple[str, ...]:
    """What stops a flow the stateful rules allow, for one pair of addresses it covers."""
    if verdicts.filters is None:
        return ()
    senders, receivers = _stateless_ends(verdicts, key)
    for sender, receiver in ((s, r) for s in senders for r in receivers):
        if found := verdicts.filters.stateless_blockers(sender, receiver, key.port, verdicts.cells):
            return found
    return ()


#: A flow without its port: source, destination, outside address, the rules that open it.
Opening = tuple[str, str, AddressCell | None, tuple[str, ...]]


def _per_port(verdicts: Verdicts, opened: Callable[[PortCell], list[Opening]], *, stateless: bool) -> Flows:
    """``opened(port)`` for every port, asked once per class of ports every role's rules answer
    alike (``Verdicts.signatures``) and repeated for the other ports of the class. With
    ``stateless``, each flow must also pass the view's stateless filters, port by port."""
    flows: Flows = {}
    stateless = stateless and verdicts.filters is not None
    known: dict[tuple[int, ...], list[Opening]] = {}
    # A flow's stateless filters depend on its ends, its protocol and its ends' classes of
    # ports (``Verdicts.stateless_ports``): the same for each opening of a class of ports.
    filters: dict[tuple[tuple[int, ...], str, int], list[PortFilter]] = {}
    for port, signature in zip(verdicts.cells.ports, verdicts.signatures(), strict=True):
        found = known.get(signature)
        if found is None:
            found = known[signature] = opened(port)
        for n, (source, destination, outside, because) in enumerate(found):
            key = FlowKey(source, destination, port, outside)
            if stateless:
                each = filters.get((signature, port.protocol, n))
                if each is None:
                    each = filters[(signature, port.protocol, n)] = verdicts.stateless_ports(key)
                if not all(f.admits(port) for f in each):
                    continue
            flows[key] = because
    return flows


def effective_flows(verdicts: Verdicts) -> Flows:
    cells = verdicts.cells
    sources = [r for r in cells.parties if r not in verdicts.view.book.transparent]

    def opened(port: PortCell) -> list[Opening]:
        found: list[Opening] = []
        receiving = [b for b in cells.parties if not verdicts.closed(b, "ingress", port)]
        # Each role's class of ``port``, once, for all its pairs.
        into_class = [verdicts.port_class(b, "ingress", port) for b in receiving]
        for a in sources:
            if not verdicts.closed(a, "egress", port):
                out_class = verdicts.port_class(a, "egress", port)
                for b, b_class in zip(receiving, into_class, strict=True):
                    if (out := verdicts.reaches(a, b, port, out_class)) is not None and (
                        into := verdicts.admits(b, a, port, b_class)
                    ) is not None:
                        found.append((a.value, b.value, None, tuple(dict.fromkeys(out.because + into.because))))
            found += [(a.value, OUTSIDE, c, v.because) for c, v in verdicts.outside(a, "egress", port)]
        for b in receiving:
            found += [(OUTSIDE, b.value, c, v.because) for c, v in verdicts.outside(b, "ingress", port)]
        return found

    # With stateless filters, a flow must pass for every pair of addresses, not just one.
    return _per_port(verdicts, opened, stateless=True)


def half_flows(verdicts: Verdicts) -> Flows:
    """What each role's own rules admit, whether or not the other end agrees: a widened rule
    that opens no flow today is still a difference (the other half may come later). Stateless
    filters are left out: they are compared with the model by themselves."""
    cells = verdicts.cells
    # A role's part depends on its own classes of ports only: worked out once per pair of them.
    known: dict[tuple[Role, int, int], list[Opening]] = {}

    def own(role: Role, port: PortCell) -> list[Opening]:
        out_class, in_class = verdicts.port_class(role, "egress", port), verdicts.port_class(role, "ingress", port)
        key = (role, out_class, in_class)
        found = known.get(key)
        if found is None:
            found = known[key] = []
            sends = not verdicts.closed(role, "egress", port)
            receives = not verdicts.closed(role, "ingress", port)
            for other in cells.parties:
                if sends and (out := verdicts.reaches(role, other, port, out_class)) is not None:
                    found.append((role.value, f"{other.value} (egress rule)", None, out.because))
                if receives and (into := verdicts.admits(role, other, port, in_class)) is not None:
                    found.append((other.value, f"{role.value} (ingress rule)", None, into.because))
        return found

    def opened(port: PortCell) -> list[Opening]:
        return [o for role in cells.parties if role not in verdicts.view.book.transparent for o in own(role, port)]

    return _per_port(verdicts, opened, stateless=False)


@dataclass(frozen=True)
class Difference:
    kind: str  # "missing" or "extra"
    source: str
    destination: str
    ports: tuple[str, ...]
    outside: str | None
    because: tuple[str, ...]
    """For extra flows: the Terraform resources that open it; for missing: the model's rules."""

    def __str__(self) -> str:
        where = f" ({self.outside})" if self.outside else ""
        return f"{self.kind.upper()}: {self.source} -> {self.destination}{where} {', '.join(self.ports)}; by {', '.join(self.because) or 'nothing'}"


def blocked_by(verdicts: Verdicts, key: FlowKey) -> tuple[str, ...]:
    """Why the view does not let ``key`` through: the deciding resources of the side that refuses."""
    cells = verdicts.cells
    parties = {role.value: role for role in cells.parties}
    src, dst = parties.get(key.source), parties.get(key.destination)
    if src is not None:
        targets = [Endpoint(dst, c) for c in cells.parties[dst]] if dst is not None else [Endpoint(None, key.outside)]  # type: ignore[arg-type]
        verdicts_out = [verdicts.egress(src, t, key.port) for t in targets]
        if not any(v.allowed for v in verdicts_out):
            return tuple(dict.fromkeys(b for v in verdicts_out for b in v.because)) or (
                f"no egress rule of {src.value} allows it",
            )
    if dst is not None:
        sources = [Endpoint(src, c) for c in cells.parties[src]] if src is not None else [Endpoint(None, key.outside)]  # type: ignore[arg-type]
        verdicts_in = [verdicts.ingress(dst, s, key.port) for s in sources]
        if not any(v.allowed for v in verdicts_in):
            return tuple(dict.fromkeys(b for v in verdicts_in for b in v.because)) or (
                f"no ingress rule of {dst.value} allows it",
            )
    return stateless_blame(verdicts, key)


def compare(
    actual: Flows,
    expected: Flows,
    explain: Callable[[FlowKey], tuple[str, ...]] | None = None,
    names: AddressNames = NO_NAMES,
) -> list[Difference]:
    """Extra flows name the resources that open them; missing ones (with ``explain``) what blocks them.
    Outside addresses read as their CIDRs, stand-ins as the resources ``names`` gives."""
    groups: dict[tuple[str, str, str, tuple[str, ...]], dict[AddressCell | None, list[PortCell]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for kind, mine, theirs in (("extra", actual, expected), ("missing", expected, actual)):
        for key, because in mine.items():
            if key not in theirs:
                if kind == "missing" and explain is not None:
                    because = tuple(f"blocked by {b}" for b in explain(key)) + because
                groups[(kind, key.source, key.destination, because)][key.outside].append(key.port)
    found = []
    for (kind, src, dst, because), by_cell in groups.items():
        # Outside addresses with the same ports, for the same reason, are one difference: one
        # widened rule reads as one line ("0.0.0.0/0 except ..."), not one per address cell.
        by_ports: dict[tuple[str, ...], list[AddressCell | None]] = defaultdict(list)
        for cell, cell_ports in by_cell.items():
            by_ports[tuple(merge_port_cells(cell_ports))].append(cell)
        for ports, cells in by_ports.items():
            outside = [c for c in cells if c is not None]
            if len(outside) < len(cells):
                found.append(Difference(kind, src, dst, ports, None, because))
            if outside:
                where = describe_addresses([n for c in sorted(outside) for n in c.networks], names)
                found.append(Difference(kind, src, dst, ports, where, because))
    return sorted(found, key=lambda d: (d.kind, d.source, d.destination, d.outside or ""))


@dataclass
class FlowMatrix:
    """Role x role ports, and role <-> outside ports per CIDR, for the report."""

    between: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    outside: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    rules: dict[tuple[str, str], set[str]] = field(default_factory=dict)


def matrix(flows: Flows, names: AddressNames = NO_NAMES) -> FlowMatrix:
    between: dict[tuple[str, str], list[PortCell]] = defaultdict(list)
    per_cell: dict[tuple[str, str, AddressCell], list[PortCell]] = defaultdict(list)
    rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, because in flows.items():
        rules[(key.source, key.destination)].update(because)
        if key.outside is None:
            between[(key.source, key.destination)].append(key.port)
        else:
            per_cell[(key.source, key.destination, key.outside)].append(key.port)
    # Outside addresses with the same ports are listed together, as few CIDRs as possible.
    grouped: dict[tuple[str, str, tuple[str, ...]], list[AddressCell]] = defaultdict(list)
    for (src, dst, cell), ports in per_cell.items():
        grouped[(src, dst, tuple(merge_port_cells(ports)))].append(cell)
    outside: dict[tuple[str, str, str], list[str]] = {}
    for (src, dst, merged), cells in grouped.items():
        networks = [n for cell in sorted(cells) for n in cell.networks]
        outside[(src, dst, describe_addresses(networks, names))] = list(merged)
    return FlowMatrix({k: merge_port_cells(v) for k, v in between.items()}, outside, dict(rules))


def describe_addresses(networks: list[IPv4Network], names: AddressNames = NO_NAMES) -> str:
    """Outside addresses as few CIDRs as possible; "0.0.0.0/0 except ..." when the complement is
    shorter (the roles' own addresses, ``names.roles_own``, count in: no outside address is one
    of them); stand-ins as the resources ``names`` gives."""
    collapsed = list(collapse_addresses(networks))
    own = [n for low, high in names.roles_own for n in summarize_address_range(IPv4Address(low), IPv4Address(high))]
    gaps: list[IPv4Network] = []
    start = 0
    for network in collapse_addresses([*collapsed, *own]):  # sorted and disjoint
        if int(network.network_address) > start:
            gaps += summarize_address_range(IPv4Address(start), network.network_address - 1)
        start = int(network.broadcast_address) + 1
    if start <= int(IPv4Address("255.255.255.255")):
        gaps += summarize_address_range(IPv4Address(start), IPv4Address("255.255.255.255"))
    if not gaps:
        return "0.0.0.0/0"
    if len(gaps) < len(collapsed):
        return "0.0.0.0/0 except " + ", ".join(names.listing(collapse_addresses(gaps)))
    return ", ".join(names.listing(collapsed))
