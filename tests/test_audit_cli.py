"""The policy (circleci-network-policy.json), the forged record, and the command line: exit
codes, one unreadable stack among good ones, JSON output, --version, and the audit's speed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from circleci_network.__main__ import main
from circleci_network.audit import audit_stack
from circleci_network.audit.policy import POLICY_FILE, policy_text, write_policies
from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent
from tests.stack_edits import record, synth_out

Synth = dict[str, Any]
COMMITTED = Path(__file__).parent.parent / "policy"


def _forged(aws_reference: Synth) -> Synth:
    """World SSH on every role, and a record edited to say it was asked for."""
    stack = copy.deepcopy(aws_reference)
    rules = stack["resource"]["aws_vpc_security_group_ingress_rule"]
    for name, group in stack["resource"]["aws_security_group"].items():
        if group["tags"]["circleci/role"] in ("k8s-nodes", "nomad-clients", "external-vms"):
            rules[f"world_ssh_{name}"] = {
                "security_group_id": f"${{aws_security_group.{name}.id}}",
                "ip_protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
                "cidr_ipv4": "0.0.0.0/0",
            }
    options = record(stack)["options"]
    options["ssh_administrator_cidrs"] = ["0.0.0.0/0"]
    options["allow_ssh_administration_from_anywhere"] = True
    return stack


@pytest.mark.parametrize("stack", ["circleci-aws", "circleci-gcp"])
def test_committed_policies_are_what_synth_writes(reference_stacks: dict[str, Synth], stack: str) -> None:
    written = policy_text(NetworkIntent.from_json(record(reference_stacks[stack])))
    assert (COMMITTED / stack / POLICY_FILE).read_text() == written
    assert json.loads(written) == json.loads(json.dumps(json.loads(written), sort_keys=True))


def test_policies_are_written_beside_each_stack(tmp_path: Path, reference_stacks: dict[str, Synth]) -> None:
    out = synth_out(tmp_path, {"circleci-aws": reference_stacks["circleci-aws"], "other": {"resource": {}}})
    assert write_policies(out) == [out / "stacks" / "circleci-aws" / POLICY_FILE]
    assert (out / "stacks" / "circleci-aws" / POLICY_FILE).read_text() == (
        COMMITTED / "circleci-aws" / POLICY_FILE
    ).read_text()


def test_forged_record_passes_the_flows_but_is_reported_as_a_widening(aws_reference: Synth) -> None:
    result = audit_stack(_forged(aws_reference), "forged")
    assert result.ok  # the flows match what the record now says...
    (widening,) = result.widenings  # ...so without a policy the reviewer sees the widening
    assert widening.option == "options.ssh_administrator_cidrs" and "whole internet" in widening.why


def test_forged_record_against_the_committed_policy_is_a_finding(
    tmp_path: Path, aws_reference: Synth, reference_stacks: dict[str, Synth]
) -> None:
    gcp_reference = reference_stacks["circleci-gcp"]
    out = synth_out(tmp_path, {"circleci-aws": _forged(aws_reference)})
    policy = COMMITTED / "circleci-aws" / POLICY_FILE
    assert main(["audit", str(out), "--no-report", "--policy", str(policy)]) == 1
    result = audit_stack(_forged(aws_reference), policy=json.loads(policy.read_text()))
    assert {f.resource for f in result.findings} == {
        "option:options.ssh_administrator_cidrs",
        "option:options.allow_ssh_administration_from_anywhere",
    }
    both = synth_out(tmp_path / "both", {"circleci-aws": _forged(aws_reference), "circleci-gcp": gcp_reference})
    assert main(["audit", str(both), "--no-report", "--policy", str(COMMITTED)]) == 1  # a folder of policies
    assert main(["audit", str(out), "--no-report"]) == 0  # without a policy: reported, not failed


def test_split_halves_read_as_the_whole_internet(aws_reference: Synth) -> None:
    stack = _forged(aws_reference)
    record(stack)["options"]["ssh_administrator_cidrs"] = ["0.0.0.0/1", "128.0.0.0/1"]
    (widening,) = audit_stack(stack).widenings
    assert widening.option == "options.ssh_administrator_cidrs" and "whole internet" in widening.why


def test_forged_records_fail_the_command(tmp_path: Path, aws_reference: Synth) -> None:
    """Outside peers inside the VPC, and a resolver input the VPC contradicts: exit 1, naming the option."""
    inside = _forged(aws_reference)
    for rule in inside["resource"]["aws_vpc_security_group_ingress_rule"].values():
        if rule.get("cidr_ipv4") == "0.0.0.0/0" and rule.get("from_port") == 22:
            rule["cidr_ipv4"] = "10.0.0.0/16"
    record(inside)["options"].update(
        ssh_administrator_cidrs=["10.0.0.0/16"], allow_ssh_administration_from_anywhere=False
    )
    resolver = copy.deepcopy(aws_reference)
    record(resolver)["inputs"]["dns_resolver_cidrs"] = ["0.0.0.0/0"]
    for name, stack, option in [
        ("inside", inside, "option:options.ssh_administrator_cidrs[0]"),
        ("resolver", resolver, "option:inputs.dns_resolver_cidrs"),
    ]:
        out = synth_out(tmp_path / name, {"circleci-aws": stack})
        assert main(["audit", str(out), "--no-report"]) == 1
        assert option in {f.resource for f in audit_stack(stack).findings}


def test_reference_stacks_match_their_committed_policies(tmp_path: Path, reference_stacks: dict[str, Synth]) -> None:
    out = synth_out(tmp_path, {s: reference_stacks[s] for s in ("circleci-aws", "circleci-gcp")})
    assert main(["audit", str(out), "--no-report", "--policy", str(COMMITTED)]) == 0


def test_widenings_list_each_option_beyond_the_minimum(shape_stacks: dict[str, Synth]) -> None:
    def options(shape: str) -> set[str]:
        return {w.option for w in audit_stack(shape_stacks[shape]).widenings}

    assert options("aws-ssh-admin") == {"options.ssh_administrator_cidrs"}
    assert options("aws-extra-egress") == {"options.extra_egress[artifactory]"} or all(
        o.startswith("options.extra_egress[") for o in options("aws-extra-egress")
    )
    assert "options.transparent_load_balancers" in options("aws-transparent-lbs")
    assert "topology.job_placement" in options("aws-public-jobs")
    assert {"options.client_cidrs", "options.rerun_ssh_cidrs"} <= options("aws-vpn")


def test_options_narrower_than_their_default_read_as_narrowings(shape_stacks: dict[str, Synth]) -> None:
    """Clients from a VPN range instead of all IPv4 are listed for review, but not called a widening;
    extra egress and administrator SSH are widenings."""
    vpn = {w.option: w for w in audit_stack(shape_stacks["aws-vpn"]).widenings}
    assert vpn["options.client_cidrs"].narrows and vpn["options.rerun_ssh_cidrs"].narrows
    assert "NARROWING options.client_cidrs" in audit_stack(shape_stacks["aws-vpn"]).summary()
    assert not any(w.narrows for w in audit_stack(shape_stacks["aws-ssh-admin"]).widenings)
    assert not any(w.narrows for w in audit_stack(shape_stacks["aws-extra-egress"]).widenings)
    from circleci_network.audit.policy import _within

    assert _within(["10.0.0.0/8", "192.168.1.0/24"], ["0.0.0.0/0"])
    assert not _within(["10.0.0.0/8"], ["10.1.0.0/16"])  # wider than the default: a widening
    assert not _within(["10.0.0.0/8"], [])  # no default range (DNS servers, an internal proxy)


def test_exit_codes(tmp_path: Path, aws_reference: Synth, capsys: pytest.CaptureFixture[str]) -> None:
    clean = synth_out(tmp_path / "clean", {"circleci-aws": aws_reference})
    assert main(["audit", str(clean), "--no-report"]) == 0
    broken = copy.deepcopy(aws_reference)
    (lb,) = [lb for name, lb in broken["resource"]["aws_lb"].items() if "nomad" in name]
    lb["internal"] = False
    assert main(["audit", str(synth_out(tmp_path / "bad", {"circleci-aws": broken})), "--no-report"]) == 1
    assert main(["audit", str(tmp_path / "nowhere")]) == 2
    assert main(["audit", str(clean), "--policy", str(tmp_path / "no-such-policy.json")]) == 2
    with pytest.raises(SystemExit) as usage:
        main(["audit", "--format", "xml"])
    assert usage.value.code == 2
    capsys.readouterr()


def test_one_unreadable_stack_among_good_ones(tmp_path: Path, reference_stacks: dict[str, Synth]) -> None:
    out = synth_out(
        tmp_path,
        {"a-malformed": '{"locals": {', "circleci-aws": reference_stacks["circleci-aws"]}
        | {"circleci-gcp": reference_stacks["circleci-gcp"]},
    )
    run = subprocess.run(
        [sys.executable, "-m", "circleci_network", "audit", str(out)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("audit: ") and "a-malformed/cdk.tf.json: not valid JSON" in line
    # the good stacks after it were still audited, and reported
    assert "circleci-aws (aws): OK" in run.stdout and "circleci-gcp (gcp): OK" in run.stdout
    assert (out / "stacks" / "circleci-gcp" / "circleci-network-audit.md").is_file()


def test_json_output(tmp_path: Path, aws_reference: Synth, capsys: pytest.CaptureFixture[str]) -> None:
    stack = _forged(aws_reference)
    (name, lb), *_ = [(n, lb) for n, lb in stack["resource"]["aws_lb"].items() if "nomad" in n]
    lb["internal"] = False
    stack["resource"]["aws_vpc_security_group_ingress_rule"]["hand_made"] = {
        "security_group_id": next(
            f"${{aws_security_group.{n}.id}}"
            for n, g in stack["resource"]["aws_security_group"].items()
            if g["tags"]["circleci/role"] == "nomad-clients"
        ),
        "ip_protocol": "tcp",
        "from_port": 8080,
        "to_port": 8080,
        "cidr_ipv4": "0.0.0.0/0",
    }
    out = synth_out(tmp_path, {"forged": stack, "broken": "not json"})
    policy = COMMITTED / "circleci-aws" / POLICY_FILE
    assert main(["audit", str(out), "--format", "json", "--no-report", "--policy", str(policy)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"version", "stacks"}
    by_stack = {s["stack"]: s for s in report["stacks"]}
    assert by_stack["broken"]["status"] == "unreadable" and "not valid JSON" in by_stack["broken"]["error"]
    forged = by_stack["forged"]
    assert forged["status"] == "findings" and forged["cloud"] == "aws"
    for finding in forged["findings"]:
        assert {"kind", "check", "resources", "message"} <= set(finding)
        assert finding["kind"] in {"flow", "unmodelled", "structure", "policy"}
    kinds = {f["kind"]: f for f in forged["findings"]}
    assert kinds["structure"] == {
        "kind": "structure",
        "check": "load-balancer-scheme",
        "resources": [f"aws_lb.{name}"],
        "message": "nomad is internet-facing; it must be internal",
    }
    assert kinds["policy"]["option"].startswith("options.") and kinds["policy"]["resources"] == []
    flow = next(f for f in forged["findings"] if f["kind"] == "flow" and "tcp/8080" in f["ports"])
    assert flow["flow"].startswith("outside -> nomad-clients") and flow["check"] == "flow-extra"
    assert flow["resources"] == ["aws_vpc_security_group_ingress_rule.hand_made"]
    missing = [f for f in forged["findings"] if f["check"] == "flow-missing"]
    assert all(f["rules"] for f in missing)
    assert forged["widenings"] == [] and isinstance(forged["not_checked"], list)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("circleci-network ") and len(printed.split()) >= 2


# -- unexpected values, a deleted record, policies without a stack (exit 2, one line, the others audited)


def _first(stack: Synth, kind: str, *, having: str | None = None) -> tuple[str, Synth]:
    """The first ``kind`` resource (with the field ``having`` set)."""
    return next((n, r) for n, r in stack["resource"][kind].items() if having is None or r.get(having) is not None)


def _nomad_subnet(stack: Synth) -> tuple[str, Synth]:
    return next(
        (n, s) for n, s in stack["resource"]["aws_subnet"].items() if s["tags"]["circleci/tier"] == "nomad-clients"
    )


def _resource_list(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    aws["resource"] = []
    return aws, "resource: a list where Terraform JSON has an object of resource types"


def _subnet_without_cidr(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    name, subnet = _nomad_subnet(aws)
    del subnet["cidr_block"]
    return aws, f"aws_subnet.{name}.cidr_block: missing"


def _subnet_slash_33(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    name, subnet = _nomad_subnet(aws)
    subnet["cidr_block"] = "10.0.0.0/33"
    return aws, f"aws_subnet.{name}.cidr_block: '10.0.0.0/33' is not an IPv4 network"


def _port_not_a_number(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    name, rule = _first(aws, "aws_vpc_security_group_ingress_rule", having="from_port")
    rule["from_port"] = "abc"
    return aws, f"aws_vpc_security_group_ingress_rule.{name}.from_port: 'abc' is not a number"


def _cidr_nonsense(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    name, rule = _first(aws, "aws_vpc_security_group_ingress_rule", having="cidr_ipv4")
    rule["cidr_ipv4"] = "nonsense"
    return aws, f"aws_vpc_security_group_ingress_rule.{name}.cidr_ipv4: 'nonsense' is not an IPv4 network"


def _vpc_cidr_variable(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    name, vpc = _first(aws, "aws_vpc")
    vpc["cidr_block"] = "${var.x}"
    return aws, f"aws_vpc.{name}.cidr_block: '${{var.x}}' is not an IPv4 network"


def _gcp_priority_word(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    name, rule = _first(gcp, "google_compute_firewall")
    rule["priority"] = "high"
    return gcp, f"google_compute_firewall.{name}.priority: 'high' is not a number"


def _gcp_port_word(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    name, rule = _first(gcp, "google_compute_firewall", having="allow")
    rule["allow"] = [{"protocol": "tcp", "ports": ["80-abc"]}]
    return gcp, f"google_compute_firewall.{name}.allow[0].ports: '80-abc' is not a number"


def _tags_a_list(aws: Synth, gcp: Synth) -> tuple[Synth, str]:
    """No reader checks a tag map's shape up front: the last-resort catch names the file and the error."""
    _, subnet = _nomad_subnet(aws)
    subnet["tags"] = ["nomad-clients"]
    return aws, "cannot audit it, an unexpected value (AttributeError: 'list' object has no attribute 'get')"


@pytest.mark.parametrize(
    "tamper",
    [
        _resource_list,
        _subnet_without_cidr,
        _subnet_slash_33,
        _port_not_a_number,
        _cidr_nonsense,
        _vpc_cidr_variable,
        _gcp_priority_word,
        _gcp_port_word,
        _tags_a_list,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_unexpected_value_is_one_unreadable_stack_among_good_ones(
    tmp_path: Path, reference_stacks: dict[str, Synth], tamper: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    aws, gcp = reference_stacks["circleci-aws"], reference_stacks["circleci-gcp"]
    tampered, problem = tamper(copy.deepcopy(aws), copy.deepcopy(gcp))
    out = synth_out(tmp_path, {"a-tampered": tampered, "circleci-aws": aws, "circleci-gcp": gcp})
    assert main(["audit", str(out), "--no-report"]) == 2
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith(f"audit: {out / 'stacks' / 'a-tampered' / 'cdk.tf.json'}: {problem}")
    assert "circleci-aws (aws): OK" in printed.out and "circleci-gcp (gcp): OK" in printed.out


def test_unexpected_value_is_no_traceback(tmp_path: Path, reference_stacks: dict[str, Synth]) -> None:
    tampered, problem = _subnet_slash_33(copy.deepcopy(reference_stacks["circleci-aws"]), {})
    out = synth_out(tmp_path, {"a-slash-33": tampered, "circleci-gcp": reference_stacks["circleci-gcp"]})
    run = subprocess.run(
        [sys.executable, "-m", "circleci_network", "audit", str(out), "--no-report", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.endswith(f"a-slash-33/cdk.tf.json: {problem}")
    by_stack = {s["stack"]: s for s in json.loads(run.stdout)["stacks"]}
    assert by_stack["a-slash-33"]["status"] == "unreadable" and problem in by_stack["a-slash-33"]["error"]
    assert by_stack["circleci-gcp"]["status"] == "ok"


def _without_record(stack: Synth) -> Synth:
    stack = copy.deepcopy(stack)
    stack["locals"] = {k: v for k, v in stack["locals"].items() if INTENT_LOCAL not in k}
    return stack


def _policies(tmp_path: Path, stacks: dict[str, str]) -> Path:
    """A policy folder: stack -> the committed policy it holds."""
    folder = tmp_path / "policy"
    for stack, committed in stacks.items():
        (folder / stack).mkdir(parents=True)
        (folder / stack / POLICY_FILE).write_text((COMMITTED / committed / POLICY_FILE).read_text())
    return folder


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_deleted_record_is_unreadable_even_with_its_policy(
    tmp_path: Path, reference_stacks: dict[str, Synth], cloud: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = "circleci-gcp" if cloud == "aws" else "circleci-aws"
    out = synth_out(
        tmp_path,
        {"a-no-record": _without_record(reference_stacks[f"circleci-{cloud}"])} | {good: reference_stacks[good]},
    )
    policies = _policies(tmp_path, {"a-no-record": f"circleci-{cloud}", good: good})
    for extra in ([], ["--policy", str(policies)]):
        assert main(["audit", str(out), "--no-report", *extra]) == 2
        printed = capsys.readouterr()
        (line,) = printed.err.splitlines()  # the policy is not reported again as a policy without a stack
        assert line.startswith(f"audit: {out / 'stacks' / 'a-no-record' / 'cdk.tf.json'}: no circleci-network record")
        assert "synthesize the stack again" in line
        assert ("aws_" if cloud == "aws" else "google_") in line  # names one of our resources it holds
        assert f"{good} ({good.removeprefix('circleci-')}): OK" in printed.out


def test_stack_without_our_rules_is_still_skipped(tmp_path: Path, aws_reference: Synth) -> None:
    """The pieces are usable alone: a VPC and load balancers without our groups write no record."""
    other = {"resource": {"aws_s3_bucket": {"logs": {"bucket": "logs", "tags": {"team": "platform"}}}}}
    vpc_only = _without_record(aws_reference)
    for kind in ("aws_security_group", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        del vpc_only["resource"][kind]
    assert vpc_only["resource"]["aws_subnet"] and vpc_only["resource"]["aws_lb"]  # still tagged circleci/tier, /role
    out = synth_out(tmp_path, {"other": other, "vpc-only": vpc_only, "circleci-aws": aws_reference})
    assert main(["audit", str(out), "--no-report"]) == 0


def test_policy_without_an_audited_stack(
    tmp_path: Path, aws_reference: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    out = synth_out(tmp_path, {"circleci-aws": aws_reference})
    policies = _policies(tmp_path, {"circleci-aws": "circleci-aws", "circleci-gcp": "circleci-gcp"})
    assert main(["audit", str(out), "--no-report", "--policy", str(policies)]) == 2
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith(f"audit: {policies / 'circleci-gcp' / POLICY_FILE}: a policy for stack circleci-gcp, ")
    assert "circleci-aws (aws): OK" in printed.out
    # synth's own layout (<folder>/stacks/<stack>/) counts too
    (policies / "stacks" / "circleci-gcp").mkdir(parents=True)
    (policies / "circleci-gcp" / POLICY_FILE).rename(policies / "stacks" / "circleci-gcp" / POLICY_FILE)
    assert main(["audit", str(out), "--no-report", "--policy", str(policies)]) == 2
    assert "stacks/circleci-gcp/" in capsys.readouterr().err


@pytest.mark.parametrize("policy", ['{"options": 5}', "[]", '{"format": 2}'])
def test_malformed_policy(
    tmp_path: Path, reference_stacks: dict[str, Synth], policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = synth_out(tmp_path, {s: reference_stacks[s] for s in ("circleci-aws", "circleci-gcp")})
    single = tmp_path / POLICY_FILE
    single.write_text(policy)
    assert main(["audit", str(out), "--no-report", "--policy", str(single)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"audit: {single}: the policy") and "is malformed" in line
    # in a folder: that stack is unreadable, the other is still audited against its own policy
    folder = _policies(tmp_path, {"circleci-aws": "circleci-aws", "circleci-gcp": "circleci-gcp"})
    (folder / "circleci-gcp" / POLICY_FILE).write_text(policy)
    assert main(["audit", str(out), "--no-report", "--policy", str(folder)]) == 2
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert line.startswith(f"audit: {folder / 'circleci-gcp' / POLICY_FILE}: the policy") and "malformed" in line
    assert "circleci-aws (aws): OK" in printed.out
