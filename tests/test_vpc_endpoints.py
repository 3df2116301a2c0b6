"""AWS VPC endpoints: the option, its platform rules, the rendered endpoints, the audit."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network.audit.audit import audit_stack
from circleci_network.aws import AwsNetworkProps, ExistingVpc, SecurityGroupProps, VpcProps
from circleci_network.errors import ConfigurationError
from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent
from circleci_network.model.options import HardeningOptions
from circleci_network.model.platform_rules import Platform, PlatformOptions, aws_platform_rules
from circleci_network.model.roles import COMPUTE_ROLES, OutsidePeer, Role
from circleci_network.model.rules import SourceKind
from circleci_network.model.topology import Topology
from circleci_network.model.vpc_endpoints import (
    DEFAULT_SERVICES,
    NODE_JOIN_SERVICES,
    SERVICE_PURPOSES,
    VpcEndpoints,
    endpoint_rules,
    proxy_mode,
)
from tests.snapshot_diff import structural_diff
from tests.test_option_combinations import _fits, hardening_options, synth_settings, topologies

Synth = dict[str, Any]
ON = VpcEndpoints(enabled=True)
ZONES = ("us-east-1a", "us-east-1b")
PROXY = HardeningOptions(external_cidrs=("198.51.100.7/32",))
EKS = PlatformOptions(platform=Platform.EKS)


def _resources(stack: Synth, kind: str) -> dict[str, Any]:
    return dict(stack["resource"].get(kind, {}))


def _group(stack: Synth, role: Role) -> str:
    (name,) = [
        n for n, g in _resources(stack, "aws_security_group").items() if g["tags"]["circleci/role"] == role.value
    ]
    return name


def _ref(group: str) -> str:
    return f"${{aws_security_group.{group}.id}}"


def _rules_of(stack: Synth, kind: str, group: str) -> dict[str, Any]:
    return {n: r for n, r in _resources(stack, kind).items() if r["security_group_id"] == _ref(group)}


def _endpoint(stack: Synth, service: str) -> dict[str, Any]:
    (found,) = [e for e in _resources(stack, "aws_vpc_endpoint").values() if e["tags"]["circleci/endpoint"] == service]
    return dict(found)


# --- the option and its rules as typed data ------------------------------------------------------


def test_the_option_is_exported_beside_aws_network_props() -> None:
    import circleci_network
    import circleci_network.aws

    for package in (circleci_network, circleci_network.aws):
        assert package.VpcEndpoints is VpcEndpoints
        assert "VpcEndpoints" in package.__all__


def test_endpoint_rules_are_platform_rules_by_reference() -> None:
    rules = endpoint_rules(VpcEndpoints(enabled=True, roles=(Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS)))
    assert len(rules) == 6  # per role: 443 to the group, the group's 443 from it, 443 to S3's prefix list
    for rule in rules:
        assert rule.sources and all(s.kind is SourceKind.PLATFORM for s in rule.sources)
        assert rule.purpose.startswith("Platform rule (AWS VPC endpoints, not a guide row)")
        assert "; platform: AWS VPC endpoints" in rule.description
        assert {str(p) for p in rule.ports} == {"tcp/443"}
        # Security-group references and a prefix list: never the VPC CIDR.
        assert rule.peer in (Role.VPC_ENDPOINTS, OutsidePeer.S3_PREFIX_LIST, *COMPUTE_ROLES)
    assert any("privatelink" in s.document.lower() for r in rules for s in r.sources)
    assert any("[EKS-PRIV]" in s.document for r in rules for s in r.sources)
    ingress = {r.peer for r in rules if r.role is Role.VPC_ENDPOINTS}
    assert ingress == {Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS}  # only the using roles


def test_default_list_suits_eks_nodes() -> None:
    assert set(NODE_JOIN_SERVICES) <= set(DEFAULT_SERVICES) <= set(SERVICE_PURPOSES)
    assert ON.with_defaults(eks=False).services == DEFAULT_SERVICES
    assert ON.with_defaults(eks=True).services == (*DEFAULT_SERVICES, "eks")
    assert VpcEndpoints().service_list == ()  # off: nothing
    assert aws_platform_rules(None, VpcEndpoints()) == ()
    props = AwsNetworkProps(vpc=VpcProps(availability_zones=ZONES), platform=EKS, vpc_endpoints=ON)
    assert "eks" in props.vpc_endpoints.service_list
    assert VpcEndpoints(enabled=True, services=("s3",)).interface_services == ()


BAD_OPTIONS: list[tuple[dict[str, Any], str, str]] = [
    ({"enabled": True, "services": ("ecr-api",)}, "VpcEndpoints.services[0]", "did you mean 'ecr.api'"),
    ({"enabled": True, "services": ("s3", "stss")}, "VpcEndpoints.services[1]", "did you mean 'sts'"),
    ({"enabled": True, "services": "s3"}, "VpcEndpoints.services", "wrap it in a tuple"),
    ({"enabled": True, "services": ("s3", "s3")}, "VpcEndpoints.services", "once"),
    ({"enabled": True, "services": ()}, "VpcEndpoints.services", "leave it None"),
    ({"enabled": True, "roles": (Role.FRONTEND_LB,)}, "VpcEndpoints.roles", "Role.KUBERNETES_NODES"),
    ({"enabled": True, "roles": ()}, "VpcEndpoints.roles", "Role.KUBERNETES_NODES"),
    ({"enabled": "yes"}, "VpcEndpoints.enabled", "True or False"),
    ({"services": ("s3",)}, "VpcEndpoints.services", "enabled=True"),
    ({"proxy_carries_aws_apis": True}, "VpcEndpoints.proxy_carries_aws_apis", "enabled=True"),
]


@pytest.mark.parametrize(("changes", "field", "fix"), BAD_OPTIONS)
def test_bad_endpoint_options_are_configuration_errors(changes: dict[str, Any], field: str, fix: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        VpcEndpoints(**changes)
    assert error.value.field == field
    assert fix in str(error.value)


EXISTING = ExistingVpc("vpc-0123456789abcdef0", "10.20.0.0/16", "igw-0123456789abcdef0", taken_cidrs=())
BAD_NETWORKS: list[tuple[dict[str, Any], str, str]] = [
    # Proxy mode with EKS: nodes could not join or pull images.
    (
        {"hardening": PROXY, "platform": EKS, "vpc_endpoints": VpcEndpoints(enabled=True, services=("s3", "ecr.dkr"))},
        "AwsNetworkProps.vpc_endpoints.services",
        "add ecr.api, sts, ec2",
    ),
    (
        {
            "hardening": HardeningOptions(internal_proxy_cidrs=("10.0.0.10/32",)),
            "platform": EKS,
            "vpc_endpoints": VpcEndpoints(enabled=True, services=("ecr.api", "ecr.dkr", "sts", "ec2")),
        },
        "AwsNetworkProps.vpc_endpoints.services",
        "proxy_carries_aws_apis=True",
    ),
    (
        {"vpc_endpoints": VpcEndpoints(enabled=True, proxy_carries_aws_apis=True)},
        "AwsNetworkProps.vpc_endpoints.proxy_carries_aws_apis",
        "leave it False",
    ),
    ({"vpc_endpoints": ON, "network_acls": True}, "AwsNetworkProps.network_acls", "leave network_acls False"),
    (
        {"vpc": VpcProps(availability_zones=ZONES, existing_vpc=EXISTING), "vpc_endpoints": ON},
        "AwsNetworkProps.vpc_endpoints.existing_vpc_checked",
        "enableDnsHostnames",
    ),
    ({"vpc_endpoints": "on"}, "AwsNetworkProps.vpc_endpoints", "VpcEndpoints(enabled=True"),
]


@pytest.mark.parametrize(("changes", "field", "fix"), BAD_NETWORKS)
def test_endpoints_that_contradict_the_network_are_configuration_errors(
    changes: dict[str, Any], field: str, fix: str
) -> None:
    with pytest.raises(ConfigurationError) as error:
        AwsNetworkProps(**{"vpc": VpcProps(availability_zones=ZONES), **changes})
    assert error.value.field == field
    assert fix in str(error.value)


def test_what_proxy_mode_accepts() -> None:
    """The exact rule: a complete list, or the user's word that the proxy carries the rest; no proxy, no check."""
    AwsNetworkProps(vpc=VpcProps(availability_zones=ZONES), hardening=PROXY, platform=EKS, vpc_endpoints=ON)
    partial = VpcEndpoints(enabled=True, services=("ecr.dkr",), proxy_carries_aws_apis=True)
    AwsNetworkProps(vpc=VpcProps(availability_zones=ZONES), hardening=PROXY, platform=EKS, vpc_endpoints=partial)
    # Without EKS, a proxy and a partial list: the library cannot tell what the nodes run.
    AwsNetworkProps(
        vpc=VpcProps(availability_zones=ZONES),
        hardening=PROXY,
        vpc_endpoints=VpcEndpoints(enabled=True, services=("s3",)),
    )
    checked = VpcEndpoints(enabled=True, existing_vpc_checked=True)
    AwsNetworkProps(vpc=VpcProps(availability_zones=ZONES, existing_vpc=EXISTING), vpc_endpoints=checked)


def test_security_groups_alone_need_the_s3_prefix_list() -> None:
    with pytest.raises(ConfigurationError) as error:
        SecurityGroupProps(vpc_id="vpc-0123456789abcdef0", dns_resolver_cidrs=("10.0.0.2/32",), vpc_endpoints=ON)
    assert error.value.field == "SecurityGroupProps.s3_prefix_list_id"


# --- rendered ------------------------------------------------------------------------------------


def test_off_by_default_adds_nothing(aws_reference: Synth) -> None:
    assert "aws_vpc_endpoint" not in aws_reference["resource"]
    (record,) = (v for k, v in aws_reference["locals"].items() if INTENT_LOCAL in k)
    assert "vpc_endpoints" not in record


def test_endpoints_render_and_audit_clean(aws_endpoints: Synth) -> None:
    result = audit_stack(aws_endpoints, "endpoints")
    assert result.ok, result.summary()
    assert any("s3-prefix-list" in n and "checked by name" in n for n in result.notes)
    assert ("k8s-nodes", "vpc-endpoints") in {(k.source, k.destination) for k in result.flows}
    nodes, group = _group(aws_endpoints, Role.KUBERNETES_NODES), _group(aws_endpoints, Role.VPC_ENDPOINTS)
    node_subnets = sorted(
        f"${{aws_subnet.{n}.id}}"
        for n, s in _resources(aws_endpoints, "aws_subnet").items()
        if s["tags"]["circleci/tier"] == "k8s-nodes"
    )
    node_tables = sorted(
        f"${{aws_route_table.{n}.id}}" for n in _resources(aws_endpoints, "aws_route_table") if "k8s-nodes-routes" in n
    )
    s3 = _endpoint(aws_endpoints, "s3")
    assert s3["vpc_endpoint_type"] == "Gateway" and s3["service_name"] == "com.amazonaws.us-east-1.s3"
    assert sorted(s3["route_table_ids"]) == node_tables
    for service in DEFAULT_SERVICES[1:]:
        endpoint = _endpoint(aws_endpoints, service)
        assert endpoint["service_name"] == f"com.amazonaws.us-east-1.{service}"
        assert endpoint["vpc_endpoint_type"] == "Interface" and endpoint["private_dns_enabled"] is True
        assert endpoint["security_group_ids"] == [_ref(group)]
        assert sorted(endpoint["subnet_ids"]) == node_subnets
    assert "eks" not in {e["tags"]["circleci/endpoint"] for e in _resources(aws_endpoints, "aws_vpc_endpoint").values()}
    (ingress,) = _rules_of(aws_endpoints, "aws_vpc_security_group_ingress_rule", group).values()
    assert (ingress["from_port"], ingress["to_port"], ingress["ip_protocol"]) == (443, 443, "tcp")
    assert ingress["referenced_security_group_id"] == _ref(nodes) and "cidr_ipv4" not in ingress
    assert not _rules_of(aws_endpoints, "aws_vpc_security_group_egress_rule", group)
    egress = _rules_of(aws_endpoints, "aws_vpc_security_group_egress_rule", nodes).values()
    to_group = [r for r in egress if r.get("referenced_security_group_id") == _ref(group)]
    to_s3 = [r for r in egress if "prefix_list_id" in r]
    assert [(r["from_port"], r["to_port"]) for r in to_group + to_s3] == [(443, 443), (443, 443)]
    assert re.fullmatch(r"\$\{aws_vpc_endpoint\.[^.]+_s3_[^.]+\.prefix_list_id\}", to_s3[0]["prefix_list_id"])
    assert aws_endpoints["output"]["vpc_endpoints_security_group_id"]["value"] == _ref(group)
    widened = {w.option for w in result.widenings}  # listed for review when no policy is given
    assert {"vpc_endpoints.services", "vpc_endpoints.k8s-nodes-out-https-s3-gateway"} <= widened


def test_recorded_endpoints_round_trip(eks_endpoints_example: Synth) -> None:
    (record,) = (v for k, v in eks_endpoints_example["locals"].items() if INTENT_LOCAL in k)
    endpoints = NetworkIntent.from_json(record).vpc_endpoints
    assert endpoints == VpcEndpoints(enabled=True, services=(*DEFAULT_SERVICES, "eks"))


def test_eks_example_with_endpoints_audits_clean(eks_endpoints_example: Synth) -> None:
    result = audit_stack(eks_endpoints_example, "eks-endpoints")
    assert result.ok, result.summary()
    assert _endpoint(eks_endpoints_example, "eks")["service_name"] == "com.amazonaws.us-east-1.eks"


def test_v4_internet_mode_with_endpoints_audits_clean(aws_v4_internet_endpoints: Synth) -> None:
    """Both features at once: Nomad clients reach circleci-proxy at its EIPs through NAT and S3
    through the gateway endpoint (by prefix list); the proxy admits the NAT gateways' addresses."""
    stack = aws_v4_internet_endpoints
    result = audit_stack(stack, "v4-internet-endpoints")
    assert result.ok, result.summary()
    nomad = _group(stack, Role.NOMAD_CLIENTS)
    egress = _rules_of(stack, "aws_vpc_security_group_egress_rule", nomad).values()
    to_s3 = [r for r in egress if "prefix_list_id" in r]
    assert [(r["from_port"], r["to_port"]) for r in to_s3] == [(443, 443)]
    to_proxy = [r for r in egress if r["tags"]["circleci/rule"] == "nomad-clients-out-4647-circleci-proxy"]
    assert to_proxy and all(re.fullmatch(r"\$\{aws_eip\.[^.]+\.public_ip\}/32", r["cidr_ipv4"]) for r in to_proxy)
    proxy = _group(stack, Role.PROXY_LB)
    ingress = _rules_of(stack, "aws_vpc_security_group_ingress_rule", proxy).values()
    from_nat = [r for r in ingress if r["tags"]["circleci/rule"] == "circleci-proxy-in-4647"]
    assert from_nat and all("public_ip" in r["cidr_ipv4"] for r in from_nat)


def test_endpoints_snapshot(aws_reference: Synth, aws_endpoints: Synth, snapshot: SnapshotAssertion) -> None:
    """What VpcEndpoints(enabled=True) adds to the AWS reference stack: the new rows only."""
    diff = structural_diff(aws_reference, aws_endpoints)
    assert not diff["removed"]
    assert diff == snapshot(extension_class=JSONSnapshotExtension)


# --- tampering -----------------------------------------------------------------------------------


def _tampered(stack: Synth) -> Synth:
    return copy.deepcopy(stack)


def test_endpoint_group_opened_to_everything_fails(aws_endpoints: Synth) -> None:
    tampered = _tampered(aws_endpoints)
    group = _group(tampered, Role.VPC_ENDPOINTS)
    tampered["resource"]["aws_vpc_security_group_ingress_rule"]["tampered"] = {
        "security_group_id": _ref(group),
        "ip_protocol": "tcp",
        "from_port": 443,
        "to_port": 443,
        "cidr_ipv4": "0.0.0.0/0",
    }
    result = audit_stack(tampered, "tampered")
    assert not result.ok
    extra = {(d.source, d.destination) for d in result.differences if d.kind == "extra"}
    assert ("nomad-clients", "vpc-endpoints") in extra


def test_egress_to_the_endpoint_group_widened_to_all_ports_fails(aws_endpoints: Synth) -> None:
    tampered = _tampered(aws_endpoints)
    nodes, group = _group(tampered, Role.KUBERNETES_NODES), _group(tampered, Role.VPC_ENDPOINTS)
    egress = tampered["resource"]["aws_vpc_security_group_egress_rule"]
    (name,) = [n for n, r in egress.items() if r.get("referenced_security_group_id") == _ref(group)]
    egress[name].update(ip_protocol="-1")
    egress[name].pop("from_port")
    egress[name].pop("to_port")
    ingress = tampered["resource"]["aws_vpc_security_group_ingress_rule"]
    (back,) = _rules_of(tampered, "aws_vpc_security_group_ingress_rule", group)
    ingress[back].update(from_port=1, to_port=65535)
    result = audit_stack(tampered, "tampered")
    assert not result.ok
    extra = {(d.source, d.destination, p) for d in result.differences if d.kind == "extra" for p in d.ports}
    assert ("k8s-nodes", "vpc-endpoints", "tcp/444-65535") in extra
    assert nodes  # the egress widened was the nodes'


def test_s3_prefix_list_rule_widened_or_missing_fails(aws_endpoints: Synth) -> None:
    tampered = _tampered(aws_endpoints)
    egress = tampered["resource"]["aws_vpc_security_group_egress_rule"]
    (name,) = [n for n, r in egress.items() if "prefix_list_id" in r]
    egress[name].update(from_port=0, to_port=65535)
    result = audit_stack(tampered, "widened")
    assert not result.ok
    assert any(name in u and "no platform rule allows it" for u in result.unmodelled)
    del egress[name]
    result = audit_stack(tampered, "missing")
    assert not result.ok
    assert any(f.check == "vpc-endpoints" and "missing" in f.problem for f in result.findings)


def test_an_unknown_prefix_list_stays_unmodelled(aws_endpoints: Synth) -> None:
    tampered = _tampered(aws_endpoints)
    nodes = _group(tampered, Role.KUBERNETES_NODES)
    tampered["resource"]["aws_vpc_security_group_egress_rule"]["tampered"] = {
        "security_group_id": _ref(nodes),
        "ip_protocol": "tcp",
        "from_port": 443,
        "to_port": 443,
        "prefix_list_id": "pl-0123456789abcdef0",
    }
    assert any("prefix list" in u for u in audit_stack(tampered, "tampered").unmodelled)


def test_an_interface_endpoint_without_private_dns_in_other_subnets_or_with_another_group_fails(
    aws_endpoints: Synth,
) -> None:
    tampered = _tampered(aws_endpoints)
    endpoints = tampered["resource"]["aws_vpc_endpoint"]
    (sts,) = [n for n, e in endpoints.items() if e["tags"]["circleci/endpoint"] == "sts"]
    (ecr,) = [n for n, e in endpoints.items() if e["tags"]["circleci/endpoint"] == "ecr.api"]
    endpoints[sts]["private_dns_enabled"] = False
    endpoints[ecr]["security_group_ids"] = [_ref(_group(tampered, Role.KUBERNETES_NODES))]
    vms = [f"${{aws_subnet.{n}.id}}" for n in _resources(tampered, "aws_subnet") if "external-vms" in n]
    endpoints[sts]["subnet_ids"] = vms  # moves the endpoints' group: the flows alone would follow it
    problems = {(f.resource, f.problem) for f in audit_stack(tampered, "tampered").findings}
    assert any(sts in r and "must sit in the k8s-nodes subnets" in p for r, p in problems)
    assert any(sts in r and "private DNS" in p for r, p in problems)
    assert any(ecr in r and "vpc-endpoints security group only" in p for r, p in problems)


# --- property: option combinations with endpoints audit clean ------------------------------------

endpoint_options = st.builds(
    VpcEndpoints,
    enabled=st.just(True),
    services=st.one_of(
        st.none(),
        st.lists(st.sampled_from(sorted(SERVICE_PURPOSES)), min_size=1, max_size=4, unique=True).map(tuple),
    ),
    roles=st.lists(st.sampled_from(COMPUTE_ROLES), min_size=1, max_size=3, unique=True).map(tuple),
)


@pytest.mark.filterwarnings("ignore::circleci_network.model.topology.TopologyWarning")
@synth_settings
@given(
    endpoints=endpoint_options,
    hardening=hardening_options,
    topology=topologies,
    platform=st.sampled_from([PlatformOptions(), EKS]),
)
def test_every_combination_with_endpoints_audits_clean(
    endpoints: VpcEndpoints, hardening: HardeningOptions, topology: Topology, platform: PlatformOptions
) -> None:
    assume(_fits(hardening, topology))
    import cdktf
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from circleci_network.aws import CircleciAwsNetwork

    # The proxy rule's one way out: an EKS proxy list short of what nodes need says the proxy carries the rest.
    short = not set(NODE_JOIN_SERVICES) <= set(endpoints.with_defaults(eks=platform.is_eks).service_list)
    carries = proxy_mode(hardening) and platform.is_eks and short
    props = AwsNetworkProps(
        vpc=VpcProps(availability_zones=("eu-west-1a", "eu-west-1b")),
        hardening=hardening,
        topology=topology,
        platform=platform,
        vpc_endpoints=replace(endpoints, proxy_carries_aws_apis=carries),
    )
    stack = cdktf.TerraformStack(cdktf.App(), "combination")
    AwsProvider(stack, "aws", region="eu-west-1")
    CircleciAwsNetwork(stack, "network", props=props)
    synth = json.loads(cdktf.Testing.synth(stack))
    result = audit_stack(synth, "combination")
    assert result.ok, result.summary()
    services = {e["tags"]["circleci/endpoint"] for e in synth["resource"]["aws_vpc_endpoint"].values()}
    assert services == set(props.vpc_endpoints.service_list)


def test_the_audits_fast_paths_answer_as_the_plain_search_with_endpoints(
    aws_endpoints: Synth, eks_endpoints_example: Synth
) -> None:
    """The endpoints' group shares the node subnets' addresses: the classed search must still agree."""
    from circleci_network.audit.engine import Verdicts, effective_flows, half_flows
    from tests.test_audit_fast_paths import _plain_effective_flows, _plain_half_flows, _views

    for stack in (aws_endpoints, eks_endpoints_example):
        actual, rendered, pure, cells = _views(stack)
        for view in (actual, rendered, pure):
            assert list(effective_flows(Verdicts(view, cells)).items()) == list(
                _plain_effective_flows(view, cells).items()
            )
        for view in (actual, rendered):
            assert list(half_flows(Verdicts(view, cells)).items()) == list(_plain_half_flows(view, cells).items())
