"""`terraform validate` of the synthesized AWS stack with the real provider schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tools.terraform import WorkingCopy, find_mirror, terraform_binary

pytestmark = pytest.mark.tools


def test_aws_stack_validates_against_the_provider_schema(synth_outdir: Path, tmp_path: Path) -> None:
    stack_file = synth_outdir / "stacks" / "circleci-aws" / "cdk.tf.json"
    tf = WorkingCopy(stack_file, tmp_path / "validate", terraform_binary(), find_mirror())
    tf("init", "-backend=false", "-input=false", step="terraform init (validate)")
    result = tf("validate", "-json", step="terraform validate", ok_codes=(0, 1))
    report = json.loads(result.stdout)
    diagnostics = json.dumps(report.get("diagnostics"), indent=2)
    assert report["valid"] is True and report["error_count"] == 0, diagnostics
    # deprecations show up as warnings: none today, and a new one should be looked at
    assert report["warning_count"] == 0, diagnostics
    # only override files were added: the library's JSON went to terraform untouched
    assert (tf.directory / "cdk.tf.json").read_bytes() == stack_file.read_bytes()


def test_eks_example_validates_against_the_provider_schema(eks_example: dict[str, object], tmp_path: Path) -> None:
    """stacks/eks_example.py: cluster with our control-plane group, node group with our launch template."""
    stack_file = tmp_path / "eks-example.tf.json"
    stack_file.write_text(json.dumps(eks_example, indent=2))
    tf = WorkingCopy(stack_file, tmp_path / "validate-eks", terraform_binary(), find_mirror())
    tf("init", "-backend=false", "-input=false", step="terraform init (validate, EKS example)")
    result = tf("validate", "-json", step="terraform validate (EKS example)", ok_codes=(0, 1))
    report = json.loads(result.stdout)
    diagnostics = json.dumps(report.get("diagnostics"), indent=2)
    assert report["valid"] is True and report["error_count"] == 0, diagnostics
    assert report["warning_count"] == 0, diagnostics


def test_aws_v4_internet_stack_validates_against_the_provider_schema(
    aws_v4_internet: dict[str, object], tmp_path: Path
) -> None:
    """v4.3 with internet-facing users: the proxy's EIPs, the eip-allocations annotation (a join of
    their IDs in the values local) and rules naming EIP and NAT gateway public_ip attributes."""
    stack_file = tmp_path / "aws-v4-internet.tf.json"
    stack_file.write_text(json.dumps(aws_v4_internet, indent=2))
    tf = WorkingCopy(stack_file, tmp_path / "validate-v4-internet", terraform_binary(), find_mirror())
    tf("init", "-backend=false", "-input=false", step="terraform init (validate, AWS v4 internet)")
    result = tf("validate", "-json", step="terraform validate (AWS v4 internet)", ok_codes=(0, 1))
    report = json.loads(result.stdout)
    diagnostics = json.dumps(report.get("diagnostics"), indent=2)
    assert report["valid"] is True and report["error_count"] == 0, diagnostics
    assert report["warning_count"] == 0, diagnostics
