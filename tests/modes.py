"""Every deployment shape of the guide, each as the reference stack with one option changed,
so a shape's snapshot and audit differ from the reference by that option only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cdktf import App, TerraformStack

from circleci_network.model.options import ExtraEgressRule, HardeningOptions
from circleci_network.model.ports import Port
from circleci_network.model.roles import Role
from circleci_network.model.topology import JobPlacement, Topology, UserAccess
from stacks.reference import reference_aws_props, reference_gcp_props

VPN = ("10.200.0.0/16",)
OFFICE = ("203.0.113.0/24",)
ADMINS = ("198.51.100.0/24",)
PROXY = ("192.0.2.10/32",)
#: A proxy on the Kubernetes nodes' subnet: inside both clouds' networks.
INTERNAL_PROXY = ("10.0.15.10/32",)
GITHUB = ("140.82.112.0/20",)
ARTIFACTORY = ExtraEgressRule(
    name="artifactory",
    role=Role.NOMAD_CLIENTS,
    port=Port.tcp(8081),
    cidrs=("192.0.2.50/32",),
    purpose="Jobs pull packages from Artifactory",
)

#: Shape name -> the options that differ from the reference (same for both clouds).
HARDENING: dict[str, HardeningOptions] = {
    "vpn": HardeningOptions(client_cidrs=VPN, rerun_ssh_cidrs=VPN),
    "public-jobs": HardeningOptions(rerun_ssh_cidrs=OFFICE),
    "proxy-egress": HardeningOptions(external_cidrs=PROXY, vcs_cidrs=GITHUB),
    "internal-proxy": HardeningOptions(internal_proxy_cidrs=INTERNAL_PROXY),
    "ssh-admin": HardeningOptions(ssh_administrator_cidrs=ADMINS),
    "extra-egress": HardeningOptions(extra_egress=(ARTIFACTORY,)),
    "transparent-lbs": HardeningOptions(transparent_load_balancers=True),
}
TOPOLOGY = {
    "vpn": Topology(user_access=UserAccess.VPN),
    "public-jobs": Topology(job_placement=JobPlacement.PUBLIC),
}
EXISTING_VPC_ID = "vpc-0123456789abcdef0"
EXISTING_NETWORK = "projects/acme-circleci/global/networks/shared"


def _aws(app: App, shape: str) -> TerraformStack:
    from circleci_network.aws import ExistingVpc
    from circleci_network.stacks.aws import CircleciAwsStack

    props = reference_aws_props()
    network = props.network
    if shape in HARDENING:
        network = replace(network, hardening=HARDENING[shape], topology=TOPOLOGY.get(shape, Topology()))
    elif shape == "existing-vpc":
        network = replace(
            network,
            vpc=replace(
                network.vpc,
                existing_vpc=ExistingVpc(
                    vpc_id=EXISTING_VPC_ID,
                    cidr_block="10.50.0.0/16",
                    internet_gateway_id="igw-0123456789abcdef0",
                    taken_cidrs=(),  # an empty VPC: the subnets, and so the snapshot, are the reference's
                ),
            ),
        )
    else:
        raise KeyError(shape)
    return CircleciAwsStack(app, f"aws-{shape}", props=replace(props, network=network))


def _aws_security_groups_only(app: App) -> TerraformStack:
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from circleci_network.aws import CircleciSecurityGroups, SecurityGroupProps

    stack = TerraformStack(app, "aws-security-groups-only")
    AwsProvider(stack, "aws", region="us-east-1")
    CircleciSecurityGroups(
        stack,
        "security-groups",
        props=SecurityGroupProps(
            vpc_id=EXISTING_VPC_ID,
            dns_resolver_cidrs=("10.50.0.2/32",),
            role_subnet_cidrs={
                Role.KUBERNETES_NODES: ("10.50.0.0/20", "10.50.16.0/20"),
                Role.NOMAD_CLIENTS: ("10.50.32.0/20", "10.50.48.0/20"),
                Role.EXTERNAL_VMS: ("10.50.64.0/20", "10.50.80.0/20"),
            },
        ),
    )
    return stack


def _gcp(app: App, shape: str) -> TerraformStack:
    from circleci_network.gcp import FirewallTargets
    from circleci_network.stacks.gcp import CircleciGcpStack

    props = reference_gcp_props()
    network = props.network
    if shape in HARDENING:
        network = replace(network, hardening=HARDENING[shape], topology=TOPOLOGY.get(shape, Topology()))
    elif shape == "network-tags":
        network = replace(network, firewall_targets=FirewallTargets.NETWORK_TAGS)
    elif shape == "existing-network":
        network = replace(network, existing_network=EXISTING_NETWORK, existing_network_taken_cidrs=())
    else:
        raise KeyError(shape)
    return CircleciGcpStack(app, f"gcp-{shape}", props=replace(props, network=network))


AWS_SHAPES = [*HARDENING, "existing-vpc"]
# Transparent load balancers are GCP's only kind; public jobs change no GCP resource.
GCP_SHAPES = [s for s in HARDENING if s not in ("transparent-lbs", "public-jobs")] + [
    "network-tags",
    "existing-network",
]

BUILDERS: dict[str, Callable[[App], TerraformStack]] = {
    **{f"aws-{s}": (lambda app, s=s: _aws(app, s)) for s in AWS_SHAPES},  # type: ignore[misc]
    "aws-security-groups-only": _aws_security_groups_only,
    **{f"gcp-{s}": (lambda app, s=s: _gcp(app, s)) for s in GCP_SHAPES},  # type: ignore[misc]
}


def build_all(app: App) -> dict[str, Any]:
    return {name: build(app) for name, build in BUILDERS.items()}
