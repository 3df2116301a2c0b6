"""GKE: platform rules, priorities that win over GKE's own rules, the audit with GKE's rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import cdktf
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network.__main__ import main
from circleci_network.audit.audit import audit_stack
from circleci_network.errors import ConfigurationError
from circleci_network.gcp import FirewallTargets, GcpAddressing, GcpNetworkProps
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import (
    GOOGLE_L4_HEALTH_CHECK_RANGES,
    GoogleApiAccess,
    Platform,
    PlatformOptions,
    TrafficPolicy,
    rules_for_platform,
)
from circleci_network.model.roles import Role
from circleci_network.model.rules import SourceKind
from circleci_network.model.topology import JobPlacement, Topology
from tests.gke_stacks import CONTROL_PLANE, PRIVATE, PUBLIC_LOCAL, gke_props, with_gke_rules
from tests.test_option_combinations import _fits, gcp_combination, hardening_options, synth_settings

Synth = dict[str, Any]
SHAPES = ("gcp-gke-private", "gcp-gke-public-tags", "gcp-gke-v4.3-vpn")


def _firewalls(stack: Synth) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in stack["resource"]["google_compute_firewall"].values()}


def _control_plane(name: str) -> str | None:
    return CONTROL_PLANE if name == "gcp-gke-private" else None


@pytest.mark.parametrize("name", SHAPES)
def test_gke_stacks_audit_clean_with_gkes_own_rules(gke_stacks: dict[str, Synth], name: str) -> None:
    result = audit_stack(gke_stacks[name], name)
    assert result.ok, result.summary()
    assert result.intent.platform.platform is Platform.GKE
    # Every platform rule is listed for a reviewer, marked as such.
    platform = [w for w in result.widenings if w.option.startswith("platform.")]
    assert len(platform) == len(rules_for_platform(result.intent.platform)) == (3 if name == "gcp-gke-private" else 0)
    assert all("platform rule, not a guide row" in w.why for w in platform)


@pytest.mark.parametrize("name", SHAPES)
def test_injected_gke_rules_leave_the_flows_unchanged(gke_stacks: dict[str, Synth], name: str) -> None:
    """GKE's rules as GKE makes them (names, node tag, priority 1000) added to the JSON."""
    before = audit_stack(gke_stacks[name], name)
    injected = with_gke_rules(gke_stacks[name], _control_plane(name))
    assert len(_firewalls(injected)) == len(_firewalls(gke_stacks[name])) + (5 if _control_plane(name) else 4)
    after = audit_stack(injected, name)
    assert after.ok, after.summary()
    assert after.flows.keys() == before.flows.keys()


def test_gkes_rules_widen_a_stack_built_without_the_platform(gcp_reference: Synth) -> None:
    """The issue's measurement, reproduced: the injection test above has teeth."""
    result = audit_stack(with_gke_rules(gcp_reference), "reference", platform=Platform.GKE)
    assert not result.ok
    extra = {(d.source, d.destination, p) for d in result.differences if d.kind == "extra" for p in d.ports}
    assert ("nomad-clients", "k8s-nodes", "tcp/22") in extra
    assert ("nomad-clients", "k8s-nodes", "tcp/2376") in extra
    assert ("external-vms", "k8s-nodes", "tcp/22") in extra


def test_no_node_to_job_flow_on_the_rerun_ports(gcp_reference: Synth, gke_stacks: dict[str, Synth]) -> None:
    for name, stack in {"reference": gcp_reference, **gke_stacks}.items():
        result = audit_stack(stack, name)
        assert result.ok, result.summary()
        leaks = [
            key
            for key in result.flows
            if key.source == "k8s-nodes"
            and key.destination in ("nomad-clients", "external-vms")
            and key.port.protocol == "tcp"
            and key.port.high >= 54782
        ]
        assert leaks == [], name
        rerun = ("tcp/64535-65535", "tcp/54782")
        assert not [d for d in result.inherent if set(d.ports) & set(rerun)], name
    deny = _firewalls(gcp_reference)["circleci-nomad-clients-deny-rerun-from-k8s-nodes"]
    allow = _firewalls(gcp_reference)["circleci-nomad-clients-in-rerun-ssh"]
    assert deny["priority"] == allow["priority"]  # deny wins at equal priority
    assert deny["deny"] == [{"protocol": "tcp", "ports": ["64535-65535"]}]
    assert deny["source_ranges"] == ["10.16.0.0/14"] and deny["source_service_accounts"]


def test_our_rules_win_over_gkes(gke_stacks: dict[str, Synth], gcp_reference: Synth) -> None:
    for name in SHAPES:
        rules = _firewalls(gke_stacks[name])
        allows = [r for r in rules.values() if "allow" in r]
        assert {r["priority"] for r in allows} == {900}
        deny = rules["circleci-k8s-nodes-deny-from-jobs"]
        assert deny["priority"] == 901 and deny["deny"] == [{"protocol": "all"}]
        sources = deny.get("source_service_accounts") or deny["source_tags"]
        assert len(sources) == 2  # Nomad clients and external VMs
        internal_lbs = ["10.0.0.10/32"] if "v4.3" in name else ["10.0.0.10/32", "10.0.0.11/32", "10.0.0.12/32"]
        assert deny["source_ranges"] == internal_lbs
    assert "circleci-k8s-nodes-deny-from-jobs" not in _firewalls(gcp_reference)
    assert {r["priority"] for r in _firewalls(gcp_reference).values() if "allow" in r} == {1000}


def test_health_checks_use_all_four_ranges_and_kube_proxy_where_needed(
    gcp_reference: Synth, gke_stacks: dict[str, Synth]
) -> None:
    probes = _firewalls(gcp_reference)["circleci-k8s-nodes-in-node-ports-from-lb-health-checks"]
    assert probes["source_ranges"] == list(GOOGLE_L4_HEALTH_CHECK_RANGES)
    kube_proxy = _firewalls(gke_stacks["gcp-gke-private"])["circleci-gke-k8s-nodes-in-kube-proxy-health"]
    assert kube_proxy["allow"] == [{"protocol": "tcp", "ports": ["10256"]}]
    assert kube_proxy["source_ranges"] == list(GOOGLE_L4_HEALTH_CHECK_RANGES)
    assert "circleci-gke-k8s-nodes-in-kube-proxy-health" not in _firewalls(gke_stacks["gcp-gke-public-tags"])


def test_private_cluster_control_plane_rows(gke_stacks: dict[str, Synth]) -> None:
    rule = _firewalls(gke_stacks["gcp-gke-private"])["circleci-gke-k8s-nodes-in-control-plane"]
    assert rule["source_ranges"] == [CONTROL_PLANE]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["443", "10250", "8443"]}]
    assert "Platform rule (GKE, not a guide row)" in rule["description"] and "; platform: " in rule["description"]
    assert not any("control-plane" in n for n in _firewalls(gke_stacks["gcp-gke-public-tags"]))


def test_private_google_access_routes_resolves_and_opens_443(gke_stacks: dict[str, Synth]) -> None:
    stack = gke_stacks["gcp-gke-private"]
    routes = {r["name"]: r for r in stack["resource"]["google_compute_route"].values()}
    route = routes["circleci-private-googleapis"]
    assert route["dest_range"] == "199.36.153.8/30" and route["next_hop_gateway"] == "default-internet-gateway"
    assert "tags" not in route  # node pools without our tag still reach Google APIs
    zones = {z["dns_name"] for z in stack["resource"]["google_dns_managed_zone"].values()}
    assert zones == {"googleapis.com.", "gcr.io.", "pkg.dev."}
    records = {(r["name"], r["type"]): r["rrdatas"] for r in stack["resource"]["google_dns_record_set"].values()}
    assert records[("private.googleapis.com.", "A")] == [f"199.36.153.{i}" for i in range(8, 12)]
    assert records[("*.googleapis.com.", "CNAME")] == ["private.googleapis.com."]
    egress = _firewalls(stack)["circleci-gke-k8s-nodes-out-private-googleapis"]
    assert egress["destination_ranges"] == ["199.36.153.8/30"] and egress["direction"] == "EGRESS"
    assert "google_dns_managed_zone" not in gke_stacks["gcp-gke-public-tags"]["resource"]


def test_required_network_tags_in_outputs_and_values(gke_stacks: dict[str, Synth], gcp_reference: Synth) -> None:
    tags = {"k8s-nodes": "circleci-k8s-nodes", "nomad-clients": "circleci-nomad-clients",
            "external-vms": "circleci-external-vms"}  # fmt: skip
    for stack in (gcp_reference, *gke_stacks.values()):
        assert stack["output"]["required_network_tags"]["value"] == tags
        values = json.dumps([stack["locals"], stack["output"]])  # the values local, or v4: network-facts
        assert '"required_network_tags"' in values


def test_platform_rules_are_marked_and_sourced() -> None:
    rules = rules_for_platform(
        replace(PRIVATE, google_api_access=GoogleApiAccess.RESTRICTED, google_api_roles=tuple(Role)[:3])
    )
    assert {r.rule_id for r in rules} == {
        "gke-k8s-nodes-in-control-plane",
        "gke-k8s-nodes-in-kube-proxy-health",
        "gke-k8s-nodes-out-restricted-googleapis",
        "gke-nomad-clients-out-restricted-googleapis",
        "gke-external-vms-out-restricted-googleapis",
    }
    for rule in rules:
        assert rule.sources and all(s.kind is SourceKind.PLATFORM for s in rule.sources)
        assert "not a guide row" in rule.description and "spec:" not in rule.description
    assert rules_for_platform(PlatformOptions()) == ()


def test_intent_records_the_platform_only_when_set(gke_stacks: dict[str, Synth], gcp_reference: Synth) -> None:
    (intent,) = (v for k, v in gke_stacks["gcp-gke-private"]["locals"].items() if "intent" in k)
    assert NetworkIntent.from_json(intent).platform == PRIVATE
    assert NetworkIntent.from_json(intent).to_json()["platform"] == intent["platform"]
    (reference,) = (v for k, v in gcp_reference["locals"].items() if "intent" in k)
    assert "platform" not in reference


def test_audit_command_platform_flag(tmp_path: Path, gcp_reference: Synth, gke_stacks: dict[str, Synth]) -> None:
    reference, gke = tmp_path / "reference.tf.json", tmp_path / "gke.tf.json"
    reference.write_text(json.dumps(gcp_reference))
    gke.write_text(json.dumps(gke_stacks["gcp-gke-private"]))
    assert main(["audit", str(reference), "--no-report"]) == 0
    assert main(["audit", str(reference), "--no-report", "--platform", "gke"]) == 1  # not built for GKE
    assert main(["audit", str(gke), "--no-report", "--platform", "gke"]) == 0
    assert main(["audit", str(gke), "--no-report", "--platform", "eks"]) == 2  # a GCP stack


def test_snapshot_of_the_new_rows(gke_stacks: dict[str, Synth], snapshot: SnapshotAssertion) -> None:
    """Only what platform=GKE adds or changes (the rest is the reference snapshot's)."""
    stack = gke_stacks["gcp-gke-private"]
    new = {
        name: rule
        for name, rule in _firewalls(stack).items()
        if "-gke-" in name or "deny-rerun" in name or "deny-from-jobs" in name
    }
    new["routes"] = {r["name"]: r for r in stack["resource"]["google_compute_route"].values()}
    assert new == snapshot.use_extension(JSONSnapshotExtension)


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"platform": Platform.GKE, "webhook_ports": (0,)}, "PlatformOptions.webhook_ports"),
        ({"platform": Platform.GKE, "webhook_ports": (65536,)}, "PlatformOptions.webhook_ports"),
        ({"platform": Platform.GKE, "webhook_ports": ("8443",)}, "PlatformOptions.webhook_ports"),
        ({"platform": Platform.GKE, "control_plane_cidr": "172.16.0.0/24"}, "PlatformOptions.control_plane_cidr"),
        ({"platform": Platform.GKE, "control_plane_cidr": "not-a-cidr"}, "PlatformOptions.control_plane_cidr"),
        ({"control_plane_cidr": "172.16.0.32/28"}, "PlatformOptions.control_plane_cidr"),
        ({"webhook_ports": (8443,)}, "PlatformOptions.webhook_ports"),
        ({"google_api_access": GoogleApiAccess.PRIVATE}, "PlatformOptions.google_api_access"),
        ({"platform": "gke"}, "PlatformOptions.platform"),
        ({"platform": Platform.GKE, "external_traffic_policy": "Cluster"}, "PlatformOptions.external_traffic_policy"),
        ({"platform": Platform.GKE, "google_api_roles": (Role.NOMAD_LB,)}, "PlatformOptions.google_api_roles"),
        ({"platform": Platform.GKE, "google_api_roles": ()}, "PlatformOptions.google_api_roles"),
    ],
)
def test_bad_platform_options(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        PlatformOptions(**kwargs)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("cidr", "overlaps"),
    [("10.0.0.16/28", "the subnet"), ("10.16.0.0/28", "the pod range"), ("10.20.0.0/28", "the service range")],
)
def test_control_plane_overlapping_our_ranges_is_refused(cidr: str, overlaps: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        gke_props(PlatformOptions(platform=Platform.GKE, control_plane_cidr=cidr))
    assert error.value.field == "PlatformOptions.control_plane_cidr" and overlaps in error.value.problem


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"platform": PlatformOptions(platform=Platform.EKS)}, "GcpNetworkProps.platform"),
        ({"platform": "gke"}, "GcpNetworkProps.platform"),
        ({"platform": PUBLIC_LOCAL, "allow_priority": 999}, "FirewallProps.allow_priority"),
    ],
)
def test_bad_gcp_platform_props(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        replace(GcpNetworkProps(project="acme-circleci", region="us-central1"), **changes)
    assert error.value.field == field


# --- property: option combinations with platform=GKE audit clean, with or without GKE's rules --

platforms = st.builds(
    PlatformOptions,
    platform=st.just(Platform.GKE),
    control_plane_cidr=st.sampled_from([None, CONTROL_PLANE, "192.168.100.0/28"]),
    webhook_ports=st.lists(st.sampled_from([443, 6443, 8443, 9443, 15017]), max_size=2).map(tuple),
    external_traffic_policy=st.sampled_from(TrafficPolicy),
    google_api_access=st.sampled_from(GoogleApiAccess),
    google_api_roles=st.lists(st.sampled_from(tuple(Role)[:3]), min_size=1, max_size=3, unique=True).map(tuple),
)


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@synth_settings
@given(
    platform=platforms,
    hardening=hardening_options,
    use_tags=st.booleans(),
    public_jobs=st.booleans(),
    subnet=st.sampled_from(["10.0.0.0/20", "10.64.0.0/22"]),
)
def test_every_gke_combination_audits_clean(
    platform: PlatformOptions, hardening: HardeningOptions, use_tags: bool, public_jobs: bool, subnet: str
) -> None:
    topology = Topology(job_placement=JobPlacement.PUBLIC) if public_jobs else Topology()
    assume(_fits(hardening, topology))
    synth = gcp_combination(
        addressing=GcpAddressing(subnet_cidr=subnet),
        hardening=hardening,
        firewall_targets=FirewallTargets.NETWORK_TAGS if use_tags else FirewallTargets.SERVICE_ACCOUNTS,
        topology=topology,
        platform=platform,
    )
    result = audit_stack(synth, "combination")
    assert result.ok, result.summary()
    injected = audit_stack(with_gke_rules(synth, platform.control_plane_cidr), "combination")
    assert injected.ok and injected.flows.keys() == result.flows.keys(), injected.summary()


def test_synth_time_validation_passes_with_the_platform() -> None:
    """``validate_against_spec`` audits with the recorded platform, GKE's rules included."""
    from circleci_network.stacks.gcp import CircleciGcpStack, GcpStackProps

    stack = CircleciGcpStack(cdktf.App(), "gke-validated", props=GcpStackProps(network=gke_props(PRIVATE)))
    assert json.loads(cdktf.Testing.synth(stack, True))["resource"]["google_dns_managed_zone"]
