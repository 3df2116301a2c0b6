"""A worked EKS example: the reference network with ``Platform.EKS``, an EKS cluster whose
``vpc_config`` carries our control-plane group, and a managed node group whose launch template
names only our node group (so EKS attaches its cluster group to no node [EKS-LT]).
Synthesized by tests (tests/test_eks.py, tests/tools), not by ``main.py``."""

from __future__ import annotations

import json
from dataclasses import replace

from cdktf import App, Token
from cdktf_cdktf_provider_aws.eks_cluster import EksCluster, EksClusterVpcConfig
from cdktf_cdktf_provider_aws.eks_node_group import (
    EksNodeGroup,
    EksNodeGroupLaunchTemplate,
    EksNodeGroupScalingConfig,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.launch_template import LaunchTemplate, LaunchTemplateMetadataOptions

from circleci_network.platform_rules import Platform, PlatformOptions
from circleci_network.roles import Role
from circleci_network.stacks.aws import AwsStackProps, CircleciAwsStack
from circleci_network.vpc_endpoints import VpcEndpoints
from stacks.reference import reference_aws_props

CLUSTER_NAME = "circleci"


def eks_example_props(
    platform: PlatformOptions | None = None, vpc_endpoints: VpcEndpoints | None = None
) -> AwsStackProps:
    """``vpc_endpoints``: e.g. ``VpcEndpoints(enabled=True)`` for nodes without a route to AWS's APIs."""
    props = reference_aws_props()
    network = replace(
        props.network,
        platform=platform or PlatformOptions(platform=Platform.EKS),
        vpc_endpoints=vpc_endpoints or VpcEndpoints(),
    )
    return replace(props, network=network)


def _role(stack: CircleciAwsStack, id: str, service: str, policies: tuple[str, ...]) -> IamRole:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    role = IamRole(stack, id, name=f"{CLUSTER_NAME}-{id}", assume_role_policy=policy)
    for policy in policies:
        IamRolePolicyAttachment(stack, f"{id}-{policy}", role=role.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}")
    return role


class EksExampleStack(CircleciAwsStack):
    def __init__(self, scope: App, id: str, *, props: AwsStackProps | None = None) -> None:
        super().__init__(scope, id, props=props or eks_example_props())
        groups = self.network.security_groups.group_ids
        node_subnets = self.network.subnet_ids(Role.KUBERNETES_NODES)
        cluster_role = _role(self, "eks-cluster-role", "eks.amazonaws.com", ("AmazonEKSClusterPolicy",))
        node_role = _role(
            self,
            "eks-node-role",
            "ec2.amazonaws.com",
            ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"),
        )
        cluster = EksCluster(
            self,
            "eks",
            name=CLUSTER_NAME,
            role_arn=cluster_role.arn,
            # EKS puts the control plane's ENIs in these subnets with our control-plane group (and its own).
            vpc_config=EksClusterVpcConfig(
                subnet_ids=node_subnets,
                security_group_ids=[groups[Role.EKS_CONTROL_PLANE]],
                endpoint_private_access=True,
                endpoint_public_access=False,
            ),
            depends_on=[cluster_role],
        )
        # Our node group only: a launch template naming security groups keeps EKS's cluster group off the nodes.
        template = LaunchTemplate(
            self,
            "eks-nodes-template",
            name_prefix=f"{CLUSTER_NAME}-nodes-",
            vpc_security_group_ids=[groups[Role.KUBERNETES_NODES]],
            metadata_options=LaunchTemplateMetadataOptions(
                http_tokens="required", http_endpoint="enabled", http_put_response_hop_limit=2
            ),
        )
        EksNodeGroup(
            self,
            "eks-nodes",
            cluster_name=cluster.name,
            node_group_name=f"{CLUSTER_NAME}-nodes",
            node_role_arn=node_role.arn,
            subnet_ids=node_subnets,
            instance_types=["m5.xlarge"],
            scaling_config=EksNodeGroupScalingConfig(desired_size=3, min_size=3, max_size=6),
            launch_template=EksNodeGroupLaunchTemplate(
                id=template.id, version=Token.as_string(template.latest_version)
            ),
        )
