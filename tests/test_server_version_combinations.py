"""Property: every server version with every combination of options synthesizes and the audit
of its JSON finds exactly that version's flows (plus, on GCP v4, what GKE adds)."""

from __future__ import annotations

import cdktf
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from circleci_network.audit import assert_matches_spec
from circleci_network.options import HardeningOptions
from circleci_network.server_versions import ServerVersion, ServerVersionId
from circleci_network.topology import Topology, UserAccess
from tests.test_option_combinations import _fits, _synth, gcp_combination, hardening_options, synth_settings, topologies

#: Fewer examples than tests/test_option_combinations.py: the version is one more dimension of
#: the same options, which that file already covers for the default version.
version_settings = settings(synth_settings, max_examples=4)

versions = st.builds(
    lambda version, job_ports, servers: ServerVersion(
        version,
        proxy_job_ports=job_ports and version in (ServerVersionId.V4_3, ServerVersionId.V4_8),
        external_nomad_server_cidrs=servers if version is ServerVersionId.V4_8 else (),
    ),
    st.sampled_from(list(ServerVersionId)),
    st.booleans(),
    st.sampled_from([(), ("10.250.0.0/24",)]),
)


@pytest.mark.filterwarnings("ignore::circleci_network.topology.TopologyWarning")
@version_settings
@given(version=versions, hardening=hardening_options, topology=topologies)
def test_every_aws_version_and_combination_audits_clean(
    version: ServerVersion, hardening: HardeningOptions, topology: Topology
) -> None:
    assume(_fits(hardening, topology))
    assume(not (hardening.transparent_load_balancers and version.profile.proxy_load_balancer))  # refused
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from circleci_network.aws import AwsNetworkProps, CircleciAwsNetwork, VpcProps

    stack = cdktf.TerraformStack(cdktf.App(), "combination")
    AwsProvider(stack, "aws", region="eu-west-1")
    CircleciAwsNetwork(
        stack,
        "network",
        props=AwsNetworkProps(
            vpc=VpcProps(availability_zones=("eu-west-1a", "eu-west-1b")),
            hardening=hardening,
            topology=topology,
            server_version=version,
        ),
    )
    result = assert_matches_spec(_synth(stack), "combination")
    assert result.intent.server_version == version
    assert any(key.destination == "circleci-proxy" for key in result.flows) is version.profile.proxy_load_balancer


@pytest.mark.filterwarnings("ignore::circleci_network.topology.TopologyWarning")
@version_settings
@given(version=versions, hardening=hardening_options, topology=topologies)
def test_every_gcp_version_and_combination_audits_clean(
    version: ServerVersion, hardening: HardeningOptions, topology: Topology
) -> None:
    assume(_fits(hardening, topology))
    assume(version.id is not ServerVersionId.V4_0)  # refused on GCP
    if version.profile.proxy_load_balancer:
        assume(topology.user_access is UserAccess.VPN)  # refused on GCP for now
    synthesized = gcp_combination(
        hardening=hardening,
        topology=topology,
        server_version=version,
    )
    result = assert_matches_spec(synthesized, "combination")
    assert result.intent.server_version == version
