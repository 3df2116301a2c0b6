"""Shape snapshots as a reviewer reads them: what a shape changes relative to the reference
stack of its cloud (resources added and removed, attributes changed), not a whole stack."""

from __future__ import annotations

from typing import Any

Json = Any
#: Sections keyed by kind, then name (``resource.aws_lb.x``); the others by name (``locals.x``).
TWO_LEVEL = ("resource", "data")


def _entries(stack: dict[str, Any]) -> dict[str, Json]:
    found: dict[str, Json] = {}
    for section, content in stack.items():
        if not isinstance(content, dict):
            found[section] = content
            continue
        for key, value in content.items():
            if section in TWO_LEVEL and isinstance(value, dict):
                found |= {f"{section}.{key}.{name}": item for name, item in value.items()}
            else:
                found[f"{section}.{key}"] = value
    return found


def _changes(before: Json, after: Json, path: str, out: dict[str, Json]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            _changes(before.get(key), after.get(key), f"{path}.{key}" if path else key, out)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            _changes(b, a, f"{path}[{i}]", out)
    else:
        out[path] = {"reference": before, "shape": after}


def structural_diff(reference: dict[str, Any], shape: dict[str, Any]) -> dict[str, Any]:
    old, new = _entries(reference), _entries(shape)
    changed: dict[str, Json] = {}
    for key in sorted(set(old) & set(new)):
        attributes: dict[str, Json] = {}
        _changes(old[key], new[key], "", attributes)
        if attributes:
            changed[key] = attributes
    return {
        "added": {key: new[key] for key in sorted(set(new) - set(old))},
        "removed": sorted(set(old) - set(new)),
        "changed": changed,
    }
