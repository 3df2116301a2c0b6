"""The record cannot vouch for what the stack holds: each tampered copy of a session stack, its
record edited to match, is caught, naming the recorded input or the outside peer's option."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from circleci_network.audit import audit_stack
from circleci_network.audit.findings import Finding
from tests.stack_edits import failing_findings, record

Synth = dict[str, Any]


def _resources(stack: Synth, kind: str) -> dict[str, Synth]:
    return stack["resource"].setdefault(kind, {})


# Inputs the stack holds are read from it: a record saying otherwise is a finding naming the input.


def _input_findings(stack: Synth) -> dict[str, Finding]:
    return {f.resource: f for f in failing_findings(stack, "recorded-input")}


def test_dns_to_the_world_with_a_record_vouching_for_it(aws_reference: Synth) -> None:
    # DNS 53 opened to 0.0.0.0/0 on every role, and the record edited to name 0.0.0.0/0 as the resolver.
    stack = copy.deepcopy(aws_reference)
    opened = 0
    for rule in _resources(stack, "aws_vpc_security_group_egress_rule").values():
        if rule.get("from_port") == 53:
            rule["cidr_ipv4"], opened = "0.0.0.0/0", opened + 1
    assert opened
    record(stack)["inputs"]["dns_resolver_cidrs"] = ["0.0.0.0/0"]
    result = audit_stack(stack)
    found = _input_findings(stack)["option:inputs.dns_resolver_cidrs"]
    assert "10.0.0.2/32" in found.problem and "0.0.0.0/0" in found.problem
    assert any("/53" in str(d) for d in result.differences if d.kind == "extra"), result.summary()


@pytest.mark.parametrize(
    ("shape", "name", "value", "held"),
    [
        ("circleci-aws", "vpc_cidr", "10.9.0.0/16", "aws_vpc 10.0.0.0/16"),
        ("circleci-aws", "role_cidrs", {"nomad-clients": ["0.0.0.0/0"]}, "10.0."),
        ("aws-transparent-lbs", "load_balancer_subnet_cidrs", ["0.0.0.0/0"], "10.0."),
        ("aws-transparent-lbs", "node_ports", [["frontend-external", 443, 31999]], "target groups delivering"),
    ],
)
def test_recorded_inputs_contradicting_the_stack_are_findings(
    reference_stacks: dict[str, Synth], shape_stacks: dict[str, Synth], shape: str, name: str, value: Any, held: str
) -> None:
    stack = copy.deepcopy({**reference_stacks, **shape_stacks}[shape])
    record(stack)["inputs"][name] = value
    (found,) = _input_findings(stack).values()
    assert found.resource.startswith(f"option:inputs.{name}") and held in found.problem


def test_gcp_role_ranges_outside_the_stacks_subnet_are_findings(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    record(stack)["inputs"]["role_cidrs"] = {"nomad-clients": ["0.0.0.0/0"]}
    (found,) = _input_findings(stack).values()
    assert found.resource == "option:inputs.role_cidrs[nomad-clients]"


def test_a_resolver_only_the_record_gives_is_a_widening_when_it_is_not_a_host(shape_stacks: dict[str, Synth]) -> None:
    # Security groups alone: no VPC in the stack, the resolver is the user's input.
    stack = shape_stacks["aws-security-groups-only"]
    assert "inputs.dns_resolver_cidrs" not in {w.option for w in audit_stack(stack).widenings}
    stack = copy.deepcopy(stack)
    for rule in _resources(stack, "aws_vpc_security_group_egress_rule").values():
        if rule.get("cidr_ipv4") == "10.50.0.2/32":
            rule["cidr_ipv4"] = "0.0.0.0/0"
    record(stack)["inputs"]["dns_resolver_cidrs"] = ["0.0.0.0/0"]
    result = audit_stack(stack)
    assert result.ok, result.summary()  # nothing in the stack to hold it to...
    (widening,) = [w for w in result.widenings if w.option == "inputs.dns_resolver_cidrs"]  # ...so it is listed
    assert "0.0.0.0/0" in widening.why and "not a single host" in widening.why


# Outside means outside: the props' check, run again on the ranges the JSON holds.


def _ssh_admins_inside(stack: Synth, cidr: str) -> Synth:
    """SSH from ``cidr`` on every role's group, and the record edited to ask for it."""
    stack = copy.deepcopy(stack)
    rules = _resources(stack, "aws_vpc_security_group_ingress_rule")
    for name, group in _resources(stack, "aws_security_group").items():
        if group["tags"]["circleci/role"] in ("k8s-nodes", "nomad-clients", "external-vms"):
            rules[f"admin_ssh_{name}"] = {
                "security_group_id": f"${{aws_security_group.{name}.id}}",
                "ip_protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
                "cidr_ipv4": cidr,
            }
    record(stack)["options"]["ssh_administrator_cidrs"] = [cidr]
    return stack


def test_ssh_administrators_inside_the_vpc(aws_reference: Synth) -> None:
    # The issue's own example: 10.0.0.0/16 on the 10.0.0.0/16 VPC opens Nomad -> Nomad on 22.
    result = audit_stack(_ssh_admins_inside(aws_reference, "10.0.0.0/16"))
    assert not result.differences and not result.unmodelled  # the flows match the forged record...
    (found,) = [f for f in result.findings if f.check == "outside-peer"]  # ...the outside check does not
    assert found.resource == "option:options.ssh_administrator_cidrs[0]"
    assert "10.0.0.0/16 overlaps 10.0.0.0/16 (aws_vpc)" in found.problem and not result.ok


def test_ssh_administrators_inside_an_existing_vpc(shape_stacks: dict[str, Synth]) -> None:
    # No aws_vpc in the stack: the existing VPC's recorded CIDR is what is inside.
    result = audit_stack(_ssh_admins_inside(shape_stacks["aws-existing-vpc"], "10.50.128.0/24"))
    (found,) = [f for f in result.findings if f.check == "outside-peer"]
    assert found.resource == "option:options.ssh_administrator_cidrs[0]" and "existing VPC" in found.problem


def test_gcp_clients_in_the_pod_range(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    (subnet,) = _resources(stack, "google_compute_subnetwork").values()
    (pods,) = [r["ip_cidr_range"] for r in subnet["secondary_ip_range"] if r["range_name"].endswith("-pods")]
    record(stack)["options"]["client_cidrs"] = [pods]
    (found,) = failing_findings(stack, "outside-peer")
    assert found.resource == "option:options.client_cidrs[0]" and "pods" in found.problem


def test_every_overlap_is_a_finding_of_its_own(aws_reference: Synth) -> None:
    """A forged record with several inside CIDRs: each is named, not only the first."""
    stack = _ssh_admins_inside(aws_reference, "10.0.0.0/16")
    options = record(stack)["options"]
    options["ssh_administrator_cidrs"] = ["198.51.100.7/32", "10.0.1.0/24", "10.0.2.0/24"]
    options["client_cidrs"] = ["10.0.3.0/24"]
    found = [f.resource for f in failing_findings(stack, "outside-peer")]
    assert found == [
        "option:options.client_cidrs[0]",
        "option:options.ssh_administrator_cidrs[1]",
        "option:options.ssh_administrator_cidrs[2]",
    ]


def test_extra_egress_into_our_own_subnets(shape_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(shape_stacks["aws-extra-egress"])
    (subnet,) = [s for s in _resources(stack, "aws_subnet").values() if s["tags"]["circleci/tier"] == "k8s-nodes"][:1]
    record(stack)["options"]["extra_egress"][0]["cidrs"] = [subnet["cidr_block"]]
    (found,) = failing_findings(stack, "outside-peer")
    assert found.resource == "option:options.extra_egress['artifactory'].cidrs[0]" and "aws_subnet." in found.problem


@pytest.mark.parametrize(
    "stack", ["circleci-aws", "circleci-gcp", "circleci-aws-nacl-vpn", "aws-existing-vpc", "aws-security-groups-only"]
)
def test_real_stacks_have_no_input_or_outside_findings(
    reference_stacks: dict[str, Synth], shape_stacks: dict[str, Synth], stack: str
) -> None:
    result = audit_stack({**reference_stacks, **shape_stacks}[stack])
    assert not [f for f in result.findings if f.check in ("recorded-input", "outside-peer")], result.summary()


# Network ACLs are recorded, so a policy pins them.


def test_network_acls_are_recorded_and_pinned_by_the_policy(reference_stacks: dict[str, Synth]) -> None:
    from circleci_network.audit.audit import intents
    from circleci_network.audit.policy import policy_findings, policy_json

    with_acls, without = reference_stacks["circleci-aws-nacl"], reference_stacks["circleci-aws"]
    assert record(with_acls)["network_acls"] is True and "network_acls" not in record(without)
    (acl_intent,), (plain_intent,) = intents(with_acls, "nacl"), intents(without, "plain")
    # Either way round, the stack no longer matches the other's policy, naming the option.
    for stack_intent, policy_intent in ((acl_intent, plain_intent), (plain_intent, acl_intent)):
        found = policy_findings(stack_intent, policy_json(policy_intent))
        assert [f.resource for f in found] == ["option:network_acls"], found


def test_network_acls_recorded_but_removed(reference_stacks: dict[str, Synth]) -> None:
    # The ACLs dropped, the record left saying they are there: --policy would pass otherwise.
    stack = copy.deepcopy(reference_stacks["circleci-aws-nacl"])
    for kind in ("aws_network_acl", "aws_network_acl_rule", "aws_network_acl_association"):
        stack["resource"].pop(kind, None)
    found = _input_findings(stack)["option:network_acls"]
    assert "no network ACL of ours" in found.problem


def test_a_record_with_network_acls_not_a_bool_is_refused(reference_stacks: dict[str, Synth]) -> None:
    from circleci_network.audit.errors import AuditError

    stack = copy.deepcopy(reference_stacks["circleci-aws-nacl"])
    record(stack)["network_acls"] = "yes"
    with pytest.raises(AuditError, match="network_acls"):
        audit_stack(stack)
