"""Effective flows of a view, and the differences between two views."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, collapse_addresses, summarize_address_range
from typing import Protocol, runtime_checkable

from circleci_network.audit.space import AddressCell, PortCell, address_cells, merge_port_cells, port_cells
from circleci_network.audit.views import AddressBook, Endpoint, NetworkView
from circleci_network.roles import Role

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


@runtime_checkable
class StatelessFilters(Protocol):
    """Filters that judge a packet by both its ends and let its reply back only by a rule of
    their own (AWS network ACLs): applied on top of a view's stateful rules."""

    def filters_stateless(self) -> bool: ...

    def stateless_blockers(
        self, source: Endpoint, destination: Endpoint, port: PortCell, cells: Cells
    ) -> tuple[str, ...]: ...

    def stateless_differences(self, expected: NetworkView, cells: Cells) -> list[Difference]: ...


def stateless_filters(view: NetworkView) -> StatelessFilters | None:
    return view if isinstance(view, StatelessFilters) and view.filters_stateless() else None


def stateless_blame(view: NetworkView, cells: Cells, key: FlowKey) -> tuple[str, ...]:
    """What stops a flow the stateful rules allow, for one pair of addresses it covers."""
    filters = stateless_filters(view)
    if filters is None:
        return ()
    parties = {role.value: role for role in cells.parties}
    src, dst = parties.get(key.source), parties.get(key.destination)
    if src is not None and dst is not None:
        senders = [
            Endpoint(src, c) for c in cells.parties[src] if view.ingress(dst, Endpoint(src, c), key.port).allowed
        ]
        receivers = [
            Endpoint(dst, c) for c in cells.parties[dst] if view.egress(src, Endpoint(dst, c), key.port).allowed
        ]
    elif src is not None:
        senders = [Endpoint(src, c) for c in cells.parties[src]]
        receivers = [Endpoint(None, key.outside)]  # type: ignore[arg-type]
    elif dst is not None:
        senders = [Endpoint(None, key.outside)]  # type: ignore[arg-type]
        receivers = [Endpoint(dst, c) for c in cells.parties[dst]]
    else:
        return ()
    for sender in senders:
        for receiver in receivers:
            if found := filters.stateless_blockers(sender, receiver, key.port, cells):
                return found
    return ()


def effective_flows(view: NetworkView, cells: Cells) -> Flows:
    book = view.book
    flows: Flows = {}
    sources = [r for r in cells.parties if r not in book.transparent]
    stateless = stateless_filters(view) is not None
    # With stateless filters, a flow must pass for every pair of addresses, not just one.
    admit: Callable[[FlowKey], bool] = (
        (lambda key: not stateless_blame(view, cells, key)) if stateless else (lambda key: True)
    )
    for port in cells.ports:
        # Asked once per port, not per pair: the flow search is the audit's hot loop.
        receiving = {b: not view.closed(b, "ingress", port) for b in cells.parties}
        for a in sources:
            sending = not view.closed(a, "egress", port)
            for b, b_cells in cells.parties.items():
                if not (sending and receiving[b]):
                    continue
                out = next((v for c in b_cells if (v := view.egress(a, Endpoint(b, c), port)).allowed), None)
                if out is None:
                    continue
                into = next((v for c in cells.parties[a] if (v := view.ingress(b, Endpoint(a, c), port)).allowed), None)
                if into is not None and admit(key := FlowKey(a.value, b.value, port)):
                    flows[key] = tuple(dict.fromkeys(out.because + into.because))
            for c in cells.outside:
                verdict = view.egress(a, Endpoint(None, c), port)
                if verdict.allowed and admit(key := FlowKey(a.value, OUTSIDE, port, c)):
                    flows[key] = verdict.because
        for b in cells.parties:
            if not receiving[b]:
                continue
            for c in cells.outside:
                verdict = view.ingress(b, Endpoint(None, c), port)
                if verdict.allowed and admit(key := FlowKey(OUTSIDE, b.value, port, c)):
                    flows[key] = verdict.because
    return flows


def half_flows(view: NetworkView, cells: Cells) -> Flows:
    """What each role's own rules admit, whether or not the other end agrees: a widened rule
    that opens no flow today is still a difference (the other half may come later)."""
    flows: Flows = {}
    for port in cells.ports:
        for role in cells.parties:
            if role in view.book.transparent:
                continue
            sends = not view.closed(role, "egress", port)
            receives = not view.closed(role, "ingress", port)
            if not (sends or receives):
                continue
            for other, other_cells in cells.parties.items():
                out_key = FlowKey(role.value, f"{other.value} (egress rule)", port)
                in_key = FlowKey(other.value, f"{role.value} (ingress rule)", port)
                for c in other_cells:
                    if sends and out_key not in flows and (out := view.egress(role, Endpoint(other, c), port)).allowed:
                        flows[out_key] = out.because
                    if (
                        receives
                        and in_key not in flows
                        and (into := view.ingress(role, Endpoint(other, c), port)).allowed
                    ):
                        flows[in_key] = into.because
                    if (not sends or out_key in flows) and (not receives or in_key in flows):
                        break
    return flows


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


def blocked_by(view: NetworkView, cells: Cells, key: FlowKey) -> tuple[str, ...]:
    """Why ``view`` does not let ``key`` through: the deciding resources of the side that refuses."""
    parties = {role.value: role for role in cells.parties}
    src, dst = parties.get(key.source), parties.get(key.destination)
    if src is not None:
        targets = [Endpoint(dst, c) for c in cells.parties[dst]] if dst is not None else [Endpoint(None, key.outside)]  # type: ignore[arg-type]
        verdicts = [view.egress(src, t, key.port) for t in targets]
        if not any(v.allowed for v in verdicts):
            return tuple(dict.fromkeys(b for v in verdicts for b in v.because)) or (
                f"no egress rule of {src.value} allows it",
            )
    if dst is not None:
        sources = [Endpoint(src, c) for c in cells.parties[src]] if src is not None else [Endpoint(None, key.outside)]  # type: ignore[arg-type]
        verdicts = [view.ingress(dst, s, key.port) for s in sources]
        if not any(v.allowed for v in verdicts):
            return tuple(dict.fromkeys(b for v in verdicts for b in v.because)) or (
                f"no ingress rule of {dst.value} allows it",
            )
    return stateless_blame(view, cells, key)


def compare(
    actual: Flows, expected: Flows, explain: Callable[[FlowKey], tuple[str, ...]] | None = None
) -> list[Difference]:
    """Extra flows name the resources that open them; missing ones (with ``explain``) what blocks them."""
    groups: dict[tuple[str, str, str, str | None, tuple[str, ...]], list[PortCell]] = defaultdict(list)
    for kind, mine, theirs in (("extra", actual, expected), ("missing", expected, actual)):
        for key, because in mine.items():
            if key not in theirs:
                outside = key.outside.label if key.outside else None
                if kind == "missing" and explain is not None:
                    because = tuple(f"blocked by {b}" for b in explain(key)) + because
                groups[(kind, key.source, key.destination, outside, because)].append(key.port)
    return [
        Difference(kind, src, dst, tuple(merge_port_cells(ports)), outside, because)
        for (kind, src, dst, outside, because), ports in sorted(groups.items(), key=lambda item: item[0][:4])
    ]


@dataclass
class FlowMatrix:
    """Role x role ports, and role <-> outside ports per CIDR, for the report."""

    between: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    outside: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    rules: dict[tuple[str, str], set[str]] = field(default_factory=dict)


def matrix(flows: Flows) -> FlowMatrix:
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
        outside[(src, dst, describe_addresses(networks))] = list(merged)
    return FlowMatrix({k: merge_port_cells(v) for k, v in between.items()}, outside, dict(rules))


def describe_addresses(networks: list[IPv4Network]) -> str:
    """As few CIDRs as possible; "0.0.0.0/0 except ..." when the complement is shorter."""
    collapsed = list(collapse_addresses(networks))
    gaps: list[IPv4Network] = []
    start = 0
    for network in collapsed:  # sorted and disjoint
        if int(network.network_address) > start:
            gaps += summarize_address_range(IPv4Address(start), network.network_address - 1)
        start = int(network.broadcast_address) + 1
    if start <= int(IPv4Address("255.255.255.255")):
        gaps += summarize_address_range(IPv4Address(start), IPv4Address("255.255.255.255"))
    if not gaps:
        return "0.0.0.0/0"
    if len(gaps) < len(collapsed):
        return "0.0.0.0/0 except " + ", ".join(str(g) for g in collapse_addresses(gaps))
    return ", ".join(str(n) for n in collapsed)
