"""The synthesized GCP reference stack: structure, hardening invariants, snapshot."""

from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network import ConfigurationError, HardeningOptions

Synth = dict[str, Any]


def _resources(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    return synth["resource"].get(kind, {})


def test_snapshot(gcp_reference: Synth, snapshot: SnapshotAssertion) -> None:
    assert gcp_reference == snapshot.use_extension(JSONSnapshotExtension)


def test_one_custom_network_one_subnet_with_private_access_and_flow_logs(gcp_reference: Synth) -> None:
    (network,) = _resources(gcp_reference, "google_compute_network").values()
    assert network["auto_create_subnetworks"] is False and network["delete_default_routes_on_create"] is True
    (subnet,) = _resources(gcp_reference, "google_compute_subnetwork").values()
    assert subnet["private_ip_google_access"] is True and subnet["log_config"]["metadata"] == "INCLUDE_ALL_METADATA"
    (route,) = _resources(gcp_reference, "google_compute_route").values()
    assert sorted(route["tags"]) == ["circleci-external-vms", "circleci-k8s-nodes", "circleci-nomad-clients"]
    (nat,) = _resources(gcp_reference, "google_compute_router_nat").values()
    assert nat["log_config"]["enable"] is True


def test_firewall_rules_are_named_described_logged_and_targeted(gcp_reference: Synth) -> None:
    for rule in _resources(gcp_reference, "google_compute_firewall").values():
        assert len(rule["name"]) <= 63
        assert rule["description"]
        assert rule["log_config"]["metadata"] == "INCLUDE_ALL_METADATA"
        assert rule["target_service_accounts"] and "target_tags" not in rule and "source_tags" not in rule


def test_deny_baselines_sit_below_every_allow(gcp_reference: Synth) -> None:
    rules = _resources(gcp_reference, "google_compute_firewall").values()
    denies = [r for r in rules if "deny" in r and "-deny-all-" in r["name"]]
    allows = [r for r in rules if "allow" in r]
    assert len(denies) == 6
    assert max(a["priority"] for a in allows) < min(d["priority"] for d in denies)


def test_internal_addresses_are_reserved_in_the_subnet(gcp_reference: Synth) -> None:
    addresses = {a["name"]: a for a in _resources(gcp_reference, "google_compute_address").values()}
    assert addresses["circleci-nomad"]["address"] == "10.0.0.11"
    assert addresses["circleci-frontend-external"]["address_type"] == "EXTERNAL"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"project": ""}, "GcpNetworkProps.project"),
        ({"project": "Bad_Project"}, "GcpNetworkProps.project"),
        ({"region": ""}, "GcpNetworkProps.region"),
        ({"region": "us-central1-a"}, "GcpNetworkProps.region"),
        ({"name": "a-very-long-prefix-for-names"}, "GcpNetworkProps.name"),
        ({"hardening": None}, "GcpNetworkProps.hardening"),
        ({"region": "mars-north1"}, "GcpNetworkProps.region"),
        ({"firewall_targets": "tags"}, "GcpNetworkProps.firewall_targets"),
    ],
)
def test_bad_gcp_props_name_the_field(kwargs: dict[str, object], field: str) -> None:
    from circleci_network.gcp import GcpNetworkProps

    with pytest.raises(ConfigurationError) as caught:
        GcpNetworkProps(**{"project": "acme-circleci", "region": "us-central1", **kwargs})  # type: ignore[arg-type]
    assert caught.value.field == field, str(caught.value)


def test_firewall_names_over_63_characters_are_refused() -> None:
    from circleci_network import ExtraEgressRule, Port
    from circleci_network.gcp import GcpNetworkProps
    from circleci_network.model.roles import Role

    extra = ExtraEgressRule("artifact-cache-mirror-eu", Role.EXTERNAL_VMS, Port.tcp(8081), ("10.9.0.0/24",), "cache")
    with pytest.raises(ConfigurationError) as caught:
        GcpNetworkProps(
            project="acme-circleci",
            region="us-central1",
            name="circleci-prod-xy",
            hardening=HardeningOptions(extra_egress=(extra,)),
        )
    assert caught.value.field == "GcpNetworkProps.name" and "63" in caught.value.problem


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"subnet_cidr": "10.0.0.0/40"}, "GcpAddressing.subnet_cidr"),
        ({"pods_cidr": "10.0.0.0/14"}, "GcpAddressing.pods_cidr"),
        ({"internal_load_balancer_addresses": {"x": "10.0.0.5"}}, "GcpAddressing.internal_load_balancer_addresses"),
    ],
)
def test_bad_gcp_addressing(kwargs: dict[str, object], field: str) -> None:
    from circleci_network.gcp import GcpAddressing

    with pytest.raises(ConfigurationError) as caught:
        GcpAddressing(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field, str(caught.value)


def test_internal_address_outside_the_subnet_is_refused() -> None:
    from circleci_network.gcp import GcpAddressing
    from circleci_network.model.roles import Role

    with pytest.raises(ConfigurationError) as caught:
        GcpAddressing(internal_load_balancer_addresses={Role.NOMAD_LB: "10.9.0.5"})
    assert caught.value.field == "GcpAddressing.internal_load_balancer_addresses[nomad]"
