"""GKE stacks for tests/test_gke.py, and GKE's own rules as GKE makes them."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from cdktf import App, TerraformStack

from circleci_network.gcp import FirewallTargets, GcpNetworkProps
from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import GoogleApiAccess, Platform, PlatformOptions, TrafficPolicy
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.topology import Topology, UserAccess
from stacks.reference import reference_gcp_props

CONTROL_PLANE = "172.16.0.32/28"
#: A private cluster behind an egress proxy: control-plane rows, a webhook, Google APIs privately.
PRIVATE = PlatformOptions(
    platform=Platform.GKE,
    control_plane_cidr=CONTROL_PLANE,
    webhook_ports=(8443,),
    google_api_access=GoogleApiAccess.PRIVATE,
)
PROXY_EGRESS = HardeningOptions(external_cidrs=("192.0.2.10/32",), vcs_cidrs=("140.82.112.0/20",))
#: A public cluster, network tags, externalTrafficPolicy Local: the smallest GKE shape.
PUBLIC_LOCAL = PlatformOptions(platform=Platform.GKE, external_traffic_policy=TrafficPolicy.LOCAL)
GKE_NODE_TAG = "gke-circleci-1a2b3c4d-node"


def gke_props(platform: PlatformOptions, **changes: Any) -> GcpNetworkProps:
    return replace(reference_gcp_props().network, platform=platform, **changes)


def build_gke_stacks(app: App) -> dict[str, TerraformStack]:
    from circleci_network.stacks.gcp import CircleciGcpStack, GcpStackProps

    shapes = {
        "gcp-gke-private": gke_props(PRIVATE, hardening=PROXY_EGRESS),
        "gcp-gke-public-tags": gke_props(PUBLIC_LOCAL, firewall_targets=FirewallTargets.NETWORK_TAGS),
        # Server v4.3: one internal circleci-proxy address in the subnet, which GKE's -vms admits too.
        "gcp-gke-v4.3-vpn": gke_props(
            PUBLIC_LOCAL,
            server_version=ServerVersion(ServerVersionId.V4_3),
            topology=Topology(user_access=UserAccess.VPN),
            hardening=HardeningOptions(client_cidrs=("10.200.0.0/16",), rerun_ssh_cidrs=("10.200.0.0/16",)),
        ),
    }
    return {name: CircleciGcpStack(app, name, props=GcpStackProps(network=n)) for name, n in shapes.items()}


def with_gke_rules(stack: dict[str, Any], control_plane_cidr: str | None = None) -> dict[str, Any]:
    """The stack plus the firewall rules GKE adds on its node tag [GKE-FW], at GKE's priorities."""
    result = copy.deepcopy(stack)
    (subnet,) = result["resource"]["google_compute_subnetwork"].values()
    pods = next(r["ip_cidr_range"] for r in subnet["secondary_ip_range"] if r["range_name"].endswith("-pods"))
    network = next(iter(result["resource"]["google_compute_firewall"].values()))["network"]
    prefix = GKE_NODE_TAG.removesuffix("-node")

    def rule(suffix: str, **fields: Any) -> dict[str, Any]:
        return {"name": f"{prefix}-{suffix}", "network": network, "direction": "INGRESS",
                "target_tags": [GKE_NODE_TAG], "priority": 1000, **fields}  # fmt: skip

    rules = {
        "vms": rule("vms", source_ranges=[subnet["ip_cidr_range"]],
                    allow=[{"protocol": "tcp", "ports": ["1-65535"]}, {"protocol": "udp", "ports": ["1-65535"]},
                           {"protocol": "icmp"}]),
        "all": rule("all", source_ranges=[pods], allow=[{"protocol": p} for p in ("tcp", "udp", "sctp", "icmp", "esp", "ah")]),
        "inkubelet": rule("inkubelet", priority=999, source_ranges=[pods], source_tags=[GKE_NODE_TAG],
                          allow=[{"protocol": "tcp", "ports": ["10255"]}]),
        "exkubelet": rule("exkubelet", source_ranges=["0.0.0.0/0"], deny=[{"protocol": "tcp", "ports": ["10255"]}]),
    }  # fmt: skip
    if control_plane_cidr is not None:
        rules["master"] = rule(
            "master", source_ranges=[control_plane_cidr], allow=[{"protocol": "tcp", "ports": ["443", "10250"]}]
        )
    for key, value in rules.items():
        result["resource"]["google_compute_firewall"][f"gke_{key}"] = value
    return result
