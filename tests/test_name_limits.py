"""The name prefix at its longest accepted length, synthesized: every name the stack holds fits
its cloud's limit, and each name built from the prefix is one the top-level props checked
(``names_from_prefix``), so no name escapes the check. One app, the shapes with the most names."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from circleci_network.aws import AwsNetworkProps, VpcProps
from circleci_network.aws.naming import names_from_prefix as aws_names
from circleci_network.errors import ConfigurationError
from circleci_network.gcp import GcpNetworkProps
from circleci_network.gcp.naming import names_from_prefix as gcp_names
from circleci_network.gcp.settings import CloudNat
from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import GoogleApiAccess, Platform, PlatformOptions
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.topology import Topology, TopologyWarning, UserAccess
from circleci_network.model.vpc_endpoints import VpcEndpoints

V4_3 = ServerVersion(ServerVersionId.V4_3)
GKE = PlatformOptions(
    platform=Platform.GKE, control_plane_cidr="172.16.0.32/28", google_api_access=GoogleApiAccess.RESTRICTED
)
REGION = "northamerica-northeast2"  # a long region: the subnet's name holds it


def _longest(build: Callable[[str], Any], field: str) -> Any:
    """The props with the longest prefix they accept (refused longer ones name ``field``)."""
    for length in range(64, 0, -1):
        try:
            return build(("circleci-" + "x" * 64)[:length])
        except ConfigurationError as error:
            assert error.field == field, str(error)
    raise AssertionError("no prefix accepted")


def _gcp_shapes() -> dict[str, GcpNetworkProps]:
    def v4_internet_gke(name: str) -> GcpNetworkProps:
        return GcpNetworkProps(
            project="acme-circleci", region=REGION, name=name, server_version=V4_3, platform=GKE,
            nat=CloudNat(address_count=2),
        )  # fmt: skip

    def v3_seed_vpn(name: str) -> GcpNetworkProps:
        vpn = HardeningOptions(client_cidrs=("10.200.0.0/16",), rerun_ssh_cidrs=("10.200.0.0/16",))
        return GcpNetworkProps(
            project="acme-circleci", region=REGION, name=name, topology=Topology(user_access=UserAccess.VPN),
            hardening=vpn,
        )  # fmt: skip

    field = "GcpNetworkProps.name"
    return {"gcp-v4-internet-gke": _longest(v4_internet_gke, field), "gcp-v3-seed-vpn": _longest(v3_seed_vpn, field)}


def _aws_shapes() -> dict[str, AwsNetworkProps]:
    zones = ("us-west-2a", "us-west-2-lax-1a")  # a Local Zone: the longest subnet Name tags

    def v4_internet_eks(name: str) -> AwsNetworkProps:
        return AwsNetworkProps(
            vpc=VpcProps(availability_zones=zones, name=name), server_version=V4_3,
            platform=PlatformOptions(platform=Platform.EKS), vpc_endpoints=VpcEndpoints(enabled=True),
        )  # fmt: skip

    def v3_seed(name: str) -> AwsNetworkProps:
        return AwsNetworkProps(vpc=VpcProps(availability_zones=zones, name=name))

    return {
        "aws-v4-internet-eks": _longest(v4_internet_eks, "VpcProps.name"),
        "aws-v3-seed": _longest(v3_seed, "VpcProps.name"),
    }


@pytest.fixture(scope="module")
def longest_prefix_stacks() -> dict[str, tuple[Any, dict[str, Any]]]:
    from cdktf import App, Testing

    from circleci_network.stacks.aws import AwsStackProps, CircleciAwsStack
    from circleci_network.stacks.gcp import CircleciGcpStack, GcpStackProps

    app = App()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        stacks: dict[str, tuple[Any, Any]] = {
            name: (props, CircleciGcpStack(app, name, props=GcpStackProps(network=props)))
            for name, props in _gcp_shapes().items()
        }
        stacks |= {
            name: (props, CircleciAwsStack(app, name, props=AwsStackProps(region="us-west-2", network=props)))
            for name, props in _aws_shapes().items()
        }
    return {name: (props, json.loads(Testing.synth(stack))) for name, (props, stack) in stacks.items()}


def _resources(synth: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind, resources in synth.get("resource", {}).items():
        for resource in resources.values():
            yield kind, resource


def test_every_gcp_name_fits_and_was_checked_at_the_top(longest_prefix_stacks: dict[str, Any]) -> None:
    for name in ("gcp-v4-internet-gke", "gcp-v3-seed-vpn"):
        props, synth = longest_prefix_stacks[name]
        prefix = props.name
        built: dict[str, int] = {}  # name -> its limit
        for kind, resource in _resources(synth):
            if kind == "google_service_account":
                built[resource["account_id"]] = 30
            elif "name" in resource and str(resource["name"]).startswith(prefix):
                built[resource["name"]] = 63
            for secondary in resource.get("secondary_ip_range", []):
                built[secondary["range_name"]] = 63
            for tag in resource.get("tags", []) if kind == "google_compute_route" else []:
                built[tag] = 63
        over = {n: limit for n, limit in built.items() if len(n) > limit}
        assert not over, (name, over)
        assert max(len(n) - limit for n, limit in built.items()) == 0, "the longest name is at its limit"
        table = {n.name for n in gcp_names(prefix, region=props.region, policy=_firewall_policy(props),
                                           nat_address_count=props.nat.address_count)}  # fmt: skip
        assert set(built) <= table, (name, sorted(set(built) - table))


def _firewall_policy(props: GcpNetworkProps) -> Any:
    # The names do not depend on addresses: the props' validation policy names what was built.
    from circleci_network.gcp.firewall import firewall_policy
    from circleci_network.model.nat_translation import NatTranslation

    stand_in = NatTranslation(load_balancer_source_ranges=True) if props.internet_proxy else None
    return firewall_policy(props.addressing, props.hardening, props.server_version, props.platform, stand_in)


def test_every_aws_name_fits_and_was_checked_at_the_top(longest_prefix_stacks: dict[str, Any]) -> None:
    limits = {"aws_lb": 32, "aws_lb_target_group": 32, "aws_iam_role": 64, "aws_security_group": 255,
              "aws_cloudwatch_log_group": 512}  # fmt: skip
    for name in ("aws-v4-internet-eks", "aws-v3-seed"):
        props, synth = longest_prefix_stacks[name]
        built = {r["name"]: limits[kind] for kind, r in _resources(synth) if kind in limits}
        over = {n: limit for n, limit in built.items() if len(n) > limit}
        assert not over, (name, over)
        assert max(len(n) - limit for n, limit in built.items()) == 0, "the longest name is at its limit"
        table = {n.name for n in aws_names(props.vpc.name, props.server_version)}
        assert set(built) <= table, (name, sorted(set(built) - table))
        tags = [r["tags"]["Name"] for _, r in _resources(synth) if "Name" in (r.get("tags") or {})]
        assert tags and all(len(t) <= 256 for t in tags)
