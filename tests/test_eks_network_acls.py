"""Network ACLs with EKS: the tiers pass EKS's platform rules (control plane <-> nodes, with
their stateless replies) where the control plane's ENIs live, the audit evaluates them, and
tampering with the entries that carry them fails."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import replace
from ipaddress import IPv4Network
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network.audit.audit import audit_stack
from circleci_network.errors import ConfigurationError
from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import Platform, PlatformOptions, rules_for_platform
from circleci_network.model.ports import Protocol
from circleci_network.model.roles import Role
from circleci_network.model.rules import Direction
from circleci_network.model.topology import Topology
from tests.snapshot_diff import structural_diff
from tests.test_option_combinations import _fits, hardening_options, synth_settings, topologies

aws = pytest.importorskip("circleci_network.aws")
from circleci_network.aws import AwsNetworkProps, VpcProps  # noqa: E402
from circleci_network.aws.nacl_compactor import AclEntry  # noqa: E402
from circleci_network.aws.network_acls import CONTROL_PLANE_TIER, NetworkAclProps  # noqa: E402
from circleci_network.aws.vpc import SubnetTier  # noqa: E402

Synth = dict[str, Any]
EKS = PlatformOptions(platform=Platform.EKS)
ACL_KINDS = ("aws_default_network_acl", "aws_network_acl", "aws_network_acl_rule")


def _resources(stack: Synth, kind: str) -> dict[str, Synth]:
    return stack["resource"].setdefault(kind, {})


def _acl(stack: Synth, tier: str) -> str:
    (name,) = [n for n, acl in _resources(stack, "aws_network_acl").items() if acl["tags"]["circleci/tier"] == tier]
    return name


def _subnets(stack: Synth, tier: str) -> dict[str, str]:
    return {
        n: s["cidr_block"] for n, s in _resources(stack, "aws_subnet").items() if s["tags"]["circleci/tier"] == tier
    }


def _missing(stack: Synth) -> set[tuple[str, str, str]]:
    result = audit_stack(stack, "tampered")
    assert not result.ok
    return {(d.source, d.destination, p) for d in result.differences if d.kind == "missing" for p in d.ports}


# -- the plan, in pure Python -------------------------------------------------------------------

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def _props(platform: PlatformOptions = EKS, **kwargs: Any) -> NetworkAclProps:
    vpc = VpcProps(availability_zones=ZONES)
    plan = vpc.subnet_plan()
    return NetworkAclProps(
        vpc_id="vpc-1",
        default_network_acl_id="acl",
        subnet_ids={},
        subnet_cidrs={tier: tuple(str(c) for c in plan[tier]) for tier in SubnetTier},
        vpc_cidr=str(vpc.vpc_network),
        dns_resolver_cidrs=(f"{vpc.dns_resolver_address}/32",),
        load_balancer_subnet_cidrs=tuple(
            str(c) for tier in (SubnetTier.PUBLIC, SubnetTier.KUBERNETES_NODES) for c in plan[tier]
        ),
        platform=platform,
        **kwargs,
    )


def _passes(entries: tuple[AclEntry, ...], egress: bool, network: IPv4Network, port: int) -> bool:
    return any(
        e.egress is egress
        and (e.protocol is Protocol.ALL or (e.protocol is Protocol.TCP and e.from_port <= port <= e.to_port))
        and network.subnet_of(e.network)
        for e in entries
    )


@pytest.mark.parametrize("webhooks", [None, (), (8443, 15017)])
def test_the_node_tier_passes_every_platform_rule_between_its_subnets_with_replies(webhooks: Any) -> None:
    """The control plane's ENIs sit in the node subnets (the cluster's vpc_config): within one
    subnet nothing is filtered, between two node subnets the node ACL is crossed on the way out
    and on the way in. Every EKS port must pass both, and the replies on 1024-65535."""
    platform = PlatformOptions(platform=Platform.EKS, webhook_ports=webhooks)
    props = _props(platform, hardening=HardeningOptions(external_cidrs=("198.51.100.7/32",)))
    assert CONTROL_PLANE_TIER is SubnetTier.KUBERNETES_NODES
    assert props.tier_of(Role.EKS_CONTROL_PLANE) is CONTROL_PLANE_TIER
    nodes = props.plan()[SubnetTier.KUBERNETES_NODES]
    subnets = [IPv4Network(c) for c in props.subnet_cidrs[SubnetTier.KUBERNETES_NODES]]
    rules = rules_for_platform(platform)
    ports = {p.from_port for r in rules for p in r.ports}
    assert {443, 10250} <= ports and set(platform.ports_for_webhooks) <= ports
    for rule, (a, b) in itertools.product(rules, itertools.permutations(subnets, 2)):
        for port in rule.ports:
            outbound = rule.direction is Direction.EGRESS
            # the request leaves one node subnet and enters another, through the same ACL
            assert _passes(nodes, True, b, port.from_port) and _passes(nodes, False, a, port.from_port), rule
            for reply in (1024, 32768, 65535):  # and the reply back (stateless)
                assert _passes(nodes, not outbound, b, reply) and _passes(nodes, outbound, a, reply)
    # No other tier holds the control plane: their ACLs are the same with and without EKS.
    without = _props(PlatformOptions(), hardening=HardeningOptions(external_cidrs=("198.51.100.7/32",))).plan()
    assert {t: e for t, e in props.plan().items() if t is not CONTROL_PLANE_TIER} == {
        t: e for t, e in without.items() if t is not CONTROL_PLANE_TIER
    }


def test_the_quota_check_holds_with_eks() -> None:
    """The EKS entries are planned before the quota is counted, and merge into the intra-node
    entries, so they cost no rule: the counts are those without EKS, and too many CIDRs still fail."""
    fits = HardeningOptions(external_cidrs=tuple(f"198.51.{i}.0/24" for i in range(0, 8, 2)))

    def counts(platform: PlatformOptions) -> dict[tuple[SubnetTier, bool], int]:
        plan = _props(platform, hardening=fits).plan()
        return {
            (t, egress): sum(1 for e in es if e.egress is egress) for t, es in plan.items() for egress in (False, True)
        }

    assert counts(EKS) == counts(PlatformOptions())
    many = HardeningOptions(external_cidrs=tuple(f"198.51.{i}.0/24" for i in range(0, 40, 2)))
    with pytest.raises(ConfigurationError) as error:
        _props(hardening=many)
    assert error.value.field == "NetworkAclProps.rules_per_acl_quota"


def test_a_gke_platform_is_refused_by_the_acls() -> None:
    with pytest.raises(ConfigurationError) as error:
        _props(PlatformOptions(platform=Platform.GKE))
    assert error.value.field == "NetworkAclProps.platform"


# -- the synthesized stack: EKS example with network ACLs ----------------------------------------


def test_eks_with_network_acls_audits_clean(eks_nacl_example: Synth) -> None:
    result = audit_stack(eks_nacl_example, "aws-eks-nacl")
    assert result.ok, result.summary()
    assert result.intent.platform.platform is Platform.EKS
    assert any("eks-control-plane" in str(key) for key in result.flows)
    (cluster,) = _resources(eks_nacl_example, "aws_eks_cluster").values()
    nodes = _subnets(eks_nacl_example, "k8s-nodes")
    assert {s.split(".")[1] for s in cluster["vpc_config"]["subnet_ids"]} == set(nodes)


def test_eks_network_acl_snapshot(
    reference_stacks: dict[str, Synth], eks_nacl_example: Synth, snapshot: SnapshotAssertion
) -> None:
    """What EKS (with egress through a proxy) changes in the network ACL reference stack."""
    diff = structural_diff(reference_stacks["circleci-aws-nacl"], eks_nacl_example)
    assert diff == snapshot(extension_class=JSONSnapshotExtension)


def test_the_eks_entries_are_the_intra_node_entries(eks_nacl_example: Synth) -> None:
    """Control plane and nodes share the node subnets, whose ACL already passes all traffic
    between them (the guide's intra-cluster row): EKS adds no ACL row of its own."""
    nodes = _acl(eks_nacl_example, "k8s-nodes")
    cidrs = {IPv4Network(c) for c in _subnets(eks_nacl_example, "k8s-nodes").values()}
    intra = [
        r
        for r in _resources(eks_nacl_example, "aws_network_acl_rule").values()
        if r["network_acl_id"] == f"${{aws_network_acl.{nodes}.id}}" and r["protocol"] == "-1"
    ]
    for egress in (False, True):
        covered = [IPv4Network(r["cidr_block"]) for r in intra if r["egress"] is egress]
        assert all(any(c.subnet_of(n) for n in covered) for c in cidrs)


def _without_intra_node_ingress(stack: Synth) -> Synth:
    stack = copy.deepcopy(stack)
    nodes = f"${{aws_network_acl.{_acl(stack, 'k8s-nodes')}.id}}"
    rules = _resources(stack, "aws_network_acl_rule")
    for name in [
        n for n, r in rules.items() if r["network_acl_id"] == nodes and not r["egress"] and r["protocol"] == "-1"
    ]:
        del rules[name]
    return stack


def test_removing_the_entry_that_carries_10250_fails(eks_nacl_example: Synth) -> None:
    missing = _missing(_without_intra_node_ingress(eks_nacl_example))
    for port in ("tcp/443", "tcp/9443", "tcp/10250"):
        assert ("eks-control-plane", "k8s-nodes", port) in missing
    assert ("k8s-nodes", "eks-control-plane", "tcp/443") in missing


def test_a_deny_on_10250_between_node_subnets_fails(eks_nacl_example: Synth) -> None:
    stack = copy.deepcopy(eks_nacl_example)
    (first, *_) = sorted(_subnets(stack, "k8s-nodes").values())
    _resources(stack, "aws_network_acl_rule")["no_kubelet"] = {
        "network_acl_id": f"${{aws_network_acl.{_acl(stack, 'k8s-nodes')}.id}}",
        "rule_number": 1,
        "egress": False,
        "protocol": "tcp",
        "rule_action": "deny",
        "cidr_block": first,
        "from_port": 10250,
        "to_port": 10250,
    }
    result = audit_stack(stack, "tampered")
    assert not result.ok
    blocked = [d for d in result.differences if d.kind == "missing" and d.source == "eks-control-plane"]
    # 10250 itself, and (stateless) every request whose reply may come back on port 10250
    assert "tcp/10250" in {p for d in blocked for p in d.ports}
    assert all("aws_network_acl_rule.no_kubelet" in " ".join(d.because) for d in blocked)


def test_widening_10250_in_an_acl_fails(eks_nacl_example: Synth) -> None:
    stack = copy.deepcopy(eks_nacl_example)
    _resources(stack, "aws_network_acl_rule")["kubelet_from_anywhere"] = {
        "network_acl_id": f"${{aws_network_acl.{_acl(stack, 'k8s-nodes')}.id}}",
        "rule_number": 50,
        "egress": False,
        "protocol": "tcp",
        "rule_action": "allow",
        "cidr_block": "0.0.0.0/0",
        "from_port": 10250,
        "to_port": 10250,
    }
    result = audit_stack(stack, "tampered")
    assert not result.ok
    extra = [d for d in result.differences if d.kind == "extra"]
    assert extra and all("aws_network_acl_rule.kubelet_from_anywhere" in d.because for d in extra)
    assert any(d.destination == "k8s-nodes network ACL (ingress)" and "tcp/10250" in d.ports for d in extra)


def test_a_cluster_in_other_subnets_is_placed_there(eks_nacl_example: Synth) -> None:
    """The audit places the control plane where the stack's cluster puts it: in the public
    subnets (not what the outputs say), the node ACL refuses the control plane."""
    stack = copy.deepcopy(eks_nacl_example)
    (cluster,) = _resources(stack, "aws_eks_cluster").values()
    cluster["vpc_config"]["subnet_ids"] = [f"${{aws_subnet.{n}.id}}" for n in _subnets(stack, "public")]
    missing = _missing(stack)
    assert ("eks-control-plane", "k8s-nodes", "tcp/10250") in missing


# -- property: EKS with network ACLs audits clean in every option combination ---------------------

eks_platforms = st.builds(
    PlatformOptions,
    platform=st.just(Platform.EKS),
    webhook_ports=st.one_of(
        st.none(), st.lists(st.sampled_from([4443, 8443, 9443, 10250, 15017]), max_size=3).map(tuple)
    ),
)


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@synth_settings
@given(
    platform=eks_platforms,
    hardening=hardening_options,
    topology=topologies,
    vpc_cidr=st.sampled_from(["10.0.0.0/16", "10.42.0.0/18"]),
)
def test_every_eks_combination_with_network_acls_audits_clean(
    platform: PlatformOptions, hardening: HardeningOptions, topology: Topology, vpc_cidr: str
) -> None:
    assume(_fits(hardening, topology))
    import cdktf
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from circleci_network.aws import CircleciAwsNetwork

    stack = cdktf.TerraformStack(cdktf.App(), "combination")
    AwsProvider(stack, "aws", region="eu-west-1")
    props = AwsNetworkProps(
        vpc=VpcProps(availability_zones=("eu-west-1a", "eu-west-1b"), cidr_block=vpc_cidr),
        hardening=hardening,
        topology=topology,
        platform=platform,
        network_acls=True,
        network_acl_rules_quota=40,
    )
    try:
        CircleciAwsNetwork(stack, "network", props=props)
    except ConfigurationError as error:  # many CIDRs: the quota check speaks, nothing is widened
        assert "rules_per_acl_quota" in error.field, error
        assume(False)
    synth = json.loads(cdktf.Testing.synth(stack))
    assert synth["resource"]["aws_network_acl_rule"]
    result = audit_stack(synth, "combination")
    assert result.ok, result.summary()
    assert any("eks-control-plane" in str(key) for key in result.flows)


def test_eks_example_props_with_network_acls() -> None:
    from stacks.eks_example import EKS_NACL_HARDENING, eks_example_props

    network = eks_example_props(network_acls=True).network
    assert network.network_acls and network.platform.is_eks and network.hardening == EKS_NACL_HARDENING
    assert not eks_example_props().network.network_acls
    assert replace(network, network_acls=False).platform == EKS
