"""AWS name rules, checked before synth so a bad name is our error, not the API's."""

from __future__ import annotations

import re

from circleci_network.errors import ConfigurationError

_PREFIX = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$")


def check_name_prefix(value: str, field: str, *, longest_suffix: int, limit: int) -> str:
    """``value`` is used as ``{value}-{suffix}`` in names capped at ``limit`` characters."""
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise ConfigurationError(
            field,
            f"{value!r} is not a valid name prefix",
            "use lowercase letters, digits and '-', starting with a letter",
        )
    room = limit - longest_suffix - 1
    if len(value) > room:
        raise ConfigurationError(
            field,
            f"{value!r} is {len(value)} characters; names built from it would exceed AWS's {limit}-character limit",
            f"use at most {room} characters",
        )
    return value
