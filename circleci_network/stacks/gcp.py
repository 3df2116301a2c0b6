"""A GCP stack: provider, optional GCS backend, the network, and its outputs."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import GcsBackend, TerraformOutput, TerraformStack
from constructs import Construct

from circleci_network.gcp import CircleciGcpNetwork, GcpNetworkProps
from circleci_network.model.checks import checked_keywords, require_fields
from circleci_network.model.roles import COMPUTE_ROLES
from circleci_network.tooling.outputs import snake
from circleci_network.tooling.provider_loading import load_provider_package_lazily

load_provider_package_lazily("cdktf_cdktf_provider_google")
from cdktf_cdktf_provider_google.provider import GoogleProvider  # noqa: E402


@checked_keywords
@dataclass(frozen=True)
class GcsStateBackend:
    """Remote state for teams: GCS locks state natively."""

    bucket: str
    """GCS bucket holding the state (it must exist; object versioning is recommended)."""
    prefix: str
    """Folder of this stack's state in the bucket, e.g. ``circleci-network/prod/gcp``; unique per stack."""

    def __post_init__(self) -> None:
        require_fields(self)


@checked_keywords
@dataclass(frozen=True)
class GcpStackProps:
    network: GcpNetworkProps
    """The network this stack holds (project and region come from it)."""
    environment: str = "reference"
    """Environment name: the provider's ``circleci-environment`` default label on every labelled resource."""
    backend: GcsStateBackend | None = None
    """Remote state; ``None`` keeps local state (fine for a trial, not for a team)."""

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
        made = network.add_outputs(self)
        # The IDs these outputs had before add_outputs, kept for existing consumers (deprecated).
        for old, new in legacy_output_ids(network).items():
            if new not in made:
                continue  # helm_values: v3 server versions write kots_settings instead
            TerraformOutput(self, old, value=made[new].value, description=f"Deprecated: use {new}")


def legacy_output_ids(network: CircleciGcpNetwork) -> dict[str, str]:
    """Earlier output ID -> output name of ``add_outputs``."""
    ids = {
        "network-name": "network_name",
        "helm-values": "helm_values",
        "network-self-link": "network_self_link",
        "subnet-name": "subnetwork_name",
        "subnet-self-link": "subnetwork_self_link",
        "pods-range-name": "pods_range_name",
        "services-range-name": "services_range_name",
    }
    for role in COMPUTE_ROLES:
        ids[f"service-account-{role.value}"] = f"{snake(role)}_service_account"
        ids[f"network-tag-{role.value}"] = f"{snake(role)}_network_tag"
    for role in network.load_balancer_addresses.addresses:
        ids[f"load-balancer-address-{role.value}"] = f"{snake(role)}_load_balancer_address"
    return ids
