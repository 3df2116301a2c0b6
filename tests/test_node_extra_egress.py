"""Extra egress for the Kubernetes nodes (external datastores): beyond the guide, which names
extra egress for Nomad clients and VMs only. Accepted, rendered on every cloud, audited, and
marked as beyond the guide wherever a person reads it."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from ipaddress import IPv4Network
from typing import Any

import pytest

from circleci_network import ConfigurationError, ExtraEgressRule, HardeningOptions, Port, Role
from circleci_network.audit import StackAudit, audit_stack
from circleci_network.audit.audit import intents
from circleci_network.audit.policy import widenings
from circleci_network.model.options import options_from_json, options_to_json
from circleci_network.model.rules import CustomPeer, SpecSection, active_rules

Synth = dict[str, Any]

#: An RDS subnet inside the reference VPC (10.0.0.0/16), outside the subnets we create.
POSTGRES = ExtraEgressRule("postgres", Role.KUBERNETES_NODES, Port.tcp(5432), ("10.0.200.0/24",), "External PostgreSQL")
#: A managed service outside the network, on a port below the ephemeral range: the ACLs need entries of their own.
LDAPS = ExtraEgressRule("ldaps", Role.KUBERNETES_NODES, Port.tcp(636), ("192.0.2.60/32",), "Directory over LDAPS")
NODES_EGRESS = HardeningOptions(extra_egress=(POSTGRES, LDAPS))
BEYOND = "the guide names extra egress for Nomad clients and VMs only; the Kubernetes nodes reach it"


@pytest.fixture(scope="module")
def stacks() -> dict[str, Synth]:
    from cdktf import App, Testing

    from circleci_network.stacks.aws import CircleciAwsStack
    from circleci_network.stacks.gcp import CircleciGcpStack, GcpStackProps
    from stacks.reference import reference_aws_props, reference_gcp_props
    from tests.gke_stacks import PRIVATE, gke_props

    app = App()
    aws = reference_aws_props()
    gcp = reference_gcp_props()
    built = {
        "aws": CircleciAwsStack(app, "aws", props=replace(aws, network=replace(aws.network, hardening=NODES_EGRESS))),
        "aws-nacl": CircleciAwsStack(
            app,
            "aws-nacl",
            props=replace(aws, network=replace(aws.network, hardening=NODES_EGRESS, network_acls=True)),
        ),
        "gcp": CircleciGcpStack(app, "gcp", props=replace(gcp, network=replace(gcp.network, hardening=NODES_EGRESS))),
        "gke": CircleciGcpStack(app, "gke", props=GcpStackProps(network=gke_props(PRIVATE, hardening=NODES_EGRESS))),
    }
    return {name: json.loads(Testing.synth(stack)) for name, stack in built.items()}


def _audit(stacks: dict[str, Synth], name: str, stack: Synth | None = None) -> StackAudit:
    from tests.gke_stacks import CONTROL_PLANE, with_gke_rules

    stack = stacks[name] if stack is None else stack
    return audit_stack(with_gke_rules(stack, CONTROL_PLANE) if name == "gke" else stack, name)


def _missing(result: StackAudit) -> list[str]:
    return [str(d) for d in result.differences if d.kind == "missing"]


# --- options ----------------------------------------------------------------------------------


def test_the_nodes_may_have_extra_egress() -> None:
    by_value = ExtraEgressRule("redis", "k8s-nodes", Port.tcp(6379), ("10.0.201.0/24",), "External Redis")  # type: ignore[arg-type]
    assert by_value.role is Role.KUBERNETES_NODES
    options = HardeningOptions(extra_egress=(POSTGRES, by_value))
    assert options_from_json(options_to_json(options)) == options  # the record keeps the role


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"role": Role.FRONTEND_LB}, "ExtraEgressRule('postgres').role"),
        ({"port": Port.all_traffic()}, "ExtraEgressRule('postgres').port"),
        ({"cidrs": ()}, "ExtraEgressRule('postgres').cidrs"),
    ],
)
def test_the_other_checks_still_hold_for_the_nodes(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "name": "postgres",
        "role": Role.KUBERNETES_NODES,
        "port": Port.tcp(5432),
        "cidrs": ("10.0.200.0/24",),
        "purpose": "External PostgreSQL",
    }
    with pytest.raises(ConfigurationError) as caught:
        ExtraEgressRule(**{**base, **kwargs})  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_load_balancer_role_is_refused_with_the_roles_that_may() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ExtraEgressRule("postgres", Role.FRONTEND_LB, Port.tcp(5432), ("10.0.200.0/24",), "x")
    assert "Role.KUBERNETES_NODES" in caught.value.fix and "Role.NOMAD_CLIENTS" in caught.value.fix


def test_a_destination_in_our_own_subnets_is_still_refused() -> None:
    from circleci_network.aws import AwsNetworkProps, VpcProps
    from circleci_network.gcp import GcpNetworkProps

    def to(cidr: str) -> HardeningOptions:
        return HardeningOptions(
            extra_egress=(ExtraEgressRule("postgres", Role.KUBERNETES_NODES, Port.tcp(5432), (cidr,), "x"),)
        )

    vpc = VpcProps(availability_zones=("us-east-1a", "us-east-1b"))
    assert AwsNetworkProps(vpc=vpc, hardening=to("10.0.200.0/24"))  # in the VPC, not ours
    with pytest.raises(ConfigurationError) as caught:
        AwsNetworkProps(vpc=vpc, hardening=to("10.0.16.5/32"))  # a node subnet
    assert caught.value.field == "AwsNetworkProps.hardening.extra_egress['postgres'].cidrs[0]"
    with pytest.raises(ConfigurationError) as caught:
        GcpNetworkProps(project="acme-circleci", region="us-central1", hardening=to("10.17.0.0/24"))  # pods
    assert caught.value.field == "GcpNetworkProps.hardening.extra_egress['postgres'].cidrs[0]"


def test_the_rule_is_marked_beyond_the_guide() -> None:
    (rule,) = [r for r in active_rules(HardeningOptions(extra_egress=(POSTGRES,))) if isinstance(r.peer, CustomPeer)]
    assert rule.rule_id == "k8s-nodes-out-extra-postgres" and rule.section is SpecSection.USER_NODE_EXTRA_EGRESS
    assert rule.description == (
        "External PostgreSQL (to postgres; option: Kubernetes nodes extra egress, beyond the guide (user-supplied))"
    )
    assert "'" not in rule.description  # AWS refuses an apostrophe in a rule's description


# --- rendering and audit ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["aws", "aws-nacl", "gcp", "gke"])
def test_the_stack_audits_clean_and_says_beyond_the_guide(stacks: dict[str, Synth], name: str) -> None:
    result = _audit(stacks, name)
    assert result.ok, result.summary()
    why = {w.option: w.why for w in result.widenings}
    assert why["options.extra_egress[postgres]"] == f"egress beyond the guide's minimum ({BEYOND}): External PostgreSQL"


def test_a_job_roles_extra_egress_keeps_its_widening_text(stacks: dict[str, Synth]) -> None:
    extra = ExtraEgressRule("cache", Role.NOMAD_CLIENTS, Port.tcp(8081), ("192.0.2.50/32",), "Cache")
    intent = replace(intents(stacks["aws"])[0], options=HardeningOptions(extra_egress=(extra,)))
    (found,) = [w for w in widenings(intent) if w.option.startswith("options.extra_egress")]
    assert found.why == "egress beyond the guide's minimum: Cache"


@pytest.mark.parametrize("name", ["aws", "aws-nacl"])
def test_aws_renders_an_egress_rule_on_the_nodes_group(stacks: dict[str, Synth], name: str) -> None:
    resources = stacks[name]["resource"]
    (nodes,) = [k for k, g in resources["aws_security_group"].items() if g["tags"]["circleci/role"] == "k8s-nodes"]
    (rule,) = [
        r for k, r in resources["aws_vpc_security_group_egress_rule"].items() if "k8s-nodes-out-extra-postgres" in k
    ]
    assert rule["security_group_id"] == f"${{aws_security_group.{nodes}.id}}"
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"], rule["cidr_ipv4"]) == (
        "tcp",
        5432,
        5432,
        "10.0.200.0/24",
    )
    assert "beyond the guide" in rule["description"]


def _acl_entries(stack: Synth, tier: str) -> list[Synth]:
    resources = stack["resource"]
    (acl,) = [k for k, a in resources["aws_network_acl"].items() if a["tags"]["circleci/tier"] == tier]
    return [
        r for r in resources["aws_network_acl_rule"].values() if r["network_acl_id"] == f"${{aws_network_acl.{acl}.id}}"
    ]


def _allows(entries: list[Synth], egress: bool, address: str, port: int) -> bool:
    where = IPv4Network(address)
    return any(
        e["egress"] is egress
        and (e["protocol"] == "-1" or (e["protocol"] == "tcp" and e["from_port"] <= port <= e["to_port"]))
        and where.subnet_of(IPv4Network(e["cidr_block"]))
        for e in entries
    )


def test_the_node_tier_acl_passes_the_request_and_its_reply(stacks: dict[str, Synth]) -> None:
    nodes = _acl_entries(stacks["aws-nacl"], "k8s-nodes")
    for address, port in (("10.0.200.9/32", 5432), ("192.0.2.60/32", 636)):
        assert _allows(nodes, True, address, port)
        assert _allows(nodes, False, address, 40000)  # the reply, on the nodes' ephemeral port
    # Below the ephemeral range no other rule covers it: the entry is the extra egress's own.
    assert any(
        e["egress"]
        and (e["protocol"], e.get("from_port"), e.get("to_port"), e["cidr_block"]) == ("tcp", 636, 636, "192.0.2.60/32")
        for e in nodes
    )
    # Outside the VPC it leaves through the NAT gateways: the public tier passes it both ways.
    public = _acl_entries(stacks["aws-nacl"], "public")
    assert _allows(public, False, "10.0.16.0/20", 636) and _allows(public, True, "192.0.2.60/32", 636)
    assert _allows(public, False, "192.0.2.60/32", 40000) and _allows(public, True, "10.0.16.0/20", 40000)


@pytest.mark.parametrize("name", ["gcp", "gke"])
def test_gcp_renders_an_egress_firewall_rule_for_the_nodes(stacks: dict[str, Synth], name: str) -> None:
    resources = stacks[name]["resource"]
    (nodes,) = [k for k, a in resources["google_service_account"].items() if a["account_id"].endswith("k8s-nodes")]
    (rule,) = [
        r for r in resources["google_compute_firewall"].values() if r["name"].endswith("k8s-nodes-out-extra-postgres")
    ]
    assert rule["direction"] == "EGRESS" and rule["destination_ranges"] == ["10.0.200.0/24"]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["5432"]}]
    assert rule["target_service_accounts"] == [f"${{google_service_account.{nodes}.email}}"]
    assert "beyond the guide" in rule["description"]


@pytest.mark.parametrize(
    ("name", "kind", "key"),
    [
        ("aws", "aws_vpc_security_group_egress_rule", "k8s-nodes-out-extra-postgres"),
        ("aws-nacl", "aws_vpc_security_group_egress_rule", "k8s-nodes-out-extra-postgres"),
        ("gcp", "google_compute_firewall", "k8s-nodes-out-extra-postgres"),
        ("gke", "google_compute_firewall", "k8s-nodes-out-extra-postgres"),
    ],
)
def test_without_the_rule_the_audit_reports_the_missing_flow(
    stacks: dict[str, Synth], name: str, kind: str, key: str
) -> None:
    stack = copy.deepcopy(stacks[name])
    (found,) = [k for k in stack["resource"][kind] if key in k]
    del stack["resource"][kind][found]
    missing = _missing(_audit(stacks, name, stack))
    (flow,) = missing
    assert "k8s-nodes -> outside (10.0.200.0/24) tcp/5432" in flow and "rule k8s-nodes-out-extra-postgres" in flow


def test_without_the_acl_entry_the_audit_reports_the_missing_flow(stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(stacks["aws-nacl"])
    rules = stack["resource"]["aws_network_acl_rule"]
    (found,) = [
        k for k, r in rules.items() if r["egress"] and r.get("from_port") == 636 and r["cidr_block"] == "192.0.2.60/32"
        and "k8s-nodes" in r["network_acl_id"]
    ]  # fmt: skip
    del rules[found]
    missing = _missing(_audit(stacks, "aws-nacl", stack))
    (flow,) = missing
    assert "k8s-nodes -> outside (192.0.2.60/32) tcp/636" in flow and "rule k8s-nodes-out-extra-ldaps" in flow
    assert "network_network-acls_k8s-nodes" in flow
