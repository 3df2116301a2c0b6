"""Small readers for cdktf's Terraform JSON: references and resource addresses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from circleci_network.audit.errors import AuditError

Json = dict[str, Any]

#: ``${kind.name.attribute}``: one pattern for every kind (the audit reads thousands of references).
_REFERENCE = re.compile(r"\$\{([^.}]+)\.([^.}]+)\.([^.}]+)\}")


def resources(stack: Json, kind: str) -> dict[str, Json]:
    every = stack.get("resource", {})
    if not isinstance(every, dict):
        raise AuditError(f"resource: {_shape(every)} where Terraform JSON has an object of resource types")
    found = every.get(kind, {})
    if not isinstance(found, dict):
        raise AuditError(f"resource.{kind}: {_shape(found)} where Terraform JSON has an object of resources")
    return found


def all_resources(stack: Json) -> Iterator[tuple[str, str, Json]]:
    """Every (kind, name, resource) in the stack (its shape checked by ``readable.check_readable``)."""
    for kind, named in stack.get("resource", {}).items():
        for name, resource in named.items():
            yield kind, name, resource


def _shape(value: object) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


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
