"""The record's inputs and outside peers, held to what the stack's JSON says.

An input the stack also holds (the VPC's CIDR, its resolver, the load balancers' subnets, the
delivered NodePorts, the roles' subnets) is read from the stack; a record saying otherwise is a
finding naming the input, so an edited record cannot vouch for what the stack opens. And every
outside peer's CIDRs must lie outside the network the JSON holds: the props' own check
(``outside_peer_errors``), run again on the ranges read from the stack, once per stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network

from circleci_network.audit.facts import (
    LOAD_BALANCER_TIERS,
    aws_dns_resolver,
    aws_vpc_cidr,
    delivered_ports,
    stack_vpc_cidr,
    tier_cidrs,
)
from circleci_network.audit.findings import Finding
from circleci_network.audit.terraform_json import Json, as_list, resources
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.options import outside_peer_errors
from circleci_network.model.roles import Role

Ranges = list[tuple[str, IPv4Network]]


def _contradiction(name: str, recorded: object, held: object) -> Finding:
    return Finding(
        "recorded-input",
        f"option:inputs.{name}",
        f"the record says {recorded}, the stack holds {held}: the audit reads the stack",
    )


def _differs(recorded: tuple[str, ...], held: tuple[str, ...]) -> bool:
    return {IPv4Network(c) for c in recorded} != {IPv4Network(c) for c in held}


def contradicted_inputs(stack: Json, intent: NetworkIntent) -> list[Finding]:
    """Each recorded input the stack holds too, with another value (AWS: VPC, resolver, load
    balancer subnets, NodePorts, role subnets; GCP: role ranges beside the stack's subnet)."""
    inputs = intent.inputs
    findings: list[Finding] = []
    if intent.cloud == "aws":
        vpc = stack_vpc_cidr(stack)
        if vpc is not None:
            if inputs.vpc_cidr is not None and _differs((inputs.vpc_cidr,), (vpc,)):
                findings.append(_contradiction("vpc_cidr", inputs.vpc_cidr, f"aws_vpc {vpc}"))
            if inputs.dns_resolver_cidrs is not None:
                resolver = aws_dns_resolver(stack, intent)
                if _differs(inputs.dns_resolver_cidrs, resolver):
                    findings.append(
                        _contradiction(
                            "dns_resolver_cidrs",
                            list(inputs.dns_resolver_cidrs),
                            f"the resolver of aws_vpc {vpc}, {resolver[0]}",
                        )
                    )
        held = tier_cidrs(stack, LOAD_BALANCER_TIERS)
        if held and inputs.load_balancer_subnet_cidrs and _differs(inputs.load_balancer_subnet_cidrs, held):
            findings.append(
                _contradiction("load_balancer_subnet_cidrs", list(inputs.load_balancer_subnet_cidrs), list(held))
            )
        ports = delivered_ports(stack)
        if ports and inputs.node_ports and dict(inputs.node_ports) != ports:
            findings.append(
                _contradiction("node_ports", _ports(inputs.node_ports), f"target groups delivering {_ports(ports)}")
            )
        # Our ACLs carry their tier's tag. Recorded but absent: --policy would pass a stack without them.
        # (ACLs the record does not mention only filter more: CircleciNetworkAcls beside security groups alone.)
        if intent.network_acls and not any(
            (acl.get("tags") or {}).get("circleci/tier") for acl in resources(stack, "aws_network_acl").values()
        ):
            findings.append(
                Finding(
                    "recorded-input",
                    "option:network_acls",
                    "the record says true, the stack holds no network ACL of ours",
                )
            )
        for role, cidrs in sorted(inputs.role_cidrs.items()):
            subnets = tier_cidrs(stack, (role.value,))
            if subnets and _differs(cidrs, subnets):
                findings.append(_contradiction(f"role_cidrs[{role.value}]", list(cidrs), list(subnets)))
    elif inputs.role_cidrs and resources(stack, "google_compute_subnetwork"):
        held_ranges = {str(IPv4Network(c)) for _, c in gcp_ranges(stack)}
        for role, cidrs in sorted(inputs.role_cidrs.items()):
            # Hosts, pods and load balancer addresses all lie in the subnet's ranges.
            outside = [c for c in cidrs if not any(IPv4Network(c).subnet_of(IPv4Network(h)) for h in held_ranges)]
            if outside:
                findings.append(
                    _contradiction(f"role_cidrs[{role.value}]", outside, f"the subnet ranges {sorted(held_ranges)}")
                )
    return findings


def _ports(ports: Mapping[tuple[Role, int], int]) -> str:
    return ", ".join(f"{role.value} {port}->{node}" for (role, port), node in sorted(ports.items()))


def gcp_ranges(stack: Json) -> Ranges:
    """The subnet's primary range and its secondary (pod and service) ranges, named by resource."""
    found: Ranges = []
    for name, subnet in resources(stack, "google_compute_subnetwork").items():
        where = f"google_compute_subnetwork.{name}"
        if subnet.get("ip_cidr_range"):
            found.append((where, IPv4Network(str(subnet["ip_cidr_range"]))))
        for secondary in as_list(subnet.get("secondary_ip_range")):
            if secondary.get("ip_cidr_range"):
                label = f"{where} secondary range {secondary.get('range_name', '')}".rstrip()
                found.append((label, IPv4Network(str(secondary["ip_cidr_range"]))))
    return found


def network_ranges(stack: Json, intent: NetworkIntent) -> tuple[Ranges, Ranges | None]:
    """What is inside the network and, AWS, the subnets of ours (None: the same), as the props
    check them: the VPC (the stack's, else the existing VPC's recorded CIDR), or the subnets
    given to security groups alone; GCP's subnet and secondary ranges, or the firewall's addressing."""
    if intent.cloud == "aws":
        ours: Ranges = [
            (f"aws_subnet.{name}", IPv4Network(str(s["cidr_block"])))
            for name, s in resources(stack, "aws_subnet").items()
            if s.get("cidr_block")
        ]
        # The VPC's secondary CIDR blocks, and every subnet (one on a block the audit does not see
        # too), are inside as much as its primary block is.
        secondary: Ranges = [
            (f"aws_vpc_ipv4_cidr_block_association.{name}", IPv4Network(str(a["cidr_block"])))
            for name, a in resources(stack, "aws_vpc_ipv4_cidr_block_association").items()
            if a.get("cidr_block")
        ]
        vpc = aws_vpc_cidr(stack, intent)
        if vpc is not None:
            where = "aws_vpc" if stack_vpc_cidr(stack) else "inputs.vpc_cidr (the existing VPC)"
            return [(where, IPv4Network(vpc)), *secondary, *ours], ours or None
        given = [
            (f"inputs.role_cidrs[{role.value}]", IPv4Network(c))
            for role, cidrs in intent.inputs.role_cidrs.items()
            for c in cidrs
        ] + [("inputs.load_balancer_subnet_cidrs", IPv4Network(c)) for c in intent.inputs.load_balancer_subnet_cidrs]
        return given + secondary + ours, ours or None
    held = gcp_ranges(stack)
    if held:
        return held, None
    return [
        (f"inputs.role_cidrs[{role.value}]", IPv4Network(c))
        for role, cidrs in intent.inputs.role_cidrs.items()
        for c in cidrs
    ], None


def outside_peer_findings(stack: Json, intent: NetworkIntent) -> list[Finding]:
    """An outside peer's CIDR overlapping the network (SSH administrators 10.0.0.0/16 on a
    10.0.0.0/16 VPC would open 22 between our own instances), named by its option."""
    inside, ours = network_ranges(stack, intent)
    return [
        Finding("outside-peer", f"option:{error.field}", f"{error.problem}. Fix: {error.fix}")
        for error in outside_peer_errors(intent.options, inside, "options", ours=ours)
    ]


def input_findings(stack: Json, intent: NetworkIntent) -> list[Finding]:
    return contradicted_inputs(stack, intent) + outside_peer_findings(stack, intent)
