"""EKS: platform rules, the control-plane group, the node group's launch template, the audit."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network.__main__ import main
from circleci_network.audit.audit import audit_stack
from circleci_network.aws import AwsNetworkProps, VpcProps
from circleci_network.errors import ConfigurationError
from circleci_network.gcp import GcpNetworkProps
from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent
from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import (
    EKS_DEFAULT_WEBHOOK_PORTS,
    GoogleApiAccess,
    Platform,
    PlatformOptions,
    rules_for_platform,
)
from circleci_network.model.roles import Role
from circleci_network.model.rules import SourceKind
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.topology import Topology
from stacks.eks_example import eks_example_props
from tests.snapshot_diff import structural_diff
from tests.test_option_combinations import _fits, hardening_options, synth_settings, topologies

Synth = dict[str, Any]
EKS = PlatformOptions(platform=Platform.EKS)
EXISTING = "sg-0123456789abcdef0"


def _resources(stack: Synth, kind: str) -> dict[str, Any]:
    return dict(stack["resource"].get(kind, {}))


def _group(stack: Synth, role: Role) -> str:
    (name,) = [
        n for n, g in _resources(stack, "aws_security_group").items() if g["tags"]["circleci/role"] == role.value
    ]
    return name


def _rules_of(stack: Synth, kind: str, group: str) -> dict[str, Any]:
    ref = f"${{aws_security_group.{group}.id}}"
    return {n: r for n, r in _resources(stack, kind).items() if r["security_group_id"] == ref}


def _with_recorded(stack: Synth, **platform: Any) -> Synth:
    """The same JSON with the recorded platform options changed (what the user declares)."""
    result = copy.deepcopy(stack)
    (key,) = [k for k in result["locals"] if INTENT_LOCAL in k]
    result["locals"][key]["platform"].update(platform)
    return result


# --- the rules as typed data ---------------------------------------------------------------------


def test_eks_rules_are_platform_rules_citing_the_eks_documentation() -> None:
    rules = rules_for_platform(EKS)
    assert {r.rule_id for r in rules} == {
        "eks-k8s-nodes-in-control-plane",
        "eks-control-plane-out-k8s-nodes",
        "eks-k8s-nodes-out-control-plane",
        "eks-control-plane-in-k8s-nodes",
    }
    for rule in rules:
        assert rule.sources[0].kind is SourceKind.PLATFORM and "[EKS-SG]" in rule.sources[0].document
        assert rule.description.startswith("Platform rule (EKS, not a guide row)")
        assert {rule.role, rule.peer} == {Role.KUBERNETES_NODES, Role.EKS_CONTROL_PLANE}
    by_id = {r.rule_id: [str(p) for p in r.ports] for r in rules}
    # Default webhooks: the AWS Load Balancer Controller (9443) and metrics-server (10250, the kubelet's).
    assert EKS.webhook_ports == EKS_DEFAULT_WEBHOOK_PORTS == (9443, 10250)
    assert by_id["eks-k8s-nodes-in-control-plane"] == ["tcp/443", "tcp/10250", "tcp/9443"]
    assert by_id["eks-k8s-nodes-out-control-plane"] == ["tcp/443"]
    # Declared ports replace the default; () leaves 443 and 10250 only.
    declared = {r.rule_id: [str(p) for p in r.ports] for r in rules_for_platform(replace(EKS, webhook_ports=(8443,)))}
    assert declared["eks-control-plane-out-k8s-nodes"] == ["tcp/443", "tcp/10250", "tcp/8443"]
    bare = {r.rule_id: [str(p) for p in r.ports] for r in rules_for_platform(replace(EKS, webhook_ports=()))}
    assert bare["eks-k8s-nodes-in-control-plane"] == ["tcp/443", "tcp/10250"]
    assert PlatformOptions.from_json(EKS.to_json()) == EKS
    declared_sg = PlatformOptions(platform=Platform.EKS, eks_cluster_security_group_on_nodes=True)
    assert PlatformOptions.from_json(declared_sg.to_json()) == declared_sg


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"platform": Platform.EKS, "webhook_ports": (0,)}, "PlatformOptions.webhook_ports"),
        ({"platform": Platform.EKS, "webhook_ports": (65536,)}, "PlatformOptions.webhook_ports"),
        ({"platform": Platform.EKS, "webhook_ports": ("9443",)}, "PlatformOptions.webhook_ports"),
        ({"eks_cluster_security_group_on_nodes": True}, "PlatformOptions.eks_cluster_security_group_on_nodes"),
        (
            {"platform": Platform.GKE, "eks_cluster_security_group_on_nodes": True},
            "PlatformOptions.eks_cluster_security_group_on_nodes",
        ),
        (
            {"platform": Platform.EKS, "eks_cluster_security_group_on_nodes": "yes"},
            "PlatformOptions.eks_cluster_security_group_on_nodes",
        ),
        ({"platform": Platform.EKS, "control_plane_cidr": "172.16.0.32/28"}, "PlatformOptions.control_plane_cidr"),
        (
            {"platform": Platform.EKS, "eks_cluster_security_group_id": "sg-xyz"},
            "PlatformOptions.eks_cluster_security_group_id",
        ),
        ({"eks_cluster_security_group_id": EXISTING}, "PlatformOptions.eks_cluster_security_group_id"),
        (
            {"platform": Platform.GKE, "eks_cluster_security_group_id": EXISTING},
            "PlatformOptions.eks_cluster_security_group_id",
        ),
        (
            {"platform": Platform.EKS, "google_api_access": GoogleApiAccess.PRIVATE},
            "PlatformOptions.google_api_access",
        ),
    ],
)
def test_bad_eks_options_are_configuration_errors(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        PlatformOptions(**changes)
    assert error.value.field == field


def test_platforms_stay_on_their_cloud() -> None:
    vpc = VpcProps(availability_zones=("us-east-1a", "us-east-1b"))
    with pytest.raises(ConfigurationError) as error:
        AwsNetworkProps(vpc=vpc, platform=PlatformOptions(platform=Platform.GKE))
    assert error.value.field == "AwsNetworkProps.platform"
    assert AwsNetworkProps(vpc=vpc, platform=EKS, network_acls=True).network_acls  # built, no longer refused
    with pytest.raises(ConfigurationError) as error:
        GcpNetworkProps(project="acme-circleci", region="us-central1", platform=EKS)
    assert error.value.field == "GcpNetworkProps.platform"


# --- the example stack: control-plane group, launch template, clean audit ------------------------


def test_eks_example_audits_clean_with_the_platform_rows(eks_example: Synth) -> None:
    result = audit_stack(eks_example, "aws-eks-example")
    assert result.ok, result.summary()
    assert result.intent.platform.platform is Platform.EKS
    platform = [w for w in result.widenings if w.option.startswith("platform.")]
    assert len(platform) == 4 and all("platform rule, not a guide row" in w.why for w in platform)
    # The platform flows are open end to end (the audit found them in the JSON).
    assert any("eks-control-plane" in str(key) for key in result.flows)


def test_control_plane_group_is_in_the_clusters_vpc_config(eks_example: Synth) -> None:
    plane, nodes = _group(eks_example, Role.EKS_CONTROL_PLANE), _group(eks_example, Role.KUBERNETES_NODES)
    group = _resources(eks_example, "aws_security_group")[plane]
    assert group["tags"]["circleci/role"] == "eks-control-plane"
    assert "EKS control plane" in group["description"]
    (cluster,) = _resources(eks_example, "aws_eks_cluster").values()
    assert cluster["vpc_config"]["security_group_ids"] == [f"${{aws_security_group.{plane}.id}}"]
    assert all("k8s-nodes" in s for s in cluster["vpc_config"]["subnet_ids"])
    # The node group's launch template carries our node group and nothing else.
    (template,) = _resources(eks_example, "aws_launch_template").values()
    assert template["vpc_security_group_ids"] == [f"${{aws_security_group.{nodes}.id}}"]
    (node_group,) = _resources(eks_example, "aws_eks_node_group").values()
    assert node_group["launch_template"]["id"].startswith("${aws_launch_template.")
    assert node_group["subnet_ids"] == cluster["vpc_config"]["subnet_ids"]
    # Node rules reference the control-plane group; its own rules reference the nodes only.
    node_in = _rules_of(eks_example, "aws_vpc_security_group_ingress_rule", nodes)
    from_plane = sorted(
        r["from_port"]
        for r in node_in.values()
        if r.get("referenced_security_group_id") == f"${{aws_security_group.{plane}.id}}"
    )
    assert from_plane == [443, 9443, 10250]
    for kind in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        for rule in _rules_of(eks_example, kind, plane).values():
            assert rule["referenced_security_group_id"] == f"${{aws_security_group.{nodes}.id}}"
            assert "cidr_ipv4" not in rule
    outputs = eks_example["output"]
    assert outputs["cluster_security_group_id"]["value"] == f"${{aws_security_group.{plane}.id}}"
    assert outputs["node_security_group_id"]["value"] == f"${{aws_security_group.{nodes}.id}}"


def test_eks_snapshot(reference_stacks: dict[str, Synth], eks_example: Synth, snapshot: SnapshotAssertion) -> None:
    """What Platform.EKS and the example add to the AWS reference stack."""
    diff = structural_diff(reference_stacks["circleci-aws"], eks_example)
    assert diff == snapshot(extension_class=JSONSnapshotExtension)


# --- tampering and the cluster group's attachment ------------------------------------------------


def test_a_wider_control_plane_group_fails_the_audit(eks_example: Synth) -> None:
    tampered = copy.deepcopy(eks_example)
    plane = _group(tampered, Role.EKS_CONTROL_PLANE)
    tampered["resource"]["aws_vpc_security_group_ingress_rule"]["tampered"] = {
        "security_group_id": f"${{aws_security_group.{plane}.id}}",
        "ip_protocol": "tcp",
        "from_port": 443,
        "to_port": 443,
        "cidr_ipv4": "10.0.0.0/8",
    }
    result = audit_stack(tampered, "tampered")
    assert not result.ok
    extra = {(d.source, d.destination) for d in result.differences if d.kind == "extra"}
    assert ("nomad-clients", "eks-control-plane") in extra


def test_a_missing_kubelet_rule_fails_the_audit(eks_example: Synth) -> None:
    tampered = copy.deepcopy(eks_example)
    nodes = _group(tampered, Role.KUBERNETES_NODES)
    ingress = tampered["resource"]["aws_vpc_security_group_ingress_rule"]
    (kubelet,) = [
        n
        for n, r in _rules_of(tampered, "aws_vpc_security_group_ingress_rule", nodes).items()
        if r["tags"]["circleci/rule"] == "eks-k8s-nodes-in-control-plane" and r["from_port"] == 10250
    ]
    del ingress[kubelet]
    result = audit_stack(tampered, "tampered")
    assert not result.ok
    missing = {(d.source, d.destination, p) for d in result.differences if d.kind == "missing" for p in d.ports}
    assert ("eks-control-plane", "k8s-nodes", "tcp/10250") in missing


def test_the_cluster_group_on_the_nodes_is_reported_as_widening(eks_example: Synth) -> None:
    """Declared (a node group whose launch template names no groups), EKS's cluster group is
    evaluated with the stack: all from itself, all egress to 0.0.0.0/0; the audit fails."""
    result = audit_stack(_with_recorded(eks_example, eks_cluster_security_group_on_nodes=True), "cluster-sg")
    assert not result.ok
    extra = {(d.source, d.destination, p) for d in result.differences if d.kind == "extra" for p in d.ports}
    assert ("eks-control-plane", "k8s-nodes", "tcp/1-442") in extra  # every port, not 443/10250/9443 only
    assert any(src == "k8s-nodes" and dst != "k8s-nodes" and dst != "eks-control-plane" for src, dst, _ in extra)
    assert any("EKS's cluster security group" in by for d in result.differences for by in d.because)


def test_audit_command_platform_eks(tmp_path: Path, aws_reference: Synth, eks_example: Synth) -> None:
    reference, eks = tmp_path / "reference.tf.json", tmp_path / "eks.tf.json"
    reference.write_text(json.dumps(aws_reference))
    eks.write_text(json.dumps(eks_example))
    assert main(["audit", str(reference), "--no-report"]) == 0
    as_eks = audit_stack(aws_reference, "reference", platform=Platform.EKS)
    missing = {(d.source, d.destination, p) for d in as_eks.differences if d.kind == "missing" for p in d.ports}
    # Built without the platform: no control-plane group, so its rows are missing.
    assert ("eks-control-plane", "k8s-nodes", "tcp/10250") in missing
    assert main(["audit", str(reference), "--no-report", "--platform", "eks"]) == 1
    assert main(["audit", str(eks), "--no-report", "--platform", "eks"]) == 0
    assert main(["audit", str(eks), "--no-report"]) == 0  # the recorded platform
    assert main(["audit", str(eks), "--no-report", "--platform", "gke"]) == 2  # an AWS stack


def test_recorded_platform_round_trips(eks_example: Synth, aws_reference: Synth) -> None:
    (intent,) = (v for k, v in eks_example["locals"].items() if "intent" in k)
    assert NetworkIntent.from_json(intent).platform == EKS
    (reference,) = (v for k, v in aws_reference["locals"].items() if "intent" in k)
    assert "platform" not in reference  # default stacks keep their record


def test_declaring_the_cluster_group_fails_the_synth_time_check() -> None:
    """validate_against_spec audits with the recorded platform: the cluster group's widening stops synth."""
    import cdktf

    from circleci_network.stacks.aws import CircleciAwsStack

    declared = PlatformOptions(platform=Platform.EKS, eks_cluster_security_group_on_nodes=True)
    stack = CircleciAwsStack(cdktf.App(), "declared", props=eks_example_props(declared))
    with pytest.raises(Exception, match=r"EKS's cluster security group"):
        cdktf.Testing.synth(stack, True)


# --- property: option combinations with Platform.EKS audit clean; the cluster group never does ---

eks_platforms = st.builds(
    PlatformOptions,
    platform=st.just(Platform.EKS),
    webhook_ports=st.one_of(
        st.none(), st.lists(st.sampled_from([443, 4443, 8443, 9443, 10250, 15017]), max_size=3).map(tuple)
    ),
)


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@synth_settings
@given(
    platform=eks_platforms,
    hardening=hardening_options,
    topology=topologies,
    version=st.sampled_from([ServerVersionId.V3_SEED, ServerVersionId.V4_3]),
    vpc_cidr=st.sampled_from(["10.0.0.0/16", "10.42.0.0/18"]),
)
def test_every_eks_combination_audits_clean(
    platform: PlatformOptions,
    hardening: HardeningOptions,
    topology: Topology,
    version: ServerVersionId,
    vpc_cidr: str,
) -> None:
    assume(_fits(hardening, topology))
    import cdktf
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from circleci_network.aws import CircleciAwsNetwork

    stack = cdktf.TerraformStack(cdktf.App(), "combination")
    AwsProvider(stack, "aws", region="eu-west-1")
    try:
        props = AwsNetworkProps(
            vpc=VpcProps(availability_zones=("eu-west-1a", "eu-west-1b"), cidr_block=vpc_cidr),
            hardening=hardening,
            topology=topology,
            server_version=ServerVersion(version),
            platform=platform,
        )
    except ConfigurationError:
        assume(False)  # a version/topology pairing refused on its own (tests/test_server_versions.py)
        raise
    CircleciAwsNetwork(stack, "network", props=props)
    synth = json.loads(cdktf.Testing.synth(stack))
    result = audit_stack(synth, "combination")
    assert result.ok, result.summary()
    ports = {str(p) for r in rules_for_platform(platform) for p in r.ports}
    assert {"tcp/443", "tcp/10250"} <= ports
    declared = audit_stack(_with_recorded(synth, eks_cluster_security_group_on_nodes=True), "combination")
    assert not declared.ok


def test_an_existing_control_plane_group_takes_our_rules_and_audits_clean() -> None:
    """The user's cluster group by ID: no group made, our rules on it and referencing it; the
    audit counts the recorded ID as the control plane (any other ID is no circleci role)."""
    import cdktf

    from circleci_network.stacks.aws import CircleciAwsStack

    platform = PlatformOptions(platform=Platform.EKS, eks_cluster_security_group_id=EXISTING)
    stack = json.loads(
        cdktf.Testing.synth(CircleciAwsStack(cdktf.App(), "existing-plane", props=eks_example_props(platform)), True)
    )
    roles = {g["tags"]["circleci/role"] for g in _resources(stack, "aws_security_group").values()}
    assert "eks-control-plane" not in roles
    on_plane = [
        r
        for kind in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")
        for r in _resources(stack, kind).values()
        if r["security_group_id"] == EXISTING
    ]
    assert len(on_plane) == 4  # 443 in; 443, 10250, 9443 out to the nodes
    to_plane = [
        r for r in _resources(stack, "aws_vpc_security_group_ingress_rule").values()
        if r.get("referenced_security_group_id") == EXISTING
    ]  # fmt: skip
    assert sorted(r["from_port"] for r in to_plane) == [443, 9443, 10250]
    assert stack["output"]["cluster_security_group_id"]["value"] == EXISTING
    result = audit_stack(stack, "existing-plane")
    assert result.ok, result.summary()
    other = audit_stack(_with_recorded(stack, eks_cluster_security_group_id="sg-0fedcba9876543210"), "other")
    assert not other.ok and other.unmodelled
