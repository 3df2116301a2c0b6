"""GCP rendering of the hardening rules: one network, roles isolated by firewall targets.

Importing this package loads only the Google provider modules it uses; never the AWS one.
"""

from circleci_network.tooling.provider_loading import load_provider_package_lazily

load_provider_package_lazily("cdktf_cdktf_provider_google")

from circleci_network.gcp.firewall import CircleciFirewall, FirewallProps  # noqa: E402
from circleci_network.gcp.identities import RoleIdentities, RoleIdentityProps  # noqa: E402
from circleci_network.gcp.load_balancer_addresses import LoadBalancerAddresses, LoadBalancerAddressProps  # noqa: E402
from circleci_network.gcp.network import CircleciGcpNetwork, GcpNetworkProps  # noqa: E402
from circleci_network.gcp.settings import CloudNat, FirewallTargets, FlowLogInterval, GcpAddressing  # noqa: E402
from circleci_network.gcp.vpc import CircleciGcpVpc, GcpVpcProps  # noqa: E402
from circleci_network.model.accepted_findings import AcceptedFinding  # noqa: E402
from circleci_network.tooling.synth_files import write_synth_files  # noqa: E402

__all__ = [
    "AcceptedFinding",
    "CircleciFirewall",
    "CircleciGcpNetwork",
    "CircleciGcpVpc",
    "CloudNat",
    "FirewallProps",
    "FirewallTargets",
    "FlowLogInterval",
    "GcpAddressing",
    "GcpNetworkProps",
    "GcpVpcProps",
    "LoadBalancerAddressProps",
    "LoadBalancerAddresses",
    "RoleIdentities",
    "RoleIdentityProps",
    "write_synth_files",
]
