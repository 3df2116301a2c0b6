"""Small readers for cdktf's Terraform JSON: references, resource addresses, booleans, and the JSON
itself read as Terraform reads it (a duplicate key is refused: Terraform reads both copies)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from circleci_network.audit.errors import AuditError

Json = dict[str, Any]

#: The tags our renderers put on what they build: a resource carrying one is circleci's.
OUR_TAGS = ("circleci/role", "circleci/rule")

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


#: The strings Terraform converts to a boolean (cty's conversion, and a template that is only a literal).
_TRUE = re.compile(r"true|1|\$\{\s*true\s*\}")
_FALSE = re.compile(r"false|0|\$\{\s*false\s*\}")


def boolean(resource: Json, field: str, where: str, default: bool = False) -> bool:
    """A boolean argument as Terraform reads it: ``true``, ``"true"``, ``"${true}"`` (and ``"1"``) are true;
    absent or null is ``default``; anything else (``"yes"``, ``"${var.x}"``, ``1``) is an AuditError
    naming ``where.field``, never Python's truthiness (``bool("false")`` is True)."""
    value = resource.get(field)
    if value is None:
        return default
    if value is True or value is False:
        return value
    if isinstance(value, str):
        if _TRUE.fullmatch(value):
            return True
        if _FALSE.fullmatch(value):
            return False
    raise AuditError(f"{where}.{field}: {value!r} is not a boolean the audit reads; give true or false")


class DuplicateKey(ValueError):
    """A key twice in one JSON object: Terraform reads both copies (blocks merge), JSON readers the last."""


def _first_duplicate(pairs: list[tuple[str, Any]]) -> str | None:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None


def _unique(pairs: list[tuple[str, Any]]) -> Json:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise DuplicateKey(_first_duplicate(pairs))
    return found


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> object:
    """``json.loads`` as Terraform reads the file: a duplicate key is a ``DuplicateKey`` naming where it is
    (``resource.aws_vpc_security_group_ingress_rule``), and ``NaN``/``Infinity`` are no JSON."""
    try:
        return json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constant)
    except DuplicateKey as error:
        raise DuplicateKey(_duplicate_path(text, str(error))) from None


class _Marked(dict[str, Any]):
    duplicate: str = ""


def _mark(pairs: list[tuple[str, Any]]) -> Json:
    found = _Marked(pairs)
    if len(found) != len(pairs):
        found.duplicate = _first_duplicate(pairs) or ""
    return found


def _duplicate_path(text: str, key: str) -> str:
    """Where the duplicate ``key`` is (read again, only when there is one), or the key alone."""
    try:
        walk: list[tuple[str, object]] = [("", json.loads(text, object_pairs_hook=_mark))]
    except (ValueError, RecursionError):
        return key
    while walk:
        at, value = walk.pop()
        if isinstance(value, _Marked) and value.duplicate:
            return f"{at}.{value.duplicate}" if at else value.duplicate
        if isinstance(value, dict):
            walk += [(f"{at}.{k}" if at else k, v) for k, v in reversed(value.items())]
        elif isinstance(value, list):
            walk += [(f"{at}[{i}]", v) for i, v in reversed(list(enumerate(value)))]
    return key


def as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
