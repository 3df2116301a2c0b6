"""The reference GCP stack: provider, optional GCS backend, the network, and its outputs."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import GcsBackend, TerraformOutput, TerraformStack
from constructs import Construct

from circleci_network.checks import require_fields
from circleci_network.gcp import CircleciGcpNetwork, GcpNetworkProps
from circleci_network.provider_loading import load_provider_package_lazily
from circleci_network.roles import COMPUTE_ROLES

load_provider_package_lazily("cdktf_cdktf_provider_google")
from cdktf_cdktf_provider_google.provider import GoogleProvider  # noqa: E402


@dataclass(frozen=True)
class GcsStateBackend:
    """Remote state for teams: GCS locks state natively."""

    bucket: str
    prefix: str

    def __post_init__(self) -> None:
        require_fields(self)


@dataclass(frozen=True)
class GcpStackProps:
    network: GcpNetworkProps
    environment: str = "reference"
    backend: GcsStateBackend | None = None

    def __post_init__(self) -> None:
        require_fields(self)


class CircleciGcpStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, props: GcpStackProps) -> None:
        super().__init__(scope, id)
        n = props.network
        GoogleProvider(
            self,
            "google",
            project=n.project,
            region=n.region,
            default_labels={"circleci-environment": props.environment, "managed-by": "circleci-network"},
        )
        if props.backend is not None:
            GcsBackend(self, bucket=props.backend.bucket, prefix=props.backend.prefix)
        self.network = network = CircleciGcpNetwork(self, "network", props=n)
        TerraformOutput(self, "network-name", value=network.vpc.network_name)
        network.helm_values.add_output(self)
        TerraformOutput(self, "network-self-link", value=network.vpc.network_self_link)
        TerraformOutput(self, "subnet-name", value=network.vpc.subnet.name)
        TerraformOutput(self, "subnet-self-link", value=network.vpc.subnet.self_link)
        TerraformOutput(self, "pods-range-name", value=f"{n.name}-pods")
        TerraformOutput(self, "services-range-name", value=f"{n.name}-services")
        for role in COMPUTE_ROLES:
            TerraformOutput(self, f"service-account-{role.value}", value=network.identities.service_account_email(role))
            TerraformOutput(self, f"network-tag-{role.value}", value=network.identities.tags[role])
        for role, address in network.load_balancer_addresses.addresses.items():
            TerraformOutput(self, f"load-balancer-address-{role.value}", value=address.address)
