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


def _apply(
    stack: dict[str, Any], name: str, moto_endpoint: str, tmp_path: Path
) -> tuple[WorkingCopy, dict[str, Any], Any]:
    """``terraform apply`` of an EKS example on moto: the working copy, its outputs, a boto3 client maker."""
    stack_file = tmp_path / f"{name}.tf.json"
    stack_file.write_text(json.dumps(stack, indent=2))
    region = stack["provider"]["aws"][0]["region"]
    tf = WorkingCopy(stack_file, tmp_path / f"moto-{name}", terraform_binary(), find_mirror())
    provider = moto_provider(moto_endpoint, region)
    provider["provider"]["aws"]["endpoints"] = [{s: moto_endpoint for s in (*SERVICES, "eks")}]
    tf.write_override("verify_moto", provider)
    # moto quirk: AWS managed policies are not loaded (NoSuchEntity on AttachRolePolicy), so the
    # copy skips the attachments; the network under test does not depend on them.
    attachments = stack["resource"]["aws_iam_role_policy_attachment"]
    tf.write_override(
        "verify_moto_iam", {"resource": {"aws_iam_role_policy_attachment": {n: {"count": 0} for n in attachments}}}
    )
    tf("init", "-input=false", step=f"terraform init (moto, {name})")
    tf("apply", "-auto-approve", "-input=false", "-parallelism=20", step=f"terraform apply (moto, {name})", timeout=900)
    outputs = {k: v["value"] for k, v in json.loads(tf("output", "-json").stdout).items()}

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=region,
                            aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip

    return tf, outputs, client


def _destroy(tf: WorkingCopy, name: str) -> None:
    tf(
        "destroy",
        "-auto-approve",
        "-input=false",
        "-parallelism=20",
        step=f"terraform destroy (moto, {name})",
        timeout=900,
    )


def _check_cluster(outputs: dict[str, Any], client: Any) -> None:
    eks, ec2 = client("eks"), client("ec2")
    cluster = eks.describe_cluster(name="circleci")["cluster"]
    assert cluster["resourcesVpcConfig"]["securityGroupIds"] == [outputs["cluster_security_group_id"]]
    assert sorted(cluster["resourcesVpcConfig"]["subnetIds"]) == sorted(outputs["k8s_nodes_subnet_ids"])
    group = eks.describe_nodegroup(clusterName="circleci", nodegroupName="circleci-nodes")["nodegroup"]
    template_id = group["launchTemplate"]["id"]
    (version,) = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    assert version["LaunchTemplateData"]["SecurityGroupIds"] == [outputs["node_security_group_id"]]


def test_eks_example_applies_on_moto(eks_example: dict[str, Any], moto_endpoint: str, tmp_path: Path) -> None:
    tf, outputs, client = _apply(eks_example, "eks-example", moto_endpoint, tmp_path)
    _check_cluster(outputs, client)
    _destroy(tf, "eks-example")


def test_eks_example_with_vpc_endpoints_applies_on_moto(
    eks_endpoints_example: dict[str, Any], moto_endpoint: str, tmp_path: Path
) -> None:
    """The control-plane group and the endpoints together. moto 5.2.1 implements CreateVpcEndpoint for
    both types (a gateway adds its prefix-list route to the route tables) and prefix lists in
    security-group rules, so nothing is skipped; a moto that lacks them fails here, loudly."""
    tf, outputs, client = _apply(eks_endpoints_example, "eks-endpoints", moto_endpoint, tmp_path)
    _check_cluster(outputs, client)
    ec2 = client("ec2")
    region = eks_endpoints_example["provider"]["aws"][0]["region"]
    group = outputs["vpc_endpoints_security_group_id"]
    found = {
        e["ServiceName"].removeprefix(f"com.amazonaws.{region}."): e
        for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [outputs["vpc_id"]]}])["VpcEndpoints"]
    }
    recorded = {
        str(e["tags"]["circleci/endpoint"]) for e in eks_endpoints_example["resource"]["aws_vpc_endpoint"].values()
    }
    assert set(found) == recorded and "eks" in recorded and "s3" in recorded
    node_tables = {
        t["RouteTableId"]
        for t in ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": outputs["k8s_nodes_subnet_ids"]}]
        )["RouteTables"]
    }
    s3 = found.pop("s3")
    assert s3["VpcEndpointType"] == "Gateway"
    assert set(s3["RouteTableIds"]) == node_tables
    for service, endpoint in found.items():
        assert endpoint["VpcEndpointType"] == "Interface", service
        assert endpoint["PrivateDnsEnabled"] is True, service
        assert [g["GroupId"] for g in endpoint["Groups"]] == [group], service
        assert sorted(endpoint["SubnetIds"]) == sorted(outputs["k8s_nodes_subnet_ids"]), service
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]
    assert [(r["IsEgress"], r["IpProtocol"], r["FromPort"], r["ToPort"], r["ReferencedGroupInfo"]["GroupId"])
            for r in rules] == [(False, "tcp", 443, 443, outputs["node_security_group_id"])]  # fmt: skip
    node_rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [outputs["node_security_group_id"]]}]
    )["SecurityGroupRules"]
    to_s3 = [r for r in node_rules if r.get("PrefixListId")]
    assert [(r["IsEgress"], r["FromPort"], r["ToPort"]) for r in to_s3] == [(True, 443, 443)]
    _destroy(tf, "eks-endpoints")
