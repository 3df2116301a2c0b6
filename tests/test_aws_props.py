"""AWS addressing and names are checked in pure Python, before any jsii call."""

from __future__ import annotations

import pytest

from circleci_network import ConfigurationError

aws = pytest.importorskip("circleci_network.aws")
VpcProps, SubnetTier = aws.VpcProps, aws.SubnetTier
ZONES = ("us-east-1a", "us-east-1b")


def test_default_plan_gives_distinct_subnets_per_role_and_zone() -> None:
    plan = VpcProps(availability_zones=(*ZONES, "us-east-1c")).subnet_plan()
    cidrs = [str(c) for tier in SubnetTier for c in plan[tier]]
    assert len(cidrs) == len(set(cidrs)) == 12
    assert [str(c) for c in plan[SubnetTier.KUBERNETES_NODES]] == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
    assert all(c.prefixlen == 24 for c in plan[SubnetTier.PUBLIC])


def test_dns_resolver_is_base_plus_two() -> None:
    assert VpcProps(availability_zones=ZONES, cidr_block="172.20.0.0/16").dns_resolver_address == "172.20.0.2"


def test_explicit_cidrs_are_kept_and_the_rest_derived_around_them() -> None:
    props = VpcProps(availability_zones=ZONES, subnet_cidrs={SubnetTier.PUBLIC: ("10.0.0.0/24", "10.0.1.0/24")})
    plan = props.subnet_plan()
    assert [str(c) for c in plan[SubnetTier.PUBLIC]] == ["10.0.0.0/24", "10.0.1.0/24"]
    for tier in SubnetTier:
        if tier is not SubnetTier.PUBLIC:
            assert not any(c.overlaps(p) for c in plan[tier] for p in plan[SubnetTier.PUBLIC])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cidr_block": "10.0.0.0/33"}, "VpcProps.cidr_block"),
        ({"cidr_block": "10.0.0.0/25"}, "VpcProps.cidr_block"),
        (
            {"cidr_block": "10.0.0.0/23", "subnet_prefix_lengths": {SubnetTier.KUBERNETES_NODES: 24}},
            "VpcProps.cidr_block",
        ),
        (
            {"cidr_block": "10.0.0.0/24", "availability_zones": tuple(f"us-east-1{z}" for z in "abcde")},
            "VpcProps.cidr_block",
        ),
        ({"availability_zones": ("us-east-1a",)}, "VpcProps.availability_zones"),
        ({"availability_zones": "us-east-1a"}, "VpcProps.availability_zones"),
        ({"subnet_cidrs": {SubnetTier.PUBLIC: ("192.168.0.0/24", "10.0.1.0/24")}}, "VpcProps.subnet_cidrs[public][0]"),
        ({"subnet_cidrs": {SubnetTier.PUBLIC: ("10.0.0.0/24",)}}, "VpcProps.subnet_cidrs[public]"),
        (
            {
                "subnet_cidrs": {
                    SubnetTier.PUBLIC: ("10.0.0.0/24", "10.0.1.0/24"),
                    SubnetTier.NOMAD_CLIENTS: ("10.0.0.0/20", "10.0.16.0/20"),
                }
            },
            "VpcProps.subnet_cidrs[nomad-clients][0]",
        ),
        ({"subnet_prefix_lengths": {SubnetTier.PUBLIC: 30}}, "VpcProps.subnet_prefix_lengths[public]"),
        ({"name": "x" * 60}, "VpcProps.name"),
        ({"flow_log_retention_days": 42}, "VpcProps.flow_log_retention_days"),
    ],
)
def test_bad_vpc_props_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        VpcProps(**{"availability_zones": ZONES, **kwargs})  # type: ignore[arg-type]
    assert caught.value.field == field, str(caught.value)


def test_node_ports_must_be_in_range_and_unique() -> None:
    from circleci_network.aws.load_balancers import DEFAULT_NODE_PORTS, LoadBalancerProps
    from circleci_network.model.roles import Role

    base = {"vpc_id": "vpc-1", "public_subnet_ids": [], "internal_subnet_ids": [], "security_group_ids": {}}
    with pytest.raises(ConfigurationError, match="outside the NodePort range"):
        LoadBalancerProps(**base, node_ports={**DEFAULT_NODE_PORTS, (Role.NOMAD_LB, 4647): 4647})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="also used"):
        LoadBalancerProps(**base, node_ports={**DEFAULT_NODE_PORTS, (Role.NOMAD_LB, 4647): 30080})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="over AWS's 32"):
        LoadBalancerProps(**base, name="a-very-long-load-balancer-name")  # type: ignore[arg-type]


def test_a_node_port_outside_the_range_is_refused_before_any_rule_is_rendered() -> None:
    from circleci_network.aws import AwsNetworkProps, SecurityGroupProps
    from circleci_network.aws.load_balancers import DEFAULT_NODE_PORTS
    from circleci_network.model.roles import Role

    ports = {**DEFAULT_NODE_PORTS, (Role.FRONTEND_LB, 80): 22}  # would admit clients on SSH when transparent
    with pytest.raises(ConfigurationError) as caught:
        SecurityGroupProps(vpc_id="vpc-1", dns_resolver_cidrs=("10.0.0.2/32",), node_ports=ports)
    assert caught.value.field == "SecurityGroupProps.node_ports[frontend-external:80]"
    with pytest.raises(ConfigurationError) as caught:
        AwsNetworkProps(vpc=VpcProps(availability_zones=ZONES), node_ports=ports)
    assert caught.value.field == "AwsNetworkProps.node_ports[frontend-external:80]"
