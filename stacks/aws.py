"""The reference AWS stack: provider, optional S3 backend, the network, and its outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktf import S3Backend, TerraformOutput, TerraformStack
from constructs import Construct

from circleci_network.aws import AwsNetworkProps, CircleciAwsNetwork, SubnetTier
from circleci_network.aws.naming import check_region
from circleci_network.checks import require_fields
from circleci_network.errors import ConfigurationError
from circleci_network.provider_loading import load_provider_package_lazily
from circleci_network.roles import LOAD_BALANCERS

load_provider_package_lazily("cdktf_cdktf_provider_aws")
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags  # noqa: E402


@dataclass(frozen=True)
class S3StateBackend:
    """Remote state for teams: S3 with native lock files (Terraform >= 1.10)."""

    bucket: str
    key: str
    region: str
    encrypt: bool = True
    use_lockfile: bool = True
    dynamodb_table: str | None = None  # older Terraform: lock in DynamoDB instead

    def __post_init__(self) -> None:
        require_fields(self)
        check_region(self.region, "S3StateBackend.region")


@dataclass(frozen=True)
class AwsStackProps:
    region: str
    network: AwsNetworkProps
    environment: str = "reference"
    backend: S3StateBackend | None = None
    tags: dict[str, str] = field(default_factory=dict)

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


class CircleciAwsStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, props: AwsStackProps) -> None:
        super().__init__(scope, id)
        AwsProvider(
            self,
            "aws",
            region=props.region,
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
        TerraformOutput(self, "vpc-id", value=network.vpc.vpc_id)
        network.helm_values.add_output(self)
        TerraformOutput(
            self,
            "vpc-dns-resolver",
            value=props.network.vpc.dns_resolver_address,
            description="Amazon-provided DNS server of the VPC (base + 2)",
        )
        for tier in SubnetTier:
            TerraformOutput(self, f"subnet-ids-{tier.value}", value=network.vpc.subnet_ids(tier))
        for role, group_id in network.security_groups.group_ids.items():
            TerraformOutput(self, f"security-group-id-{role.value}", value=group_id)
        for role in LOAD_BALANCERS:
            lb = network.load_balancers.load_balancers[role]
            TerraformOutput(self, f"load-balancer-{role.value}-name", value=lb.name)
            TerraformOutput(self, f"load-balancer-{role.value}-dns-name", value=lb.dns_name)
        for (role, port), target_group_arn in network.load_balancers.target_group_arns.items():
            TerraformOutput(
                self,
                f"target-group-arn-{role.value}-{port}",
                value=target_group_arn,
                description=f"Bind the {role.value} service's port {port} here (TargetGroupBinding)",
            )
