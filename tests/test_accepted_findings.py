"""A team's own resources beside our network: refused by the audit until accepted with a reason,
and an acceptance never covers more than the one finding it names."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circleci_network.__main__ import main
from circleci_network.audit import audit_stack
from circleci_network.audit.policy import policy_json
from circleci_network.audit.report import markdown
from circleci_network.errors import ConfigurationError
from circleci_network.model.accepted_findings import ACCEPTABLE_CHECKS, AcceptedFinding, check_accepted_findings
from circleci_network.model.intent import NetworkIntent
from circleci_network.tooling.validation import _acceptance_hints
from tests.stack_edits import failing_findings, record

Synth = dict[str, Any]
REASON = "RDS for CircleCI's external Postgres; attached only to the database"


def _with_database_group(aws_reference: Synth) -> Synth:
    """The reference stack plus a team's own security group (no circleci/role tag) with a world rule."""
    stack = copy.deepcopy(aws_reference)
    (vpc,) = stack["resource"]["aws_vpc"]
    stack["resource"]["aws_security_group"]["rds"] = {"name": "rds", "vpc_id": f"${{aws_vpc.{vpc}.id}}"}
    stack["resource"]["aws_vpc_security_group_ingress_rule"]["rds_postgres"] = {
        "security_group_id": "${aws_security_group.rds.id}",
        "ip_protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
        "cidr_ipv4": "0.0.0.0/0",
    }
    return stack


def _accept(stack: Synth, *accepted: AcceptedFinding) -> Synth:
    record(stack)["accepted_findings"] = [a.to_json() for a in accepted]
    return stack


def _group(stack: Synth, role: str) -> str:
    return next(
        n for n, g in stack["resource"]["aws_security_group"].items() if g.get("tags", {}).get("circleci/role") == role
    )


RDS = AcceptedFinding("security-group-role", "aws_security_group.rds", REASON)


def test_a_group_of_the_teams_own_fails_until_accepted(aws_reference: Synth) -> None:
    stack = _with_database_group(aws_reference)
    (found,) = failing_findings(stack, "security-group-role")
    assert found.resource == "aws_security_group.rds"
    result = audit_stack(_accept(stack, RDS))
    assert result.ok, result.summary()
    (accepted,) = result.accepted
    assert accepted.finding == found and accepted.reason == REASON
    assert (
        f"ACCEPTED security-group-role: aws_security_group.rds: {found.problem} (accepted: {REASON})"
        in result.summary()
    )
    # Listed for the reviewer when no policy is given, with what accepting it means.
    (widening,) = [w for w in result.widenings if w.option.startswith("accepted_findings")]
    assert widening.value == REASON and "its rules are not audited" in widening.why
    assert "## Accepted findings" in markdown(result) and REASON in markdown(result)


def test_an_acceptance_matching_nothing_fails(aws_reference: Synth) -> None:
    stack = _accept(copy.deepcopy(aws_reference), RDS)
    (stale,) = failing_findings(stack, "accepted-finding")
    assert stale.resource == "option:accepted_findings" and "aws_security_group.rds" in stale.problem


def test_an_acceptance_covers_its_check_only(aws_reference: Synth) -> None:
    stack = _with_database_group(aws_reference)
    other = AcceptedFinding("load-balancer-role", "aws_security_group.rds", REASON)
    result = audit_stack(_accept(stack, other))
    assert {f.check for f in result.findings} == {"security-group-role", "accepted-finding"} and not result.accepted


def test_an_accepted_group_attached_beside_ours_fails(aws_reference: Synth) -> None:
    stack = _accept(_with_database_group(aws_reference), RDS)
    nomad = _group(stack, "nomad-clients")
    stack["resource"]["aws_launch_template"] = {
        "nomad": {"vpc_security_group_ids": [f"${{aws_security_group.{nomad}.id}}", "${aws_security_group.rds.id}"]}
    }
    (found,) = failing_findings(stack, "security-group-attachment")
    assert found.resource == "aws_launch_template.nomad"
    assert "aws_security_group.rds" in found.problem and nomad in found.problem
    # Alone in a template of the team's, it is the team's business.
    stack["resource"]["aws_launch_template"]["nomad"]["vpc_security_group_ids"] = ["${aws_security_group.rds.id}"]
    assert audit_stack(stack).ok


def test_a_rule_of_ours_naming_the_accepted_group_still_fails(aws_reference: Synth) -> None:
    stack = _accept(_with_database_group(aws_reference), RDS)
    stack["resource"]["aws_vpc_security_group_ingress_rule"]["nomad_from_rds"] = {
        "security_group_id": f"${{aws_security_group.{_group(stack, 'nomad-clients')}.id}}",
        "ip_protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "referenced_security_group_id": "${aws_security_group.rds.id}",
    }
    result = audit_stack(stack)
    assert not result.ok and any("nomad_from_rds" in u for u in result.unmodelled)


def test_the_policy_pins_the_acceptances(aws_reference: Synth) -> None:
    stack = _with_database_group(aws_reference)
    policy = policy_json(NetworkIntent.from_json(record(aws_reference)))  # the team's reviewed policy: none
    result = audit_stack(_accept(stack, RDS), policy=policy)
    (pinned,) = [f for f in result.findings if f.check == "policy"]
    assert pinned.resource == "option:accepted_findings" and REASON in pinned.problem
    accepted_policy = policy_json(NetworkIntent.from_json(record(stack)))
    assert audit_stack(stack, policy=accepted_policy).ok


def test_json_output_lists_accepted_findings(
    tmp_path: Path, aws_reference: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "stacks" / "team"
    folder.mkdir(parents=True)
    (folder / "cdk.tf.json").write_text(json.dumps(_accept(_with_database_group(aws_reference), RDS)))
    assert main(["audit", str(tmp_path), "--format", "json", "--no-report"]) == 0
    (team,) = json.loads(capsys.readouterr().out)["stacks"]
    (accepted,) = team["accepted"]
    assert accepted["check"] == "security-group-role" and accepted["resources"] == ["aws_security_group.rds"]
    assert accepted["reason"] == REASON and team["findings"] == []


def test_gcp_firewall_rule_on_another_network(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    stack["resource"]["google_compute_firewall"]["office_vpn"] = {
        "name": "office-vpn",
        "network": "projects/acme/global/networks/office",
        "direction": "INGRESS",
        "source_ranges": ["192.0.2.0/24"],
        "target_tags": ["office-gateway"],  # untargeted, it would open 443 on our instances: a flow finding
        "allow": [{"protocol": "tcp", "ports": ["443"]}],
    }
    (found,) = failing_findings(stack, "network")
    accepted = AcceptedFinding(
        "network", "google_compute_firewall.office_vpn", "the office VPN's own network, not ours"
    )
    assert found.resource == accepted.resource
    assert audit_stack(_accept(stack, accepted)).ok


def test_synth_time_validation_says_how_to_accept(aws_reference: Synth) -> None:
    findings = audit_stack(_with_database_group(aws_reference)).findings
    hint = "\n".join(_acceptance_hints(findings))
    assert 'AcceptedFinding(check="security-group-role", resource="aws_security_group.rds", reason="..."),' in hint
    own = [f for f in findings if f.check not in ACCEPTABLE_CHECKS]
    assert _acceptance_hints(own) == []


@pytest.mark.parametrize(
    ("check", "resource", "reason", "field", "says"),
    [
        ("security-group-roles", "aws_security_group.rds", REASON, "check", 'did you mean "security-group-role"'),
        ("private-subnet", "aws_subnet.a", REASON, "check", "cannot be accepted"),
        ("default-security-group", "aws_default_security_group.x", REASON, "check", "cannot be accepted"),
        ("flow-extra", "aws_vpc_security_group_ingress_rule.x", REASON, "check", "cannot be accepted"),
        ("unmodelled", "aws_vpc_security_group_ingress_rule.x", REASON, "check", "cannot be accepted"),
        ("security-group-role", "rds", REASON, "resource", "not a Terraform resource address"),
        ("security-group-role", "aws_security_group.rds.id", REASON, "resource", "not a Terraform resource address"),
        ("security-group-role", "aws_security_group.rds", "ok", "reason", "does not say why"),
        ("security-group-role", "aws_security_group.rds", "          ", "reason", "does not say why"),
        ("security-group-role", "aws_security_group.rds", None, "reason", "is None"),
        ("security-group-role", 7, REASON, "resource", "is not a string"),
    ],
)
def test_acceptances_are_checked_when_built(check: Any, resource: Any, reason: Any, field: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        AcceptedFinding(check, resource, reason)
    assert error.value.field == f"AcceptedFinding.{field}" and says in str(error.value)


def test_the_props_take_a_tuple_of_distinct_acceptances() -> None:
    field = "AwsNetworkProps.accepted_findings"
    assert check_accepted_findings([RDS], field, "aws") == (RDS,)
    for bad, says in [
        ((AcceptedFinding("network", "google_compute_firewall.x", REASON),), "never raised on AWS"),
        (RDS, "not a tuple"),
        ("security-group-role", "not a tuple"),
        ((RDS, RDS), "a second time"),
        (({"check": "security-group-role"},), "not an AcceptedFinding"),
    ]:
        with pytest.raises(ConfigurationError, match=says) as error:
            check_accepted_findings(bad, field, "aws")
        assert error.value.field.startswith(field)


def test_every_acceptable_check_is_one_the_audit_raises() -> None:
    """The props' list and the audit's check IDs must not drift apart."""
    source = "\n".join(
        p.read_text() for p in (Path(__file__).parent.parent / "circleci_network" / "audit").glob("*.py")
    )
    for check in ACCEPTABLE_CHECKS:
        assert f'"{check}"' in source, check


def test_the_teams_own_load_balancer_and_subnet(aws_reference: Synth) -> None:
    """An ALB of the team's in the public subnets, with its own group, and a subnet of its own."""
    stack = _with_database_group(aws_reference)
    (vpc,) = stack["resource"]["aws_vpc"]
    public = [n for n, s in stack["resource"]["aws_subnet"].items() if s["tags"]["circleci/tier"] == "public"]
    stack["resource"]["aws_lb"]["docs"] = {
        "load_balancer_type": "application",
        "internal": False,
        "subnets": [f"${{aws_subnet.{n}.id}}" for n in public],
        "security_groups": ["${aws_security_group.rds.id}"],
    }
    stack["resource"]["aws_subnet"]["tools"] = {"vpc_id": f"${{aws_vpc.{vpc}.id}}", "cidr_block": "10.0.250.0/24"}
    found = {(f.check, f.resource) for f in audit_stack(stack).findings}
    assert found == {
        ("security-group-role", "aws_security_group.rds"),
        ("load-balancer-role", "aws_lb.docs"),
        ("subnet-tier", "aws_subnet.tools"),
    }
    accepted = [AcceptedFinding(check, resource, REASON) for check, resource in sorted(found)]
    result = audit_stack(_accept(stack, *accepted))
    assert result.ok, result.summary()
    assert sorted((a.finding.check, a.finding.resource) for a in result.accepted) == sorted(found)


def test_gcp_props_refuse_an_aws_check() -> None:
    from circleci_network.gcp import GcpNetworkProps

    with pytest.raises(ConfigurationError) as error:
        GcpNetworkProps(project="acme-ci", region="europe-west1", accepted_findings=(RDS,))
    assert error.value.field == "GcpNetworkProps.accepted_findings[0].check" and "network" in error.value.fix


def test_the_record_round_trips_its_acceptances(aws_reference: Synth) -> None:
    data = _accept(copy.deepcopy(aws_reference), RDS)
    intent = NetworkIntent.from_json(record(data))
    assert intent.accepted_findings == (RDS,)
    assert intent.to_json()["accepted_findings"] == record(data)["accepted_findings"] == [RDS.to_json()]
    assert "accepted_findings" not in record(aws_reference)  # recorded only when given: other stacks unchanged


_FOREIGN = {
    "security-group-role": ("aws_security_group", "team_sg", {"name": "team"}),
    "load-balancer-role": ("aws_lb", "team_alb", {"load_balancer_type": "application", "internal": True}),
    "subnet-tier": ("aws_subnet", "team_subnet", {"cidr_block": "10.0.250.0/24"}),
}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(added=st.sets(st.sampled_from(sorted(_FOREIGN))), accepted=st.sets(st.sampled_from(sorted(_FOREIGN))))
def test_the_audit_passes_exactly_when_the_acceptances_match_the_teams_resources(
    aws_reference: Synth, added: set[str], accepted: set[str]
) -> None:
    stack = copy.deepcopy(aws_reference)
    for check in added:
        kind, name, body = _FOREIGN[check]
        stack["resource"].setdefault(kind, {})[name] = dict(body)
    acceptances = [AcceptedFinding(c, f"{_FOREIGN[c][0]}.{_FOREIGN[c][1]}", REASON) for c in sorted(accepted)]
    result = audit_stack(_accept(stack, *acceptances))
    assert result.ok == (added == accepted)
    assert {a.finding.check for a in result.accepted} == added & accepted
    failing = {f.check for f in result.findings}
    assert failing == (added - accepted) | ({"accepted-finding"} if accepted - added else set())
