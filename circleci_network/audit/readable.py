"""The values the audit reads as networks and numbers, checked once as the stack is read.

A value the readers cannot take (a ``/33``, ``from_port: "abc"``, a subnet without its
CIDR, a ``${var.x}`` VPC CIDR) is an ``AuditError`` naming the resource and field, so the
CLI reports the stack as unreadable in one line and the readers' loops stay unguarded.
"""

from __future__ import annotations

import functools
from ipaddress import IPv4Address, IPv4Network

from circleci_network.audit.errors import AuditError
from circleci_network.audit.terraform_json import Json, address, as_list

#: CIDRs the readers take literally (a reference there cannot be placed).
_LITERAL = "literal"
#: CIDRs that may also be a reference (``${aws_eip.x.public_ip}/32``): placed at a stand-in or reported.
_OR_REFERENCE = "or-reference"

#: Per resource type: (field, what it holds).
_SG_BLOCK = (("from_port", "port"), ("to_port", "port"), ("cidr_blocks", _OR_REFERENCE))
_ACL_BLOCK = (("from_port", "port"), ("to_port", "port"), ("rule_no", "number"), ("cidr_block", _LITERAL))
_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "aws_vpc": (("cidr_block", _LITERAL),),
    "aws_vpc_ipv4_cidr_block_association": (("cidr_block", _LITERAL),),
    "aws_subnet": (("cidr_block", "required"),),
    "aws_vpc_security_group_ingress_rule": (("from_port", "port"), ("to_port", "port"), ("cidr_ipv4", _OR_REFERENCE)),
    "aws_vpc_security_group_egress_rule": (("from_port", "port"), ("to_port", "port"), ("cidr_ipv4", _OR_REFERENCE)),
    "aws_security_group_rule": _SG_BLOCK,
    "aws_network_acl_rule": (
        ("from_port", "port"),
        ("to_port", "port"),
        ("rule_number", "number"),
        ("cidr_block", _LITERAL),
    ),
    "aws_route": (("destination_cidr_block", _LITERAL),),
    "aws_lb_listener": (("port", "port"),),
    "aws_lb_target_group": (("port", "port"),),
    "google_compute_firewall": (
        ("priority", "number"),
        ("source_ranges", _OR_REFERENCE),
        ("destination_ranges", _OR_REFERENCE),
    ),
    "google_compute_subnetwork": (("ip_cidr_range", "required"),),
    "google_compute_address": (("address", "address"),),
}
#: Nested blocks read like resources of their own: (resource type, block field) -> its fields.
_BLOCKS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("aws_security_group", "ingress"): _SG_BLOCK,
    ("aws_security_group", "egress"): _SG_BLOCK,
    ("aws_default_security_group", "ingress"): _SG_BLOCK,
    ("aws_default_security_group", "egress"): _SG_BLOCK,
    ("aws_network_acl", "ingress"): _ACL_BLOCK,
    ("aws_network_acl", "egress"): _ACL_BLOCK,
    ("aws_default_network_acl", "ingress"): _ACL_BLOCK,
    ("aws_default_network_acl", "egress"): _ACL_BLOCK,
    ("aws_route_table", "route"): (("cidr_block", _LITERAL),),
    ("google_compute_firewall", "allow"): (("ports", "port-ranges"),),
    ("google_compute_firewall", "deny"): (("ports", "port-ranges"),),
    ("google_compute_subnetwork", "secondary_ip_range"): (("ip_cidr_range", "required"),),
}


#: Every resource type the audit's readers read (by kind, or as a rule's owner, peer, route or placement).
#: Terraform makes none, one or many of a resource with ``count``/``for_each``, and blocks from a
#: ``dynamic`` block: the audit reads each resource as written, so these kinds refuse all three.
READ_KINDS = frozenset(
    {
        # AWS: groups and their rules, the VPC's defaults, ACLs, subnets and routing
        "aws_security_group",
        "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
        "aws_default_security_group",
        "aws_default_network_acl",
        "aws_network_acl",
        "aws_network_acl_rule",
        "aws_network_acl_association",
        "aws_vpc",
        "aws_vpc_ipv4_cidr_block_association",
        "aws_subnet",
        "aws_route",
        "aws_route_table",
        "aws_route_table_association",
        "aws_default_route_table",
        "aws_main_route_table_association",
        "aws_internet_gateway",
        "aws_nat_gateway",
        "aws_eip",
        "aws_lb",
        "aws_lb_listener",
        "aws_lb_target_group",
        "aws_lb_target_group_attachment",  # listeners.py: a port of its own on our target groups
        "aws_lb_listener_rule",  # listeners.py: a rule on our listeners
        "aws_network_interface_sg_attachment",  # accepted.py: an accepted group on an ENI
        "aws_flow_log",
        "aws_vpc_endpoint",
        "aws_eks_cluster",
        # GCP: firewall rules, the network, its subnetworks, addresses, routing and identities
        "google_compute_firewall",
        "google_compute_network",
        "google_compute_subnetwork",
        "google_compute_address",
        "google_compute_router",
        "google_compute_router_nat",
        "google_compute_route",
        "google_service_account",
    }
)
#: Resource arguments that make Terraform create other than one resource as written.
_META = ("count", "for_each")
#: Attribute maps (never blocks): a ``dynamic`` key there is a tag, not a block; ``//`` is cdktf's metadata.
_NOT_BLOCKS = frozenset({"tags", "tags_all", "labels", "//"})

#: Per resource type: its fields, and its nested blocks' (the types the audit reads no value of: none).
_BY_KIND: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, tuple[tuple[str, str], ...]], ...]]] = {
    kind: (_FIELDS.get(kind, ()), tuple((block, fields) for (k, block), fields in _BLOCKS.items() if k == kind))
    for kind in {*_FIELDS, *(k for k, _ in _BLOCKS)}
}


def check_readable(stack: Json) -> None:
    """Raise an ``AuditError`` ("aws_subnet.x.cidr_block: '10.0.0.0/33' is not an IPv4 network")
    for the first value the audit's readers could not take."""
    every = stack.get("resource", {})
    _expect_object(every, "resource", "an object of resource types")
    for kind, named in every.items():
        _expect_object(named, f"resource.{kind}", "an object of resources")
        fields, blocks = _BY_KIND.get(kind, ((), ()))
        read = kind in READ_KINDS
        for name, resource in named.items():
            if not isinstance(resource, dict):
                _expect_object(resource, address(kind, name), "an object")
            if read:
                _as_written(resource, address(kind, name))
            for field, holds in fields:
                if field in resource or holds == "required":
                    _check(resource, field, holds, address(kind, name))
            for block_field, block_fields in blocks:
                for index, block in enumerate(as_list(resource.get(block_field))):
                    at = f"{address(kind, name)}.{block_field}[{index}]"
                    _expect_object(block, at, "an object")
                    for field, holds in block_fields:
                        if field in block or holds == "required":
                            _check(block, field, holds, at)
    _expect_object(stack.get("locals", {}), "locals", "an object")
    _expect_object(stack.get("module", {}), "module", "an object of modules")


def _as_written(resource: Json, where: str) -> None:
    """Refuse ``count``/``for_each`` on the resource and a ``dynamic`` block anywhere in it."""
    for meta in _META:
        if meta in resource:
            _refuse_construct(where, meta)
    walk: list[tuple[str, object]] = [(where, resource)]
    while walk:  # no recursion: a resource may nest deeper than Python's stack
        at, value = walk.pop()
        if isinstance(value, list):
            walk += [(at, each) for each in value]
        elif isinstance(value, dict):
            if "dynamic" in value:
                _refuse_construct(at, "dynamic")
            walk += [(f"{at}.{key}", each) for key, each in value.items() if key not in _NOT_BLOCKS]


def _refuse_construct(where: str, construct: str) -> None:
    raise AuditError(
        f"{where}: {construct}: the audit reads each resource as written, not what count, for_each or "
        "dynamic blocks make of it; build one resource per construct"
    )


def module_notes(stack: Json) -> list[str]:
    """One NOT CHECKED line per ``module`` block (a module's resources are not in the stack's JSON)."""
    return [f"module.{name}: not read; what it creates and changes is not audited" for name in stack.get("module", {})]


def _expect_object(value: object, where: str, what: str) -> None:
    if not isinstance(value, dict):
        shape = "null" if value is None else f"a {type(value).__name__}"
        raise AuditError(f"{where}: {shape} where Terraform JSON has {what}")


def _check(resource: Json, field: str, holds: str, where: str) -> None:
    value = resource.get(field)
    at = f"{where}.{field}"
    if value is None:
        if holds == "required":
            raise AuditError(f"{at}: missing; the audit needs each subnet's IPv4 range")
        return
    if holds in ("required", _LITERAL):
        _network(value, at)
    elif holds == _OR_REFERENCE:
        for each in as_list(value):
            if not (isinstance(each, str) and "${" in each):
                _network(each, at)
    elif holds == "address":
        if not (isinstance(value, str) and "${" in value):
            _address(value, at)
    elif holds == "port-ranges":
        for each in as_list(value):
            low, _, high = str(each).partition("-")
            for part in (low, high or low):
                _number(part, at, each)
    else:  # "port", "number"
        _number(value, at, value)


def _network(value: object, at: str) -> None:
    if not (isinstance(value, str) and _is_network(value)):
        hint = "; the audit reads it literally, give the CIDR itself" if "${" in str(value) else ""
        raise AuditError(f"{at}: {value!r} is not an IPv4 network{hint}")


@functools.lru_cache(maxsize=4096)
def _is_network(text: str) -> bool:
    """Cached: a stack repeats its CIDRs, and parsing one costs more than the rest of the check."""
    try:
        IPv4Network(text)
    except ValueError:
        return False
    return True


def _address(value: object, at: str) -> None:
    try:
        IPv4Address(value)
    except ValueError:
        raise AuditError(f"{at}: {value!r} is not an IPv4 address") from None


def _number(value: object, at: str, shown: object) -> None:
    if type(value) is int or (type(value) is str and value.isdigit()):
        return  # nearly every value: skip the conversion
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):  # inf, nan, 22.5
        raise AuditError(f"{at}: {shown!r} is not a whole number the audit reads")
    try:
        int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        raise AuditError(f"{at}: {shown!r} is not a number the audit reads; give the whole number itself") from None
