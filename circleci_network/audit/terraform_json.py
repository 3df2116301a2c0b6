"""Small readers for cdktf's Terraform JSON: references and resource addresses."""

from __future__ import annotations

import re
from typing import Any

Json = dict[str, Any]

#: ``${kind.name.attribute}``: one pattern for every kind (the audit reads thousands of references).
_REFERENCE = re.compile(r"\$\{([^.}]+)\.([^.}]+)\.([^.}]+)\}")


def resources(stack: Json, kind: str) -> dict[str, Json]:
    found: dict[str, Json] = stack.get("resource", {}).get(kind, {})
    return found


def address(kind: str, name: str) -> str:
    return f"{kind}.{name}"


def referenced(value: object, kind: str, attribute: str) -> str | None:
    """``"${aws_security_group.web.id}"`` -> ``"web"`` for kind/attribute, else None."""
    if not isinstance(value, str):
        return None
    match = _REFERENCE.fullmatch(value)
    return match.group(2) if match and match.group(1) == kind and match.group(3) == attribute else None


def as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
