"""Property: every server version with every combination of options synthesizes and the audit
of its JSON finds exactly that version's flows (plus, on GCP v4, what GKE adds)."""

from __future__ import annotations

import cdktf
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from circleci_network.audit import assert_matches_spec
from circleci_network.model.options import HardeningOptions
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.topology import Topology, UserAccess
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


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@version_settings
@given(version=versions, hardening=hardening_options, topology=topologies, existing_nat_eips=st.booleans())
# v4 internet mode, always tried: static proxy EIPs and NAT addresses on both ends of 4647.
@example(ServerVersion(ServerVersionId.V4_3), HardeningOptions(), Topology(), False)
@example(ServerVersion(ServerVersionId.V4_0, proxy_job_ports=True), HardeningOptions(), Topology(), True)
def test_every_aws_version_and_combination_audits_clean(
    version: ServerVersion, hardening: HardeningOptions, topology: Topology, existing_nat_eips: bool
) -> None:
    assume(_fits(hardening, topology))
    assume(not (hardening.transparent_load_balancers and version.profile.proxy_load_balancer))  # refused
    # v4 internet mode with public Nomad clients is refused (their addresses cannot be named).
    assume(not (version.profile.proxy_load_balancer and topology.public_job_instances))
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from circleci_network.aws import AwsNetworkProps, CircleciAwsNetwork, VpcProps

    stack = cdktf.TerraformStack(cdktf.App(), "combination")
    AwsProvider(stack, "aws", region="eu-west-1")
    CircleciAwsNetwork(
        stack,
        "network",
        props=AwsNetworkProps(
            vpc=VpcProps(
                availability_zones=("eu-west-1a", "eu-west-1b"),
                nat_eip_allocation_ids=("eipalloc-0123456789abcdef0", "eipalloc-0123456789abcdef1")
                if existing_nat_eips
                else (),
            ),
            hardening=hardening,
            topology=topology,
            server_version=version,
        ),
    )
    result = assert_matches_spec(_synth(stack), "combination")
    assert result.intent.server_version == version
    assert any(key.destination == "circleci-proxy" for key in result.flows) is version.profile.proxy_load_balancer
    if version.profile.proxy_load_balancer:  # from Nomad clients on 4647, in either user access mode
        assert any(
            (k.source, k.destination, k.port.label) == ("nomad-clients", "circleci-proxy", "tcp/4647")
            for k in result.flows
        )


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@version_settings
@given(version=versions, hardening=hardening_options, topology=topologies, nat_addresses=st.sampled_from([1, 2]))
@example(ServerVersion(ServerVersionId.V4_3), HardeningOptions(), Topology(), 1)
@example(
    ServerVersion(ServerVersionId.V4_8, proxy_job_ports=True, external_nomad_server_cidrs=("10.250.0.0/24",)),
    HardeningOptions(client_cidrs=("203.0.113.0/24",)),
    Topology(),
    2,
)
def test_every_gcp_version_and_combination_audits_clean(
    version: ServerVersion, hardening: HardeningOptions, topology: Topology, nat_addresses: int
) -> None:
    from circleci_network.gcp.settings import CloudNat

    assume(_fits(hardening, topology))
    assume(version.id is not ServerVersionId.V4_0)  # refused on GCP
    internet_proxy = version.profile.proxy_load_balancer and topology.user_access is UserAccess.INTERNET
    assume(not (internet_proxy and topology.public_job_instances))  # refused
    synthesized = gcp_combination(
        hardening=hardening,
        topology=topology,
        server_version=version,
        # v4 internet mode needs Cloud NAT's static addresses (named by the proxy's rules).
        nat=CloudNat(address_count=nat_addresses) if internet_proxy else CloudNat(),
    )
    result = assert_matches_spec(synthesized, "combination")
    assert result.intent.server_version == version
