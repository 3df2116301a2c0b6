"""One jsii runtime and one synthesized app per test session: each start costs seconds."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# Our users' plugin (the pytest11 entry point when installed): the fast provider loading before any
# test imports cdktf, and the circleci_synth / circleci_assert_matches_spec fixtures.
pytest_plugins = ["circleci_network.pytest_plugin", "pytester"]

Synth = dict[str, Any]


@pytest.fixture(scope="session")
def reference_stacks() -> dict[str, Synth]:
    from cdktf import App, TerraformStack, Testing

    from stacks.reference import add_reference_stacks

    app = App()
    add_reference_stacks(app)
    add_network_acl_stacks(app)
    return {
        child.node.id: json.loads(Testing.synth(child))
        for child in app.node.children
        if isinstance(child, TerraformStack)
    }


def add_network_acl_stacks(app: Any) -> None:
    """Network ACLs on (tests/test_network_acls.py): the reference network; a narrow VPN network
    in an existing VPC with two zones and one NAT gateway; public jobs behind transparent NLBs."""
    import warnings

    from circleci_network.aws import AwsNetworkProps, NatGateways, VpcProps
    from circleci_network.aws.vpc import ExistingVpc
    from circleci_network.model.options import ExtraEgressRule, HardeningOptions
    from circleci_network.model.ports import Port
    from circleci_network.model.roles import Role
    from circleci_network.model.topology import JobPlacement, Topology, TopologyWarning, UserAccess
    from circleci_network.stacks.aws import AwsStackProps, CircleciAwsStack

    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    reference = AwsNetworkProps(vpc=VpcProps(availability_zones=zones), network_acls=True)
    CircleciAwsStack(app, "circleci-aws-nacl", props=AwsStackProps(region="us-east-1", network=reference))
    existing = ExistingVpc("vpc-0123456789abcdef0", "10.20.0.0/16", "igw-0123456789abcdef0", taken_cidrs=())
    narrow = HardeningOptions(
        client_cidrs=("203.0.113.0/24",),
        external_cidrs=("198.51.100.7/32",),
        rerun_ssh_cidrs=("192.0.2.0/28",),
        ssh_administrator_cidrs=("100.64.0.0/10",),
        extra_egress=(ExtraEgressRule("artifactory", Role.NOMAD_CLIENTS, Port.tcp(8081), ("172.16.8.0/22",), "Cache"),),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        vpn = AwsNetworkProps(
            vpc=VpcProps(availability_zones=zones[:2], existing_vpc=existing, nat_gateways=NatGateways.ONE),
            hardening=narrow,
            topology=Topology(user_access=UserAccess.VPN),
            network_acls=True,
        )
    CircleciAwsStack(app, "circleci-aws-nacl-vpn", props=AwsStackProps(region="us-east-1", network=vpn))
    # Job subnets route through the internet gateway (no NAT transit); load balancers without groups.
    public_jobs = AwsNetworkProps(
        vpc=VpcProps(availability_zones=zones, cidr_block="10.42.0.0/18"),
        hardening=HardeningOptions(rerun_ssh_cidrs=("192.0.2.0/28",), transparent_load_balancers=True),
        topology=Topology(job_placement=JobPlacement.PUBLIC),
        network_acls=True,
    )
    CircleciAwsStack(app, "circleci-aws-nacl-public-jobs", props=AwsStackProps(region="us-east-1", network=public_jobs))


@pytest.fixture(scope="session")
def aws_reference(reference_stacks: dict[str, Synth]) -> Synth:
    return reference_stacks["circleci-aws"]


@pytest.fixture(scope="session")
def gcp_reference(reference_stacks: dict[str, Synth]) -> Synth:
    return reference_stacks["circleci-gcp"]


@pytest.fixture(scope="session")
def shape_stacks() -> dict[str, Synth]:
    """Every deployment shape (tests/modes.py), synthesized once, in the session's jsii runtime."""
    import warnings

    from cdktf import App, Testing

    from circleci_network.model.topology import TopologyWarning
    from tests.modes import build_all

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        stacks = build_all(App())
    return {name: json.loads(Testing.synth(stack)) for name, stack in stacks.items()}


@pytest.fixture(scope="session")
def gke_stacks() -> dict[str, Synth]:
    """The GKE shapes (tests/gke_stacks.py), synthesized once."""
    import warnings

    from cdktf import App, Testing

    from circleci_network.model.topology import TopologyWarning
    from tests.gke_stacks import build_gke_stacks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)  # VPN-only rerun-with-SSH, said on purpose
        stacks = build_gke_stacks(App())
    return {name: json.loads(Testing.synth(stack)) for name, stack in stacks.items()}


@pytest.fixture(scope="session")
def eks_example() -> Synth:
    """stacks/eks_example.py: the reference network with Platform.EKS, a cluster and a node group."""
    from cdktf import App, Testing

    from stacks.eks_example import EksExampleStack

    return dict(json.loads(Testing.synth(EksExampleStack(App(), "aws-eks-example"))))


@pytest.fixture(scope="session")
def aws_v4_internet() -> Synth:
    """The reference AWS network on Server v4.3 with internet-facing users (static proxy EIPs)."""
    from dataclasses import replace

    from cdktf import App, Testing

    from circleci_network.model.server_versions import ServerVersion, ServerVersionId
    from circleci_network.stacks.aws import CircleciAwsStack
    from stacks.reference import reference_aws_props

    aws = reference_aws_props()
    network = replace(aws.network, server_version=ServerVersion(ServerVersionId.V4_3), node_ports=None)
    stack = CircleciAwsStack(App(), "circleci-aws-v4-internet", props=replace(aws, network=network))
    return dict(json.loads(Testing.synth(stack)))


@pytest.fixture(scope="session")
def aws_v4_internet_endpoints() -> Synth:
    """``aws_v4_internet`` with VPC endpoints for the nodes and the Nomad clients (behind NAT):
    both features in one network."""
    from dataclasses import replace

    from cdktf import App, Testing

    from circleci_network.model.roles import Role
    from circleci_network.model.server_versions import ServerVersion, ServerVersionId
    from circleci_network.model.vpc_endpoints import VpcEndpoints
    from circleci_network.stacks.aws import CircleciAwsStack
    from stacks.reference import reference_aws_props

    aws = reference_aws_props()
    endpoints = VpcEndpoints(enabled=True, roles=(Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS))
    network = replace(
        aws.network, server_version=ServerVersion(ServerVersionId.V4_3), node_ports=None, vpc_endpoints=endpoints
    )
    stack = CircleciAwsStack(App(), "circleci-aws-v4-internet-endpoints", props=replace(aws, network=network))
    return dict(json.loads(Testing.synth(stack)))


@pytest.fixture(scope="session")
def gcp_v4_internet() -> Synth:
    """The reference GCP network on Server v4.3 with internet-facing users: the external proxy's
    reserved address and Cloud NAT on two static addresses (as tests/test_server_version_stacks.py)."""
    import warnings
    from dataclasses import replace

    from cdktf import App, Testing

    from circleci_network.gcp.settings import CloudNat
    from circleci_network.model.options import HardeningOptions
    from circleci_network.model.server_versions import ServerVersion, ServerVersionId
    from circleci_network.model.topology import TopologyWarning
    from circleci_network.stacks.gcp import CircleciGcpStack
    from stacks.reference import reference_gcp_props

    gcp = reference_gcp_props()
    network = replace(
        gcp.network,
        server_version=ServerVersion(ServerVersionId.V4_3),
        nat=CloudNat(address_count=2),
        hardening=HardeningOptions(client_cidrs=("203.0.113.0/24",)),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        stack = CircleciGcpStack(App(), "circleci-gcp-v4-internet", props=replace(gcp, network=network))
    return dict(json.loads(Testing.synth(stack)))


@pytest.fixture(scope="session")
def eks_nacl_example() -> Synth:
    """The EKS example with network ACLs (and egress through a proxy): stacks/eks_example.py."""
    from cdktf import App, Testing

    from stacks.eks_example import EksExampleStack, eks_example_props

    stack = EksExampleStack(App(), "aws-eks-nacl", props=eks_example_props(network_acls=True))
    return dict(json.loads(Testing.synth(stack)))


@pytest.fixture(scope="session")
def eks_endpoints_example() -> Synth:
    """The EKS example with ``VpcEndpoints(enabled=True)``: the default list plus eks."""
    from cdktf import App, Testing

    from circleci_network.model.vpc_endpoints import VpcEndpoints
    from stacks.eks_example import EksExampleStack, eks_example_props

    props = eks_example_props(vpc_endpoints=VpcEndpoints(enabled=True))
    return dict(json.loads(Testing.synth(EksExampleStack(App(), "aws-eks-endpoints", props=props))))


@pytest.fixture(scope="session")
def aws_endpoints() -> Synth:
    """The AWS reference stack with ``VpcEndpoints(enabled=True)`` (no platform): the default list."""
    from dataclasses import replace

    from cdktf import App, Testing

    from circleci_network.model.vpc_endpoints import VpcEndpoints
    from circleci_network.stacks.aws import CircleciAwsStack
    from stacks.reference import reference_aws_props

    props = reference_aws_props()
    props = replace(props, network=replace(props.network, vpc_endpoints=VpcEndpoints(enabled=True)))
    return dict(json.loads(Testing.synth(CircleciAwsStack(App(), "circleci-aws", props=props))))
