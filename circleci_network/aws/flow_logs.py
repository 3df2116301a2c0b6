"""VPC flow logs: every flow of the VPC to a KMS-encrypted CloudWatch log group (CKV2_AWS_11)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

#: The retention periods CloudWatch Logs accepts, in days.
RETENTION_DAYS = {
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
}


@dataclass(frozen=True)
class VpcFlowLogs:
    """What other parts of the network read: the log group and key, and the stack's region."""

    key: KmsKey
    group: CloudwatchLogGroup
    flow_log: FlowLog
    region_name: str
    """The region the stack deploys to, from the data source the key policy needs anyway."""


def add_flow_logs(
    scope: Construct, *, vpc_id: str, name: str, retention_days: int, tags: Mapping[str, str]
) -> VpcFlowLogs:
    """Flow logs of ``vpc_id``, created directly in ``scope`` (the VPC construct) under the logical
    IDs they had before this module existed: a new construct level would replace them."""
    account = DataAwsCallerIdentity(scope, "account")
    partition = DataAwsPartition(scope, "partition")
    region = DataAwsRegion(scope, "region")
    log_group_arn = f"arn:{partition.partition}:logs:{region.name}:{account.account_id}:log-group:/{name}/vpc-flow-logs"
    key_policy = {
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
                "Sid": "CloudWatchLogsEncryptsFlowLogs",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region.name}.amazonaws.com"},
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
    key = KmsKey(
        scope,
        "flow-logs-key",
        description=f"{name}: encrypts VPC flow logs",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=json.dumps(key_policy),
        tags={**tags, "Name": f"{name}-flow-logs"},
    )
    group = CloudwatchLogGroup(
        scope,
        "flow-logs",
        name=f"/{name}/vpc-flow-logs",
        retention_in_days=retention_days,
        kms_key_id=key.arn,
        tags=dict(tags),
    )
    role = IamRole(
        scope,
        "flow-logs-role",
        name=f"{name}-flow-logs-delivery",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        tags=dict(tags),
    )
    IamRolePolicy(
        scope,
        "flow-logs-policy",
        role=role.id,
        name="deliver-flow-logs",
        policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                        "Resource": [group.arn, f"{group.arn}:*"],
                    }
                ],
            }
        ),
    )
    flow_log = FlowLog(
        scope,
        "flow-log",
        vpc_id=vpc_id,
        traffic_type="ALL",
        log_destination_type="cloud-watch-logs",
        log_destination=group.arn,
        iam_role_arn=role.arn,
        max_aggregation_interval=60,
        tags={**tags, "Name": name},
    )
    return VpcFlowLogs(key=key, group=group, flow_log=flow_log, region_name=region.name)
