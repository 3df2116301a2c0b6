"""Structural checks and the inputs-only record: each tampered copy of a reference stack is
caught by the audit, naming the resource; a record cannot vouch for the facts it used to carry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from circleci_network.audit import AuditError, audit_stack
from circleci_network.audit.findings import Finding
from circleci_network.model.intent import INTENT_LOCAL

Synth = dict[str, Any]


def _resources(stack: Synth, kind: str) -> dict[str, Synth]:
    return stack["resource"].setdefault(kind, {})


def _named(stack: Synth, kind: str, fragment: str) -> tuple[str, Synth]:
    (found,) = [(n, r) for n, r in _resources(stack, kind).items() if fragment in n]
    return found


def _record(stack: Synth) -> Synth:
    (record,) = [v for k, v in stack["locals"].items() if INTENT_LOCAL in k]
    return record


def _findings(stack: Synth, check: str) -> list[Finding]:
    result = audit_stack(stack)
    assert not result.ok
    return [f for f in result.findings if f.check == check]


@pytest.mark.parametrize("stack", ["circleci-aws", "circleci-gcp", "circleci-aws-nacl", "circleci-aws-nacl-vpn"])
def test_reference_stacks_pass_every_structural_check(reference_stacks: dict[str, Synth], stack: str) -> None:
    result = audit_stack(reference_stacks[stack], stack)
    assert result.findings == [] and result.ok


def test_internal_nomad_nlb_made_internet_facing(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, lb = _named(stack, "aws_lb", "nomad")
    lb["internal"] = False
    (found,) = _findings(stack, "load-balancer-scheme")
    assert found.resource == f"aws_lb.{name}" and "internet-facing" in found.problem


def test_frontend_internet_facing_in_vpn_mode(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["aws-vpn"])
    name, lb = _named(stack, "aws_lb", "frontend")
    lb["internal"] = False
    (found,) = _findings(stack, "load-balancer-scheme")
    assert found.resource == f"aws_lb.{name}" and "vpn" in found.problem


def test_nlb_security_groups_dropped(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, lb = _named(stack, "aws_lb", "nomad")
    del lb["security_groups"]
    found = _findings(stack, "load-balancer-security-group")
    assert [f.resource for f in found] == [f"aws_lb.{name}"]


def test_default_security_group_reopened(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, group = next(iter(_resources(stack, "aws_default_security_group").items()))
    group["ingress"] = [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}]
    (found,) = _findings(stack, "default-security-group")
    assert found.resource == f"aws_default_security_group.{name}"


def test_rule_added_to_the_default_security_group(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name = next(iter(_resources(stack, "aws_default_security_group")))
    _resources(stack, "aws_vpc_security_group_ingress_rule")["reopen"] = {
        "security_group_id": f"${{aws_default_security_group.{name}.id}}",
        "ip_protocol": "-1",
        "cidr_ipv4": "0.0.0.0/0",
    }
    (found,) = _findings(stack, "default-security-group")
    assert found.resource == "aws_vpc_security_group_ingress_rule.reopen"


def test_default_security_group_no_longer_managed(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    del stack["resource"]["aws_default_security_group"]
    (found,) = _findings(stack, "default-security-group")
    assert found.resource.startswith("aws_vpc.")


def test_existing_vpc_default_group_is_reported_as_not_checked(shape_stacks: dict[str, Synth]) -> None:
    result = audit_stack(shape_stacks["aws-existing-vpc"])
    assert result.ok and any("default security group of vpc-" in note for note in result.notes)


def test_default_network_acl_reopened(reference_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(reference_stacks["circleci-aws-nacl"])
    name, acl = next(iter(_resources(stack, "aws_default_network_acl").items()))
    acl["ingress"] = [{"rule_no": 100, "action": "allow", "protocol": "-1", "from_port": 0, "to_port": 0,
                       "cidr_block": "0.0.0.0/0"}]  # fmt: skip
    found = _findings(stack, "default-network-acl")
    assert [f.resource for f in found] == [f"aws_default_network_acl.{name}"]


def test_public_ips_on_launch_in_a_private_job_subnet(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, subnet = _named(stack, "aws_subnet", "nomad-clients-us-east-1a")
    subnet["map_public_ip_on_launch"] = True
    (found,) = _findings(stack, "private-subnet")
    assert found.resource == f"aws_subnet.{name}"


def test_public_job_subnets_may_have_public_ips(shape_stacks: dict[str, Synth]) -> None:
    assert audit_stack(shape_stacks["aws-public-jobs"]).findings == []


def test_private_default_route_through_the_internet_gateway(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, route = _named(stack, "aws_route", "k8s-nodes-default-route-us-east-1b")
    del route["nat_gateway_id"]
    route["gateway_id"] = "${aws_internet_gateway.network_vpc_internet-gateway_5E3A1A34.id}"
    (found,) = _findings(stack, "default-route")
    assert found.resource == f"aws_route.{name}" and "NAT only" in found.problem


def test_instance_in_a_public_subnet(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    public, _ = _named(stack, "aws_subnet", "public-us-east-1a")
    _resources(stack, "aws_instance")["bastion"] = {"ami": "ami-1", "subnet_id": f"${{aws_subnet.{public}.id}}"}
    (found,) = _findings(stack, "public-subnet")
    assert found.resource == "aws_instance.bastion"


def test_aws_flow_log_removed(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    del stack["resource"]["aws_flow_log"]
    (found,) = _findings(stack, "flow-logs")
    assert found.resource.startswith("aws_vpc.")


def test_gcp_internal_load_balancer_address_made_external(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, address = _named(stack, "google_compute_address", "nomad")
    address["address_type"] = "EXTERNAL"
    (found,) = _findings(stack, "address-type")
    assert found.resource == f"google_compute_address.{name}" and "INTERNAL" in found.problem


def test_gcp_frontend_address_external_in_vpn_mode(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["gcp-vpn"])
    name, address = _named(stack, "google_compute_address", "frontend")
    address["address_type"] = "EXTERNAL"
    (found,) = _findings(stack, "address-type")
    assert found.resource == f"google_compute_address.{name}"


def test_gcp_firewall_rule_on_another_network(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, rule = _named(stack, "google_compute_firewall", "nomad-clients-deny-all-ingress")
    rule["network"] = "projects/acme-circleci/global/networks/default"
    (found,) = _findings(stack, "network")
    assert found.resource == f"google_compute_firewall.{name}"


def test_gcp_existing_network_firewall_is_checked_against_the_recorded_network(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["gcp-existing-network"])
    assert audit_stack(stack).findings == []
    name, rule = next(iter(_resources(stack, "google_compute_firewall").items()))
    rule["network"] = "projects/acme-circleci/global/networks/other"
    assert [f.resource for f in _findings(stack, "network")] == [f"google_compute_firewall.{name}"]


def test_gcp_subnet_flow_logs_removed(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, subnet = next(iter(_resources(stack, "google_compute_subnetwork").items()))
    del subnet["log_config"]
    (found,) = _findings(stack, "flow-logs")
    assert found.resource == f"google_compute_subnetwork.{name}"


# The record holds inputs only: the facts it used to carry are read from the stack.


def test_record_holds_inputs_only(aws_reference: Synth, gcp_reference: Synth) -> None:
    for stack in (aws_reference, gcp_reference):
        assert set(_record(stack)) == {"format", "cloud", "name", "options", "topology", "inputs"}
        assert _record(stack)["inputs"] == {}


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
    _record(stack)["format"] = 1
    with pytest.raises(AuditError, match="format 1, this audit reads format 2: synthesize the stack again"):
        audit_stack(stack, "old")


def test_a_malformed_record_is_an_audit_error(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    del _record(stack)["options"]
    with pytest.raises(AuditError, match="record is malformed"):
        audit_stack(stack, "broken")


def test_a_record_of_an_unknown_cloud_is_an_audit_error(aws_reference: Synth) -> None:
    # Before resolve_policy, anything but "aws" was audited as GCP.
    stack = copy.deepcopy(aws_reference)
    _record(stack)["cloud"] = "azure"
    with pytest.raises(AuditError, match="names cloud 'azure'"):
        audit_stack(stack, "azure")


def test_security_groups_only_records_what_the_user_gave(shape_stacks: dict[str, Synth]) -> None:
    stack = shape_stacks["aws-security-groups-only"]
    record = _record(stack)
    assert record.get("topology") is None  # no subnets or load balancers: the shape checks do not apply
    assert record["inputs"]["dns_resolver_cidrs"] == ["10.50.0.2/32"]
    assert set(record["inputs"]["role_cidrs"]) == {"k8s-nodes", "nomad-clients", "external-vms"}
    result = audit_stack(stack)
    assert result.ok and any("not checked" in note and "vpc-" in note for note in result.notes)
