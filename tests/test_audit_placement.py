"""Rules and roles the audit cannot place fail it (review 11, items 1, 3, 8, 10 and 11): a load
balancer placed otherwise than by ``subnets``, a rule on a group written otherwise than
``${aws_security_group.x.id}``, a second group carrying a role, the VPC's secondary CIDR blocks,
and a GCP subnetwork beside ours."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from circleci_network.audit import audit_stack
from circleci_network.errors import ConfigurationError
from circleci_network.model.accepted_findings import AcceptedFinding
from tests.stack_edits import failing_findings, record

Synth = dict[str, Any]
ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"
REASON = "the platform team's own, reviewed"


def _kind(stack: Synth, kind: str) -> dict[str, Any]:
    return stack["resource"].setdefault(kind, {})


def _group(stack: Synth, role: str) -> str:
    return next(n for n, g in _kind(stack, "aws_security_group").items() if g["tags"].get("circleci/role") == role)


def _lb(stack: Synth, role: str) -> str:
    return next(n for n, lb in _kind(stack, "aws_lb").items() if lb["tags"].get("circleci/role") == role)


def _ref(kind: str, name: str, attribute: str = "id") -> str:
    return f"${{{kind}.{name}.{attribute}}}"


def _world(stack: Synth, role: str, name: str = "world") -> None:
    """All protocols from 0.0.0.0/0 into ``role``'s group."""
    _kind(stack, "aws_vpc_security_group_ingress_rule")[name] = {
        "security_group_id": _ref("aws_security_group", _group(stack, role)),
        "ip_protocol": "-1",
        "cidr_ipv4": "0.0.0.0/0",
    }


def _subnet_mapping(stack: Synth, role: str) -> None:
    lb = _kind(stack, "aws_lb")[_lb(stack, role)]
    lb["subnet_mapping"] = [{"subnet_id": s} for s in lb.pop("subnets")]


def _placement(stack: Synth) -> list[str]:
    return [f.resource for f in audit_stack(stack).findings if f.check == "role-placement"]


# Item 1: a load balancer role the audit cannot place.


def test_subnet_mapping_places_a_load_balancer_as_subnets_do(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    _subnet_mapping(stack, "nomad")
    result = audit_stack(stack)
    assert result.ok, result.summary()
    assert result.flows == audit_stack(aws_reference).flows


@pytest.mark.parametrize("role", ["nomad", "frontend-external"])
def test_a_world_rule_on_a_load_balancer_placed_by_subnet_mapping_is_extra(aws_reference: Synth, role: str) -> None:
    stack = copy.deepcopy(aws_reference)
    _subnet_mapping(stack, role)
    _world(stack, role)
    extra = [d for d in audit_stack(stack).differences if d.kind == "extra"]
    assert any(d.destination.startswith(role) and d.source == "outside" for d in extra), extra


def test_the_internet_through_the_frontend_to_the_nodes_shows(aws_reference: Synth) -> None:
    """The review's case: the frontend NLB placed by subnet_mapping, open to the world and to the nodes."""
    stack = copy.deepcopy(aws_reference)
    _subnet_mapping(stack, "frontend-external")
    _world(stack, "frontend-external")
    frontend = _ref("aws_security_group", _group(stack, "frontend-external"))
    _kind(stack, "aws_vpc_security_group_egress_rule")["fe-all"] = {
        "security_group_id": frontend,
        "ip_protocol": "-1",
        "cidr_ipv4": "0.0.0.0/0",
    }
    _kind(stack, "aws_vpc_security_group_ingress_rule")["nodes-from-fe"] = {
        "security_group_id": _ref("aws_security_group", _group(stack, "k8s-nodes")),
        "ip_protocol": "-1",
        "referenced_security_group_id": frontend,
    }
    pairs = {(d.source, d.destination.split(" (")[0]) for d in audit_stack(stack).differences if d.kind == "extra"}
    assert {("outside", "frontend-external"), ("frontend-external", "k8s-nodes")} <= pairs


@pytest.mark.parametrize(
    "subnets",
    [
        ["${data.aws_subnet.public.id}"],
        ["subnet-0123456789abcdef0"],
        ["${element([aws_subnet.x.id], 0)}"],
        [],
    ],
)
def test_a_load_balancer_in_subnets_the_audit_cannot_read_is_unplaced(aws_reference: Synth, subnets: list[str]) -> None:
    stack = copy.deepcopy(aws_reference)
    name = _lb(stack, "nomad")
    lb = _kind(stack, "aws_lb")[name]
    lb["subnets"] = lb["subnets"][:1] + subnets if subnets else []
    _world(stack, "nomad")
    assert _placement(stack) == [f"aws_lb.{name}"]
    del lb["subnets"]
    lb["subnet_mapping"] = [{"subnet_id": s} for s in subnets]
    assert _placement(stack) == [f"aws_lb.{name}"]


def test_a_role_whose_group_is_in_the_stack_without_its_load_balancer_is_unplaced(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    del _kind(stack, "aws_lb")[_lb(stack, "vm-service")]
    found = failing_findings(stack, "role-placement")
    assert [f.resource for f in found] == [f"aws_security_group.{_group(stack, 'vm-service')}"]


def _helm(stack: Synth) -> dict[str, Any]:
    return next(v for k, v in stack["locals"].items() if "circleci-helm-values" in k)


@pytest.mark.parametrize(
    "value",
    [None, "circleci-public-us-east-1a,circleci-public-us-east-1b", "${data.aws_subnets.public.ids}", "k8s-nodes"],
)
def test_v4_proxy_subnets_annotation_names_exactly_the_proxy_subnets(aws_v4_internet: Synth, value: str | None) -> None:
    stack = copy.deepcopy(aws_v4_internet)
    annotations = _helm(stack)["nginx"]["annotations"]
    if value is None:
        del annotations[f"{ANNOTATION}subnets"]
    elif value == "k8s-nodes":  # references, but of the wrong tier
        nodes = [n for n, s in _kind(stack, "aws_subnet").items() if s["tags"]["circleci/tier"] == "k8s-nodes"]
        refs = ", ".join(f"aws_subnet.{n}.id" for n in nodes)
        annotations[f"{ANNOTATION}subnets"] = f'${{join(",", [{refs}])}}'
    else:
        annotations[f"{ANNOTATION}subnets"] = value
    _world(stack, "circleci-proxy")
    result = audit_stack(stack)
    checks = {(f.check, f.problem.split(" is ")[0]) for f in result.findings}
    assert ("load-balancer-annotations", f"nginx.annotations {ANNOTATION}subnets") in checks, result.summary()
    if value != "k8s-nodes":  # the controller would pick the subnets: the proxy has no place
        assert [f.resource for f in result.findings if f.check == "role-placement"] == [
            f"aws_security_group.{_group(stack, 'circleci-proxy')}"
        ]
    else:  # placed where the annotation says: the world rule shows too
        assert any(d.source == "outside" and d.destination.startswith("circleci-proxy") for d in result.differences)


def test_v4_reference_annotation_places_the_proxy(aws_v4_internet: Synth) -> None:
    result = audit_stack(aws_v4_internet)
    assert result.ok, result.summary()


def test_security_groups_alone_still_audit_the_load_balancer_groups(shape_stacks: dict[str, Synth]) -> None:
    """No load balancer in the stack: each one with a group sits at a stand-in address of its own."""
    stack = copy.deepcopy(shape_stacks["aws-security-groups-only"])
    assert audit_stack(stack).ok
    _world(stack, "frontend-external")
    result = audit_stack(stack)
    assert any(
        d.kind == "extra" and d.source == "outside" and d.destination.startswith("frontend-external")
        for d in result.differences
    ), result.summary()


def test_gcp_internal_load_balancer_address_without_an_address_is_unplaced(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name = next(n for n, a in _kind(stack, "google_compute_address").items() if a["name"].endswith("-nomad"))
    del _kind(stack, "google_compute_address")[name]["address"]
    assert _placement(stack) == [f"google_compute_address.{name}"]


# Item 3: rules on an owner the audit cannot resolve.

OWNERS = {
    "data": lambda g, vpc: "${data.aws_security_group.n.id}",
    "literal": lambda g, vpc: "sg-0123456789abcdef0",
    "spaces": lambda g, vpc: f"${{ aws_security_group.{g}.id }}",
    "function": lambda g, vpc: f"${{one([aws_security_group.{g}.id])}}",
    "local": lambda g, vpc: "${local.g}",
    "index": lambda g, vpc: f'${{aws_security_group.{g}["id"]}}',
    "vpc-default": lambda g, vpc: f"${{aws_vpc.{vpc}.default_security_group_id}}",
    "missing": lambda g, vpc: None,
}


@pytest.mark.parametrize("form", list(OWNERS))
@pytest.mark.parametrize("kind", ["aws_vpc_security_group_ingress_rule", "aws_security_group_rule"])
def test_a_rule_on_an_owner_the_audit_cannot_resolve_is_unmodelled(aws_reference: Synth, form: str, kind: str) -> None:
    stack = copy.deepcopy(aws_reference)
    owner = OWNERS[form](_group(stack, "nomad-clients"), next(iter(_kind(stack, "aws_vpc"))))
    if kind == "aws_security_group_rule":
        rule = {"type": "ingress", "protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}
    else:
        rule = {"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_ipv4": "0.0.0.0/0"}
    _kind(stack, kind)["evil"] = {**rule, "security_group_id": owner}
    result = audit_stack(stack)
    assert [u for u in result.unmodelled if u.startswith(f"{kind}.evil: ")], result.summary()


def test_a_rule_on_a_group_of_the_stack_without_a_role_is_the_groups_finding(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    vpc = next(iter(_kind(stack, "aws_vpc")))
    _kind(stack, "aws_security_group")["wiki"] = {"name": "wiki", "vpc_id": _ref("aws_vpc", vpc)}
    _kind(stack, "aws_vpc_security_group_ingress_rule")["wiki-in"] = {
        "security_group_id": _ref("aws_security_group", "wiki"),
        "ip_protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
        "cidr_ipv4": "10.0.0.0/16",
    }
    result = audit_stack(stack)
    assert not result.unmodelled and not result.differences
    assert [f.resource for f in result.findings] == ["aws_security_group.wiki"]


def _firewall(stack: Synth, **fields: Any) -> None:
    network = _ref("google_compute_network", next(iter(_kind(stack, "google_compute_network"))))
    _kind(stack, "google_compute_firewall")["evil"] = {"name": "evil", "network": network, "priority": 100, **fields}


def _account(stack: Synth, role: str) -> str:
    return next(n for n, a in _kind(stack, "google_service_account").items() if a["account_id"].endswith(role))


@pytest.mark.parametrize(
    "fields",
    [
        {"target_service_accounts": ["${data.google_service_account.nc.email}"], "source_ranges": ["0.0.0.0/0"]},
        {"target_service_accounts": ["NOMAD "], "source_ranges": ["0.0.0.0/0"]},
        {"target_tags": ["${local.tag}"], "source_ranges": ["0.0.0.0/0"]},
        {"source_service_accounts": ["${data.google_service_account.nc.email}"], "target_tags": ["x"]},
    ],
)
def test_a_firewall_account_or_tag_the_audit_cannot_resolve_is_unmodelled(
    gcp_reference: Synth, fields: dict[str, Any]
) -> None:
    stack = copy.deepcopy(gcp_reference)
    accounts = fields.get("target_service_accounts", [])
    if accounts == ["NOMAD "]:  # our canonical reference, with a space
        fields = {
            **fields,
            "target_service_accounts": [f"${{google_service_account.{_account(stack, 'nomad-clients')}.email }}"],
        }
    _firewall(stack, direction="INGRESS", allow=[{"protocol": "tcp", "ports": ["22"]}], **fields)
    result = audit_stack(stack)
    assert [u for u in result.unmodelled if u.startswith("google_compute_firewall.evil: ")], result.summary()


def test_gcp_egress_through_a_data_source_account_is_unmodelled(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    _firewall(
        stack,
        direction="EGRESS",
        allow=[{"protocol": "all"}],
        destination_ranges=["0.0.0.0/0"],
        target_service_accounts=["${data.google_service_account.nc.email}"],
    )
    assert audit_stack(stack).unmodelled


def test_a_firewall_on_a_service_account_of_the_teams_is_not_ours(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    _kind(stack, "google_service_account")["tools"] = {"account_id": "tools"}
    _firewall(
        stack,
        direction="INGRESS",
        allow=[{"protocol": "tcp", "ports": ["22"]}],
        source_ranges=["0.0.0.0/0"],
        target_service_accounts=[_ref("google_service_account", "tools", "email")],
    )
    result = audit_stack(stack)
    assert result.ok, result.summary()


def _public_subnet(stack: Synth) -> str:
    return next(n for n, s in _kind(stack, "aws_subnet").items() if s["tags"]["circleci/tier"] == "public")


@pytest.mark.parametrize("form", ["data", "function"])
def test_an_instance_in_a_subnet_the_audit_cannot_resolve_is_a_finding(aws_reference: Synth, form: str) -> None:
    stack = copy.deepcopy(aws_reference)
    public = _public_subnet(stack)
    subnet = "${data.aws_subnet.pub.id}" if form == "data" else f"${{element([aws_subnet.{public}.id], 0)}}"
    _kind(stack, "aws_instance")["jump"] = {"ami": "ami-1", "subnet_id": subnet, "associate_public_ip_address": True}
    assert [f.resource for f in failing_findings(stack, "public-subnet")] == ["aws_instance.jump"]


def test_routes_on_a_table_the_audit_cannot_resolve_are_a_finding(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    gateway = next(iter(_kind(stack, "aws_internet_gateway")))
    _kind(stack, "aws_route")["evil"] = {
        "route_table_id": "${data.aws_route_table.k8s.id}",
        "destination_cidr_block": "0.0.0.0/1",
        "gateway_id": _ref("aws_internet_gateway", gateway),
    }
    nodes = next(n for n, s in _kind(stack, "aws_subnet").items() if s["tags"]["circleci/tier"] == "k8s-nodes")
    _kind(stack, "aws_route_table_association")["evil"] = {
        "subnet_id": _ref("aws_subnet", nodes),
        "route_table_id": "rtb-0123456789abcdef0",
    }
    found = {f.resource for f in failing_findings(stack, "tier-routes")}
    assert found == {"aws_route.evil", "aws_route_table_association.evil"}


# Item 8: a second group carrying one of our roles.


def test_two_groups_carrying_one_role_is_a_finding_no_acceptance_covers(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    vpc = next(iter(_kind(stack, "aws_vpc")))
    _kind(stack, "aws_security_group")["bastion"] = {
        "name": "bastion",
        "vpc_id": _ref("aws_vpc", vpc),
        "tags": {"circleci/role": "k8s-nodes"},
    }
    _kind(stack, "aws_vpc_security_group_ingress_rule")["nomad-from-bastion"] = {
        "security_group_id": _ref("aws_security_group", _group(stack, "nomad-clients")),
        "referenced_security_group_id": _ref("aws_security_group", "bastion"),
        "ip_protocol": "tcp",
        "from_port": 4647,
        "to_port": 4647,
    }
    (finding,) = failing_findings(stack, "security-group-role")
    assert "2 groups carry role k8s-nodes" in finding.problem
    assert "aws_security_group.bastion" in finding.resource
    # The finding names both groups: no acceptance (one address) can match it.
    with pytest.raises(ConfigurationError):
        AcceptedFinding("security-group-role", finding.resource, REASON)


# Item 10: the VPC's secondary CIDR blocks are inside.


def _secondary(stack: Synth, cidr: str) -> None:
    vpc = next(iter(_kind(stack, "aws_vpc")))
    _kind(stack, "aws_vpc_ipv4_cidr_block_association")["more"] = {"vpc_id": _ref("aws_vpc", vpc), "cidr_block": cidr}


def test_an_outside_peer_in_a_secondary_cidr_block_is_a_finding(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["aws-ssh-admin"])
    (admins,) = record(stack)["options"]["ssh_administrator_cidrs"]
    _secondary(stack, admins)
    (finding,) = failing_findings(stack, "outside-peer")
    assert "aws_vpc_ipv4_cidr_block_association.more" in finding.problem


def test_an_outside_peer_in_a_subnet_outside_the_primary_block_is_a_finding(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["aws-ssh-admin"])
    (admins,) = record(stack)["options"]["ssh_administrator_cidrs"]
    vpc = next(iter(_kind(stack, "aws_vpc")))
    _kind(stack, "aws_subnet")["jobs-extra"] = {
        "vpc_id": _ref("aws_vpc", vpc),
        "cidr_block": admins,
        "tags": {"circleci/tier": "nomad-clients"},
    }
    found = failing_findings(stack, "outside-peer")
    assert any("aws_subnet.jobs-extra" in f.problem for f in found), found


# Item 11: a GCP subnetwork beside ours.


def _tools_subnetwork(stack: Synth) -> None:
    ours = next(iter(_kind(stack, "google_compute_subnetwork").values()))
    _kind(stack, "google_compute_subnetwork")["tools"] = {
        "name": "tools",
        "network": ours["network"],
        "region": ours["region"],
        "ip_cidr_range": "10.99.0.0/20",
        "log_config": {"flow_sampling": 1},
    }


def test_a_subnetwork_beside_ours_is_a_finding_and_hosts_no_role(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    _tools_subnetwork(stack)
    (finding,) = failing_findings(stack, "subnetwork")
    assert finding.resource == "google_compute_subnetwork.tools"
    assert finding.problem.startswith("is not the stack's subnet")
    # Accepted as the team's: it passes, and its range is outside every role.
    record(stack)["accepted_findings"] = [{"check": "subnetwork", "resource": finding.resource, "reason": REASON}]
    result = audit_stack(stack)
    assert result.ok, result.summary()
    assert [a.finding.check for a in result.accepted] == ["subnetwork"]
    for name, rule in _kind(stack, "google_compute_firewall").items():
        if "nomad-clients-out-2376-vms" in name or "k8s-nodes-out-all-k8s-nodes" in name:
            rule["destination_ranges"] = [*rule["destination_ranges"], "10.99.0.0/20"]
    extra = [d for d in audit_stack(stack).differences if d.kind == "extra"]
    assert {d.source for d in extra if "10.99.0.0/20" in (d.outside or "")} == {"nomad-clients", "k8s-nodes"}


def test_subnetwork_named_like_ours_in_its_own_region_only(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    ours = next(iter(_kind(stack, "google_compute_subnetwork").values()))
    _tools_subnetwork(stack)
    _kind(stack, "google_compute_subnetwork")["tools"]["name"] = ours["name"]
    _kind(stack, "google_compute_subnetwork")["tools"]["region"] = "europe-west1"
    assert [f.resource for f in failing_findings(stack, "subnetwork")] == ["google_compute_subnetwork.tools"]


def test_reference_stacks_place_every_role(aws_reference: Synth, gcp_reference: Synth) -> None:
    for stack in (aws_reference, gcp_reference):
        result = audit_stack(stack)
        assert result.ok and not result.unmodelled, result.summary()


def test_security_groups_alone_beside_a_load_balancer_of_the_teams(shape_stacks: dict[str, Synth]) -> None:
    """A load balancer of the team's (no role of ours) places none of our load balancer roles."""
    stack = copy.deepcopy(shape_stacks["aws-security-groups-only"])
    _kind(stack, "aws_lb")["docs"] = {"load_balancer_type": "application", "internal": True, "subnets": ["subnet-1"]}
    result = audit_stack(stack)
    assert {f.check for f in result.findings} == {"load-balancer-role"}, result.summary()
    assert not result.differences
