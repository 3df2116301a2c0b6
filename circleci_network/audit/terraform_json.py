"""Small readers for cdktf's Terraform JSON: references and resource addresses."""

from __future__ import annotations

import re
from typing import Any

Json = dict[str, Any]


def resources(stack: Json, kind: str) -> dict[str, Json]:
    found: dict[str, Json] = stack.get("resource", {}).get(kind, {})
    return found


def address(kind: str, name: str) -> str:
    return f"{kind}.{name}"


def referenced(value: object, kind: str, attribute: str) -> str | None:
    """``"${aws_security_group.web.id}"`` -> ``"web"`` for kind/attribute, else None."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\$\{" + re.escape(kind) + r"\.([^.}]+)\." + re.escape(attribute) + r"\}", value)
    return match.group(1) if match else None


def as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
