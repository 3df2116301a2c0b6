"""A worked EKS example: the reference network with ``Platform.EKS``, an EKS cluster whose
``vpc_config`` carries our control-plane group, and a managed node group whose launch template
names only our node group (so EKS attaches its cluster group to no node [EKS-LT]).
Synthesized by tests (tests/test_eks.py, tests/tools), not by ``main.py``."""

from __future__ import annotations

import json
from dataclasses import replace

from cdktf import App, Token
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.eks_cluster import (
    EksCluster,
    EksClusterEncryptionConfig,
    EksClusterEncryptionConfigProvider,
    EksClusterVpcConfig,
)
from cdktf_cdktf_provider_aws.eks_node_group import (
    EksNodeGroup,
    EksNodeGroupLaunchTemplate,
    EksNodeGroupScalingConfig,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.launch_template import LaunchTemplate, LaunchTemplateMetadataOptions

from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import Platform, PlatformOptions
from circleci_network.model.roles import Role
from circleci_network.model.vpc_endpoints import VpcEndpoints
from circleci_network.stacks.aws import AwsStackProps, CircleciAwsStack
from stacks.reference import reference_aws_props

CLUSTER_NAME = "circleci"
#: Every control-plane log type EKS offers (to CloudWatch Logs /aws/eks/<cluster>/cluster).
CONTROL_PLANE_LOGS = ("api", "audit", "authenticator", "controllerManager", "scheduler")
#: The log group EKS writes them to (its fixed name for a cluster).
CLUSTER_LOG_GROUP = f"/aws/eks/{CLUSTER_NAME}/cluster"
#: With network ACLs: egress through one proxy address (documentation range).
EKS_NACL_HARDENING = HardeningOptions(external_cidrs=("198.51.100.7/32",))


def eks_example_props(
    platform: PlatformOptions | None = None,
    vpc_endpoints: VpcEndpoints | None = None,
    *,
    network_acls: bool = False,
) -> AwsStackProps:
    """The reference network with ``Platform.EKS``. ``vpc_endpoints``: e.g. ``VpcEndpoints(enabled=True)``
    for nodes without a route to AWS's APIs. ``network_acls`` adds the per-tier ACLs and, as a platform
    team locking the nodes down would, sends egress through a proxy (so the ACLs' reply rules are narrow
    and the EKS entries are not hidden by replies from the whole internet)."""
    props = reference_aws_props()
    network = replace(
        props.network,
        platform=platform or PlatformOptions(platform=Platform.EKS),
        vpc_endpoints=vpc_endpoints or VpcEndpoints(),
    )
    if network_acls:
        network = replace(network, network_acls=True, hardening=EKS_NACL_HARDENING)
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
        key = self._cluster_key(cluster_role)
        # Made before the cluster, EKS writes into it: retained a year and encrypted (EKS's own has neither).
        logs = CloudwatchLogGroup(
            self,
            "eks-logs",
            name=CLUSTER_LOG_GROUP,
            retention_in_days=365,
            kms_key_id=key.arn,
        )
        cluster = EksCluster(
            self,
            "eks",
            name=CLUSTER_NAME,
            role_arn=cluster_role.arn,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOGS),
            # Kubernetes secrets envelope-encrypted with a key of ours (rotated), not only EBS-level.
            encryption_config=EksClusterEncryptionConfig(
                resources=["secrets"],
                provider=EksClusterEncryptionConfigProvider(key_arn=key.arn),
            ),
            # EKS puts the control plane's ENIs in these subnets with our control-plane group (and its own).
            vpc_config=EksClusterVpcConfig(
                subnet_ids=node_subnets,
                security_group_ids=[groups[Role.EKS_CONTROL_PLANE]],
                endpoint_private_access=True,
                endpoint_public_access=False,
            ),
            depends_on=[cluster_role, logs],
        )
        # Our node group only: a launch template naming security groups keeps EKS's cluster group off the nodes.
        template = LaunchTemplate(
            self,
            "eks-nodes-template",
            name_prefix=f"{CLUSTER_NAME}-nodes-",
            vpc_security_group_ids=[groups[Role.KUBERNETES_NODES]],
            # IMDSv2 with one hop: pods (not on the host network) cannot read the node role's
            # credentials; give the AWS Load Balancer Controller its region and VPC ID (and IRSA).
            metadata_options=LaunchTemplateMetadataOptions(
                http_tokens="required", http_endpoint="enabled", http_put_response_hop_limit=1
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

    def _cluster_key(self, cluster_role: IamRole) -> KmsKey:
        """A rotated key for the cluster's secrets and its control-plane logs: the account
        administers it, the cluster role encrypts secrets, CloudWatch Logs the cluster's log group."""
        account = DataAwsCallerIdentity(self, "eks-account")
        partition = DataAwsPartition(self, "eks-partition")
        region = self.network.vpc.region_name
        log_group_arn = f"arn:{partition.partition}:logs:{region}:{account.account_id}:log-group:{CLUSTER_LOG_GROUP}"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition.partition}:iam::{account.account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "ClusterEncryptsSecrets",
                    "Effect": "Allow",
                    "Principal": {"AWS": cluster_role.arn},
                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:ListGrants"],
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsEncryptsClusterLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arn}},
                },
            ],
        }
        return KmsKey(
            self,
            "eks-key",
            description=f"{CLUSTER_NAME}: encrypts the EKS cluster's Kubernetes secrets and control-plane logs",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(policy),
        )
