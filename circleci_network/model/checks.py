"""Input checks every props dataclass shares: enum choices, required fields, "outside" CIDRs.

Cloud-independent: each cloud passes in the ranges that are inside its network.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from ipaddress import IPv4Network
from typing import Any, TypeVar

from circleci_network.errors import ConfigurationError
from circleci_network.model.addressing import ALL_IPV4

_Enum = TypeVar("_Enum", bound=StrEnum)
_Props = TypeVar("_Props", bound=type)


def member(kind: type[_Enum], value: object, field_name: str) -> _Enum:
    """``value`` as a member of ``kind``: the member itself or its exact value string.

    Anything else (a typo, another enum's member, a member's name) is refused with the choices.
    """
    if isinstance(value, kind):
        return value
    if type(value) is str:  # exact strings only: another StrEnum's member is a str too
        try:
            return kind(value)
        except ValueError:
            pass
    choices = ", ".join(f'{kind.__name__}.{m.name} ("{m.value}")' for m in kind)
    raise ConfigurationError(field_name, f"{value!r} is not a {kind.__name__}", f"use one of {choices}")


def checked_keywords(cls: _Props) -> _Props:
    """Class decorator (outside ``@dataclass``): a misspelt, missing or surplus argument is a
    ``ConfigurationError`` naming the field and the fix, not Python's bare ``TypeError``.

    Editors and mypy still see the dataclass's own signature; this only checks the call first.
    """
    init = cls.__init__  # type: ignore[misc]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    name = cls.__name__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise ConfigurationError(
                name,
                f"takes {len(names)} arguments, {len(args)} were given by position",
                f"pass them by name: {', '.join(names)}",
            )
        given = set(names[: len(args)])
        for key in kwargs:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                raise ConfigurationError(
                    f"{name}.{key}", f"is not a field of {name}", f"{hint}its fields: {', '.join(names)}"
                )
            if key in given:
                raise ConfigurationError(f"{name}.{key}", "is given twice (by position and by name)", "give it once")
        missing = [f for f in required if f not in given and f not in kwargs]
        if missing:
            raise ConfigurationError(
                f"{name}.{missing[0]}", "is required", f"give {', '.join(f'{m}=...' for m in missing)}"
            )
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def require_fields(props: Any) -> None:
    """Refuse ``None`` in every field of the dataclass ``props`` whose annotation does not allow it.

    Runs first in ``__post_init__``, so ``hardening=None`` reads as our error, not a TypeError.
    Annotations are strings (``from __future__ import annotations``) in every props module.
    """
    for f in dataclasses.fields(props):
        if getattr(props, f.name) is None and "None" not in str(f.type):
            default = (
                f"leave it out for the default ({f.default!r})"
                if f.default is not dataclasses.MISSING
                else "leave it out for the default"
                if f.default_factory is not dataclasses.MISSING
                else "give a value"
            )
            raise ConfigurationError(
                f"{type(props).__name__}.{f.name}", f"is None, but a {f.type} is required", default
            )


def covers_everything(cidrs: Iterable[str]) -> bool:
    """Whether the CIDRs together cover all of IPv4 (``0.0.0.0/1`` + ``128.0.0.0/1`` does)."""
    networks = [IPv4Network(c) for c in cidrs]
    return [str(n) for n in ipaddress.collapse_addresses(networks)] == [ALL_IPV4]


def outside_errors(
    field_name: str, cidrs: Sequence[str], inside: Sequence[tuple[str, IPv4Network]], fix: str
) -> Iterator[ConfigurationError]:
    """An error for each outside peer's CIDR that overlaps a range inside the network.

    ``0.0.0.0/0`` alone is the explicit "anywhere" (the guide's default for clients and egress)
    and is allowed; a narrower range that still reaches inside would open flows between our own
    roles that the guide does not have (e.g. SSH administrators 10.0.0.0/16 on a 10.0.0.0/16 VPC:
    Nomad to Nomad on 22).
    """
    for index, cidr in enumerate(cidrs):
        if cidr == ALL_IPV4:
            continue
        network = IPv4Network(cidr)
        overlapped = next(((n, r) for n, r in inside if network.overlaps(r)), None)
        if overlapped is None:
            continue
        inside_name, inside_network = overlapped
        outside_part = _without(network, inside_network)
        rest = (
            f"list only the part outside it ({', '.join(outside_part)})"
            if outside_part and len(outside_part) <= 8
            else "list only ranges outside it"
        )
        yield ConfigurationError(
            f"{field_name}[{index}]",
            f"{cidr} overlaps {inside_network} ({inside_name}), which is inside the network: "
            "it would open this outside peer's rules between our own instances",
            f"{rest}; {fix}",
        )


def check_outside(field_name: str, cidrs: Sequence[str], inside: Sequence[tuple[str, IPv4Network]], fix: str) -> None:
    """Refuse the first outside peer's CIDR that overlaps a range inside the network (``outside_errors``)."""
    for error in outside_errors(field_name, cidrs, inside, fix):
        raise error


def _without(network: IPv4Network, inside: IPv4Network) -> list[str]:
    if inside.supernet_of(network):
        return []
    return sorted((str(n) for n in network.address_exclude(inside)), key=lambda c: IPv4Network(c))
