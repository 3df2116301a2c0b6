"""Bad input is a ConfigurationError naming the field and the fix: enum typos, None, regions and
zones, VPC sizes, existing networks, "outside" CIDRs that name the inside, and name prefixes.
Each case of issue 13 ("Why" 5) and issue 11 (4, 8) is named in a test below. Pure Python."""

from __future__ import annotations

import dataclasses
import ipaddress
import warnings
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circleci_network import ConfigurationError, ExtraEgressRule, HardeningOptions, Port, Role
from circleci_network.aws import AwsNetworkProps, NatGateways, SecurityGroupProps, SubnetTier, VpcProps
from circleci_network.aws.load_balancers import LoadBalancerProps
from circleci_network.aws.naming import names_from_prefix as aws_names_from_prefix
from circleci_network.aws.vpc import ExistingVpc
from circleci_network.gcp import FirewallTargets, GcpAddressing, GcpNetworkProps
from circleci_network.gcp.firewall import FirewallProps
from circleci_network.gcp.identities import RoleIdentityProps
from circleci_network.gcp.load_balancer_addresses import LoadBalancerAddressProps
from circleci_network.gcp.naming import names_from_prefix as gcp_names_from_prefix
from circleci_network.gcp.network import internet_mode_translation
from circleci_network.gcp.settings import CloudNat
from circleci_network.model.checks import member
from circleci_network.model.platform_rules import GoogleApiAccess, Platform, PlatformOptions
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.topology import JobPlacement, Topology, TopologyWarning, UserAccess
from circleci_network.model.vpc_endpoints import VpcEndpoints

ZONES = ("us-east-1a", "us-east-1b")
VPC = VpcProps(availability_zones=ZONES)
GCP = {"project": "acme-circleci", "region": "us-central1"}
SG = {"vpc_id": "vpc-0123456789abcdef0", "dns_resolver_cidrs": ("10.0.0.2/32",)}
EXISTING = {"vpc_id": "vpc-0123456789abcdef0", "cidr_block": "10.50.0.0/16", "internet_gateway_id": "igw-0123"}


def _refused(build: Any, field: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        build()
    assert caught.value.field == field, str(caught.value)
    return caught.value


# -- enums: the member or its exact value, nothing else ------------------------------------------


def test_nat_gateways_two_is_refused_listing_the_choices() -> None:
    error = _refused(lambda: VpcProps(availability_zones=ZONES, nat_gateways="two"), "VpcProps.nat_gateways")  # type: ignore[arg-type]
    assert 'NatGateways.ONE ("one")' in error.fix and 'NatGateways.ONE_PER_AZ ("one-per-az")' in error.fix


def test_firewall_targets_tags_is_refused_not_an_attribute_error() -> None:
    error = _refused(lambda: GcpNetworkProps(**GCP, firewall_targets="tags"), "GcpNetworkProps.firewall_targets")  # type: ignore[arg-type]
    assert "FirewallTargets.NETWORK_TAGS" in error.fix


# Every enum option in the props: (enum, build props with the value, read it back, the field).
ENUM_OPTIONS: list[tuple[type[StrEnum], Any, Any, str]] = [
    (
        NatGateways,
        lambda v: VpcProps(availability_zones=ZONES, nat_gateways=v),
        lambda p: p.nat_gateways,
        "VpcProps.nat_gateways",
    ),
    (
        FirewallTargets,
        lambda v: GcpNetworkProps(**GCP, firewall_targets=v),
        lambda p: p.firewall_targets,
        "GcpNetworkProps.firewall_targets",
    ),
    (UserAccess, lambda v: Topology(user_access=v), lambda p: p.user_access, "Topology.user_access"),
    (JobPlacement, lambda v: Topology(job_placement=v), lambda p: p.job_placement, "Topology.job_placement"),
    (
        SubnetTier,
        lambda v: VpcProps(availability_zones=ZONES, subnet_prefix_lengths={v: 22}),
        lambda p: next(iter(p.subnet_prefix_lengths)),
        "VpcProps.subnet_prefix_lengths",
    ),
    (
        SubnetTier,
        lambda v: VpcProps(availability_zones=ZONES, subnet_cidrs={v: ("10.0.240.0/24", "10.0.241.0/24")}),
        lambda p: next(iter(p.subnet_cidrs)),
        "VpcProps.subnet_cidrs",
    ),
    (
        Role,
        lambda v: SecurityGroupProps(**SG, role_subnet_cidrs={v: ("10.0.0.0/20",)}),
        lambda p: next(iter(p.role_subnet_cidrs)),
        "SecurityGroupProps.role_subnet_cidrs",
    ),
    (
        Role,
        lambda v: GcpAddressing(internal_load_balancer_addresses={v: "10.0.0.50"}),
        lambda p: next(iter(p.internal_load_balancer_addresses)),
        "GcpAddressing.internal_load_balancer_addresses",
    ),
    (
        Role,
        lambda v: ExtraEgressRule("cache", v, Port.tcp(8081), ("192.0.2.50/32",), "cache"),
        lambda p: p.role,
        "ExtraEgressRule('cache').role",
    ),
]


ENUM_IDS = [field for *_, field in ENUM_OPTIONS]


@pytest.mark.parametrize(("kind", "build", "read", "field"), ENUM_OPTIONS, ids=ENUM_IDS)
def test_every_enum_option_takes_the_member_or_its_exact_value(
    kind: type[StrEnum], build: Any, read: Any, field: str
) -> None:
    for option in kind:
        # Only the values valid for this option (a Role key is checked further by its props).
        try:
            from_member = read(build(option))
        except ConfigurationError as error:
            assert f"is not a {kind.__name__}" not in error.problem, error
            continue
        from_value = read(build(option.value))
        assert from_member is option and from_value is option and type(from_value) is kind


@pytest.mark.parametrize(("kind", "build", "read", "field"), ENUM_OPTIONS, ids=ENUM_IDS)
@settings(max_examples=25, deadline=None)
@given(typo=st.text(min_size=0, max_size=20))
def test_every_enum_option_refuses_anything_else_listing_the_choices(
    kind: type[StrEnum], build: Any, read: Any, field: str, typo: str
) -> None:
    if typo in {m.value for m in kind}:
        return
    error = _refused(lambda: build(typo), field)
    assert all(f"{kind.__name__}.{m.name}" in error.fix for m in kind)


def test_a_members_name_or_another_enums_member_is_not_a_value() -> None:
    _refused(lambda: Topology(user_access="VPN"), "Topology.user_access")  # type: ignore[arg-type]
    _refused(lambda: Topology(job_placement=UserAccess.INTERNET), "Topology.job_placement")  # type: ignore[arg-type]
    _refused(lambda: VpcProps(availability_zones=ZONES, nat_gateways=NatGateways), "VpcProps.nat_gateways")  # type: ignore[arg-type]
    assert member(NatGateways, "one", "x") is NatGateways.ONE


# -- None where a value is required --------------------------------------------------------------


def test_hardening_none_is_a_configuration_error_not_a_type_error() -> None:
    _refused(lambda: AwsNetworkProps(vpc=VPC, hardening=None), "AwsNetworkProps.hardening")  # type: ignore[arg-type]


def test_rerun_ssh_cidrs_none_is_a_configuration_error_not_a_type_error() -> None:
    error = _refused(lambda: HardeningOptions(rerun_ssh_cidrs=None), "HardeningOptions.rerun_ssh_cidrs")  # type: ignore[arg-type]
    assert "default" in error.fix


def test_topology_and_vpc_none_are_refused() -> None:
    _refused(lambda: AwsNetworkProps(vpc=VPC, topology=None), "AwsNetworkProps.topology")  # type: ignore[arg-type]
    _refused(lambda: AwsNetworkProps(vpc=None), "AwsNetworkProps.vpc")  # type: ignore[arg-type]


# Each props class with the arguments it needs; every field that does not allow None is tried with None.
PROPS: list[tuple[type, dict[str, Any]]] = [
    (HardeningOptions, {}),
    (Topology, {}),
    (VpcProps, {"availability_zones": ZONES}),
    (ExistingVpc, {**EXISTING, "taken_cidrs": ()}),
    (AwsNetworkProps, {"vpc": VPC}),
    (SecurityGroupProps, dict(SG)),
    (
        LoadBalancerProps,
        {"vpc_id": "vpc-1", "public_subnet_ids": [], "internal_subnet_ids": [], "security_group_ids": {}},
    ),
    (GcpAddressing, {}),
    (GcpNetworkProps, dict(GCP)),
    (RoleIdentityProps, {"project": "acme-circleci"}),
    (
        ExtraEgressRule,
        {
            "name": "cache",
            "role": Role.NOMAD_CLIENTS,
            "port": Port.tcp(8081),
            "cidrs": ("192.0.2.5/32",),
            "purpose": "x",
        },
    ),
]
REQUIRED = [(cls, base, f.name) for cls, base in PROPS for f in dataclasses.fields(cls) if "None" not in str(f.type)]


@pytest.mark.parametrize(("cls", "base", "name"), REQUIRED, ids=[f"{c.__name__}.{n}" for c, _, n in REQUIRED])
def test_none_in_any_required_field_is_a_configuration_error(cls: type, base: dict[str, Any], name: str) -> None:
    cls(**base)  # the base is valid
    error = _refused(lambda: cls(**{**base, name: None}), f"{cls.__name__}.{name}")
    assert "None" in error.problem


# -- regions and zones ---------------------------------------------------------------------------


def _aws_stack_props(region: str, zones: tuple[str, ...] = ZONES) -> Any:
    from circleci_network.stacks.aws import AwsStackProps

    return AwsStackProps(region=region, network=AwsNetworkProps(vpc=VpcProps(availability_zones=zones)))


@pytest.mark.parametrize("region", ["banana", "mars-north1", "mars-north-1", "us-east1", "us-east-1a", ""])
def test_malformed_aws_regions_are_refused(region: str) -> None:
    _refused(lambda: _aws_stack_props(region), "AwsStackProps.region")


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-west-2", "ap-southeast-1", "us-gov-west-1", "cn-north-1", "il-central-1"]
)
def test_real_aws_regions_and_their_zones_are_accepted(region: str) -> None:
    assert _aws_stack_props(region, (f"{region}a", f"{region}b")).region == region


def test_zones_of_another_region_are_refused() -> None:
    error = _refused(lambda: _aws_stack_props("us-east-1", ("us-west-2a", "us-west-2b")), "VpcProps.availability_zones")
    assert "us-west-2" in error.problem and "us-east-1" in error.problem


def test_zones_of_two_regions_in_one_vpc_are_refused() -> None:
    _refused(lambda: VpcProps(availability_zones=("us-east-1a", "us-west-2b")), "VpcProps.availability_zones[1]")


@pytest.mark.parametrize("zone", ["banana", "us-east-1", "use1-az1", "mars-north-1a"])
def test_malformed_zones_are_refused(zone: str) -> None:
    _refused(lambda: VpcProps(availability_zones=(zone, "us-east-1b")), "VpcProps.availability_zones[0]")


@pytest.mark.parametrize("region", ["banana", "mars-north1", "us-central1-a", "uscentral1"])
def test_malformed_gcp_regions_are_refused(region: str) -> None:
    _refused(lambda: GcpNetworkProps(project="acme-circleci", region=region), "GcpNetworkProps.region")


@pytest.mark.parametrize(
    "region",
    [
        "us-central1",
        "europe-west1",
        "asia-northeast1",
        "australia-southeast1",
        "northamerica-northeast1",
        "southamerica-east1",
        "me-west1",
        "africa-south1",
    ],
)
def test_real_gcp_regions_are_accepted(region: str) -> None:
    assert GcpNetworkProps(project="acme-circleci", region=region).region == region


# -- VPC size, contradictions, empty values ------------------------------------------------------


def test_an_aws_vpc_larger_than_a_16_is_refused() -> None:
    error = _refused(lambda: VpcProps(availability_zones=ZONES, cidr_block="10.0.0.0/15"), "VpcProps.cidr_block")
    assert "/16" in error.problem
    _refused(lambda: ExistingVpc(**{**EXISTING, "cidr_block": "10.0.0.0/8"}), "ExistingVpc.cidr_block")
    assert VpcProps(availability_zones=ZONES, cidr_block="10.0.0.0/16").vpc_network.prefixlen == 16


def test_an_existing_vpc_cidr_contradicting_cidr_block_is_refused_not_overridden() -> None:
    existing = ExistingVpc(**EXISTING, taken_cidrs=())
    error = _refused(
        lambda: VpcProps(availability_zones=ZONES, cidr_block="10.0.0.0/16", existing_vpc=existing),
        "VpcProps.cidr_block",
    )
    assert "10.0.0.0/16" in error.problem and "10.50.0.0/16" in error.problem
    same = VpcProps(availability_zones=ZONES, cidr_block="10.50.0.0/16", existing_vpc=existing)
    left_out = VpcProps(availability_zones=ZONES, existing_vpc=existing)
    assert same.vpc_network == left_out.vpc_network == ipaddress.IPv4Network("10.50.0.0/16")


def test_a_new_vpc_without_cidr_block_is_10_0_0_0_16() -> None:
    assert str(VPC.vpc_network) == "10.0.0.0/16" and VPC.dns_resolver_address == "10.0.0.2"


def test_security_group_props_with_an_empty_vpc_id_are_refused() -> None:
    _refused(lambda: SecurityGroupProps(**{**SG, "vpc_id": ""}), "SecurityGroupProps.vpc_id")


def test_every_props_taking_a_vpc_id_refuses_an_empty_one() -> None:
    from circleci_network.aws.network_acls import NetworkAclProps

    lbs = {"public_subnet_ids": [], "internal_subnet_ids": [], "security_group_ids": {}}
    _refused(lambda: LoadBalancerProps(vpc_id="", **lbs), "LoadBalancerProps.vpc_id")  # type: ignore[arg-type]
    _refused(
        lambda: NetworkAclProps(
            vpc_id="",
            default_network_acl_id=None,
            subnet_ids={},
            subnet_cidrs={},
            vpc_cidr="10.0.0.0/16",
            dns_resolver_cidrs=("10.0.0.2/32",),
        ),
        "NetworkAclProps.vpc_id",
    )


def test_empty_vcs_cidrs_are_refused_not_silently_dropping_vcs_ssh() -> None:
    error = _refused(lambda: HardeningOptions(vcs_cidrs=()), "HardeningOptions.vcs_cidrs")
    assert "None" in error.fix


# -- existing networks are safe ------------------------------------------------------------------


def test_an_existing_vpc_must_state_its_taken_ranges_or_give_every_subnet() -> None:
    error = _refused(
        lambda: VpcProps(availability_zones=ZONES, existing_vpc=ExistingVpc(**EXISTING)),
        "VpcProps.existing_vpc.taken_cidrs",
    )
    assert "InvalidSubnet.Conflict" in error.problem
    explicit = {tier: (f"10.50.{10 + 2 * i}.0/24", f"10.50.{11 + 2 * i}.0/24") for i, tier in enumerate(SubnetTier)}
    assert VpcProps(availability_zones=ZONES, existing_vpc=ExistingVpc(**EXISTING), subnet_cidrs=explicit)


def test_derived_subnets_are_carved_around_the_taken_ranges() -> None:
    # The case: the library's 10.50.0.0/20 overlapped the user's 10.50.0.0/24 and 10.50.1.0/24.
    taken = ("10.50.0.0/24", "10.50.1.0/24")
    props = VpcProps(availability_zones=ZONES, existing_vpc=ExistingVpc(**EXISTING, taken_cidrs=taken))
    plan = [c for cidrs in props.subnet_plan().values() for c in cidrs]
    assert not any(c.overlaps(ipaddress.IPv4Network(t)) for c in plan for t in taken)
    assert str(props.subnet_plan()[SubnetTier.KUBERNETES_NODES][0]) == "10.50.16.0/20"


def test_an_explicit_subnet_overlapping_a_taken_range_names_both() -> None:
    existing = ExistingVpc(**EXISTING, taken_cidrs=("10.50.0.0/24",))
    error = _refused(
        lambda: VpcProps(
            availability_zones=ZONES,
            existing_vpc=existing,
            subnet_cidrs={SubnetTier.PUBLIC: ("10.50.0.0/25", "10.50.2.0/24")},
        ),
        "VpcProps.subnet_cidrs[public][0]",
    )
    assert "10.50.0.0/25" in error.problem and "10.50.0.0/24" in error.problem and "taken_cidrs[0]" in error.problem


@settings(max_examples=40, deadline=None)
@given(
    taken=st.lists(
        st.builds(
            lambda a, n: str(ipaddress.IPv4Network((0x0A320000 + (a << 8), n), strict=False)),
            st.integers(0, 255),
            st.integers(18, 28),
        ),
        max_size=5,
        unique=True,
    )
)
def test_carved_subnets_never_overlap_taken_ranges(taken: list[str]) -> None:
    networks = list(ipaddress.collapse_addresses(ipaddress.IPv4Network(t) for t in taken))
    try:
        props = VpcProps(
            availability_zones=ZONES,
            existing_vpc=ExistingVpc(**EXISTING, taken_cidrs=tuple(str(n) for n in networks)),
        )
    except ConfigurationError as error:
        assert error.field == "VpcProps.cidr_block" and "too small" in error.problem
        return
    plan = [c for cidrs in props.subnet_plan().values() for c in cidrs]
    assert not any(c.overlaps(t) for c in plan for t in networks)
    assert len(set(plan)) == len(plan) == 8


def test_an_existing_gcp_network_must_state_its_taken_ranges() -> None:
    network = "projects/acme-circleci/global/networks/shared"
    _refused(lambda: GcpNetworkProps(**GCP, existing_network=network), "GcpNetworkProps.existing_network_taken_cidrs")
    error = _refused(
        lambda: GcpNetworkProps(**GCP, existing_network=network, existing_network_taken_cidrs=("10.16.4.0/22",)),
        "GcpNetworkProps.addressing.pods_cidr",
    )
    assert (
        "10.16.0.0/14" in error.problem and "10.16.4.0/22" in error.problem and "GcpAddressing.pods_cidr" in error.fix
    )
    assert GcpNetworkProps(**GCP, existing_network=network, existing_network_taken_cidrs=("10.100.0.0/16",))
    _refused(
        lambda: GcpNetworkProps(**GCP, existing_network_taken_cidrs=()),
        "GcpNetworkProps.existing_network_taken_cidrs",
    )


# -- outside means outside -----------------------------------------------------------------------


def test_ssh_administrators_naming_the_vpc_are_refused() -> None:
    # Today this opens Nomad to Nomad and VM to VM on 22.
    error = _refused(
        lambda: AwsNetworkProps(vpc=VPC, hardening=HardeningOptions(ssh_administrator_cidrs=("10.0.0.0/16",))),
        "AwsNetworkProps.hardening.ssh_administrator_cidrs[0]",
    )
    assert "10.0.0.0/16 overlaps 10.0.0.0/16" in error.problem


OUTSIDE_FIELDS = [
    ("client_cidrs", {"client_cidrs": ("10.0.4.0/24",)}),
    ("rerun_ssh_cidrs", {"rerun_ssh_cidrs": ("10.0.0.0/8",)}),
    ("external_cidrs", {"external_cidrs": ("10.0.15.10/32",)}),
    ("vcs_cidrs", {"vcs_cidrs": ("10.0.3.0/24",)}),
    ("ssh_administrator_cidrs", {"ssh_administrator_cidrs": ("10.0.9.9/32",)}),
]


@pytest.mark.parametrize(("name", "kwargs"), OUTSIDE_FIELDS, ids=[n for n, _ in OUTSIDE_FIELDS])
def test_every_outside_peer_inside_the_network_is_refused_on_both_clouds(name: str, kwargs: dict[str, Any]) -> None:
    hardening = HardeningOptions(**kwargs)
    aws = _refused(lambda: AwsNetworkProps(vpc=VPC, hardening=hardening), f"AwsNetworkProps.hardening.{name}[0]")
    gcp = _refused(lambda: GcpNetworkProps(**GCP, hardening=hardening), f"GcpNetworkProps.hardening.{name}[0]")
    assert "10.0.0.0/16" in aws.problem and "GcpAddressing.subnet_cidr" in gcp.problem


@settings(max_examples=80, deadline=None)
@given(
    address=st.integers(0, 2**32 - 1),
    length=st.integers(1, 32),
    name=st.sampled_from([n for n, _ in OUTSIDE_FIELDS]),
)
def test_an_outside_cidr_is_accepted_exactly_when_it_misses_the_network(address: int, length: int, name: str) -> None:
    cidr = str(ipaddress.IPv4Network((address, length), strict=False))
    hardening = HardeningOptions(**{name: (cidr,)})
    vpc = ipaddress.IPv4Network("10.0.0.0/16")
    gcp = [ipaddress.IPv4Network(c) for c in ("10.0.0.0/20", "10.16.0.0/14", "10.20.0.0/20")]
    for build, inside, field in (
        (lambda: AwsNetworkProps(vpc=VPC, hardening=hardening), [vpc], "AwsNetworkProps"),
        (lambda: GcpNetworkProps(**GCP, hardening=hardening), gcp, "GcpNetworkProps"),
    ):
        if any(ipaddress.IPv4Network(cidr).overlaps(n) for n in inside):
            _refused(build, f"{field}.hardening.{name}[0]")
        else:
            build()


def test_an_outside_peer_overlapping_gcp_pods_or_services_is_refused() -> None:
    for cidr, where in (("10.17.0.0/16", "pods_cidr"), ("10.20.1.0/24", "services_cidr")):
        error = _refused(
            lambda cidr=cidr: GcpNetworkProps(**GCP, hardening=HardeningOptions(client_cidrs=(cidr,))),
            "GcpNetworkProps.hardening.client_cidrs[0]",
        )
        assert f"GcpAddressing.{where}" in error.problem


def test_a_wide_range_holding_the_vpc_is_refused_with_its_outside_part() -> None:
    error = _refused(
        lambda: AwsNetworkProps(vpc=VPC, hardening=HardeningOptions(client_cidrs=("10.0.0.0/15",))),
        "AwsNetworkProps.hardening.client_cidrs[0]",
    )
    assert "10.1.0.0/16" in error.fix


def test_extra_egress_may_reach_the_vpc_but_not_our_subnets() -> None:
    def extra(cidr: str) -> HardeningOptions:
        return HardeningOptions(
            extra_egress=(ExtraEgressRule("cache", Role.NOMAD_CLIENTS, Port.tcp(8081), (cidr,), "x"),)
        )

    assert AwsNetworkProps(vpc=VPC, hardening=extra("10.0.250.5/32"))  # in the VPC, outside our subnets
    error = _refused(
        lambda: AwsNetworkProps(vpc=VPC, hardening=extra("10.0.16.5/32")),
        "AwsNetworkProps.hardening.extra_egress['cache'].cidrs[0]",
    )
    assert "k8s-nodes" in error.problem


def test_security_group_props_refuse_outside_peers_in_the_role_subnets() -> None:
    _refused(
        lambda: SecurityGroupProps(
            **SG,
            role_subnet_cidrs={Role.NOMAD_CLIENTS: ("10.50.32.0/20",)},
            hardening=HardeningOptions(ssh_administrator_cidrs=("10.50.0.0/16",)),
        ),
        "SecurityGroupProps.hardening.ssh_administrator_cidrs[0]",
    )


def test_standalone_firewall_and_nacl_props_refuse_outside_peers_inside() -> None:
    from circleci_network.aws.network_acls import NetworkAclProps
    from circleci_network.gcp.firewall import FirewallProps

    inside = HardeningOptions(rerun_ssh_cidrs=("10.0.8.0/24",))
    _refused(
        lambda: FirewallProps(
            project="acme-circleci", network_id="n", service_account_emails={}, tags={}, hardening=inside
        ),
        "FirewallProps.hardening.rerun_ssh_cidrs[0]",
    )
    plan = VPC.subnet_plan()
    _refused(
        lambda: NetworkAclProps(
            vpc_id="vpc-1",
            default_network_acl_id=None,
            subnet_ids={},
            subnet_cidrs={tier: tuple(str(c) for c in plan[tier]) for tier in SubnetTier},
            vpc_cidr="10.0.0.0/16",
            dns_resolver_cidrs=("10.0.0.2/32",),
            hardening=inside,
        ),
        "NetworkAclProps.hardening.rerun_ssh_cidrs[0]",
    )


def test_cidrs_covering_the_internet_count_as_0_0_0_0_0_for_the_ssh_guard() -> None:
    halves = ("0.0.0.0/1", "128.0.0.0/1")
    error = _refused(
        lambda: HardeningOptions(ssh_administrator_cidrs=halves), "HardeningOptions.ssh_administrator_cidrs"
    )
    assert "0.0.0.0/0" in error.problem
    assert HardeningOptions(ssh_administrator_cidrs=halves, allow_ssh_administration_from_anywhere=True)
    _refused(
        lambda: Topology(user_access=UserAccess.VPN).check(HardeningOptions(client_cidrs=halves), "AwsNetworkProps"),
        "AwsNetworkProps.hardening.client_cidrs",
    )


def test_an_internal_proxy_is_an_internal_peer_allowed_inside_the_network() -> None:
    hardening = HardeningOptions(internal_proxy_cidrs=("10.0.15.10/32",))
    assert AwsNetworkProps(vpc=VPC, hardening=hardening) and GcpNetworkProps(**GCP, hardening=hardening)
    assert hardening.egress_cidrs == ("10.0.15.10/32",)
    _refused(
        lambda: HardeningOptions(internal_proxy_cidrs=("10.0.15.10/32",), external_cidrs=("192.0.2.10/32",)),
        "HardeningOptions.internal_proxy_cidrs",
    )
    _refused(lambda: HardeningOptions(internal_proxy_cidrs=("0.0.0.0/0",)), "HardeningOptions.internal_proxy_cidrs")


def test_the_internal_proxy_is_recorded_for_the_audit_only_when_set() -> None:
    from circleci_network.model.options import options_from_json, options_to_json

    proxy = HardeningOptions(internal_proxy_cidrs=("10.0.15.10/32",))
    assert options_from_json(options_to_json(proxy)) == proxy
    assert "internal_proxy_cidrs" not in options_to_json(HardeningOptions())  # other stacks' records unchanged


def test_the_internal_proxy_shape_sends_egress_to_the_proxy(shape_stacks: dict[str, Any]) -> None:
    from tests.modes import INTERNAL_PROXY

    rules = shape_stacks["aws-internal-proxy"]["resource"]["aws_vpc_security_group_egress_rule"].values()
    web = {r["cidr_ipv4"] for r in rules if r.get("from_port") in (80, 443, 22) and "cidr_ipv4" in r}
    assert web == set(INTERNAL_PROXY)


# -- the name prefix, checked once ---------------------------------------------------------------


def test_a_long_aws_prefix_is_refused_at_the_top_naming_the_field_the_user_set() -> None:
    vpc = VpcProps(availability_zones=ZONES, name="circleci-production")  # its own names fit
    error = _refused(lambda: AwsNetworkProps(vpc=vpc), "VpcProps.name")
    assert "'circleci-production-output-proc-8585'" in error.problem and "at most 15" in error.fix


def test_a_long_gcp_prefix_names_gcp_network_props_not_role_identity_props() -> None:
    error = _refused(lambda: GcpNetworkProps(**GCP, name="circleci-production"), "GcpNetworkProps.name")
    assert "service account ID" in error.problem and "'circleci-production-nomad-clients'" in error.problem


def test_the_v4_internet_mode_prefix_is_refused_at_gcp_network_props_not_firewall_props() -> None:
    # Review 11 item 3: the NAT platform row exists only in v4 internet mode, and was checked deeper.
    error = _refused(
        lambda: GcpNetworkProps(
            **GCP,
            name="circleci-prod1",
            server_version=ServerVersion(ServerVersionId.V4_3),
            nat=CloudNat(address_count=1),
        ),
        "GcpNetworkProps.name",
    )
    assert "'circleci-prod1-k8s-nodes-in-via-circleci-proxy-in-gke-nat-ranges' 64 characters" in error.problem
    assert "shorten the prefix by 1 character, to at most 13" in error.fix
    assert "extra egress" not in error.fix  # no extra egress rule is involved


def test_an_extra_egress_rule_too_long_for_the_prefix_says_so() -> None:
    extra = ExtraEgressRule("artifactory-cache-shared", Role.NOMAD_CLIENTS, Port.tcp(8081), ("172.16.8.0/22",), "Cache")
    hardening = HardeningOptions(extra_egress=(extra,))
    error = _refused(
        lambda: GcpNetworkProps(**GCP, name="circleci-production", hardening=hardening), "GcpNetworkProps.name"
    )
    assert "out-extra-artifactory" in error.problem and "extra egress rule's name" in error.fix


def test_aws_load_balancer_names_count_only_where_terraform_builds_load_balancers() -> None:
    # v4: the cluster builds circleci-proxy, so no NLB or target group name carries the prefix.
    v4 = ServerVersion(ServerVersionId.V4_3)
    AwsNetworkProps(vpc=VpcProps(availability_zones=ZONES, name="circleci-production"), server_version=v4)
    assert not [n for n in aws_names_from_prefix("circleci-production", v4) if n.kind == "load-balancers"]
    LoadBalancerProps(
        vpc_id="vpc-1", public_subnet_ids=[], internal_subnet_ids=[], security_group_ids={},
        name="circleci-production", server_version=v4,
    )  # fmt: skip


GCP_VERSIONS = (ServerVersionId.V3_SEED, ServerVersionId.V3, ServerVersionId.V4_3, ServerVersionId.V4_8)
GCP_PLATFORMS = (
    PlatformOptions(),
    PlatformOptions(platform=Platform.GKE),
    PlatformOptions(
        platform=Platform.GKE, control_plane_cidr="172.16.0.32/28", google_api_access=GoogleApiAccess.RESTRICTED
    ),
)
VPN_USERS = HardeningOptions(client_cidrs=("10.200.0.0/16",), rerun_ssh_cidrs=("10.200.0.0/16",))
PREFIXES = st.from_regex(r"[a-z][a-z0-9-]{0,40}[a-z0-9]", fullmatch=True)


def _over(names: list[Any]) -> list[Any]:
    return [n for n in names if len(n.name) > n.limit]


@settings(max_examples=80, deadline=None)
@given(
    prefix=PREFIXES,
    version=st.sampled_from(GCP_VERSIONS),
    platform=st.sampled_from(GCP_PLATFORMS),
    user_access=st.sampled_from(UserAccess),
    nat_addresses=st.integers(0, 3),
    region=st.sampled_from(("us-central1", "northamerica-northeast2", "europe-west1")),
)
def test_a_gcp_prefix_the_top_level_props_accept_never_fails_deeper(
    prefix: str, version: ServerVersionId, platform: PlatformOptions, user_access: UserAccess, nat_addresses: int,
    region: str,
) -> None:  # fmt: skip
    server_version = ServerVersion(version)
    vpn = user_access is UserAccess.VPN
    internet_proxy = server_version.profile.proxy_load_balancer and not vpn
    nat = CloudNat(address_count=max(nat_addresses, 1) if internet_proxy else nat_addresses)
    # What CircleciGcpNetwork renders: internet mode's translation with real addresses, not the stand-in.
    translation = (
        internet_mode_translation("203.0.113.10", [f"198.51.100.{i}" for i in range(nat.address_count)])
        if internet_proxy
        else None
    )
    built = dict(
        project="acme-circleci", region=region, name=prefix, server_version=server_version, platform=platform,
        topology=Topology(user_access=user_access), nat=nat, hardening=VPN_USERS if vpn else HardeningOptions(),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        try:
            props = GcpNetworkProps(**built)  # type: ignore[arg-type]
        except ConfigurationError as error:
            assert error.field == "GcpNetworkProps.name", str(error)
            props = None
    firewall = FirewallProps(
        project="acme-circleci", network_id="n", service_account_emails={}, tags={}, addressing=GcpAddressing(),
        hardening=built["hardening"], name="p", server_version=server_version, platform=platform,
        nat_translation=translation, allow_priority=900,
    )  # fmt: skip
    every = gcp_names_from_prefix(prefix, region=region, policy=firewall.policy, nat_address_count=nat.address_count)
    if props is None:
        assert _over(every)  # refused only for a name the stack would really have
        return
    assert not _over(every)
    # Each construct's own props accept it too: nothing fails deeper, naming a field the user never set.
    props.vpc_props()
    RoleIdentityProps(project=props.project, name=prefix)
    LoadBalancerAddressProps(
        project=props.project, region=region, subnetwork_id="s", addressing=props.addressing, name=prefix,
        internet_facing=not vpn, server_version=server_version,
    )  # fmt: skip
    props.firewall_props("network", {}, {}, translation)


@settings(max_examples=80, deadline=None)
@given(
    prefix=PREFIXES,
    version=st.sampled_from(ServerVersionId),
    eks=st.booleans(),
    user_access=st.sampled_from(UserAccess),
    endpoints=st.booleans(),
)
def test_an_aws_prefix_the_top_level_props_accept_never_fails_deeper(
    prefix: str, version: ServerVersionId, eks: bool, user_access: UserAccess, endpoints: bool
) -> None:
    server_version = ServerVersion(version)
    vpn = user_access is UserAccess.VPN
    platform = PlatformOptions(platform=Platform.EKS) if eks else PlatformOptions()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        try:
            AwsNetworkProps(
                vpc=VpcProps(availability_zones=ZONES, name=prefix),
                server_version=server_version,
                platform=platform,
                topology=Topology(user_access=user_access),
                hardening=VPN_USERS if vpn else HardeningOptions(),
                vpc_endpoints=VpcEndpoints(enabled=endpoints),
            )
        except ConfigurationError as error:
            assert error.field == "VpcProps.name", str(error)
            assert _over(aws_names_from_prefix(prefix, server_version))
            return
    assert not _over(aws_names_from_prefix(prefix, server_version))
    LoadBalancerProps(
        vpc_id="vpc-1", public_subnet_ids=[], internal_subnet_ids=[], security_group_ids={}, name=prefix,
        server_version=server_version,
    )  # fmt: skip
    SecurityGroupProps(**SG, name=prefix, server_version=server_version, platform=platform)


def test_standalone_props_check_the_names_they_build() -> None:
    _refused(
        lambda: LoadBalancerProps(
            vpc_id="vpc-1",
            public_subnet_ids=[],
            internal_subnet_ids=[],
            security_group_ids={},
            name="circleci-production",
        ),
        "LoadBalancerProps.name",
    )
    _refused(lambda: RoleIdentityProps(project="acme-circleci", name="circleci-production"), "RoleIdentityProps.name")
    _refused(lambda: SecurityGroupProps(**SG, name="x" * 240), "SecurityGroupProps.name")


def test_stack_props_refuse_none_too() -> None:
    from circleci_network.stacks.aws import AwsStackProps
    from circleci_network.stacks.gcp import GcpStackProps

    _refused(lambda: AwsStackProps(region="us-east-1", network=None), "AwsStackProps.network")  # type: ignore[arg-type]
    _refused(lambda: AwsStackProps(region=None, network=AwsNetworkProps(vpc=VPC)), "AwsStackProps.region")  # type: ignore[arg-type]
    _refused(lambda: GcpStackProps(network=None), "GcpStackProps.network")  # type: ignore[arg-type]
