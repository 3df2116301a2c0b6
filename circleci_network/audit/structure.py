"""Structural checks beside the flows: what no flow shows but the guide's shape requires
(load balancer schemes, closed defaults, public addresses, routes, flow logs). Each finding
names the Terraform resource; the shape (topology) comes from the record."""

from __future__ import annotations

import json
import re

from circleci_network.audit.facts import HELM_VALUES_LOCAL, annotated_subnets, gcp_subnetworks
from circleci_network.audit.findings import Finding
from circleci_network.audit.terraform_json import Json, address, all_resources, as_list, boolean, referenced, resources
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.roles import (
    COMPUTE_ROLES,
    INTERNAL_LOAD_BALANCERS,
    INTERNET_FACING_LOAD_BALANCERS,
    JOB_ROLES,
    Role,
)
from circleci_network.model.server_versions import terraform_load_balancers

ALL_IPV4 = "0.0.0.0/0"
ALL_IPV6 = "::/0"
PUBLIC_TIER = "public"
#: The only resources that may sit in (or name) a public subnet.
PUBLIC_TIER_KINDS = frozenset(
    {"aws_lb", "aws_nat_gateway", "aws_route_table_association", "aws_network_acl", "aws_network_acl_association"}
)
_SUBNET_REF = re.compile(r"\$\{aws_subnet\.([^.}]+)\.id\}")
_LOOSE_SUBNET_REF = re.compile(r"(?<![\w.])aws_subnet\.([A-Za-z0-9_-]+)\.id\b")
#: The arguments that place a resource in subnets (instances, ENIs, endpoints, clusters, groups, LBs).
_SUBNET_KEYS = frozenset({"subnet_id", "subnet_ids", "subnets", "vpc_zone_identifier"})
#: Every ``circleci/tier`` our VPC tags a subnet with (``aws.vpc.SubnetTier``; the audit imports no renderer).
KNOWN_TIERS = frozenset({PUBLIC_TIER, *(r.value for r in COMPUTE_ROLES)})
_ROLES = frozenset(r.value for r in Role)
#: An internet gateway as a route target: ours by reference, a data source, or an existing one by ID.
_INTERNET_GATEWAY = re.compile(r"^igw-|aws_internet_gateway\.")
#: The chart's circleci-proxy annotations the audit holds to one value (v4, AWS Load Balancer Controller).
_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"


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
    return Role(tag) if tag in _ROLES else None


def _tag_problem(resource: Json, key: str, what: str) -> str:
    """``has no circleci/role tag``, or ``circleci/role tag 'x' names no <what>``."""
    value = _tag(resource, key)
    return f"has no {key} tag" if value is None else f"{key} tag {value!r} names no {what}"


def _tag(resource: Json, key: str) -> object:
    tags = resource.get("tags")
    return tags.get(key) if isinstance(tags, dict) else None


def _aws(stack: Json, intent: NetworkIntent, findings: list[Finding], notes: list[str]) -> None:
    topology = intent.topology
    subnets = resources(stack, "aws_subnet")
    tiers = {name: str(_tag(s, "circleci/tier")) for name, s in subnets.items()}
    groups: dict[Role, str] = {}
    carriers: dict[Role, list[str]] = {}
    for name, group in resources(stack, "aws_security_group").items():
        role = _role(group)
        if role is None:
            # Its rules would be read as nobody's: the flows could not show what it opens.
            findings.append(
                Finding(
                    "security-group-role",
                    address("aws_security_group", name),
                    f"{_tag_problem(group, 'circleci/role', 'circleci role')}; "
                    "every security group in the stack must carry its role",
                )
            )
        else:
            carriers.setdefault(role, []).append(name)
            groups[role] = name
    for role, names in carriers.items():
        if len(names) > 1:
            # Each would pass for the role: whatever the other one is attached to reaches what the role does.
            where = ", ".join(address("aws_security_group", n) for n in sorted(names))
            findings.append(
                Finding(
                    "security-group-role",
                    where,
                    f"{len(names)} groups carry role {role.value}: each role has exactly one security group, "
                    "or another passes for it",
                )
            )

    built = terraform_load_balancers(intent.server_version)
    for name, lb in resources(stack, "aws_lb").items():
        where = address("aws_lb", name)
        role = _role(lb)
        if role not in built:
            # Without its role no scheme, group or placement check would apply to it.
            makes = ", ".join(r.value for r in built) or "none (the cluster builds circleci-proxy)"
            findings.append(
                Finding(
                    "load-balancer-role",
                    where,
                    f"{_tag_problem(lb, 'circleci/role', 'load balancer the stack builds')} "
                    f"on server version {intent.server_version.id.value} ({makes})",
                )
            )
            continue
        assert role is not None
        internal = boolean(lb, "internal", where)
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
            _load_balancer_groups(lb, role, where, groups, findings)
    if Role.PROXY_LB in intent.server_version.load_balancers and topology is not None:
        _chart_annotations(stack, intent, groups.get(Role.PROXY_LB), findings)

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
        if tiers[name] not in KNOWN_TIERS:
            # Untagged, no check of the tiers (public IPs, routes, NACLs) would reach it.
            findings.append(
                Finding(
                    "subnet-tier",
                    address("aws_subnet", name),
                    f"{_tag_problem(subnet, 'circleci/tier', 'tier')} ({', '.join(sorted(KNOWN_TIERS))})",
                )
            )
        elif tiers[name] != PUBLIC_TIER and tiers[name] not in public_tiers:
            if boolean(subnet, "map_public_ip_on_launch", address("aws_subnet", name)):
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
        for kind, name, resource in all_resources(stack):
            if kind in PUBLIC_TIER_KINDS:
                continue
            named = set(_SUBNET_REF.findall(json.dumps(resource))) & public
            unresolved: list[str] = []
            for value in _subnet_values(resource):
                if _SUBNET_REF.fullmatch(value):
                    continue
                # Written otherwise (a function, a data source, an ID): a public subnet it names
                # counts, and one the audit cannot resolve could be public.
                loose = set(_LOOSE_SUBNET_REF.findall(value))
                named |= loose & public
                if not loose or not loose <= set(subnets):
                    unresolved.append(value)
            if named:
                findings.append(
                    Finding(
                        "public-subnet",
                        address(kind, name),
                        f"sits in public subnet {', '.join(sorted(named))}; public subnets hold only load balancers and NAT",
                    )
                )
            if unresolved:
                findings.append(
                    Finding(
                        "public-subnet",
                        address(kind, name),
                        f"sits in subnet {', '.join(repr(v) for v in unresolved)}, which the audit cannot resolve "
                        "to a subnet of the stack (it could be a public one); name it as ${aws_subnet.<name>.id}",
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


def _subnet_values(resource: object) -> list[str]:
    """Every value of a subnet-placing argument, at any depth (``network_interface``, ``subnet_mapping``)."""
    found: list[str] = []
    pending = [resource]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _SUBNET_KEYS:
                    found += [str(v) for v in as_list(value) if not isinstance(v, dict | list)]
                pending.append(value)
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _aws_routes(stack: Json, tiers: dict[str, str], public_tiers: set[str], findings: list[Finding]) -> None:
    """A private tier's default route goes through NAT only and no route of its tables through an
    internet gateway; a public tier's through the internet gateway only, and none through NAT. So a
    subnet's tier tag must agree with its routing, and split routes (0.0.0.0/1 + 128.0.0.0/1) count."""
    found: dict[tuple[str, str, str], None] = {}  # a table shared by subnets of one tier: one finding

    def unresolved(resource: str, what: str, value: object) -> None:
        # Could be one of ours after apply (a data source, an ID, a function): its routes are unread.
        problem = f"{what} {value!r} is no {what} of the stack the audit can resolve; name it by reference"
        found[("tier-routes", resource, problem)] = None

    tables_of: dict[str, set[str]] = {}
    for name, assoc in resources(stack, "aws_route_table_association").items():
        where = address("aws_route_table_association", name)
        subnet = referenced(assoc.get("subnet_id"), "aws_subnet", "id")
        table = _table_key(assoc.get("route_table_id"))
        if assoc.get("gateway_id") is not None and assoc.get("subnet_id") is None:
            subnet = ""  # an edge association (a gateway's), no subnet's
        elif subnet not in tiers:
            unresolved(where, "subnet", assoc.get("subnet_id"))
        if table is None:
            unresolved(where, "route table", assoc.get("route_table_id"))
        if subnet and table:
            tables_of.setdefault(subnet, set()).add(table)
    main = {f"aws_default_route_table.{name}" for name in resources(stack, "aws_default_route_table")}
    for name, assoc in resources(stack, "aws_main_route_table_association").items():
        if (table := _table_key(assoc.get("route_table_id"))) is not None:
            main.add(table)
        else:
            unresolved(address("aws_main_route_table_association", name), "route table", assoc.get("route_table_id"))
    routes: dict[str, list[tuple[str, Json, object]]] = {}
    for name, route in resources(stack, "aws_route").items():
        table = _table_key(route.get("route_table_id"))
        if table is None:
            unresolved(address("aws_route", name), "route table", route.get("route_table_id"))
        else:
            destination = route.get("destination_cidr_block") or route.get("destination_ipv6_cidr_block")
            routes.setdefault(table, []).append((address("aws_route", name), route, destination))
    for kind in ("aws_route_table", "aws_default_route_table"):
        for name, route_table in resources(stack, kind).items():
            for block in as_list(route_table.get("route")):
                if isinstance(block, dict):
                    destination = block.get("cidr_block") or block.get("ipv6_cidr_block")
                    routes.setdefault(f"{kind}.{name}", []).append((address(kind, name), block, destination))
    main |= {t for t in routes if t.startswith("aws_vpc.")}
    for subnet, tier in sorted(tiers.items()):
        if tier not in KNOWN_TIERS:
            continue  # a ``subnet-tier`` finding already
        tables = tables_of.get(subnet, set())
        if not tables:
            problem = f"{tier} has no route table of the stack (the VPC's main table decides)"
            found[("default-route", address("aws_subnet", subnet), problem)] = None
            continue
        public = tier in public_tiers
        for table in sorted(tables):
            defaults = [(r, route) for r, route, to in routes.get(table, []) if to in (ALL_IPV4, ALL_IPV6)]
            if not defaults:
                found[("default-route", table, f"{tier} has no default route")] = None
            for resource, route in defaults:
                targets = sorted(k for k, v in route.items() if k.endswith("_id") and k != "route_table_id" and v)
                through = "gateway_id" if public else "nat_gateway_id"
                if targets != [through] or (public and not _internet_gateway(route)):
                    gateway = "the internet gateway" if public else "NAT"
                    problem = (
                        f"{tier}'s default route goes through {', '.join(targets) or 'nothing'}; "
                        f"it must go through {gateway} only"
                    )
                    found[("default-route", resource, problem)] = None
            for resource, route, to in routes.get(table, []):
                if public and route.get("nat_gateway_id"):
                    problem = (
                        f"{tier} (public) routes {to} through NAT; public tiers route through the internet gateway"
                    )
                    found[("tier-routes", resource, problem)] = None
                elif not public and _internet_gateway(route):
                    problem = f"{tier} (private) routes {to} through an internet gateway; private tiers reach it through NAT only"
                    found[("tier-routes", resource, problem)] = None
    for table in sorted(main):
        for resource, route, to in routes.get(table, []):
            if _internet_gateway(route):
                problem = (
                    f"the VPC's main route table (it decides for every subnet without an association) routes {to} "
                    "through an internet gateway"
                )
                found[("tier-routes", resource, problem)] = None
    findings += [Finding(check, resource, problem) for check, resource, problem in found]


_TABLE = re.compile(
    r"\$\{(aws_route_table|aws_default_route_table)\.([^.}]+)\.id\}"
    r"|\$\{aws_vpc\.([^.}]+)\.(?:main_route_table_id|default_route_table_id)\}"
)


def _table_key(value: object) -> str | None:
    """``${aws_route_table.x.id}`` -> ``aws_route_table.x`` (also the adopted default table, a VPC's main table)."""
    match = _TABLE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    return f"{match.group(1)}.{match.group(2)}" if match.group(1) else f"aws_vpc.{match.group(3)}"


def _internet_gateway(route: Json) -> bool:
    return bool(_INTERNET_GATEWAY.search(str(route.get("gateway_id") or "")))


def _load_balancer_groups(lb: Json, role: Role, where: str, groups: dict[Role, str], findings: list[Finding]) -> None:
    """Exactly the role's group: another group's rules would admit (or send) what the role's do not."""
    attached = {referenced(g, "aws_security_group", "id") or str(g) for g in as_list(lb.get("security_groups"))}
    own = groups.get(role)
    if own not in attached:
        findings.append(
            Finding(
                "load-balancer-security-group",
                where,
                f"{role.value} is not in its security group (only transparent load balancers go without one)",
            )
        )
    others = sorted(attached - {own})
    if others:
        findings.append(
            Finding(
                "load-balancer-security-group",
                where,
                f"{role.value} is also in {', '.join(others)}; it must be in its own security group only",
            )
        )


def _chart_annotations(stack: Json, intent: NetworkIntent, proxy_group: str | None, findings: list[Finding]) -> None:
    """v4: the cluster builds circleci-proxy from our Helm values, so its annotations are its scheme and groups."""
    assert intent.topology is not None
    scheme = "internet-facing" if intent.topology.internet_facing_load_balancers else "internal"
    group = f"${{aws_security_group.{proxy_group}.id}}" if proxy_group else "the circleci-proxy security group"
    want = {
        "security-groups": (group, "the circleci-proxy security group alone"),
        "scheme": (scheme, f"{scheme} with user access {intent.topology.user_access.value}"),
        "manage-backend-security-group-rules": ("false", "the node rules are the stack's, not the controller's"),
    }
    tier = PUBLIC_TIER if intent.topology.internet_facing_load_balancers else Role.KUBERNETES_NODES.value
    proxy_subnets = [n for n, s in resources(stack, "aws_subnet").items() if _tag(s, "circleci/tier") == tier]
    values = {k: v for k, v in (stack.get("locals") or {}).items() if HELM_VALUES_LOCAL in k}
    if not values:
        findings.append(
            Finding(
                "load-balancer-annotations",
                f"local.{HELM_VALUES_LOCAL}",
                "is missing: nothing configures the circleci-proxy load balancer the cluster builds",
            )
        )
    for key, value in sorted(values.items()):
        nginx = value.get("nginx") if isinstance(value, dict) else None
        annotations = nginx.get("annotations") if isinstance(nginx, dict) else None
        annotations = annotations if isinstance(annotations, dict) else {}
        for suffix, (expected, why) in want.items():
            found = annotations.get(f"{_ANNOTATION}{suffix}")
            if found != expected or (suffix == "security-groups" and proxy_group is None):
                findings.append(
                    Finding(
                        "load-balancer-annotations",
                        f"local.{key}",
                        f"nginx.annotations {_ANNOTATION}{suffix} is {found!r}; it must be {expected!r} ({why})",
                    )
                )
        # The controller places the load balancer in the subnets named here (or discovers some when
        # none are named): exactly the proxy tier's, by reference, or the audit cannot place it.
        found = annotations.get(f"{_ANNOTATION}subnets")
        named = annotated_subnets(found)
        if named is None or len(named) != len(set(named)) or set(named) != set(proxy_subnets):
            listed = ", ".join(f"${{aws_subnet.{n}.id}}" for n in sorted(proxy_subnets)) or "none in the stack"
            findings.append(
                Finding(
                    "load-balancer-annotations",
                    f"local.{key}",
                    f"nginx.annotations {_ANNOTATION}subnets is {found!r}; it must list exactly the {tier} "
                    f"subnets by reference ({listed})",
                )
            )


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

    own = gcp_subnetworks(stack, intent)
    for name, subnet in resources(stack, "google_compute_subnetwork").items():
        where = address("google_compute_subnetwork", name)
        if name not in own and (not ours or subnet.get("network") in ours):
            # Its instances are none of our roles: rules naming its range are to the outside.
            findings.append(
                Finding(
                    "subnetwork",
                    where,
                    f"is not the stack's subnet ({intent.name}-<region>): no role of ours lives in "
                    f"{subnet.get('ip_cidr_range')}, and the audit reads it as outside the network's roles",
                )
            )
        if not subnet.get("log_config"):
            findings.append(Finding("flow-logs", where, "has flow logs off (no log_config)"))
        for config in as_list(subnet.get("log_config")):
            # Unset is the provider's 0.5; 0 logs nothing though log_config is there.
            sampling = config.get("flow_sampling", 0.5) if isinstance(config, dict) else None
            if not _sampled(sampling):
                findings.append(
                    Finding("flow-logs", where, f"log_config.flow_sampling is {sampling!r}; it must be above 0")
                )


def _sampled(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        return 0 < float(value) <= 1
    except ValueError:
        return False
