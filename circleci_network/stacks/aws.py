"""An AWS stack: provider, optional S3 backend, the network, and its outputs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from cdktf import S3Backend, TerraformOutput, TerraformStack
from constructs import Construct

from circleci_network.aws import AwsNetworkProps, CircleciAwsNetwork, SubnetTier
from circleci_network.aws.naming import check_region
from circleci_network.errors import ConfigurationError
from circleci_network.model.checks import checked_keywords, require_fields
from circleci_network.model.roles import Role
from circleci_network.stacks.environments import DEFAULT_ENVIRONMENT, environment_name_prefix
from circleci_network.tooling.outputs import snake
from circleci_network.tooling.provider_loading import load_provider_package_lazily

load_provider_package_lazily("cdktf_cdktf_provider_aws")
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags  # noqa: E402


@checked_keywords
@dataclass(frozen=True)
class S3StateBackend:
    """Remote state for teams: S3 with native lock files (Terraform >= 1.10)."""

    bucket: str
    """S3 bucket holding the state (it must exist; versioning on is recommended)."""
    key: str
    """Object key of this stack's state, e.g. ``circleci-network/prod/aws.tfstate``; unique per stack."""
    region: str
    """The bucket's AWS region, e.g. ``us-east-1`` (checked like every region)."""
    encrypt: bool = True
    """Server-side encryption of the state object."""
    use_lockfile: bool = True
    """Lock with S3 native lock files (Terraform >= 1.10); ignored when ``dynamodb_table`` is set."""
    dynamodb_table: str | None = None
    """Terraform < 1.10: lock in this DynamoDB table instead of S3 lock files."""

    def __post_init__(self) -> None:
        require_fields(self)
        check_region(self.region, "S3StateBackend.region")


_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


@checked_keywords
@dataclass(frozen=True)
class AwsStackProps:
    region: str
    """The AWS provider's region, e.g. ``us-east-1``; the VPC's availability zones must belong to it."""
    network: AwsNetworkProps
    """
    Its ``vpc.name`` becomes the environment's prefix of account-global names (IAM role, log group, NLBs, target
    groups): ``circleci`` in environment ``dev`` -> ``circleci-dev``.
    """
    environment: str = DEFAULT_ENVIRONMENT
    """Environment name: the ``circleci/environment`` tag, and part of account-global names unless ``"reference"``."""
    backend: S3StateBackend | None = None
    """Remote state; ``None`` keeps local state (fine for a trial, not for a team)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Default tags on every resource of the stack (the provider's ``default_tags``)."""
    account_id: str | None = None
    """
    The account this stack deploys to: the provider refuses any other (``allowed_account_ids``), and environments in
    different accounts may share a name prefix.
    """

    def __post_init__(self) -> None:
        require_fields(self)
        check_region(self.region, "AwsStackProps.region")
        if self.network.vpc.region != self.region:
            raise ConfigurationError(
                "VpcProps.availability_zones",
                f"{list(self.network.vpc.availability_zones)} are zones of {self.network.vpc.region}, "
                f"but the stack is in {self.region} (AwsStackProps.region)",
                f'list zones of {self.region} (e.g. "{self.region}a", "{self.region}b"), or correct the region',
            )
        if self.account_id is not None and not (
            isinstance(self.account_id, str) and _ACCOUNT_ID.match(self.account_id)
        ):
            raise ConfigurationError(
                "AwsStackProps.account_id", f"{self.account_id!r} is not an AWS account ID", "give the 12 digits"
            )
        vpc = self.network.vpc
        prefix = environment_name_prefix(vpc.name, self.environment)
        if prefix != vpc.name:
            try:
                network = replace(self.network, vpc=replace(vpc, name=prefix))
            except ConfigurationError as error:  # the environment made the prefix too long
                raise ConfigurationError(
                    "AwsStackProps.environment",
                    f"{self.environment!r} makes the name prefix {prefix!r}: {error.problem}",
                    f"use a shorter environment or VpcProps.name ({error.fix})",
                ) from None
            object.__setattr__(self, "network", network)


class CircleciAwsStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, props: AwsStackProps) -> None:
        super().__init__(scope, id)
        AwsProvider(
            self,
            "aws",
            region=props.region,
            allowed_account_ids=[props.account_id] if props.account_id else None,
            default_tags=[
                AwsProviderDefaultTags(
                    tags={"circleci/environment": props.environment, "managed-by": "circleci-network", **props.tags}
                )
            ],
        )
        if props.backend is not None:
            b = props.backend
            S3Backend(
                self, bucket=b.bucket, key=b.key, region=b.region, encrypt=b.encrypt, dynamodb_table=b.dynamodb_table
            )
            if b.use_lockfile and b.dynamodb_table is None:
                # cdktf 0.21 predates S3 native locking; Terraform >= 1.10 reads this key.
                self.add_override("terraform.backend.s3.use_lockfile", True)
        self.network = network = CircleciAwsNetwork(self, "network", props=props.network)
        made = network.add_outputs(self)
        # The IDs these outputs had before add_outputs, kept for existing consumers (deprecated).
        for old, new in legacy_output_ids(network).items():
            if new not in made:
                continue  # helm_values: v3 server versions write kots_settings instead
            TerraformOutput(self, old, value=made[new].value, description=f"Deprecated: use {new}")


def legacy_output_ids(network: CircleciAwsNetwork) -> dict[str, str]:
    """Earlier output ID -> output name of ``add_outputs``."""
    ids = {"vpc-id": "vpc_id", "helm-values": "helm_values", "vpc-dns-resolver": "vpc_dns_resolver"}
    ids |= {f"subnet-ids-{tier.value}": f"{snake(tier.value)}_subnet_ids" for tier in SubnetTier}
    for role in network.security_groups.group_ids:
        if role is Role.VPC_ENDPOINTS:
            continue  # newer than these IDs: only vpc_endpoints_security_group_id
        kind = "load_balancer_security_group_id" if role.is_load_balancer else "security_group_id"
        ids[f"security-group-id-{role.value}"] = f"{snake(role)}_{kind}"
    for role in network.load_balancers.load_balancers:  # none on v4: the chart builds circleci-proxy
        ids[f"load-balancer-{role.value}-name"] = f"{snake(role)}_load_balancer_name"
        ids[f"load-balancer-{role.value}-dns-name"] = f"{snake(role)}_load_balancer_dns_name"
    for role, port in network.load_balancers.target_group_arns:
        ids[f"target-group-arn-{role.value}-{port}"] = f"{snake(role)}_target_group_arn_{port}"
    return ids
