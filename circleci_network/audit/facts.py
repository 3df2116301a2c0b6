"""The facts the expected side needs beyond the options, worked out from the stack's own
resources (never from the record, which holds inputs only): the resolver's address, where
the load balancers sit, the NodePort each listener delivers to, the ranges standing for roles.

Only what a stack does not hold (subnets managed elsewhere) comes from the recorded inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from circleci_network.audit.public_addresses import PublicPlacement, aws_public_placement, gcp_public_placement
from circleci_network.audit.terraform_json import Json, as_list, referenced, resources
from circleci_network.cloud_facts import GOOGLE_HEALTH_CHECK_RANGES, METADATA_SERVER_CIDR, aws_dns_resolver_address
from circleci_network.intent import NetworkIntent
from circleci_network.options import HardeningOptions
from circleci_network.roles import COMPUTE_ROLES, INTERNAL_LOAD_BALANCERS, LOAD_BALANCERS, OutsidePeer, Role

#: AWS subnet tiers (``circleci/tier`` tag) that may hold load balancers.
LOAD_BALANCER_TIERS = ("public", Role.KUBERNETES_NODES.value)


class MissingFact(ValueError):
    """The stack holds no resource to derive a fact from, and the record gives no input for it."""


@dataclass(frozen=True)
class StackFacts:
    transparent_load_balancers: bool
    cloud_peer_cidrs: dict[OutsidePeer, tuple[str, ...]] = field(default_factory=dict)
    """CIDRs the cloud decides for peers the options may leave open (DNS resolver, health checks)."""
    egress_role_cidrs: dict[Role, tuple[str, ...]] = field(default_factory=dict)
    """Roles egress rules must name by address (GCP always; AWS load balancers without a group)."""
    delivered_ports: dict[tuple[Role, int], int] = field(default_factory=dict)
    """Transparent load balancers: (role, listener port) -> the NodePort it delivers to."""
    public: PublicPlacement = field(default_factory=PublicPlacement)
    """Static public addresses known after apply (v4 internet mode), at stand-ins, and the NAT path."""

    def peer_cidrs(self, options: HardeningOptions, peer: OutsidePeer) -> tuple[str, ...]:
        return options.peer_cidrs(peer, self.cloud_peer_cidrs)


def tier_cidrs(stack: Json, tiers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        str(s["cidr_block"])
        for s in resources(stack, "aws_subnet").values()
        if (s.get("tags") or {}).get("circleci/tier") in tiers
    )


def aws_vpc_cidr(stack: Json, intent: NetworkIntent) -> str | None:
    vpcs = [str(v["cidr_block"]) for v in resources(stack, "aws_vpc").values() if v.get("cidr_block")]
    if len(vpcs) == 1:
        return vpcs[0]
    return intent.inputs.vpc_cidr


#: The Helm values local (``circleci_network.helm_values.HELM_VALUES_LOCAL``; the audit reads JSON only).
HELM_VALUES_LOCAL = "circleci-helm-values"
_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"
_SUBNET_REFERENCE = re.compile(r"aws_subnet\.([^.,\s\]}]+)\.id")


def chart_load_balancer_subnets(stack: Json) -> dict[str, list[str]]:
    """Load balancers the cluster builds from our Helm values (v4's circleci-proxy): the security
    group their annotations name -> the subnets they name. The controller places the load balancer
    there, so the audit does too."""
    found: dict[str, list[str]] = {}
    for key, values in (stack.get("locals") or {}).items():
        if HELM_VALUES_LOCAL not in key or not isinstance(values, dict):
            continue
        annotations = (values.get("nginx") or {}).get("annotations") or {}
        group = referenced(annotations.get(f"{_ANNOTATION}security-groups"), "aws_security_group", "id")
        subnets = _SUBNET_REFERENCE.findall(str(annotations.get(f"{_ANNOTATION}subnets", "")))
        if group is not None and subnets:
            found[group] = subnets
    return found


def delivered_ports(stack: Json) -> dict[tuple[Role, int], int]:
    """Each listener's port and the port of the target group it forwards to, per load balancer role."""
    roles = {
        name: Role(tag)
        for name, lb in resources(stack, "aws_lb").items()
        if (tag := (lb.get("tags") or {}).get("circleci/role")) in {r.value for r in LOAD_BALANCERS}
    }
    groups = resources(stack, "aws_lb_target_group")
    found: dict[tuple[Role, int], int] = {}
    for listener in resources(stack, "aws_lb_listener").values():
        role = roles.get(referenced(listener.get("load_balancer_arn"), "aws_lb", "arn") or "")
        if role is None:
            continue
        for action in as_list(listener.get("default_action")):
            group = groups.get(referenced(action.get("target_group_arn"), "aws_lb_target_group", "arn") or "")
            if group is not None and group.get("port") is not None:
                found[(role, int(listener["port"]))] = int(group["port"])
    return found


def aws_facts(stack: Json, intent: NetworkIntent) -> StackFacts:
    inputs = intent.inputs
    if inputs.dns_resolver_cidrs is not None:
        resolver = inputs.dns_resolver_cidrs
    else:
        vpc = aws_vpc_cidr(stack, intent)
        if vpc is None:
            raise MissingFact("cannot tell the VPC's CIDR (no aws_vpc, no recorded existing VPC CIDR)")
        resolver = (f"{aws_dns_resolver_address(vpc)}/32",)
    transparent = intent.transparent_load_balancers
    lb_subnets = tier_cidrs(stack, LOAD_BALANCER_TIERS) or inputs.load_balancer_subnet_cidrs
    ports = (delivered_ports(stack) or dict(inputs.node_ports)) if transparent else {}
    public = aws_public_placement(stack)
    translated = public.translation.peer_cidrs() if public.translation else {}
    return StackFacts(
        transparent_load_balancers=transparent,
        cloud_peer_cidrs={
            OutsidePeer.DNS_RESOLVER: resolver,
            OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS: lb_subnets,
            **translated,
        },
        egress_role_cidrs={role: lb_subnets for role in LOAD_BALANCERS} if transparent else {},
        delivered_ports=ports,
        public=public,
    )


def gcp_load_balancer_addresses(stack: Json, name: str) -> dict[Role, str]:
    """Internal load balancer addresses (``<name>-<role>``, v4's circleci-proxy when internal), as /32."""
    found: dict[Role, str] = {}
    for resource in resources(stack, "google_compute_address").values():
        for role in (*INTERNAL_LOAD_BALANCERS, Role.PROXY_LB):
            if resource.get("name") == f"{name}-{role.value}" and resource.get("address"):
                found[role] = str(IPv4Network(f"{resource['address']}/32"))
    return found


def gcp_facts(stack: Json, intent: NetworkIntent) -> StackFacts:
    subnets = list(resources(stack, "google_compute_subnetwork").values())
    public = gcp_public_placement(stack, intent.name)
    translated = public.translation.peer_cidrs() if public.translation else {}
    ranges: dict[Role, tuple[str, ...]] = {}
    if subnets:
        hosts = tuple(str(s["ip_cidr_range"]) for s in subnets)
        pods = tuple(
            str(r["ip_cidr_range"])
            for s in subnets
            for r in as_list(s.get("secondary_ip_range"))
            if str(r.get("range_name", "")).endswith("-pods")
        )
        ranges = {role: hosts for role in COMPUTE_ROLES} | {Role.KUBERNETES_NODES: hosts + pods}
        ranges |= {role: (cidr,) for role, cidr in gcp_load_balancer_addresses(stack, intent.name).items()}
        if public.translation is not None:  # the external proxy, at its stand-in
            ranges[Role.PROXY_LB] = translated[OutsidePeer.PROXY_PUBLIC_ADDRESSES]
    else:
        ranges = dict(intent.inputs.role_cidrs)
    return StackFacts(
        transparent_load_balancers=True,
        cloud_peer_cidrs={
            OutsidePeer.DNS_RESOLVER: (METADATA_SERVER_CIDR,),
            OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS: GOOGLE_HEALTH_CHECK_RANGES,
            **translated,
        },
        egress_role_cidrs=ranges,
        public=public,
    )


def stack_facts(stack: Json, intent: NetworkIntent) -> StackFacts:
    return aws_facts(stack, intent) if intent.cloud == "aws" else gcp_facts(stack, intent)
