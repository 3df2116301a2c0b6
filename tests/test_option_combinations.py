"""Property: every combination of user options synthesizes, passes its own validation, and
the audit of the JSON finds exactly the guide's flows for those options."""

from __future__ import annotations

import json
from typing import Any

import cdktf
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from circleci_network.audit import assert_matches_spec
from circleci_network.errors import ConfigurationError
from circleci_network.model.options import EXTRA_EGRESS_ROLES, ExtraEgressRule, HardeningOptions
from circleci_network.model.ports import Port
from circleci_network.model.topology import JobPlacement, Topology, UserAccess

# Outside addresses only: the networks below use 10.x, the way a real installation does.
OUTSIDE = ["203.0.113.0/24", "198.51.100.7/32", "192.0.2.0/28", "100.64.0.0/10", "172.16.8.0/22", "8.8.8.8/32"]
EVERYWHERE = "0.0.0.0/0"

cidr_lists = st.lists(st.sampled_from(OUTSIDE), min_size=1, max_size=3, unique=True).map(tuple)
open_or_narrow = st.one_of(st.just((EVERYWHERE,)), cidr_lists)

extra_egress = st.lists(
    st.builds(
        ExtraEgressRule,
        name=st.sampled_from(["artifactory", "ldap", "metrics", "git-mirror"]),
        role=st.sampled_from(EXTRA_EGRESS_ROLES),
        port=st.one_of(
            st.integers(1, 65535).map(Port.tcp),
            st.integers(1, 65535).map(Port.udp),
            st.integers(1, 65000).map(lambda low: Port.tcp_range(low, low + 500)),
        ),
        cidrs=cidr_lists,
        purpose=st.just("workload needs it"),
    ),
    max_size=2,
    unique_by=lambda rule: rule.name,
).map(tuple)

_common = {
    "client_cidrs": open_or_narrow,
    "vcs_cidrs": st.one_of(st.none(), cidr_lists),
    "rerun_ssh_cidrs": st.one_of(st.just(()), open_or_narrow),
    "ssh_administrator_cidrs": st.one_of(st.just(()), cidr_lists),
    "dns_server_cidrs": st.one_of(st.none(), cidr_lists),
    "transparent_load_balancers": st.booleans(),
    "extra_egress": extra_egress,
}
# 80/443 egress goes to external_cidrs, or to an internal proxy (inside the 10.0.0.0/16 VPC and the
# 10.0.0.0/20 subnet below, outside the others: both are allowed).
hardening_options = st.one_of(
    st.builds(HardeningOptions, external_cidrs=open_or_narrow, **_common),
    st.builds(HardeningOptions, internal_proxy_cidrs=st.just(("10.0.0.10/32",)), **_common),
)

# No shrinking: each example is a synth, and a failing example is readable as drawn.
# VPN mode needs client CIDRs other than 0.0.0.0/0: those combinations are refused (tests/test_topology.py).
topologies = st.sampled_from(
    [Topology(), Topology(job_placement=JobPlacement.PUBLIC), Topology(user_access=UserAccess.VPN)]
)


def _fits(hardening: HardeningOptions, topology: Topology) -> bool:
    return topology.user_access is UserAccess.INTERNET or "0.0.0.0/0" not in hardening.client_cidrs


synth_settings = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)


def _synth(stack: cdktf.TerraformStack) -> dict[str, Any]:
    # Without the synth-time validation (tests/test_validation.py): it runs the same audit.
    return json.loads(cdktf.Testing.synth(stack))  # type: ignore[no-any-return]


def gcp_combination(**props: Any) -> dict[str, Any]:
    """A GCP network in a stack of its own with these ``GcpNetworkProps``, synthesized (the property
    tests of options, server versions and platforms share it)."""
    from cdktf_cdktf_provider_google.provider import GoogleProvider

    from circleci_network.gcp import CircleciGcpNetwork, GcpNetworkProps

    stack = cdktf.TerraformStack(cdktf.App(), "combination")
    GoogleProvider(stack, "google", project="acme-combinations", region="europe-west1")
    CircleciGcpNetwork(
        stack, "network", props=GcpNetworkProps(project="acme-combinations", region="europe-west1", **props)
    )
    return _synth(stack)


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@synth_settings
@given(
    hardening=hardening_options,
    zones=st.integers(2, 3),
    single_nat=st.booleans(),
    topology=topologies,
    vpc_cidr=st.sampled_from(["10.0.0.0/16", "10.42.0.0/18", "10.128.0.0/20"]),
    network_acls=st.booleans(),
    reuse_eips=st.booleans(),
)
def test_every_aws_combination_audits_clean(
    hardening: HardeningOptions,
    zones: int,
    single_nat: bool,
    topology: Topology,
    vpc_cidr: str,
    network_acls: bool,
    reuse_eips: bool,
) -> None:
    assume(_fits(hardening, topology))
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    stack = cdktf.TerraformStack(cdktf.App(), "combination")
    AwsProvider(stack, "aws", region="eu-west-1")
    try:
        network = _aws_network(stack, hardening, zones, single_nat, topology, vpc_cidr, network_acls, reuse_eips)
    except ConfigurationError as error:
        # Many narrow CIDRs can need more NACL rules than the account quota: refused, by design.
        assert network_acls and "rules_per_acl_quota" in error.field, error
        assume(False)
    assert (network.network_acls is not None) == network_acls
    result = assert_matches_spec(_synth(stack), "combination")
    assert result.flows


def _aws_network(
    stack: cdktf.TerraformStack,
    hardening: HardeningOptions,
    zones: int,
    single_nat: bool,
    topology: Topology,
    vpc_cidr: str,
    network_acls: bool,
    reuse_eips: bool = False,
) -> Any:
    from circleci_network.aws import AwsNetworkProps, CircleciAwsNetwork, NatGateways, VpcProps

    eips = tuple(f"eipalloc-0123456789abcdef{i}" for i in range(1 if single_nat else zones)) if reuse_eips else ()

    return CircleciAwsNetwork(
        stack,
        "network",
        props=AwsNetworkProps(
            vpc=VpcProps(
                availability_zones=("eu-west-1a", "eu-west-1b", "eu-west-1c")[:zones],
                cidr_block=vpc_cidr,
                nat_gateways=NatGateways.ONE if single_nat else NatGateways.ONE_PER_AZ,
                nat_eip_allocation_ids=eips,
            ),
            hardening=hardening,
            topology=topology,
            network_acls=network_acls,
        ),
    )


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@synth_settings
@given(
    hardening=hardening_options,
    use_tags=st.booleans(),
    topology=topologies,
    subnet=st.sampled_from(["10.0.0.0/20", "10.64.0.0/22"]),
    nat=st.sampled_from(
        [
            {},
            {"address_count": 2, "min_ports_per_vm": 1024},
            {"dynamic_port_allocation": True, "max_ports_per_vm": 8192},
        ]
    ),
    labels=st.sampled_from([{}, {"team": "platform"}]),
)
def test_every_gcp_combination_audits_clean(
    hardening: HardeningOptions,
    use_tags: bool,
    topology: Topology,
    subnet: str,
    nat: dict[str, Any],
    labels: dict[str, str],
) -> None:
    assume(_fits(hardening, topology))
    from circleci_network.gcp import CloudNat, FirewallTargets, GcpAddressing

    synthesized = gcp_combination(
        addressing=GcpAddressing(subnet_cidr=subnet),
        hardening=hardening,
        firewall_targets=FirewallTargets.NETWORK_TAGS if use_tags else FirewallTargets.SERVICE_ACCOUNTS,
        topology=topology,
        nat=CloudNat(**nat),
        labels=labels,
    )
    result = assert_matches_spec(synthesized, "combination")
    assert result.flows
