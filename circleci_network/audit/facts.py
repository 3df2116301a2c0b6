"""The facts the expected side needs beyond the options, worked out from the stack's own
resources (never from the record, which holds inputs only): the resolver's address, where
the load balancers sit, the NodePort each listener delivers to, the ranges standing for roles,
and (v4 internet mode) the NAT translation between the stand-ins ``public_addresses`` places.
They go into the same ``resolve_policy`` the renderers use, so the expected side is the policy
resolved from what the JSON holds.

Only what a stack does not hold (subnets managed elsewhere) comes from the recorded inputs.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from circleci_network.audit.terraform_json import Json, as_list, referenced, resources
from circleci_network.model.cloud_facts import (
    GOOGLE_HEALTH_CHECK_RANGES,
    METADATA_SERVER_CIDR,
    aws_dns_resolver_address,
)
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.resolve import Cloud, PeerAddresses, ResolvedPolicy, resolve_policy
from circleci_network.model.resource_names import gcp_subnet_name
from circleci_network.model.roles import COMPUTE_ROLES, INTERNAL_LOAD_BALANCERS, LOAD_BALANCERS, Role

if TYPE_CHECKING:  # public_addresses reads this module's HELM_VALUES_LOCAL
    from circleci_network.audit.public_addresses import PublicPlacement

#: AWS subnet tiers (``circleci/tier`` tag) that may hold load balancers.
LOAD_BALANCER_TIERS = ("public", Role.KUBERNETES_NODES.value)


class MissingFact(ValueError):
    """The stack holds no resource to derive a fact from, and the record gives no input for it."""


def _policy(intent: NetworkIntent, addresses: PeerAddresses, node_ports: dict[tuple[Role, int], int]) -> ResolvedPolicy:
    return resolve_policy(
        intent.options,
        cloud=Cloud(intent.cloud),
        server_version=intent.server_version,
        platform=intent.platform,
        vpc_endpoints=intent.vpc_endpoints,
        node_ports=node_ports,
        addresses=addresses,
    )


def tier_cidrs(stack: Json, tiers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        str(s["cidr_block"])
        for s in resources(stack, "aws_subnet").values()
        if (s.get("tags") or {}).get("circleci/tier") in tiers
    )


def stack_vpc_cidr(stack: Json) -> str | None:
    """The VPC's primary CIDR when the stack holds the VPC (one ``aws_vpc``), else None."""
    vpcs = [str(v["cidr_block"]) for v in resources(stack, "aws_vpc").values() if v.get("cidr_block")]
    return vpcs[0] if len(vpcs) == 1 else None


def aws_vpc_cidr(stack: Json, intent: NetworkIntent) -> str | None:
    """The stack's VPC; the recorded input (an existing VPC's CIDR) only when it holds none."""
    return stack_vpc_cidr(stack) or intent.inputs.vpc_cidr


def aws_dns_resolver(stack: Json, intent: NetworkIntent) -> tuple[str, ...]:
    """The Amazon resolver of the stack's VPC; the recorded ``dns_resolver_cidrs`` (security groups
    alone) only when the stack holds no VPC, then an existing VPC's recorded CIDR."""
    vpc = stack_vpc_cidr(stack)
    if vpc is None and intent.inputs.dns_resolver_cidrs is not None:
        return intent.inputs.dns_resolver_cidrs
    vpc = vpc or intent.inputs.vpc_cidr
    if vpc is None:
        raise MissingFact("cannot tell the VPC's CIDR (no aws_vpc, no recorded existing VPC CIDR)")
    return (f"{aws_dns_resolver_address(vpc)}/32",)


#: The Helm values local (``circleci_network.tooling.helm_values.HELM_VALUES_LOCAL``; the audit reads JSON only).
HELM_VALUES_LOCAL = "circleci-helm-values"
_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"
#: The subnets annotation as our renderer writes it: ``${join(",", [aws_subnet.a.id, ...])}`` (or one reference).
_SUBNET_LIST = re.compile(r'\$\{join\(",", \[(aws_subnet\.[^.,\s\]}]+\.id(?:, aws_subnet\.[^.,\s\]}]+\.id)*)\]\)\}')
_ONE_SUBNET = re.compile(r"\$\{aws_subnet\.([^.,\s\]}]+)\.id\}")


def annotated_subnets(value: object) -> list[str] | None:
    """The subnets a ``…-subnets`` annotation names, when it names them by reference only
    (subnet names or IDs, a data source, a function: None, the audit cannot place them)."""
    if not isinstance(value, str):
        return None
    if (one := _ONE_SUBNET.fullmatch(value)) is not None:
        return [one.group(1)]
    if (listed := _SUBNET_LIST.fullmatch(value)) is None:
        return None
    return [item.removeprefix("aws_subnet.").removesuffix(".id") for item in listed.group(1).split(", ")]


def load_balancer_subnets(lb: Json) -> list[object]:
    """What an ``aws_lb`` is placed by: ``subnets``, and ``subnet_mapping[].subnet_id`` (its alternative)."""
    mappings = [m.get("subnet_id") if isinstance(m, dict) else m for m in as_list(lb.get("subnet_mapping"))]
    return [*as_list(lb.get("subnets")), *mappings]


def chart_load_balancer_subnets(stack: Json) -> dict[str, list[str]]:
    """Load balancers the cluster builds from our Helm values (v4's circleci-proxy): the security
    group their annotations name -> the subnets they name. The controller places the load balancer
    there, so the audit does too; an annotation naming them otherwise places nothing (see
    ``annotated_subnets``: the role is then unplaced, which fails the audit)."""
    found: dict[str, list[str]] = {}
    for key, values in (stack.get("locals") or {}).items():
        if HELM_VALUES_LOCAL not in key or not isinstance(values, dict):
            continue
        nginx = values.get("nginx")
        annotations = nginx.get("annotations") if isinstance(nginx, dict) else None
        annotations = annotations if isinstance(annotations, dict) else {}
        group = referenced(annotations.get(f"{_ANNOTATION}security-groups"), "aws_security_group", "id")
        subnets = annotated_subnets(annotations.get(f"{_ANNOTATION}subnets"))
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
            if group is not None and group.get("port") is not None and listener.get("port") is not None:
                found[(role, int(listener["port"]))] = int(group["port"])  # else: the listeners check names it
    return found


def aws_policy(stack: Json, intent: NetworkIntent, public: PublicPlacement) -> ResolvedPolicy:
    inputs = intent.inputs
    resolver = aws_dns_resolver(stack, intent)
    transparent = intent.transparent_load_balancers
    lb_subnets = tier_cidrs(stack, LOAD_BALANCER_TIERS) or inputs.load_balancer_subnet_cidrs
    ports = (delivered_ports(stack) or dict(inputs.node_ports)) if transparent else {}
    # Load balancers without a security group are named by the subnets they may sit in.
    roles = {role: lb_subnets for role in LOAD_BALANCERS} if transparent else {}
    addresses = PeerAddresses(
        dns_resolver=resolver, load_balancer_health_checks=lb_subnets, roles=roles, nat_translation=public.translation
    )
    return _policy(intent, addresses, ports)


def gcp_load_balancer_addresses(stack: Json, name: str) -> dict[Role, str]:
    """Internal load balancer addresses (``<name>-<role>``, v4's circleci-proxy when internal), as /32."""
    found: dict[Role, str] = {}
    for resource in resources(stack, "google_compute_address").values():
        for role in (*INTERNAL_LOAD_BALANCERS, Role.PROXY_LB):
            if resource.get("name") == f"{name}-{role.value}" and resource.get("address"):
                found[role] = str(IPv4Network(f"{resource['address']}/32"))
    return found


def gcp_subnetworks(stack: Json, intent: NetworkIntent) -> dict[str, Json]:
    """The stack's subnet (``circleci_network.gcp.vpc``: named ``<name>-<region>``, in that region);
    another subnetwork on the network is the team's (``structure``'s ``subnetwork`` finding) and
    hosts none of our roles."""
    return {
        name: subnet
        for name, subnet in resources(stack, "google_compute_subnetwork").items()
        if isinstance(subnet.get("region"), str)
        and "${" not in subnet["region"]
        and subnet.get("name") == gcp_subnet_name(intent.name, subnet["region"])
    }


def gcp_policy(stack: Json, intent: NetworkIntent, public: PublicPlacement) -> ResolvedPolicy:
    subnets = list(gcp_subnetworks(stack, intent).values())
    translation = public.translation
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
        if translation is not None:  # the external proxy, at its stand-in
            ranges |= {lb: tuple(a.cidr for a in addresses) for lb, addresses in translation.public_addresses.items()}
    else:
        ranges = dict(intent.inputs.role_cidrs)
    addresses = PeerAddresses(
        dns_resolver=(METADATA_SERVER_CIDR,),
        load_balancer_health_checks=GOOGLE_HEALTH_CHECK_RANGES,
        roles=ranges,
        nat_translation=translation,
    )
    return _policy(intent, addresses, {})


def stack_policy(stack: Json, intent: NetworkIntent, public: PublicPlacement) -> ResolvedPolicy:
    """The policy the stack should render, resolved from its recorded options and its own resources;
    ``public`` (``public_addresses.public_placement``): its static public addresses at their stand-ins."""
    if intent.cloud not in {cloud.value for cloud in Cloud}:
        raise MissingFact(f"the record names cloud {intent.cloud!r}; this audit reads aws and gcp stacks")
    return aws_policy(stack, intent, public) if intent.cloud == Cloud.AWS else gcp_policy(stack, intent, public)
