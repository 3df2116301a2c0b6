"""The audit proves the reference stacks match the guide and catches hand-made changes,
naming the resource behind each difference."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from circleci_network.audit import StackAudit, assert_matches_spec, audit_stack

Synth = dict[str, Any]


def _resources(stack: Synth, kind: str) -> dict[str, Synth]:
    return stack["resource"].setdefault(kind, {})


def _by_rule(stack: Synth, kind: str, rule_id: str) -> tuple[str, Synth]:
    for name, resource in _resources(stack, kind).items():
        if resource.get("tags", {}).get("circleci/rule") == rule_id or resource.get("name", "").endswith(rule_id):
            return name, resource
    raise KeyError(rule_id)


def _group_ref(stack: Synth, role: str) -> str:
    for name, group in _resources(stack, "aws_security_group").items():
        if group["tags"]["circleci/role"] == role:
            return f"${{aws_security_group.{name}.id}}"
    raise KeyError(role)


def _only(result: StackAudit, kind: str) -> list[str]:
    return [str(d) for d in result.differences if d.kind == kind]


@pytest.mark.parametrize("stack", ["circleci-aws", "circleci-gcp"])
def test_reference_stacks_audit_clean(reference_stacks: dict[str, Synth], stack: str) -> None:
    result = assert_matches_spec(reference_stacks[stack], stack)
    assert result.flows.keys() == result.expected.keys() and result.flows


def test_aws_extra_ssh_from_the_internet_is_caught(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    _resources(stack, "aws_vpc_security_group_ingress_rule")["hand_made_ssh"] = {
        "security_group_id": _group_ref(stack, "nomad-clients"),
        "ip_protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "cidr_ipv4": "0.0.0.0/0",
    }
    extra = _only(audit_stack(stack), "extra")
    # One line for the whole outside, not one per address cell: every outside address is a role's or in it.
    assert [e for e in extra if e.startswith("EXTRA: outside -> nomad-clients")] == [
        "EXTRA: outside -> nomad-clients (0.0.0.0/0) tcp/22; by aws_vpc_security_group_ingress_rule.hand_made_ssh"
    ]
    # the VMs' SSH egress to the VCS (all IPv4 by default) now reaches Nomad clients too
    assert any(e.startswith("EXTRA: external-vms -> nomad-clients tcp/22") for e in extra)
    assert all("aws_vpc_security_group_ingress_rule.hand_made_ssh" in e for e in extra)


def test_aws_nomad_to_nomad_is_caught(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    nomad = _group_ref(stack, "nomad-clients")
    _resources(stack, "aws_security_group_rule").update(
        {
            "nomad_out": {
                "type": "egress",
                "security_group_id": nomad,
                "protocol": "tcp",
                "from_port": 4646,
                "to_port": 4648,
                "source_security_group_id": nomad,
            },
            "nomad_in": {
                "type": "ingress",
                "security_group_id": nomad,
                "protocol": "tcp",
                "from_port": 4646,
                "to_port": 4648,
                "self": True,
            },
        }
    )
    (extra,) = _only(audit_stack(stack), "extra")
    assert (
        "nomad-clients -> nomad-clients" in extra
        and "aws_security_group_rule.nomad_in" in extra
        and "tcp/4646-4648" in extra
    )


def test_aws_missing_4647_is_caught(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, _ = _by_rule(stack, "aws_vpc_security_group_egress_rule", "k8s-nodes-out-4647-nomad-clients")
    del _resources(stack, "aws_vpc_security_group_egress_rule")[name]
    result = audit_stack(stack)
    (missing,) = _only(result, "missing")
    assert "k8s-nodes -> nomad-clients tcp/4647" in missing and "no egress rule of k8s-nodes" in missing
    assert not _only(result, "extra")


def test_aws_widened_port_range_is_caught(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, rule = _by_rule(stack, "aws_vpc_security_group_ingress_rule", "external-vms-in-2376-nomad-clients")
    rule["to_port"] = 2400
    (extra,) = _only(audit_stack(stack), "extra")
    assert "nomad-clients -> external-vms (ingress rule) tcp/2377-2400" in extra and name in extra


def test_aws_rule_to_a_foreign_security_group_is_unmodelled(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    _resources(stack, "aws_vpc_security_group_egress_rule")["to_elsewhere"] = {
        "security_group_id": _group_ref(stack, "external-vms"),
        "ip_protocol": "-1",
        "referenced_security_group_id": "sg-0123456789abcdef0",
    }
    result = audit_stack(stack)
    assert not result.ok and "to_elsewhere" in result.unmodelled[0]


def test_gcp_allow_rule_below_the_deny_baseline_is_caught(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    _name, rule = _by_rule(stack, "google_compute_firewall", "nomad-clients-in-4647-k8s-nodes")
    rule["priority"] = 65001  # numerically above the baseline: the deny wins
    (missing,) = _only(audit_stack(stack), "missing")
    assert "k8s-nodes -> nomad-clients tcp/4647" in missing and "nomad-clients-deny-all-ingress" in missing


def test_gcp_nomad_to_nomad_allow_is_caught(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    _, template = _by_rule(stack, "google_compute_firewall", "nomad-clients-in-4647-k8s-nodes")
    rule = copy.deepcopy(template)
    rule.update(name="hand-made", source_service_accounts=rule["target_service_accounts"], source_ranges=None)
    _resources(stack, "google_compute_firewall")["hand_made"] = rule
    (extra,) = _only(audit_stack(stack), "extra")
    assert (
        "nomad-clients -> nomad-clients (ingress rule) tcp/4647" in extra
        and "google_compute_firewall.hand_made" in extra
    )


def test_gcp_rule_for_all_instances_is_caught(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    _resources(stack, "google_compute_firewall")["open_ssh"] = {
        "name": "open-ssh",
        "direction": "INGRESS",
        "priority": 900,
        "allow": [{"protocol": "tcp", "ports": ["22"]}],
        "source_ranges": ["0.0.0.0/0"],
    }
    extra = _only(audit_stack(stack), "extra")
    assert {e.split(" (")[0] for e in extra if "outside" in e} >= {
        "EXTRA: outside -> k8s-nodes",
        "EXTRA: outside -> nomad-clients",
        "EXTRA: outside -> external-vms",
    }


def test_the_command_fails_on_a_difference_and_writes_reports(tmp_path: Path, aws_reference: Synth) -> None:
    good = tmp_path / "cdktf.out" / "stacks" / "good"
    good.mkdir(parents=True)
    (good / "cdk.tf.json").write_text(json.dumps(aws_reference))
    ok = subprocess.run(
        [sys.executable, "-m", "circleci_network", "audit", str(tmp_path / "cdktf.out")], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    report = (good / "circleci-network-audit.md").read_text()
    assert "| **nomad-clients** |" in report and "```mermaid" in report
    bad = copy.deepcopy(aws_reference)
    name, rule = _by_rule(bad, "aws_vpc_security_group_ingress_rule", "external-vms-in-2376-nomad-clients")
    rule["to_port"] = 2400
    (good / "cdk.tf.json").write_text(json.dumps(bad))
    failed = subprocess.run(
        [sys.executable, "-m", "circleci_network", "audit", str(tmp_path / "cdktf.out")], capture_output=True, text=True
    )
    assert failed.returncode == 1 and name in failed.stdout


def test_pytest_helper_fails_with_the_differences(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, rule = _by_rule(stack, "aws_vpc_security_group_ingress_rule", "external-vms-in-2376-nomad-clients")
    rule["from_port"] = 2300
    with pytest.raises(AssertionError, match=name):
        assert_matches_spec(stack)


def test_outside_addresses_are_described_by_the_shorter_form() -> None:
    from ipaddress import IPv4Address, IPv4Network

    from circleci_network.audit.engine import describe_addresses
    from circleci_network.audit.space import AddressNames

    assert describe_addresses([IPv4Network("0.0.0.0/0")]) == "0.0.0.0/0"
    assert describe_addresses([IPv4Network("10.0.0.0/8"), IPv4Network("192.168.0.0/16")]) == (
        "10.0.0.0/8, 192.168.0.0/16"
    )
    everything_but_the_vpc = [IPv4Network("0.0.0.0/5"), IPv4Network("8.0.0.0/7"), IPv4Network("10.1.0.0/16")]
    everything_but_the_vpc += [IPv4Network("10.2.0.0/15"), IPv4Network("10.4.0.0/14"), IPv4Network("10.8.0.0/13")]
    everything_but_the_vpc += [IPv4Network("10.16.0.0/12"), IPv4Network("10.32.0.0/11"), IPv4Network("10.64.0.0/10")]
    everything_but_the_vpc += [IPv4Network("10.128.0.0/9"), IPv4Network("11.0.0.0/8"), IPv4Network("12.0.0.0/6")]
    everything_but_the_vpc += [IPv4Network("16.0.0.0/4"), IPv4Network("32.0.0.0/3"), IPv4Network("64.0.0.0/2")]
    everything_but_the_vpc += [IPv4Network("128.0.0.0/1")]
    assert describe_addresses(everything_but_the_vpc) == "0.0.0.0/0 except 10.0.0.0/16"
    # The roles' own addresses are never outside ones: they count in, so the whole outside reads as 0.0.0.0/0...
    vpc = AddressNames(roles_own=((int(IPv4Address("10.0.0.0")), int(IPv4Address("10.0.255.255"))),))
    assert describe_addresses(everything_but_the_vpc, vpc) == "0.0.0.0/0"
    # ...but never widen what is listed: a range beside them stays itself.
    assert describe_addresses([IPv4Network("10.1.0.0/16")], vpc) == "10.1.0.0/16"


def test_stand_ins_read_as_the_resources_behind_them() -> None:
    """Addresses known only after apply sit at stand-ins; every text names their resource instead,
    also where two stand-ins collapse into one CIDR, and in the "except" form. A CIDR that holds
    other addresses too (the internet) stays a CIDR."""
    from ipaddress import IPv4Address, IPv4Network, summarize_address_range

    from circleci_network.audit.engine import describe_addresses
    from circleci_network.audit.public_addresses import STAND_INS
    from circleci_network.audit.space import AddressCell, AddressNames

    first = int(STAND_INS.network_address) + 1
    names = AddressNames({first + i: f"aws_nat_gateway.{g} (NAT public IP)" for i, g in enumerate("abc")})
    nat = [IPv4Network("240.0.0.1/32"), IPv4Network("240.0.0.2/31")]  # collapsed: .2 and .3 together
    assert describe_addresses(nat, names) == (
        "aws_nat_gateway.a (NAT public IP), aws_nat_gateway.b (NAT public IP), aws_nat_gateway.c (NAT public IP)"
    )
    assert describe_addresses(nat) == "240.0.0.1/32, 240.0.0.2/31"  # without names: as before
    ends = ((0, first - 1), (first + 3, 2**32 - 1))  # everything but the three stand-ins
    internet = [n for lo, hi in ends for n in summarize_address_range(IPv4Address(lo), IPv4Address(hi))]
    assert describe_addresses(internet, names) == (
        "0.0.0.0/0 except aws_nat_gateway.a (NAT public IP), aws_nat_gateway.b (NAT public IP), "
        "aws_nat_gateway.c (NAT public IP)"
    )
    assert describe_addresses([IPv4Network("0.0.0.0/0")], names) == "0.0.0.0/0"
    assert names.listing([IPv4Network("240.0.0.0/30")]) == ["240.0.0.0/30"]  # .0 is no stand-in
    assert names.cell(AddressCell(first + 1, first + 1)) == "aws_nat_gateway.b (NAT public IP)"
    assert AddressNames().cell(AddressCell(first, first)) == "240.0.0.1/32"
