"""`terraform apply` of stacks/eks_example.py against moto_server: the cluster takes our
control-plane group, the node group our launch template (with our node group only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.tools.terraform import WorkingCopy, find_mirror, terraform_binary
from tests.tools.test_moto_deploy import SERVICES, moto_provider

pytestmark = pytest.mark.tools


def test_eks_example_applies_on_moto(eks_example: dict[str, Any], moto_endpoint: str, tmp_path: Path) -> None:
    stack_file = tmp_path / "eks-example.tf.json"
    stack_file.write_text(json.dumps(eks_example, indent=2))
    region = eks_example["provider"]["aws"][0]["region"]
    tf = WorkingCopy(stack_file, tmp_path / "moto-eks", terraform_binary(), find_mirror())
    provider = moto_provider(moto_endpoint, region)
    provider["provider"]["aws"]["endpoints"] = [{s: moto_endpoint for s in (*SERVICES, "eks")}]
    tf.write_override("verify_moto", provider)
    # moto quirk: AWS managed policies are not loaded (NoSuchEntity on AttachRolePolicy), so the
    # copy skips the attachments; the network under test does not depend on them.
    attachments = eks_example["resource"]["aws_iam_role_policy_attachment"]
    tf.write_override(
        "verify_moto_iam", {"resource": {"aws_iam_role_policy_attachment": {n: {"count": 0} for n in attachments}}}
    )
    tf("init", "-input=false", step="terraform init (moto, EKS example)")
    tf("apply", "-auto-approve", "-input=false", "-parallelism=20", step="terraform apply (moto, EKS)", timeout=900)
    outputs = {k: v["value"] for k, v in json.loads(tf("output", "-json").stdout).items()}

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

    eks, ec2 = client("eks"), client("ec2")
    cluster = eks.describe_cluster(name="circleci")["cluster"]
    assert cluster["resourcesVpcConfig"]["securityGroupIds"] == [outputs["cluster_security_group_id"]]
    assert sorted(cluster["resourcesVpcConfig"]["subnetIds"]) == sorted(outputs["k8s_nodes_subnet_ids"])
    group = eks.describe_nodegroup(clusterName="circleci", nodegroupName="circleci-nodes")["nodegroup"]
    template_id = group["launchTemplate"]["id"]
    (version,) = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    assert version["LaunchTemplateData"]["SecurityGroupIds"] == [outputs["node_security_group_id"]]
    tf("destroy", "-auto-approve", "-input=false", "-parallelism=20", step="terraform destroy (moto, EKS)", timeout=900)
