"""checkov (its own venv, offline) on every synthesized stack: it parses them, runs checks,
and fails exactly the findings ``circleci_network.tooling.scanner_findings`` accepts; the baselines
that main.py writes make the scan pass and still let a new weakness through."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from circleci_network.tooling.scanner_findings import BASELINE_FILE, accepted_for_stack, write_checkov_baselines
from tests.tools.conftest import STACKS
from tests.tools.tooling import PROJECT, load_json, require_executable, run, timed, tool_env
from tests.tools.variants import EKS_EXAMPLE, EKS_NACL_EXAMPLE, MANAGED_CLUSTER_STACKS

pytestmark = pytest.mark.tools

Finding = tuple[str, str, str]  # (file, resource, check id)


@dataclass(frozen=True)
class Scan:
    exit_code: int
    summaries: list[dict[str, Any]]
    failed: set[Finding]
    skipped: set[Finding]
    passed_per_file: dict[str, int]
    passed: set[Finding]

    @property
    def parsing_errors(self) -> int:
        return sum(s["parsing_errors"] for s in self.summaries)

    @property
    def checks_run(self) -> int:
        return sum(s["passed"] + s["failed"] + s["skipped"] for s in self.summaries)


def checkov_binary() -> Path:
    return require_executable(
        "checkov",
        "CHECKOV",
        PROJECT / ".venv-checkov" / "bin" / "checkov",
        "run `make verify`: it creates .venv-checkov from verify/checkov-requirements.txt",
    )


def scan(directory: Path, *extra: str, step: str) -> Scan:
    command: list[str | Path] = [checkov_binary(), "-d", directory, "--framework", "terraform_json", "--skip-download"]
    with timed(step):
        result = run([*command, "--compact", "-o", "json", *extra], cwd=directory, ok_codes=(0, 1))
    data = json.loads(result.stdout)
    reports = data if isinstance(data, list) else [data]
    summaries: list[dict[str, Any]] = []
    failed: set[Finding] = set()
    skipped: set[Finding] = set()
    passed: dict[str, int] = {}
    passed_checks: set[Finding] = set()
    for report in reports:
        if "summary" not in report:  # nothing to list: checkov prints the bare summary
            summaries.append(report)
            continue
        summaries.append(report["summary"])
        results = report["results"]
        failed |= {(c["file_path"], c["resource"], c["check_id"]) for c in results["failed_checks"]}
        skipped |= {(c["file_path"], c["resource"], c["check_id"]) for c in results["skipped_checks"]}
        for c in results["passed_checks"]:
            passed[c["file_path"]] = passed.get(c["file_path"], 0) + 1
            passed_checks.add((c["file_path"], c["resource"], c["check_id"]))
    return Scan(result.returncode, summaries, failed, skipped, passed, passed_checks)


def accepted(stack_file: Path, file_key: str) -> set[Finding]:
    return {
        (file_key, resource, check_id)
        for resource, ids in accepted_for_stack(load_json(stack_file)).items()
        for check_id in ids
    }


def test_scan_parses_every_stack_and_fails_only_the_accepted_findings(synth_outdir: Path) -> None:
    result = scan(synth_outdir, step="checkov (all stacks, no baseline)")
    assert result.parsing_errors == 0, result.summaries
    assert result.checks_run > 0
    wanted: set[Finding] = set()
    for stack in STACKS:
        key = f"/stacks/{stack}/cdk.tf.json"
        assert result.passed_per_file.get(key, 0) > 0, f"checkov ran no passing check on {key}"
        wanted |= accepted(synth_outdir / "stacks" / stack / "cdk.tf.json", key)
    # both ways: nothing new fails, and no acceptance is stale
    assert sorted(result.failed - wanted) == [], (
        "failed checks not accepted in circleci_network.tooling.scanner_findings"
    )
    assert sorted(wanted - result.failed) == [], "accepted findings checkov no longer reports: drop them"
    assert result.exit_code == (1 if wanted else 0)


@pytest.mark.parametrize("folder", [*(f"stacks/{s}" for s in STACKS), "."])
def test_the_written_baseline_makes_the_scan_pass(synth_outdir: Path, folder: str) -> None:
    directory = (synth_outdir / folder).resolve()
    baseline = directory / BASELINE_FILE
    assert baseline.is_file(), "main.py must write the checkov baselines"
    result = scan(
        directory, "--baseline", str(baseline), "--output-baseline-as-skipped", step=f"checkov --baseline ({folder})"
    )
    assert result.parsing_errors == 0
    assert result.failed == set() and result.exit_code == 0
    files = [directory / "cdk.tf.json"] if folder != "." else [directory / "stacks" / s / "cdk.tf.json" for s in STACKS]
    wanted = {(r, c) for f in files for _, r, c in accepted(f, "")}
    assert {(r, c) for _, r, c in result.skipped} == wanted and wanted


def test_a_new_weakness_still_fails_despite_the_baseline(synth_outdir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "circleci-aws"
    shutil.copytree(synth_outdir / "stacks" / "circleci-aws", directory)
    stack = load_json(directory / "cdk.tf.json")
    (group,) = [
        n for n, g in stack["resource"]["aws_security_group"].items() if g["tags"]["circleci/role"] == "k8s-nodes"
    ]
    stack["resource"]["aws_vpc_security_group_ingress_rule"]["hand_made_ssh"] = {
        "security_group_id": f"${{aws_security_group.{group}.id}}",
        "ip_protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "cidr_ipv4": "0.0.0.0/0",
        "description": "SSH from anywhere",
    }
    (directory / "cdk.tf.json").write_text(json.dumps(stack))
    result = scan(directory, "--baseline", str(directory / BASELINE_FILE), step="checkov (injected weakness)")
    assert result.parsing_errors == 0
    assert {(r, c) for _, r, c in result.failed} == {("resource.hand_made_ssh", "CKV_AWS_24")}
    assert result.exit_code == 1


def test_public_job_subnets_fail_only_the_accepted_public_address_check(synth_outdir: Path, tmp_path: Path) -> None:
    """The reference stack keeps job subnets private; this is what public job subnets render
    (job-tier subnets assign public addresses), with the baseline the library writes for it."""
    outdir = tmp_path / "cdktf.out"
    directory = outdir / "stacks" / "circleci-aws"
    shutil.copytree(synth_outdir / "stacks" / "circleci-aws", directory)
    stack = load_json(directory / "cdk.tf.json")
    public = set()
    for name, subnet in stack["resource"]["aws_subnet"].items():
        if subnet["tags"]["circleci/tier"] in ("nomad-clients", "external-vms"):
            subnet["map_public_ip_on_launch"] = True
            public.add((f"resource.{name}", "CKV_AWS_130"))
    (directory / "cdk.tf.json").write_text(json.dumps(stack))
    write_checkov_baselines(outdir)
    result = scan(
        directory,
        "--baseline",
        str(directory / BASELINE_FILE),
        "--output-baseline-as-skipped",
        step="checkov --baseline (public job subnets)",
    )
    assert result.parsing_errors == 0 and result.failed == set() and result.exit_code == 0
    assert {(r, c) for _, r, c in result.skipped if c == "CKV_AWS_130"} == public and public


@pytest.fixture(scope="module")
def variants_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m tests.tools.variants``: network ACLs, the EKS example (with and without ACLs)
    and the GKE stacks, with the baselines the library writes."""
    outdir = tmp_path_factory.mktemp("variants") / "cdktf.out"
    with timed("python -m tests.tools.variants (synth)"):
        run([sys.executable, "-m", "tests.tools.variants", str(outdir)], cwd=PROJECT, env=tool_env(), timeout=300)
    return outdir


def test_network_acls_fail_only_accepted_findings(variants_outdir: Path) -> None:
    """Network ACLs are opt-in: the reference leaves them off, users may turn them on."""
    directory = variants_outdir / "stacks" / "circleci-aws-network-acls"
    stack = load_json(directory / "cdk.tf.json")
    assert stack["resource"].get("aws_network_acl_rule"), "the variant must hold network ACL entries"
    plain = scan(directory, step="checkov (network ACLs, no baseline)")
    assert plain.parsing_errors == 0 and plain.checks_run > 0
    assert {(r, c) for _, r, c in plain.failed} == {(r, c) for _, r, c in accepted(directory / "cdk.tf.json", "")}
    assert any(c == "CKV_AWS_352" for _, _, c in plain.failed), (
        "the intra-cluster ACL entry is the reason for this test"
    )
    result = scan(directory, "--baseline", str(directory / BASELINE_FILE), step="checkov --baseline (network ACLs)")
    assert result.failed == set() and result.exit_code == 0


#: Hardening the EKS example carries, and checkov checks: control-plane logging, secrets
#: encryption, IMDSv2 with one hop, no public API endpoint, the KMS key rotated, the cluster's
#: log group encrypted and kept a year.
EKS_HARDENING = {
    ("resource.eks", "CKV_AWS_37"),
    ("resource.eks", "CKV_AWS_58"),
    ("resource.eks", "CKV_AWS_39"),
    ("resource.eks-nodes-template", "CKV_AWS_341"),
    ("resource.eks-nodes-template", "CKV_AWS_79"),
    ("resource.eks-key", "CKV_AWS_7"),
    ("resource.eks-logs", "CKV_AWS_158"),
    ("resource.eks-logs", "CKV_AWS_338"),
}


def test_managed_cluster_stacks_fail_only_accepted_findings(variants_outdir: Path) -> None:
    """The EKS example (with and without network ACLs) and the GKE stacks: every stack parsed
    and checked, the failures exactly the accepted list (both ways), the example's hardening passing."""
    result = scan(variants_outdir / "stacks", step="checkov (EKS and GKE stacks, no baseline)")
    assert result.parsing_errors == 0, result.summaries
    assert result.checks_run > 0
    wanted: set[Finding] = set()
    failed = {f for f in result.failed if f[0].split("/")[1] in MANAGED_CLUSTER_STACKS}
    for stack in MANAGED_CLUSTER_STACKS:
        key = f"/{stack}/cdk.tf.json"
        assert result.passed_per_file.get(key, 0) > 0, f"checkov ran no passing check on {key}"
        wanted |= accepted(variants_outdir / "stacks" / stack / "cdk.tf.json", key)
    assert sorted(failed - wanted) == [], "failed checks not accepted in circleci_network.tooling.scanner_findings"
    assert sorted(wanted - failed) == [], "accepted findings checkov no longer reports: drop them"
    for stack in (EKS_EXAMPLE, EKS_NACL_EXAMPLE):
        passed = {(r, c) for f, r, c in result.passed if f == f"/{stack}/cdk.tf.json"}
        assert passed >= EKS_HARDENING, sorted(EKS_HARDENING - passed)
        # the launch template carries the node group: checkov sees it attached, nothing to accept
        attached = [r for f, r, c in failed if f == f"/{stack}/cdk.tf.json" and c == "CKV2_AWS_5"]
        assert attached and not any("k8s-nodes" in r or "eks-control-plane" in r for r in attached)


@pytest.mark.parametrize("stack", MANAGED_CLUSTER_STACKS)
def test_the_managed_cluster_baselines_make_the_scan_pass(variants_outdir: Path, stack: str) -> None:
    directory = variants_outdir / "stacks" / stack
    result = scan(
        directory,
        "--baseline",
        str(directory / BASELINE_FILE),
        "--output-baseline-as-skipped",
        step=f"checkov --baseline ({stack})",
    )
    # With a baseline checkov lists no passed check (the unbaselined scan above proves they ran).
    assert result.parsing_errors == 0
    assert result.failed == set() and result.exit_code == 0
    assert {(r, c) for _, r, c in result.skipped} == {(r, c) for _, r, c in accepted(directory / "cdk.tf.json", "")}
