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


@pytest.mark.parametrize("fixture", ["eks_example", "eks_nacl_example", "eks_endpoints_example", "aws_v4_internet"])
def test_more_stacks_validate_against_the_provider_schema(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """stacks/eks_example.py: cluster with our control-plane group, node group with our launch
    template; with network ACLs (``eks_example_props(network_acls=True)``); with ``VpcEndpoints(enabled=True)``.
    aws_v4_internet: v4.3 with internet-facing users: the proxy's EIPs, the eip-allocations annotation
    (a join of their IDs in the values local) and rules naming EIP and NAT gateway public_ip attributes."""
    stack = request.getfixturevalue(fixture)
    stack_file = tmp_path / f"{fixture}.tf.json"
    stack_file.write_text(json.dumps(stack, indent=2))
    tf = WorkingCopy(stack_file, tmp_path / f"validate-{fixture}", terraform_binary(), find_mirror())
    tf("init", "-backend=false", "-input=false", step=f"terraform init (validate, {fixture})")
    result = tf("validate", "-json", step=f"terraform validate ({fixture})", ok_codes=(0, 1))
    report = json.loads(result.stdout)
    diagnostics = json.dumps(report.get("diagnostics"), indent=2)
    assert report["valid"] is True and report["error_count"] == 0, diagnostics
    assert report["warning_count"] == 0, diagnostics
    if fixture == "eks_nacl_example":
        assert stack["resource"]["aws_network_acl_rule"] and stack["resource"]["aws_eks_cluster"]
    if fixture == "aws_v4_internet":
        assert stack["resource"]["aws_eip"] and stack["resource"]["aws_nat_gateway"]
