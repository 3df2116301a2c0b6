"""Network ACL entries as data: merge a tier's allow rules into as few as cover exactly the same
addresses and ports, and number them by content. Pure Python (no cdktf): the construct in
``network_acls.py`` renders what this returns, and the tests exercise it without a synth."""

from __future__ import annotations

import itertools
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Network, collapse_addresses

from circleci_network.model.ports import CLOSED_TO_THE_WORLD, Port, Protocol

#: Rule numbers are FIRST_RULE_NUMBER + STEP * slot, the slot hashed from the rule's content.
FIRST_RULE_NUMBER = 100
RULE_NUMBER_STEP = 10
RULE_NUMBER_SLOTS = 3000


@dataclass(frozen=True, order=True)
class AclEntry:
    """One allow rule: ``protocol`` ports ``from_port``-``to_port`` from (ingress) or to (egress) ``network``."""

    egress: bool
    protocol: Protocol
    network: IPv4Network
    from_port: int
    to_port: int

    @property
    def port(self) -> Port:
        return Port(self.protocol, self.from_port, self.to_port)

    @property
    def key(self) -> str:
        """Stable text of the rule's content: its logical ID suffix and its number's seed."""
        way = "out" if self.egress else "in"
        slug = str(self.network).replace(".", "-").replace("/", "-")
        return f"{way}-{self.port.id_fragment}-{slug}"


def compact(entries: Iterable[AclEntry], flexible: Iterable[AclEntry] = ()) -> tuple[AclEntry, ...]:
    """The same addresses and ports in as few rules as this finds; sorted.

    Inside ``flexible`` entries (replies), the ports closed to the world are not needed: a merged
    rule made of nothing else is left out, so a reply never adds a rule just for port 3389.
    """
    entries = set(entries)
    merged = _compact(entries)
    optional = set(flexible)
    needed = entries - optional
    return tuple(e for e in merged if not _only_negotiable(e, needed, optional))


def _only_negotiable(entry: AclEntry, needed: set[AclEntry], optional: set[AclEntry]) -> bool:
    if not any(closed.protocol is entry.protocol and closed.covers(entry.port) for closed in CLOSED_TO_THE_WORLD):
        return False
    return not any(_overlap(entry, other) for other in needed) and any(_overlap(entry, o) for o in optional)


def _overlap(a: AclEntry, b: AclEntry) -> bool:
    same = Protocol.ALL in (a.protocol, b.protocol) or a.protocol is b.protocol
    ports = (
        a.protocol is Protocol.ALL
        or b.protocol is Protocol.ALL
        or (a.from_port <= b.to_port and b.from_port <= a.to_port)
    )
    return a.egress is b.egress and same and ports and a.network.overlaps(b.network)


def _compact(entries: set[AclEntry]) -> list[AclEntry]:
    result: list[AclEntry] = []
    for egress in (False, True):
        mine = [e for e in entries if e.egress is egress]
        everything = list(collapse_addresses(e.network for e in mine if e.protocol is Protocol.ALL))
        result += [AclEntry(egress, Protocol.ALL, n, 0, 65535) for n in everything]
        for protocol in (Protocol.TCP, Protocol.UDP):
            boxes = {
                (e.network, e.from_port, e.to_port)
                for e in mine
                if e.protocol is protocol and not any(e.network.subnet_of(n) for n in everything)
            }
            if boxes:
                best = min((_by_port_range(boxes), _by_rule(boxes)), key=len)
                result += [AclEntry(egress, protocol, n, low, high) for n, low, high in best]
    return sorted(result)


_Box = tuple[IPv4Network, int, int]


def _merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _by_port_range(boxes: set[_Box]) -> list[_Box]:
    """Cut the ports where any rule starts or ends; each piece allows the collapsed union of the
    networks covering it; then each network's adjacent pieces join again."""
    bounds = sorted({low for _, low, _ in boxes} | {high + 1 for _, _, high in boxes})
    per_network: dict[IPv4Network, list[tuple[int, int]]] = defaultdict(list)
    for low, end in itertools.pairwise(bounds):
        for network in collapse_addresses(n for n, a, b in boxes if a <= low and end - 1 <= b):
            per_network[network].append((low, end - 1))
    return [(n, low, high) for n, ranges in per_network.items() for low, high in _merge_ranges(ranges)]


def _by_rule(boxes: set[_Box]) -> list[_Box]:
    """Drop rules another one covers, join port ranges per network and networks per port range."""
    current = set(boxes)
    while True:
        kept = {
            (n, a, b)
            for n, a, b in current
            if not any((m, c, d) != (n, a, b) and n.subnet_of(m) and c <= a and b <= d for m, c, d in current)
        }
        per_network: dict[IPv4Network, list[tuple[int, int]]] = defaultdict(list)
        for n, a, b in kept:
            per_network[n].append((a, b))
        joined = {(n, a, b) for n, ranges in per_network.items() for a, b in _merge_ranges(ranges)}
        per_range: dict[tuple[int, int], list[IPv4Network]] = defaultdict(list)
        for n, a, b in joined:
            per_range[(a, b)].append(n)
        collapsed = {(n, a, b) for (a, b), networks in per_range.items() for n in collapse_addresses(networks)}
        if collapsed == current:
            return sorted(current)
        current = collapsed


def rule_numbers(entries: Iterable[AclEntry]) -> dict[AclEntry, int]:
    """A number per rule from a hash of its content, probing past collisions in sorted order.
    Numbers must only be unique per direction: every rule allows, so their order is irrelevant."""
    numbers: dict[AclEntry, int] = {}
    for egress in (False, True):
        taken: set[int] = set()
        for entry in sorted(e for e in entries if e.egress is egress):
            slot = zlib.crc32(entry.key.encode()) % RULE_NUMBER_SLOTS
            while (number := FIRST_RULE_NUMBER + RULE_NUMBER_STEP * slot) in taken:
                slot = (slot + 1) % RULE_NUMBER_SLOTS
            taken.add(number)
            numbers[entry] = number
    return numbers
