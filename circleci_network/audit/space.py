"""The traffic space cut into cells inside which every rule either matches or does not, so
evaluating one point per cell is exact."""

from __future__ import annotations

import itertools
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, summarize_address_range
from typing import Generic, TypeVar

#: "other" stands for every protocol besides TCP and UDP (ICMP, ...).
PROTOCOLS = ("tcp", "udp", "other")
ADDRESS_END = 1 << 32

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class PortSpec:
    """What a rule admits: protocol ``tcp``/``udp``/``other``/``all`` and a port range."""

    protocol: str
    low: int = 0
    high: int = 65535

    def matches(self, cell: PortCell) -> bool:
        if self.protocol == "all":
            return True
        if self.protocol != cell.protocol:
            return False
        return cell.protocol == "other" or (self.low <= cell.low and cell.high <= self.high)


@dataclass(frozen=True, order=True)
class PortCell:
    protocol: str
    low: int
    high: int

    @property
    def label(self) -> str:
        if self.protocol == "other":
            return "other protocols"
        span = str(self.low) if self.low == self.high else f"{self.low}-{self.high}"
        return f"{self.protocol}/{span}"


@dataclass(frozen=True, order=True)
class AddressCell:
    low: int
    high: int  # inclusive

    def within(self, network: IPv4Network) -> bool:
        return int(network.network_address) <= self.low and self.high <= int(network.broadcast_address)

    def overlaps(self, network: IPv4Network) -> bool:
        return self.low <= int(network.broadcast_address) and int(network.network_address) <= self.high

    @property
    def networks(self) -> list[IPv4Network]:
        return list(summarize_address_range(IPv4Address(self.low), IPv4Address(self.high)))

    @property
    def label(self) -> str:
        return ", ".join(str(n) for n in self.networks)


@dataclass(frozen=True)
class AddressNames:
    """The Terraform resource behind each stand-in address (a public IP known only after apply,
    placed by ``public_addresses``): what a person reads instead of the stand-in. Used only when a
    result is turned into text; the flow search works on the stand-ins."""

    names: Mapping[int, str] = field(default_factory=dict)
    """A stand-in (as a number) -> e.g. ``aws_eip.x (circleci-proxy public IP)``."""
    roles_own: tuple[tuple[int, int], ...] = ()
    """The roles' own addresses (first, last): never an outside address, so a description of
    outside addresses may count them in to read shorter ("0.0.0.0/0", not "0.0.0.0/0 except
    <every subnet>")."""

    def listing(self, networks: Iterable[IPv4Network]) -> list[str]:
        """Each network as its CIDR, or as the names of the stand-ins it consists of (a network
        that also holds other addresses, such as 0.0.0.0/0, stays a CIDR)."""
        found: list[str] = []
        for network in networks:
            first, last = int(network.network_address), int(network.broadcast_address)
            if last - first < len(self.names) and all(a in self.names for a in range(first, last + 1)):
                found += [self.names[a] for a in range(first, last + 1)]
            else:
                found.append(str(network))
        return found

    def cell(self, cell: AddressCell) -> str:
        """``cell.label``, with its stand-ins named."""
        return ", ".join(self.listing(cell.networks)) if self.names else cell.label


#: No stand-ins: every address reads as its CIDR.
NO_NAMES = AddressNames()


def spans(networks: Iterable[IPv4Network]) -> tuple[tuple[int, int], ...]:
    """Networks as (first, last) address numbers: what the hot loops compare cells with."""
    return tuple((int(n.network_address), int(n.broadcast_address)) for n in networks)


def port_cells(specs: Iterable[PortSpec]) -> list[PortCell]:
    cells: list[PortCell] = []
    specs = list(specs)
    for protocol in ("tcp", "udp"):
        bounds = {1, 65536}
        for spec in specs:
            if spec.protocol == protocol:
                bounds |= {max(spec.low, 1), spec.high + 1}
        ordered = sorted(bounds)
        cells += [PortCell(protocol, lo, hi - 1) for lo, hi in itertools.pairwise(ordered)]
    cells.append(PortCell("other", 0, 0))
    return cells


def address_cells(networks: Iterable[IPv4Network]) -> list[AddressCell]:
    bounds = {0, ADDRESS_END}
    for network in networks:
        bounds |= {int(network.network_address), int(network.broadcast_address) + 1}
    ordered = sorted(bounds)
    return [AddressCell(lo, hi - 1) for lo, hi in itertools.pairwise(ordered)]


def merge_port_cells(cells: Iterable[PortCell]) -> list[str]:
    """Adjacent cells of one protocol as readable ranges: ``tcp/30000-32767``."""
    merged: list[PortCell] = []
    for cell in sorted(cells):
        last = merged[-1] if merged else None
        if last and last.protocol == cell.protocol and last.high + 1 == cell.low:
            merged[-1] = PortCell(cell.protocol, last.low, cell.high)
        else:
            merged.append(cell)
    full = {p: PortCell(p, 1, 65535) for p in ("tcp", "udp")}
    if full["tcp"] in merged and full["udp"] in merged and PortCell("other", 0, 0) in merged:
        return ["all"]
    return [cell.label for cell in merged]


class PortIndex(Generic[T]):
    """Which items' port specs match a port cell, answered by bisection: the items' bounds cut
    each protocol into intervals on which every spec matches a cell wholly or not at all, so
    the matching items are worked out once per interval, when first asked (the views ask for
    every cell, mostly the same cell objects again: those are kept by identity)."""

    def __init__(self, items: Iterable[tuple[T, Iterable[PortSpec]]]) -> None:
        self._items = [(item, tuple(specs)) for item, specs in items]
        self._bounds: dict[str, list[int]] = {}
        self._found: dict[str, list[tuple[tuple[T, ...], tuple[int, ...]] | None]] = {}
        for protocol in ("tcp", "udp"):
            bounds = {0, 65536}
            for _, specs in self._items:
                for spec in specs:
                    if spec.protocol == protocol:
                        bounds |= {min(max(spec.low, 0), 65536), min(max(spec.high + 1, 0), 65536)}
            self._bounds[protocol] = sorted(bounds)
            self._found[protocol] = [None] * (len(bounds) - 1)
        self._other = self._plain(PortCell("other", 0, 0))
        self._seen: dict[int, tuple[PortCell, tuple[tuple[T, ...], tuple[int, ...]]]] = {}

    def _plain(self, cell: PortCell) -> tuple[tuple[T, ...], tuple[int, ...]]:
        at = tuple(i for i, (_, specs) in enumerate(self._items) if any(spec.matches(cell) for spec in specs))
        return tuple(self._items[i][0] for i in at), at

    def lookup(self, cell: PortCell) -> tuple[tuple[T, ...], tuple[int, ...]]:
        """The items (in their order) with a spec that matches ``cell``, and their positions."""
        seen = self._seen.get(id(cell))
        if seen is not None and seen[0] is cell:
            return seen[1]
        found = self._interval(cell)
        self._seen[id(cell)] = (cell, found)  # the cell is kept: its id is not reused
        return found

    def lookup_all(self, cells: Iterable[PortCell]) -> list[tuple[tuple[T, ...], tuple[int, ...]]]:
        """``lookup`` of each of ``cells``, in order: one call for a whole cut."""
        found = []
        seen = self._seen
        for cell in cells:
            known = seen.get(id(cell))
            if known is None or known[0] is not cell:
                known = seen[id(cell)] = (cell, self._interval(cell))
            found.append(known[1])
        return found

    def _interval(self, cell: PortCell) -> tuple[tuple[T, ...], tuple[int, ...]]:
        protocol = cell.protocol
        if protocol == "other":
            return self._other
        bounds = self._bounds.get(protocol)
        if bounds is not None and 0 <= cell.low:
            i = bisect_right(bounds, cell.low) - 1
            if i + 1 < len(bounds) and cell.high < bounds[i + 1]:
                found = self._found[protocol][i]
                if found is None:
                    found = self._found[protocol][i] = self._plain(PortCell(protocol, bounds[i], bounds[i + 1] - 1))
                return found
        return self._plain(cell)  # a cell across a bound (not one of a cut's cells), or unknown protocol
