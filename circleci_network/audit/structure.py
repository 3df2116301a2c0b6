"""Structural checks beside the flows: what no flow shows but the guide's shape requires
(load balancer schemes, closed defaults, public addresses, routes, flow logs). Each finding
names the Terraform resource; the shape (topology) comes from the record."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from circleci_network.audit.findings import Finding
from circleci_network.audit.terraform_json import Json, address, as_list, referenced, resources
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.roles import (
    COMPUTE_ROLES,
    INTERNAL_LOAD_BALANCERS,
    INTERNET_FACING_LOAD_BALANCERS,
    JOB_ROLES,
    Role,
)

ALL_IPV4 = "0.0.0.0/0"
ALL_IPV6 = "::/0"
PUBLIC_TIER = "public"
#: The only resources that may sit in (or name) a public subnet.
PUBLIC_TIER_KINDS = frozenset(
    {"aws_lb", "aws_nat_gateway", "aws_route_table_association", "aws_network_acl", "aws_network_acl_association"}
)
_SUBNET_REF = re.compile(r"\$\{aws_subnet\.([^.}]+)\.id\}")


def check_structure(stack: Json, intent: NetworkIntent) -> tuple[list[Finding], list[str]]:
    """Findings (failures) and notes (what could not be checked, and why)."""
    findings: list[Finding] = []
    notes: list[str] = []
    if intent.cloud == "aws":
        _aws(stack, intent, findings, notes)
    else:
        _gcp(stack, intent, findings, notes)
    return findings, notes


def _role(resource: Json) -> Role | None:
    tag = (resource.get("tags") or {}).get("circleci/role")
    return Role(tag) if tag in {r.value for r in Role} else None


def _aws(stack: Json, intent: NetworkIntent, findings: list[Finding], notes: list[str]) -> None:
    topology = intent.topology
    subnets = resources(stack, "aws_subnet")
    tiers = {name: str((s.get("tags") or {}).get("circleci/tier")) for name, s in subnets.items()}
    groups = {_role(g): name for name, g in resources(stack, "aws_security_group").items() if _role(g)}

    for name, lb in resources(stack, "aws_lb").items():
        role = _role(lb)
        if role is None:
            continue
        where = address("aws_lb", name)
        internal = bool(lb.get("internal", False))
        if role in INTERNAL_LOAD_BALANCERS and not internal:
            findings.append(
                Finding("load-balancer-scheme", where, f"{role.value} is internet-facing; it must be internal")
            )
        if role in INTERNET_FACING_LOAD_BALANCERS and topology is not None:
            want_internal = not topology.internet_facing_load_balancers
            if internal != want_internal:
                scheme = "internal" if want_internal else "internet-facing"
                findings.append(
                    Finding(
                        "load-balancer-scheme",
                        where,
                        f"{role.value} must be {scheme} with user access {topology.user_access.value}",
                    )
                )
        if not intent.options.transparent_load_balancers:
            attached = {referenced(g, "aws_security_group", "id") for g in as_list(lb.get("security_groups"))}
            if groups.get(role) not in attached:
                findings.append(
                    Finding(
                        "load-balancer-security-group",
                        where,
                        f"{role.value} is not in its security group (only transparent load balancers go without one)",
                    )
                )

    vpcs = resources(stack, "aws_vpc")
    defaults = resources(stack, "aws_default_security_group")
    for name, group in defaults.items():
        if as_list(group.get("ingress")) or as_list(group.get("egress")):
            findings.append(
                Finding(
                    "default-security-group",
                    address("aws_default_security_group", name),
                    "holds rules; it must be empty",
                )
            )
    for kind in (
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
        "aws_security_group_rule",
    ):
        for name, rule in resources(stack, kind).items():
            if referenced(rule.get("security_group_id"), "aws_default_security_group", "id"):
                findings.append(
                    Finding("default-security-group", address(kind, name), "adds a rule to the default security group")
                )
    if not defaults:
        if vpcs:
            for name in vpcs:
                findings.append(
                    Finding(
                        "default-security-group",
                        address("aws_vpc", name),
                        "its default security group is not taken over and emptied (aws_default_security_group)",
                    )
                )
        elif intent.inputs.existing_network is not None:
            notes.append(
                f"default security group of {intent.inputs.existing_network} not checked: the stack does not manage it "
                "(ExistingVpc.manage_default_security_group=False)"
            )
    for name, acl in resources(stack, "aws_default_network_acl").items():
        if as_list(acl.get("ingress")) or as_list(acl.get("egress")):
            findings.append(
                Finding(
                    "default-network-acl", address("aws_default_network_acl", name), "holds rules; it must be empty"
                )
            )
    for name, rule in resources(stack, "aws_network_acl_rule").items():
        if referenced(rule.get("network_acl_id"), "aws_default_network_acl", "id"):
            findings.append(
                Finding(
                    "default-network-acl",
                    address("aws_network_acl_rule", name),
                    "adds a rule to the default network ACL",
                )
            )

    public_jobs = topology is not None and topology.public_job_instances
    public_tiers = {PUBLIC_TIER} | ({r.value for r in JOB_ROLES} if public_jobs else set())
    for name, subnet in subnets.items():
        if tiers[name] in {r.value for r in COMPUTE_ROLES} and tiers[name] not in public_tiers:
            if subnet.get("map_public_ip_on_launch"):
                findings.append(
                    Finding(
                        "private-subnet",
                        address("aws_subnet", name),
                        f"{tiers[name]} instances get public IPs on launch",
                    )
                )
    _aws_routes(stack, tiers, public_tiers, findings)

    public = {name for name, tier in tiers.items() if tier == PUBLIC_TIER}
    if public:
        for kind, name, resource in _all_resources(stack):
            if kind in PUBLIC_TIER_KINDS:
                continue
            named = set(_SUBNET_REF.findall(json.dumps(resource))) & public
            if named:
                findings.append(
                    Finding(
                        "public-subnet",
                        address(kind, name),
                        f"sits in public subnet {', '.join(sorted(named))}; public subnets hold only load balancers and NAT",
                    )
                )

    if subnets or vpcs:
        existing = intent.inputs.existing_network
        vpc_ids = {f"${{aws_vpc.{name}.id}}" for name in vpcs} or ({existing} if existing else set())
        logged = {
            log.get("vpc_id")
            for log in resources(stack, "aws_flow_log").values()
            if str(log.get("traffic_type", "")).upper() == "ALL"
        }
        for vpc in sorted(str(v) for v in vpc_ids - logged):
            where = next((address("aws_vpc", n) for n in vpcs if f"${{aws_vpc.{n}.id}}" == vpc), f"VPC {vpc}")
            findings.append(Finding("flow-logs", where, "has no flow log of all traffic (aws_flow_log)"))


def _aws_routes(stack: Json, tiers: dict[str, str], public_tiers: set[str], findings: list[Finding]) -> None:
    """A private tier's default route goes through NAT only; a public tier's through the internet gateway."""
    tables_of: dict[str, set[str]] = {}
    for assoc in resources(stack, "aws_route_table_association").values():
        subnet = referenced(assoc.get("subnet_id"), "aws_subnet", "id")
        table = referenced(assoc.get("route_table_id"), "aws_route_table", "id")
        if subnet and table:
            tables_of.setdefault(subnet, set()).add(table)
    defaults: dict[str, list[tuple[str, Json]]] = {}
    for name, route in resources(stack, "aws_route").items():
        table = referenced(route.get("route_table_id"), "aws_route_table", "id")
        everywhere = (
            route.get("destination_cidr_block") == ALL_IPV4 or route.get("destination_ipv6_cidr_block") == ALL_IPV6
        )
        if table and everywhere:
            defaults.setdefault(table, []).append((address("aws_route", name), route))
    for name, route_table in resources(stack, "aws_route_table").items():
        for block in as_list(route_table.get("route")):
            if block.get("cidr_block") == ALL_IPV4 or block.get("ipv6_cidr_block") == ALL_IPV6:
                defaults.setdefault(name, []).append((address("aws_route_table", name), block))
    for subnet, tier in sorted(tiers.items()):
        if tier == PUBLIC_TIER or tier == "None":
            continue
        where = address("aws_subnet", subnet)
        tables = tables_of.get(subnet, set())
        if not tables:
            findings.append(
                Finding(
                    "default-route", where, f"{tier} has no route table of the stack (the VPC's main table decides)"
                )
            )
            continue
        through = "gateway_id" if tier in public_tiers else "nat_gateway_id"
        for table in sorted(tables):
            routes = defaults.get(table, [])
            if not routes:
                findings.append(
                    Finding("default-route", address("aws_route_table", table), f"{tier} has no default route")
                )
            for resource, route in routes:
                targets = sorted(k for k, v in route.items() if k.endswith("_id") and k != "route_table_id" and v)
                if targets != [through]:
                    findings.append(
                        Finding(
                            "default-route",
                            resource,
                            f"{tier}'s default route goes through {', '.join(targets) or 'nothing'}; "
                            f"it must go through {'the internet gateway' if through == 'gateway_id' else 'NAT'} only",
                        )
                    )


def _all_resources(stack: Json) -> Iterator[tuple[str, str, Json]]:
    for kind, named in stack.get("resource", {}).items():
        for name, resource in named.items():
            yield kind, name, resource


def _gcp(stack: Json, intent: NetworkIntent, findings: list[Finding], notes: list[str]) -> None:
    topology = intent.topology
    for name, resource in resources(stack, "google_compute_address").items():
        role = next((r for r in Role if resource.get("name") == f"{intent.name}-{r.value}"), None)
        if role is None:
            continue
        kind = str(resource.get("address_type", "EXTERNAL")).upper()
        if role in INTERNAL_LOAD_BALANCERS:
            want = "INTERNAL"
        elif topology is not None and role in INTERNET_FACING_LOAD_BALANCERS:
            want = "EXTERNAL" if topology.internet_facing_load_balancers else "INTERNAL"
        else:
            continue
        if kind != want:
            findings.append(
                Finding(
                    "address-type",
                    address("google_compute_address", name),
                    f"{role.value} is {kind}; it must be {want}",
                )
            )

    networks = resources(stack, "google_compute_network")
    ours = {f"${{google_compute_network.{n}.{a}}}" for n in networks for a in ("id", "self_link", "name")}
    if not ours and intent.inputs.existing_network is not None:
        ours = {intent.inputs.existing_network}
    if ours:
        for kind in ("google_compute_firewall", "google_compute_subnetwork"):
            for name, resource in resources(stack, kind).items():
                if resource.get("network") not in ours:
                    findings.append(
                        Finding(
                            "network",
                            address(kind, name),
                            f"is on network {resource.get('network')!r}, not the stack's",
                        )
                    )
    else:
        notes.append("firewall networks not checked: the stack holds no network and records none")

    for name, subnet in resources(stack, "google_compute_subnetwork").items():
        if not subnet.get("log_config"):
            findings.append(
                Finding("flow-logs", address("google_compute_subnetwork", name), "has flow logs off (no log_config)")
            )
