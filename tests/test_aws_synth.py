"""The synthesized AWS reference stack: structure, hardening invariants, snapshot."""

from __future__ import annotations

from typing import Any

from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network import HardeningOptions, active_rules
from circleci_network.model.roles import Role

Synth = dict[str, Any]


def _resources(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    return synth["resource"].get(kind, {})


def test_snapshot(aws_reference: Synth, snapshot: SnapshotAssertion) -> None:
    assert aws_reference == snapshot.use_extension(JSONSnapshotExtension)


def test_vpc_has_dns_and_flow_logs(aws_reference: Synth) -> None:
    (vpc,) = _resources(aws_reference, "aws_vpc").values()
    assert vpc["enable_dns_support"] and vpc["enable_dns_hostnames"]
    (flow,) = _resources(aws_reference, "aws_flow_log").values()
    assert flow["traffic_type"] == "ALL"
    (group,) = _resources(aws_reference, "aws_cloudwatch_log_group").values()
    assert group["retention_in_days"] == 365 and group["kms_key_id"].startswith("${aws_kms_key.")


def test_default_security_group_is_emptied(aws_reference: Synth) -> None:
    (default,) = _resources(aws_reference, "aws_default_security_group").values()
    assert "ingress" not in default and "egress" not in default


def test_separate_subnets_per_role_in_three_zones(aws_reference: Synth) -> None:
    subnets = _resources(aws_reference, "aws_subnet").values()
    tiers: dict[str, set[str]] = {}
    for subnet in subnets:
        tiers.setdefault(subnet["tags"]["circleci/tier"], set()).add(subnet["availability_zone"])
        assert subnet["map_public_ip_on_launch"] is False
    assert tiers == {
        t: {"us-east-1a", "us-east-1b", "us-east-1c"} for t in ("public", "k8s-nodes", "nomad-clients", "external-vms")
    }
    cidrs = [s["cidr_block"] for s in subnets]
    assert len(cidrs) == len(set(cidrs))


def test_one_group_per_role_with_role_tag_and_description(aws_reference: Synth) -> None:
    groups = _resources(aws_reference, "aws_security_group").values()
    assert {g["tags"]["circleci/role"] for g in groups} == {
        r.value for r in Role if r not in (Role.PROXY_LB, Role.EKS_CONTROL_PLANE, Role.VPC_ENDPOINTS)
    }
    assert all(g["description"] and "ingress" not in g and "egress" not in g for g in groups)


def test_every_rule_is_described_and_none_is_open_to_the_world_on_all_ports(aws_reference: Synth) -> None:
    rules = list(_resources(aws_reference, "aws_vpc_security_group_ingress_rule").values())
    rules += list(_resources(aws_reference, "aws_vpc_security_group_egress_rule").values())
    ids = {rule["tags"]["circleci/rule"] for rule in rules}
    assert ids == {r.rule_id for r in active_rules(HardeningOptions())}
    for rule in rules:
        assert "spec:" in rule["description"]
        if rule.get("cidr_ipv4") == "0.0.0.0/0":
            assert rule["ip_protocol"] != "-1"


def test_load_balancers_listen_on_the_guides_ports(aws_reference: Synth) -> None:
    lbs = {lb["tags"]["circleci/role"]: lb for lb in _resources(aws_reference, "aws_lb").values()}
    assert {r: lb["internal"] for r, lb in lbs.items()} == {
        "frontend-external": False,
        "server-traefik": False,
        "vm-service": True,
        "nomad": True,
        "output-processor": True,
    }
    assert all(lb["load_balancer_type"] == "network" and lb["security_groups"] for lb in lbs.values())
    ports = sorted(listener["port"] for listener in _resources(aws_reference, "aws_lb_listener").values())
    assert ports == [80, 80, 443, 443, 3000, 4647, 8585]
    for group in _resources(aws_reference, "aws_lb_target_group").values():
        assert group["target_type"] == "instance" and 30000 <= group["port"] <= 32767


def test_outputs_cover_what_helm_values_need(aws_reference: Synth) -> None:
    outputs = set(aws_reference["output"])
    for role in ("k8s-nodes", "nomad-clients", "external-vms"):
        assert f"subnet-ids-{role}" in outputs and f"security-group-id-{role}" in outputs
    assert "vpc-dns-resolver" in outputs and "load-balancer-nomad-dns-name" in outputs
    assert "target-group-arn-vm-service-3000" in outputs
