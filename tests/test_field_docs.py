"""Every field of the public props and options carries an attribute docstring.

Editors (Pylance, PyCharm) show a string literal right after a field on hover; they ignore
``#:`` comments. Attribute docstrings are not kept at runtime, so this reads the source.
"""

from __future__ import annotations

import ast
from pathlib import Path

import circleci_network

PACKAGE = Path(circleci_network.__file__).parent

# Public config dataclasses whose names do not end in Props or Options.
CONFIG_CLASSES = frozenset(
    {
        "ExistingVpc",
        "GcpAddressing",
        "CloudNat",
        "ServerVersion",
        "Topology",
        "ExtraEgressRule",
        "PlatformOptions",
        "VpcEndpoints",
        "Environment",
        "SharedState",
        "S3StateBackend",
        "GcsStateBackend",
        "AcceptedFinding",
    }
)


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _is_dataclass(node: ast.ClassDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (isinstance(target, ast.Name) and target.id == "dataclass") or (
            isinstance(target, ast.Attribute) and target.attr == "dataclass"
        ):
            return True
    return False


def _checked(node: ast.ClassDef) -> bool:
    public = not node.name.startswith("_")
    named = node.name.endswith(("Props", "Options")) or node.name in CONFIG_CLASSES
    return public and named and _is_dataclass(node)


def _is_class_var(annotation: ast.expr) -> bool:
    target = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return (isinstance(target, ast.Name) and target.id == "ClassVar") or (
        isinstance(target, ast.Attribute) and target.attr == "ClassVar"
    )


def _is_docstring(stmt: ast.stmt | None) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _classes() -> list[tuple[Path, ast.ClassDef, list[str]]]:
    found = []
    for path in _sources():
        source = path.read_text()
        tree = ast.parse(source, filename=str(path))
        found += [(path, node, source.splitlines()) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    return found


def test_every_props_and_options_field_has_an_attribute_docstring() -> None:
    undocumented = []
    checked = set()
    for path, node, _ in _classes():
        if not _checked(node):
            continue
        checked.add(node.name)
        for index, stmt in enumerate(node.body):
            if not isinstance(stmt, ast.AnnAssign) or not isinstance(stmt.target, ast.Name):
                continue
            if _is_class_var(stmt.annotation):
                continue
            following = node.body[index + 1] if index + 1 < len(node.body) else None
            if not _is_docstring(following):
                undocumented.append(f"{node.name}.{stmt.target.id} ({path.relative_to(PACKAGE.parent)}:{stmt.lineno})")
    # The walk must reach the public API, or an empty result would prove nothing.
    assert {"AwsNetworkProps", "GcpNetworkProps", "HardeningOptions", "VpcProps", "FirewallProps"} <= checked
    assert {"ExistingVpc", "GcpAddressing", "CloudNat", "ServerVersion", "Topology", "ExtraEgressRule"} <= checked
    assert {"VpcEndpoints", "VpcEndpointProps"} <= checked
    assert not undocumented, "fields without an attribute docstring (a string on the line after the field):\n" + (
        "\n".join(undocumented)
    )


def test_no_hash_colon_comment_above_a_class_level_field() -> None:
    left = []
    for path, node, lines in _classes():
        for stmt in node.body:
            if not isinstance(stmt, (ast.AnnAssign, ast.Assign)):
                continue
            above = lines[stmt.lineno - 2].strip() if stmt.lineno >= 2 else ""
            if above.startswith("#:"):
                names = (
                    [stmt.target]
                    if isinstance(stmt, ast.AnnAssign)
                    else [t for t in stmt.targets if isinstance(t, ast.Name)]
                )
                label = ", ".join(n.id for n in names if isinstance(n, ast.Name)) or "?"
                left.append(f"{node.name}.{label} ({path.relative_to(PACKAGE.parent)}:{stmt.lineno - 1})")
    assert not left, "`#:` comments editors do not show; move them into a docstring after the field:\n" + (
        "\n".join(left)
    )
