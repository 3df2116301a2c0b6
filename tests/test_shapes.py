"""Every deployment shape synthesizes, audits clean, and has a snapshot; each changes only
what its option says."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network.audit import assert_matches_spec
from tests.modes import ADMINS, BUILDERS, EXISTING_NETWORK, EXISTING_VPC_ID
from tests.snapshot_diff import structural_diff

Synth = dict[str, Any]


def _resources(stack: Synth, kind: str) -> dict[str, Synth]:
    return dict(stack.get("resource", {}).get(kind, {}))


@pytest.mark.parametrize("shape", list(BUILDERS))
def test_shape_audits_clean(shape_stacks: dict[str, Synth], shape: str) -> None:
    assert assert_matches_spec(shape_stacks[shape], shape).flows


#: Shapes with no counterpart in the reference stacks: snapshotted whole.
WHOLE = ("aws-security-groups-only",)


@pytest.mark.parametrize("shape", list(BUILDERS))
def test_shape_snapshot(
    reference_stacks: dict[str, Synth], shape_stacks: dict[str, Synth], shape: str, snapshot: SnapshotAssertion
) -> None:
    """What the shape changes relative to its cloud's reference stack (tests/__snapshots__/test_aws_synth,
    test_gcp_synth), so a reviewer reads only the change."""
    if shape in WHOLE:
        assert shape_stacks[shape] == snapshot(extension_class=JSONSnapshotExtension)
        return
    reference = reference_stacks["circleci-aws" if shape.startswith("aws-") else "circleci-gcp"]
    assert structural_diff(reference, shape_stacks[shape]) == snapshot(extension_class=JSONSnapshotExtension)


def test_structural_diff_names_what_changed(aws_reference: Synth) -> None:
    changed = copy.deepcopy(aws_reference)
    (lb_name, lb), *_ = changed["resource"]["aws_lb"].items()
    lb["internal"] = not lb["internal"]
    (gone, _), *_ = changed["resource"]["aws_eip"].items()
    del changed["resource"]["aws_eip"][gone]
    changed["resource"]["aws_eip"]["added"] = {"domain": "vpc"}
    diff = structural_diff(aws_reference, changed)
    assert diff == {
        "added": {"resource.aws_eip.added": {"domain": "vpc"}},
        "removed": [f"resource.aws_eip.{gone}"],
        "changed": {
            f"resource.aws_lb.{lb_name}": {"internal": {"reference": not lb["internal"], "shape": lb["internal"]}}
        },
    }


def test_vpn_mode_has_no_public_address_but_the_nat_gateways(shape_stacks: dict[str, Synth]) -> None:
    aws = shape_stacks["aws-vpn"]
    assert all(lb["internal"] for lb in _resources(aws, "aws_lb").values())
    assert not any(s["map_public_ip_on_launch"] for s in _resources(aws, "aws_subnet").values())
    assert len(_resources(aws, "aws_eip")) == len(_resources(aws, "aws_nat_gateway"))
    gcp = shape_stacks["gcp-vpn"]
    assert {a["address_type"] for a in _resources(gcp, "google_compute_address").values()} == {"INTERNAL"}


def test_public_job_subnets_route_through_the_internet_gateway(shape_stacks: dict[str, Synth]) -> None:
    stack = shape_stacks["aws-public-jobs"]
    public = {
        s["tags"]["circleci/tier"] for s in _resources(stack, "aws_subnet").values() if s["map_public_ip_on_launch"]
    }
    assert public == {"nomad-clients", "external-vms"}
    for name, route in _resources(stack, "aws_route").items():
        via_gateway = "gateway_id" in route
        assert via_gateway == ("nomad-clients" in name or "external-vms" in name or "public" in name), name


def test_ssh_administration_adds_port_22_rules_and_nothing_else(
    reference_stacks: dict[str, Synth], shape_stacks: dict[str, Synth]
) -> None:
    before, after = reference_stacks["circleci-aws"], shape_stacks["aws-ssh-admin"]
    kinds = set(before["resource"]) | set(after["resource"])
    added: dict[str, Synth] = {}
    for kind in kinds:
        old, new = _resources(before, kind), _resources(after, kind)
        assert set(old) <= set(new), f"{kind}: resources removed"
        assert all(old[k] == new[k] for k in old), f"{kind}: resources changed"
        added |= {k: new[k] for k in set(new) - set(old)}
    assert added and all(r["from_port"] == r["to_port"] == 22 and r["cidr_ipv4"] in ADMINS for r in added.values()), (
        added
    )
    assert len(added) == 3  # one per compute role


def test_existing_vpc_creates_no_vpc_gateway_or_default_group(shape_stacks: dict[str, Synth]) -> None:
    stack = shape_stacks["aws-existing-vpc"]
    for kind in ("aws_vpc", "aws_internet_gateway", "aws_default_security_group"):
        assert not _resources(stack, kind), kind
    assert {s["vpc_id"] for s in _resources(stack, "aws_subnet").values()} == {EXISTING_VPC_ID}


def test_existing_gcp_network_gets_our_subnet_and_firewall(shape_stacks: dict[str, Synth]) -> None:
    stack = shape_stacks["gcp-existing-network"]
    assert not _resources(stack, "google_compute_network")
    assert {f["network"] for f in _resources(stack, "google_compute_firewall").values()} == {EXISTING_NETWORK}


def test_security_groups_only_path_has_groups_and_no_network(shape_stacks: dict[str, Synth]) -> None:
    stack = shape_stacks["aws-security-groups-only"]
    assert len(_resources(stack, "aws_security_group")) == 8
    assert not _resources(stack, "aws_subnet") and not _resources(stack, "aws_vpc")


def test_transparent_aws_load_balancers_deliver_clients_to_the_node_ports(shape_stacks: dict[str, Synth]) -> None:
    # An NLB with instance targets keeps the client's address and rewrites the port to the NodePort.
    stack = shape_stacks["aws-transparent-lbs"]
    from_clients = [
        r
        for r in _resources(stack, "aws_vpc_security_group_ingress_rule").values()
        if r["tags"]["circleci/rule"].startswith("k8s-nodes-in-via-") and r.get("cidr_ipv4") == "0.0.0.0/0"
    ]
    assert sorted(r["from_port"] for r in from_clients) == [30080, 30443, 31080, 31443]
    roles = {g["tags"]["circleci/role"] for g in _resources(stack, "aws_security_group").values()}
    assert roles == {"k8s-nodes", "nomad-clients", "external-vms"}  # no load balancer layer
