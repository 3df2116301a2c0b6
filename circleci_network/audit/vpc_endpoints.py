"""AWS VPC endpoints in the audit: where the interface endpoints' group lives (the subnets its
endpoints sit in), and the S3 prefix list as a named peer.

A prefix list stands for addresses AWS manages, which the flow engine cannot place. A rule to
S3's prefix list (the stack's own gateway endpoint) is matched by name, role, direction and
port against the model's platform rules: an exact match is reported as checked by name (a note),
anything else fails (unmodelled), and a model rule no resource renders is a finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

from circleci_network.audit.expected import port_spec
from circleci_network.audit.findings import Finding
from circleci_network.audit.space import PortSpec
from circleci_network.audit.terraform_json import Json, as_list, boolean, referenced, resources
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.roles import OutsidePeer, Role
from circleci_network.model.rules import TrafficRule


@dataclass(frozen=True)
class NamedGrant:
    """A rule to a peer known by name only (a prefix list), not by addresses."""

    role: Role
    direction: str
    spec: PortSpec
    peer: OutsidePeer
    resource: str


def _endpoints(stack: Json, kind: str) -> dict[str, Json]:
    return {name: e for name, e in resources(stack, "aws_vpc_endpoint").items() if e.get("vpc_endpoint_type") == kind}


def interface_endpoint_ranges(stack: Json) -> list[IPv4Network]:
    """The subnets the interface endpoints' ENIs sit in: where the ``vpc-endpoints`` group lives."""
    subnets = resources(stack, "aws_subnet")
    names = {
        referenced(s, "aws_subnet", "id")
        for endpoint in _endpoints(stack, "Interface").values()
        for s in as_list(endpoint.get("subnet_ids"))
    }
    return [IPv4Network(subnets[n]["cidr_block"]) for n in sorted(n for n in names if n in subnets)]


def prefix_list_peer(stack: Json, value: object) -> OutsidePeer | None:
    """``${aws_vpc_endpoint.<s3 gateway>.prefix_list_id}`` -> the S3 prefix list, else None."""
    name = referenced(value, "aws_vpc_endpoint", "prefix_list_id")
    endpoint = _endpoints(stack, "Gateway").get(name or "")
    if endpoint is not None and str(endpoint.get("service_name", "")).endswith(".s3"):
        return OutsidePeer.S3_PREFIX_LIST
    return None


def _describe(spec: PortSpec) -> str:
    return spec.protocol if spec.protocol == "all" else f"{spec.protocol} {spec.low}-{spec.high}"


def check_named_peers(
    grants: list[NamedGrant], rules: tuple[TrafficRule, ...]
) -> tuple[list[str], list[Finding], list[str]]:
    """(unmodelled, findings, notes) for the named-peer grants against the model's rules."""
    expected = [
        (rule, port_spec(port))
        for rule in rules
        if isinstance(rule.peer, OutsidePeer) and rule.peer is OutsidePeer.S3_PREFIX_LIST
        for port in rule.ports
    ]
    unmodelled: list[str] = []
    notes: list[str] = []
    matched: set[tuple[str, PortSpec]] = set()
    for grant in grants:
        found = [
            rule
            for rule, spec in expected
            if rule.role is grant.role and rule.direction.value == grant.direction and spec == grant.spec
        ]
        if found:
            matched.add((found[0].rule_id, grant.spec))
            notes.append(
                f"{grant.resource}: {grant.direction} {_describe(grant.spec)} to {grant.peer.value} on "
                f"{grant.role.value} checked by name, role and port (platform rule {found[0].rule_id}); "
                "its addresses are AWS's managed prefix list, not modelled as ranges"
            )
        else:
            unmodelled.append(
                f"{grant.resource}: {grant.direction} {_describe(grant.spec)} to {grant.peer.value} on "
                f"{grant.role.value}: no platform rule allows it (VpcEndpoints: tcp 443 from the using roles only)"
            )
    findings = [
        Finding(
            "vpc-endpoints",
            f"rule {rule.rule_id}",
            f"missing: {rule.role.value} {rule.direction.value} {_describe(spec)} to {OutsidePeer.S3_PREFIX_LIST.value}",
        )
        for rule, spec in expected
        if (rule.rule_id, spec) not in matched
    ]
    return unmodelled, findings, notes


def structure_findings(stack: Json, intent: NetworkIntent) -> list[Finding]:
    """Every recorded endpoint is in the stack; interface endpoints carry only the endpoints'
    group and private DNS (else the nodes' API calls would leave through the proxy or NAT)."""
    endpoints = intent.vpc_endpoints
    if not endpoints.enabled:
        return []
    findings: list[Finding] = []
    by_service = {
        str((e.get("tags") or {}).get("circleci/endpoint")): name
        for name, e in resources(stack, "aws_vpc_endpoint").items()
    }
    groups = {
        name for name, g in resources(stack, "aws_security_group").items()
        if (g.get("tags") or {}).get("circleci/role") == Role.VPC_ENDPOINTS.value
    }  # fmt: skip
    subnets = resources(stack, "aws_subnet")
    for service in endpoints.service_list:
        name = by_service.get(service)
        if name is None:
            findings.append(Finding("vpc-endpoints", f"endpoint {service}", "recorded but not in the stack"))
            continue
        if service in endpoints.interface_services:
            endpoint = resources(stack, "aws_vpc_endpoint")[name]
            attached = {referenced(g, "aws_security_group", "id") for g in as_list(endpoint.get("security_group_ids"))}
            if attached != groups or not groups:
                findings.append(
                    Finding(
                        "vpc-endpoints",
                        f"aws_vpc_endpoint.{name}",
                        f"must carry the {Role.VPC_ENDPOINTS.value} security group only",
                    )
                )
            tiers = {
                (subnets.get(referenced(s, "aws_subnet", "id") or "", {}).get("tags") or {}).get("circleci/tier")
                for s in as_list(endpoint.get("subnet_ids"))
            }
            if tiers != {endpoints.roles[0].value}:
                findings.append(
                    Finding(
                        "vpc-endpoints",
                        f"aws_vpc_endpoint.{name}",
                        f"must sit in the {endpoints.roles[0].value} subnets (the first using role's), not {sorted(map(str, tiers))}",
                    )
                )
            if not boolean(endpoint, "private_dns_enabled", f"aws_vpc_endpoint.{name}"):
                findings.append(
                    Finding(
                        "vpc-endpoints",
                        f"aws_vpc_endpoint.{name}",
                        "private DNS is off: the AWS API names would not resolve to the endpoint",
                    )
                )
    return findings
