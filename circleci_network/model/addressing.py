"""IPv4 CIDR parsing and subnet carving, with errors that name the field."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network

from circleci_network.errors import ConfigurationError

ALL_IPV4 = "0.0.0.0/0"


def parse_cidr(value: object, field: str) -> IPv4Network:
    """An IPv4 network from ``value``; host bits set is an error, not silently masked."""
    if not isinstance(value, str):
        raise ConfigurationError(field, f"{value!r} is not a string", 'give a CIDR such as "10.0.0.0/16"')
    try:
        return IPv4Network(value, strict=True)
    except ipaddress.NetmaskValueError as error:
        raise ConfigurationError(
            field, f"{value!r} has an invalid netmask ({error})", 'use a prefix length 0-32, e.g. "10.0.0.0/16"'
        ) from None
    except ValueError as error:
        if "has host bits set" in str(error):
            network = IPv4Network(value, strict=False)
            raise ConfigurationError(
                field, f"{value!r} has host bits set", f'use the network address "{network}"'
            ) from None
        raise ConfigurationError(
            field, f"{value!r} is not an IPv4 CIDR", 'give a CIDR such as "10.0.0.0/16" or "203.0.113.7/32"'
        ) from None


def parse_address(value: object, field: str) -> IPv4Address:
    if not isinstance(value, str):
        raise ConfigurationError(field, f"{value!r} is not a string", 'give an address such as "10.0.0.10"')
    try:
        return IPv4Address(value)
    except ValueError:
        raise ConfigurationError(
            field, f"{value!r} is not an IPv4 address", 'give an address such as "10.0.0.10"'
        ) from None


def cidr_tuple(values: Iterable[str] | str, field: str) -> tuple[str, ...]:
    """Validate a list of CIDRs; returns them normalised, order kept, duplicates refused."""
    if isinstance(values, str):
        raise ConfigurationError(field, f"got the string {values!r}, not a list", f'wrap it in a list: ["{values}"]')
    seen: list[str] = []
    for index, value in enumerate(values):
        network = str(parse_cidr(value, f"{field}[{index}]"))
        if network in seen:
            raise ConfigurationError(f"{field}[{index}]", f"{network} is listed twice", "remove the duplicate")
        seen.append(network)
    return tuple(seen)


def check_disjoint(named: Sequence[tuple[str, IPv4Network]]) -> None:
    """Refuse any two overlapping networks, naming both fields."""
    for i, (field_a, net_a) in enumerate(named):
        for field_b, net_b in named[i + 1 :]:
            if net_a.overlaps(net_b):
                raise ConfigurationError(
                    field_b, f"{net_b} overlaps {net_a} ({field_a})", "give each subnet its own distinct CIDR block"
                )


def carve_subnets(
    parent: IPv4Network, prefix_lengths: Sequence[int], field: str, taken: Sequence[IPv4Network] = ()
) -> list[IPv4Network]:
    """Allocate aligned, disjoint blocks of the given sizes from ``parent``, around ``taken``.

    Blocks are placed largest first, each at the lowest aligned address free of ``taken`` and
    of the blocks placed before it, so alignment never wastes space; the result keeps the
    order of ``prefix_lengths``, so the same request always yields the same CIDRs.
    """
    order = sorted(range(len(prefix_lengths)), key=lambda i: (prefix_lengths[i], i))
    end = int(parent.broadcast_address) + 1
    used = [t for t in taken if t.overlaps(parent)]
    result: dict[int, IPv4Network] = {}
    for i in order:
        length = prefix_lengths[i]
        if length < parent.prefixlen or length > 28:
            raise ConfigurationError(
                field,
                f"a /{length} subnet cannot be carved from {parent}",
                f"use subnet sizes between /{parent.prefixlen} and /28",
            )
        size = 1 << (32 - length)
        cursor = int(parent.network_address)
        while True:
            cursor = (cursor + size - 1) // size * size
            if cursor + size > end:
                needed = sum(1 << (32 - p) for p in prefix_lengths)
                around = f" around the taken ranges {', '.join(str(t) for t in taken)}" if taken else ""
                raise ConfigurationError(
                    field,
                    f"{parent} ({parent.num_addresses} addresses) is too small for the "
                    f"{len(prefix_lengths)} subnets asked ({needed} addresses){around}",
                    "use a larger VPC CIDR (e.g. a /16), fewer availability zones, smaller subnets, "
                    "or explicit subnet CIDRs",
                )
            candidate = IPv4Network((cursor, length))
            blocker = next((u for u in used if u.overlaps(candidate)), None)
            if blocker is None:
                break
            cursor = int(blocker.broadcast_address) + 1
        result[i] = candidate
        used.append(candidate)
    return [result[i] for i in range(len(prefix_lengths))]
