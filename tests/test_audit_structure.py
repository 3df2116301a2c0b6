"""Structural checks and the inputs-only record: each tampered copy of a reference stack is
caught by the audit, naming the resource; a record cannot vouch for the facts it used to carry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from circleci_network.audit import AuditError, audit_stack
from tests.stack_edits import failing_findings, record

Synth = dict[str, Any]


def _resources(stack: Synth, kind: str) -> dict[str, Synth]:
    return stack["resource"].setdefault(kind, {})


def _named(stack: Synth, kind: str, fragment: str) -> tuple[str, Synth]:
    (found,) = [(n, r) for n, r in _resources(stack, kind).items() if fragment in n]
    return found


@pytest.mark.parametrize("stack", ["circleci-aws", "circleci-gcp", "circleci-aws-nacl", "circleci-aws-nacl-vpn"])
def test_reference_stacks_pass_every_structural_check(reference_stacks: dict[str, Synth], stack: str) -> None:
    result = audit_stack(reference_stacks[stack], stack)
    assert result.findings == [] and result.ok


def test_internal_nomad_nlb_made_internet_facing(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, lb = _named(stack, "aws_lb", "nomad")
    lb["internal"] = False
    (found,) = failing_findings(stack, "load-balancer-scheme")
    assert found.resource == f"aws_lb.{name}" and "internet-facing" in found.problem


def test_frontend_internet_facing_in_vpn_mode(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["aws-vpn"])
    name, lb = _named(stack, "aws_lb", "frontend")
    lb["internal"] = False
    (found,) = failing_findings(stack, "load-balancer-scheme")
    assert found.resource == f"aws_lb.{name}" and "vpn" in found.problem


def test_nlb_security_groups_dropped(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, lb = _named(stack, "aws_lb", "nomad")
    del lb["security_groups"]
    found = failing_findings(stack, "load-balancer-security-group")
    assert [f.resource for f in found] == [f"aws_lb.{name}"]


def test_default_security_group_reopened(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, group = next(iter(_resources(stack, "aws_default_security_group").items()))
    group["ingress"] = [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}]
    (found,) = failing_findings(stack, "default-security-group")
    assert found.resource == f"aws_default_security_group.{name}"


def test_rule_added_to_the_default_security_group(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name = next(iter(_resources(stack, "aws_default_security_group")))
    _resources(stack, "aws_vpc_security_group_ingress_rule")["reopen"] = {
        "security_group_id": f"${{aws_default_security_group.{name}.id}}",
        "ip_protocol": "-1",
        "cidr_ipv4": "0.0.0.0/0",
    }
    (found,) = failing_findings(stack, "default-security-group")
    assert found.resource == "aws_vpc_security_group_ingress_rule.reopen"


def test_default_security_group_no_longer_managed(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    del stack["resource"]["aws_default_security_group"]
    (found,) = failing_findings(stack, "default-security-group")
    assert found.resource.startswith("aws_vpc.")


def test_existing_vpc_default_group_is_reported_as_not_checked(shape_stacks: dict[str, Synth]) -> None:
    result = audit_stack(shape_stacks["aws-existing-vpc"])
    assert result.ok and any("default security group of vpc-" in note for note in result.notes)


def test_default_network_acl_reopened(reference_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(reference_stacks["circleci-aws-nacl"])
    name, acl = next(iter(_resources(stack, "aws_default_network_acl").items()))
    acl["ingress"] = [{"rule_no": 100, "action": "allow", "protocol": "-1", "from_port": 0, "to_port": 0,
                       "cidr_block": "0.0.0.0/0"}]  # fmt: skip
    found = failing_findings(stack, "default-network-acl")
    assert [f.resource for f in found] == [f"aws_default_network_acl.{name}"]


def test_public_ips_on_launch_in_a_private_job_subnet(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, subnet = _named(stack, "aws_subnet", "nomad-clients-us-east-1a")
    subnet["map_public_ip_on_launch"] = True
    (found,) = failing_findings(stack, "private-subnet")
    assert found.resource == f"aws_subnet.{name}"


def test_public_job_subnets_may_have_public_ips(shape_stacks: dict[str, Synth]) -> None:
    assert audit_stack(shape_stacks["aws-public-jobs"]).findings == []


def test_private_default_route_through_the_internet_gateway(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, route = _named(stack, "aws_route", "k8s-nodes-default-route-us-east-1b")
    del route["nat_gateway_id"]
    route["gateway_id"] = "${aws_internet_gateway.network_vpc_internet-gateway_5E3A1A34.id}"
    (found,) = failing_findings(stack, "default-route")
    assert found.resource == f"aws_route.{name}" and "NAT only" in found.problem


def test_instance_in_a_public_subnet(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    public, _ = _named(stack, "aws_subnet", "public-us-east-1a")
    _resources(stack, "aws_instance")["bastion"] = {"ami": "ami-1", "subnet_id": f"${{aws_subnet.{public}.id}}"}
    (found,) = failing_findings(stack, "public-subnet")
    assert found.resource == "aws_instance.bastion"


def test_aws_flow_log_removed(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    del stack["resource"]["aws_flow_log"]
    (found,) = failing_findings(stack, "flow-logs")
    assert found.resource.startswith("aws_vpc.")


def test_gcp_internal_load_balancer_address_made_external(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, address = _named(stack, "google_compute_address", "nomad")
    address["address_type"] = "EXTERNAL"
    (found,) = failing_findings(stack, "address-type")
    assert found.resource == f"google_compute_address.{name}" and "INTERNAL" in found.problem


def test_gcp_frontend_address_external_in_vpn_mode(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["gcp-vpn"])
    name, address = _named(stack, "google_compute_address", "frontend")
    address["address_type"] = "EXTERNAL"
    (found,) = failing_findings(stack, "address-type")
    assert found.resource == f"google_compute_address.{name}"


def test_gcp_firewall_rule_on_another_network(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, rule = _named(stack, "google_compute_firewall", "nomad-clients-deny-all-ingress")
    rule["network"] = "projects/acme-circleci/global/networks/default"
    (found,) = failing_findings(stack, "network")
    assert found.resource == f"google_compute_firewall.{name}"


def test_gcp_existing_network_firewall_is_checked_against_the_recorded_network(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["gcp-existing-network"])
    assert audit_stack(stack).findings == []
    name, rule = next(iter(_resources(stack, "google_compute_firewall").items()))
    rule["network"] = "projects/acme-circleci/global/networks/other"
    assert [f.resource for f in failing_findings(stack, "network")] == [f"google_compute_firewall.{name}"]


def test_gcp_subnet_flow_logs_removed(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, subnet = next(iter(_resources(stack, "google_compute_subnetwork").items()))
    del subnet["log_config"]
    (found,) = failing_findings(stack, "flow-logs")
    assert found.resource == f"google_compute_subnetwork.{name}"


# The record holds inputs only: the facts it used to carry are read from the stack.


def test_record_holds_inputs_only(aws_reference: Synth, gcp_reference: Synth) -> None:
    for stack in (aws_reference, gcp_reference):
        assert set(record(stack)) == {"format", "cloud", "name", "options", "topology", "inputs"}
        assert record(stack)["inputs"] == {}


def test_resolver_comes_from_the_vpc(aws_reference: Synth) -> None:
    # A renderer that opened DNS to the wrong address: the audit works the resolver out from aws_vpc.
    stack = copy.deepcopy(aws_reference)
    for rule in _resources(stack, "aws_vpc_security_group_egress_rule").values():
        if rule.get("cidr_ipv4") == "10.0.0.2/32":
            rule["cidr_ipv4"] = "10.0.0.3/32"
    result = audit_stack(stack)
    missing = [str(d) for d in result.differences if d.kind == "missing"]
    assert any("outside (10.0.0.2/32) tcp/53, udp/53" in d for d in missing), result.summary()


def test_delivered_node_ports_come_from_the_target_groups(shape_stacks: dict[str, Synth]) -> None:
    # The nodes admitting clients on a NodePort no target group delivers to is caught.
    stack = copy.deepcopy(shape_stacks["aws-transparent-lbs"])
    for group in _resources(stack, "aws_lb_target_group").values():
        if group["port"] == 30443:
            group["port"] = 30444
    result = audit_stack(stack)
    assert any("30443" in str(d) for d in result.differences if d.kind == "extra"), result.summary()
    assert any("30444" in str(d) for d in result.differences if d.kind == "missing"), result.summary()


def test_gcp_load_balancer_addresses_come_from_the_addresses(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    _, address = _named(stack, "google_compute_address", "nomad")
    address["address"] = "10.0.0.20"  # the firewall still names 10.0.0.11
    assert not audit_stack(stack).ok


def test_an_old_record_is_refused_with_a_clear_error(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    record(stack)["format"] = 1
    with pytest.raises(AuditError, match="format 1, this audit reads format 2: synthesize the stack again"):
        audit_stack(stack, "old")


def test_a_malformed_record_is_an_audit_error(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    del record(stack)["options"]
    with pytest.raises(AuditError, match="record is malformed"):
        audit_stack(stack, "broken")


def test_a_record_of_an_unknown_cloud_is_an_audit_error(aws_reference: Synth) -> None:
    # Before resolve_policy, anything but "aws" was audited as GCP.
    stack = copy.deepcopy(aws_reference)
    record(stack)["cloud"] = "azure"
    with pytest.raises(AuditError, match="names cloud 'azure'"):
        audit_stack(stack, "azure")


def test_security_groups_only_records_what_the_user_gave(shape_stacks: dict[str, Synth]) -> None:
    stack = shape_stacks["aws-security-groups-only"]
    recorded = record(stack)
    assert recorded.get("topology") is None  # no subnets or load balancers: the shape checks do not apply
    assert recorded["inputs"]["dns_resolver_cidrs"] == ["10.50.0.2/32"]
    assert set(recorded["inputs"]["role_cidrs"]) == {"k8s-nodes", "nomad-clients", "external-vms"}
    result = audit_stack(stack)
    assert result.ok and any("not checked" in note and "vpc-" in note for note in result.notes)


# Ways around the structural checks (review of issue 11, items 5-7): each is a finding naming the resource.

LEGITIMATE_FIXTURES = [
    "eks_example",
    "eks_nacl_example",
    "eks_endpoints_example",
    "aws_endpoints",
    "aws_v4_internet",
    "aws_v4_internet_endpoints",
    "gcp_v4_internet",
]
GKE_STACKS = ["gcp-gke-private", "gcp-gke-public-tags", "gcp-gke-v4.3-vpn"]


@pytest.mark.parametrize("fixture", LEGITIMATE_FIXTURES)
def test_every_legitimate_shape_has_no_structural_finding(request: pytest.FixtureRequest, fixture: str) -> None:
    # EKS (cluster and node group in the node subnets), VPC endpoints, v4 (no aws_lb: the chart's
    # controller builds circleci-proxy from the annotations): none trips the role, tier or route checks.
    result = audit_stack(request.getfixturevalue(fixture), fixture)
    assert result.findings == [] and result.ok, result.summary()


@pytest.mark.parametrize("name", GKE_STACKS)
def test_gke_stacks_have_no_structural_finding(gke_stacks: dict[str, Synth], name: str) -> None:
    assert audit_stack(gke_stacks[name], name).findings == []


@pytest.mark.parametrize("stack", ["circleci-aws-nacl-public-jobs", "circleci-aws-nacl-vpn"])
def test_network_acl_shapes_have_no_structural_finding(reference_stacks: dict[str, Synth], stack: str) -> None:
    # Public job tiers routed through the internet gateway; an existing VPC's igw- literal, one NAT gateway.
    assert audit_stack(reference_stacks[stack], stack).findings == []


def _retag(resource: Synth, key: str, tag: object) -> None:
    if tag == "<removed>":
        resource["tags"].pop(key)
    else:
        resource["tags"][key] = tag


TAMPERED_TAGS = ["<removed>", None, "bogus", "k8s-nodes"]


@pytest.mark.parametrize("tag", TAMPERED_TAGS)
def test_load_balancer_without_a_known_role(aws_reference: Synth, tag: object) -> None:
    # Made internet-facing too: without its role no scheme check would see it.
    stack = copy.deepcopy(aws_reference)
    name, lb = _named(stack, "aws_lb", "nomad")
    _retag(lb, "circleci/role", tag)
    lb["internal"] = False
    (found,) = failing_findings(stack, "load-balancer-role")
    said = "has no circleci/role tag" if tag in ("<removed>", None) else f"circleci/role tag {tag!r} names no"
    assert found.resource == f"aws_lb.{name}" and said in found.problem


def test_v4_stack_builds_no_load_balancer(aws_v4_internet: Synth, aws_reference: Synth) -> None:
    # v4's circleci-proxy is the cluster's: an aws_lb tagged with its role is not one the stack builds.
    stack = copy.deepcopy(aws_v4_internet)
    _, lb = _named(copy.deepcopy(aws_reference), "aws_lb", "nomad")
    lb["tags"]["circleci/role"] = "circleci-proxy"
    _resources(stack, "aws_lb")["proxy"] = lb
    (found,) = failing_findings(stack, "load-balancer-role")
    assert found.resource == "aws_lb.proxy" and "the cluster builds circleci-proxy" in found.problem


@pytest.mark.parametrize("tag", TAMPERED_TAGS[:3])
def test_security_group_without_a_known_role(aws_reference: Synth, tag: object) -> None:
    # An untagged group's rules are nobody's to the flow audit: the group itself is the finding.
    stack = copy.deepcopy(aws_reference)
    group = copy.deepcopy(_named(stack, "aws_security_group", "nomad-clients")[1])
    _retag(group, "circleci/role", tag)
    _resources(stack, "aws_security_group")["extra"] = group
    _resources(stack, "aws_vpc_security_group_ingress_rule")["world"] = {
        "security_group_id": "${aws_security_group.extra.id}",
        "ip_protocol": "-1",
        "cidr_ipv4": "0.0.0.0/0",
    }
    (found,) = failing_findings(stack, "security-group-role")
    assert found.resource == "aws_security_group.extra"


@pytest.mark.parametrize("tag", [*TAMPERED_TAGS[:3], "frontend-external"])
def test_subnet_without_a_known_tier_gets_no_public_ips_past_the_audit(aws_reference: Synth, tag: object) -> None:
    stack = copy.deepcopy(aws_reference)
    name, subnet = _named(stack, "aws_subnet", "nomad-clients-us-east-1a")
    _retag(subnet, "circleci/tier", tag)
    subnet["map_public_ip_on_launch"] = True
    (found,) = failing_findings(stack, "subnet-tier")
    assert found.resource == f"aws_subnet.{name}"


def test_private_subnet_relabelled_public_disagrees_with_its_routes(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    _, subnet = _named(stack, "aws_subnet", "nomad-clients-us-east-1a")
    subnet["tags"]["circleci/tier"] = "public"
    subnet["map_public_ip_on_launch"] = True
    route, _ = _named(stack, "aws_route", "nomad-clients-default-route-us-east-1a")
    (default,) = failing_findings(stack, "default-route")
    assert default.resource == f"aws_route.{route}" and "internet gateway only" in default.problem
    (tier,) = failing_findings(stack, "tier-routes")
    assert tier.resource == f"aws_route.{route}" and "through NAT" in tier.problem


def test_public_subnet_relabelled_private_disagrees_with_its_routes(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    _, subnet = _named(stack, "aws_subnet", "public-us-east-1a")
    subnet["tags"]["circleci/tier"] = "k8s-nodes"
    route, _ = _named(stack, "aws_route", "public-default-route")
    assert [f.resource for f in failing_findings(stack, "tier-routes")] == [f"aws_route.{route}"]
    assert [f.resource for f in failing_findings(stack, "default-route")] == [f"aws_route.{route}"]


def test_public_default_route_through_nat(aws_reference: Synth) -> None:
    # Public subnets were not route-checked at all: their default route must use the internet gateway.
    stack = copy.deepcopy(aws_reference)
    name, route = _named(stack, "aws_route", "public-default-route")
    _, nat = _named(stack, "aws_route", "nomad-clients-default-route-us-east-1a")
    del route["gateway_id"]
    route["nat_gateway_id"] = nat["nat_gateway_id"]
    (found,) = failing_findings(stack, "default-route")
    assert found.resource == f"aws_route.{name}" and "internet gateway only" in found.problem


def _internet_gateway(stack: Synth) -> str:
    return f"${{aws_internet_gateway.{next(iter(_resources(stack, 'aws_internet_gateway')))}.id}}"


def test_split_routes_through_the_internet_gateway_in_a_nomad_table(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    table, _ = _named(stack, "aws_route_table", "nomad-clients-routes-us-east-1a")
    for half, cidr in (("low", "0.0.0.0/1"), ("high", "128.0.0.0/1")):
        _resources(stack, "aws_route")[half] = {
            "route_table_id": f"${{aws_route_table.{table}.id}}",
            "destination_cidr_block": cidr,
            "gateway_id": _internet_gateway(stack),
        }
    found = failing_findings(stack, "tier-routes")
    assert sorted(f.resource for f in found) == ["aws_route.high", "aws_route.low"]
    assert all("private" in f.problem for f in found)


def test_split_routes_inline_in_a_route_table(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    table, route_table = _named(stack, "aws_route_table", "k8s-nodes-routes-us-east-1b")
    route_table["route"] = [
        {"cidr_block": cidr, "gateway_id": _internet_gateway(stack)} for cidr in ("0.0.0.0/1", "128.0.0.0/1")
    ]
    found = failing_findings(stack, "tier-routes")
    assert [f.resource for f in found] == [f"aws_route_table.{table}"] * 2


def test_existing_vpc_internet_gateway_by_id_in_a_private_table(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["aws-existing-vpc"])
    table, _ = _named(stack, "aws_route_table", "external-vms-routes-us-east-1c")
    _resources(stack, "aws_route")["back-door"] = {
        "route_table_id": f"${{aws_route_table.{table}.id}}",
        "destination_cidr_block": "198.51.100.0/24",
        "gateway_id": "igw-0123456789abcdef0",
    }
    (found,) = failing_findings(stack, "tier-routes")
    assert found.resource == "aws_route.back-door"


def test_public_table_route_through_nat(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    table, _ = _named(stack, "aws_route_table", "public-routes")
    _, nat = _named(stack, "aws_route", "k8s-nodes-default-route-us-east-1a")
    _resources(stack, "aws_route")["detour"] = {
        "route_table_id": f"${{aws_route_table.{table}.id}}",
        "destination_cidr_block": "192.0.2.0/24",
        "nat_gateway_id": nat["nat_gateway_id"],
    }
    (found,) = failing_findings(stack, "tier-routes")
    assert found.resource == "aws_route.detour" and "public" in found.problem


def test_private_subnet_associated_with_the_public_table(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    public, _ = _named(stack, "aws_route_table", "public-routes")
    _, association = _named(stack, "aws_route_table_association", "nomad-clients-routes-assoc-us-east-1a")
    association["route_table_id"] = f"${{aws_route_table.{public}.id}}"
    route, _ = _named(stack, "aws_route", "public-default-route")
    assert [f.resource for f in failing_findings(stack, "tier-routes")] == [f"aws_route.{route}"]
    assert [f.resource for f in failing_findings(stack, "default-route")] == [f"aws_route.{route}"]


@pytest.mark.parametrize("inline", [True, False])
def test_main_route_table_through_the_internet_gateway(aws_reference: Synth, inline: bool) -> None:
    # The main table decides for any subnet without an association: it holds no internet route.
    stack = copy.deepcopy(aws_reference)
    vpc = next(iter(_resources(stack, "aws_vpc")))
    route = {"cidr_block": "0.0.0.0/0", "gateway_id": _internet_gateway(stack)}
    main: Synth = {"default_route_table_id": f"${{aws_vpc.{vpc}.default_route_table_id}}"}
    if inline:
        main["route"] = [route]
        want = "aws_default_route_table.main"
    else:
        _resources(stack, "aws_route")["main-default"] = {
            "route_table_id": f"${{aws_vpc.{vpc}.main_route_table_id}}",
            "destination_cidr_block": route["cidr_block"],
            "gateway_id": route["gateway_id"],
        }
        want = "aws_route.main-default"
    _resources(stack, "aws_default_route_table")["main"] = main
    (found,) = failing_findings(stack, "tier-routes")
    assert found.resource == want and "main route table" in found.problem


def test_extra_security_group_on_an_nlb(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, lb = _named(stack, "aws_lb", "nomad")
    vms, _ = _named(stack, "aws_security_group", "external-vms")
    lb["security_groups"].append(f"${{aws_security_group.{vms}.id}}")
    (found,) = failing_findings(stack, "load-balancer-security-group")
    assert found.resource == f"aws_lb.{name}" and vms in found.problem


def _annotations(stack: Synth) -> tuple[str, Synth]:
    (key,) = [k for k in stack["locals"] if "circleci-helm-values" in k]
    return key, stack["locals"][key]["nginx"]["annotations"]


A = "service.beta.kubernetes.io/aws-load-balancer-"


@pytest.mark.parametrize(
    ("suffix", "value"),
    [
        ("security-groups", "k8s-nodes"),  # another role's group
        ("security-groups", "both"),  # the proxy's group and another
        ("security-groups", None),
        ("scheme", "internal"),  # internet-facing users
        ("scheme", None),
        ("manage-backend-security-group-rules", "true"),
        ("manage-backend-security-group-rules", None),
    ],
)
def test_v4_chart_annotations(aws_v4_internet: Synth, suffix: str, value: str | None) -> None:
    stack = copy.deepcopy(aws_v4_internet)
    key, annotations = _annotations(stack)
    nodes, _ = _named(stack, "aws_security_group", "k8s-nodes")
    if value is None:
        del annotations[A + suffix]
    elif value == "k8s-nodes":
        annotations[A + suffix] = f"${{aws_security_group.{nodes}.id}}"
    elif value == "both":
        annotations[A + suffix] += f",${{aws_security_group.{nodes}.id}}"
    else:
        annotations[A + suffix] = value
    (found,) = failing_findings(stack, "load-balancer-annotations")
    assert found.resource == f"local.{key}" and A + suffix in found.problem


def test_v4_chart_values_removed(aws_v4_internet: Synth) -> None:
    stack = copy.deepcopy(aws_v4_internet)
    key, _ = _annotations(stack)
    del stack["locals"][key]
    found = failing_findings(stack, "load-balancer-annotations")
    assert [f.resource for f in found] == ["local.circleci-helm-values"]


@pytest.mark.parametrize("sampling", [0, 0.0, "0", -0.5, 2, None, "lots"])
def test_gcp_flow_sampling_must_be_above_zero(gcp_reference: Synth, sampling: object) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, subnet = next(iter(_resources(stack, "google_compute_subnetwork").items()))
    subnet["log_config"]["flow_sampling"] = sampling
    (found,) = failing_findings(stack, "flow-logs")
    assert found.resource == f"google_compute_subnetwork.{name}" and "flow_sampling" in found.problem


def _gcp_nginx(stack: Synth) -> tuple[str, Synth]:
    (key,) = [k for k in stack["locals"] if "circleci-helm-values" in k]
    return key, stack["locals"][key]["nginx"]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda n: n["loadBalancerSourceRanges"].append("0.0.0.0/0"), "admits 0.0.0.0/0 beyond client_cidrs"),
        (lambda n: n["loadBalancerSourceRanges"].__setitem__(0, "203.0.0.0/16"), "admits 203.0.0.0/16"),
        (lambda n: n["loadBalancerSourceRanges"].append("${var.office}"), "cannot place"),
        (lambda n: n["loadBalancerSourceRanges"].append("10.0.0.0/33"), "cannot place"),
        (lambda n: n.pop("loadBalancerSourceRanges"), "GKE would open 0.0.0.0/0"),
        (lambda n: n["loadBalancerSourceRanges"].pop(0), "leaves out 203.0.113.0/24"),
        (lambda n: n.__setitem__("loadBalancerIp", "34.1.2.3"), "nginx.loadBalancerIp is '34.1.2.3'"),
        (lambda n: n.__setitem__("annotations", {"networking.gke.io/load-balancer-type": "Internal"}), "absent"),
    ],
)
def test_gcp_v4_chart_values(gcp_v4_internet: Synth, edit: Any, says: str) -> None:
    """GKE writes its k8s-fw rule from these values: wider values would open what the audit never sees."""
    stack = copy.deepcopy(gcp_v4_internet)
    key, nginx = _gcp_nginx(stack)
    edit(nginx)
    found = failing_findings(stack, "load-balancer-values")
    assert found and all(f.resource == f"local.{key}" for f in found)
    assert any(says in f.problem for f in found), [f.problem for f in found]


def test_gcp_v4_chart_values_with_nat_addresses_name_them(gcp_v4_internet: Synth) -> None:
    stack = copy.deepcopy(gcp_v4_internet)
    _, nginx = _gcp_nginx(stack)
    nat = [r for r in nginx["loadBalancerSourceRanges"] if r.startswith("${")]
    assert len(nat) == 2
    nginx["loadBalancerSourceRanges"] = [r for r in nginx["loadBalancerSourceRanges"] if r not in nat[:1]]
    result = audit_stack(stack)
    assert not result.ok  # without every NAT address, GKE drops Nomad's 4647 (a missing flow)
    assert audit_stack(gcp_v4_internet).ok


def test_gcp_v4_vpn_chart_values(gke_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(gke_stacks["gcp-gke-v4.3-vpn"])
    assert audit_stack(stack).findings == []
    key, nginx = _gcp_nginx(stack)
    del nginx["annotations"]
    (found,) = failing_findings(stack, "load-balancer-values")
    assert found.resource == f"local.{key}" and "must be 'Internal' with user access vpn" in found.problem
    del stack["locals"][key]
    (found,) = failing_findings(stack, "load-balancer-values")
    assert found.resource == "local.circleci-helm-values" and "is missing" in found.problem
