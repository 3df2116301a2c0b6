"""Network outputs (``add_outputs``), the GCP labels / flow-log / Cloud NAT options, AWS NAT
Elastic IP reuse, and the environment in AWS account-global names."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circleci_network import ConfigurationError
from stacks.reference import reference_aws_props, reference_gcp_props

Synth = dict[str, Any]
EIPS = ("eipalloc-0123456789abcdef0",)


@pytest.fixture(scope="module")
def options_stacks() -> dict[str, Synth]:
    """One GCP stack with every new option and two networks (the second with an output prefix),
    one AWS stack in environment "dev" reusing an Elastic IP; both in the session's jsii runtime."""
    from cdktf import App, TerraformStack, Testing
    from cdktf_cdktf_provider_google.compute_address import ComputeAddress
    from cdktf_cdktf_provider_google.data_google_compute_network import DataGoogleComputeNetwork
    from cdktf_cdktf_provider_google.provider import GoogleProvider

    from circleci_network.aws import NatGateways
    from circleci_network.gcp import CircleciGcpNetwork, GcpNetworkProps
    from circleci_network.gcp.settings import CloudNat, FlowLogInterval
    from circleci_network.stacks.aws import CircleciAwsStack

    app = App()
    gcp = TerraformStack(app, "gcp-options")
    GoogleProvider(gcp, "google", project="acme-circleci", region="us-central1")
    shared = DataGoogleComputeNetwork(gcp, "shared", name="shared")
    egress = ComputeAddress(gcp, "egress", name="egress-2", region="us-central1")
    first = CircleciGcpNetwork(
        gcp,
        "network",
        props=GcpNetworkProps(
            project="acme-circleci",
            region="us-central1",
            existing_network=shared.id,
            existing_network_taken_cidrs=(),
            labels={"team": "platform", "cost_center": "ci-42"},
            flow_log_sampling=0.25,
            flow_log_interval="INTERVAL_1_MIN",  # type: ignore[arg-type]  # the exact value string works too
            nat=CloudNat(min_ports_per_vm=128, dynamic_port_allocation=True, max_ports_per_vm=4096, address_count=2),
        ),
    )
    first.add_outputs(gcp)
    second = CircleciGcpNetwork(
        gcp,
        "second",
        props=GcpNetworkProps(
            project="acme-circleci",
            region="us-central1",
            name="circleci-b",
            addressing=reference_gcp_props().network.addressing,
            flow_log_interval=FlowLogInterval.INTERVAL_10_MIN,
            nat=CloudNat(addresses=("projects/acme-circleci/regions/us-central1/addresses/egress-1", egress.self_link)),
        ),
    )
    with pytest.raises(ConfigurationError) as caught:
        second.add_outputs(gcp)  # same names as the first network's
    assert caught.value.field == "add_outputs.prefix" and "network_name" in caught.value.problem
    second.add_outputs(gcp, prefix="b_")

    aws = reference_aws_props()
    vpc = replace(aws.network.vpc, nat_gateways=NatGateways.ONE, nat_eip_allocation_ids=EIPS)
    aws = replace(aws, environment="dev", network=replace(aws.network, vpc=vpc))
    aws_stack = CircleciAwsStack(app, "aws-dev", props=aws)
    return {"gcp": json.loads(Testing.synth(gcp)), "aws": json.loads(Testing.synth(aws_stack))}


def _resources(synth: Synth, kind: str) -> dict[str, dict[str, Any]]:
    return synth["resource"].get(kind, {})


# --- outputs -------------------------------------------------------------------------------


def test_aws_outputs_name_subnets_groups_and_load_balancers_per_role(aws_reference: Synth) -> None:
    outputs = aws_reference["output"]
    subnets = _resources(aws_reference, "aws_subnet")
    k8s = [k for k, s in subnets.items() if s["tags"]["circleci/tier"] == "k8s-nodes"]
    assert outputs["k8s_nodes_subnet_ids"]["value"] == [f"${{aws_subnet.{k}.id}}" for k in k8s]
    groups = _resources(aws_reference, "aws_security_group")
    for role in ("k8s-nodes", "nomad-clients", "external-vms"):
        value = outputs[f"{role.replace('-', '_')}_security_group_id"]["value"]
        (key,) = [k for k, g in groups.items() if value == f"${{aws_security_group.{k}.id}}"]
        assert groups[key]["tags"]["circleci/role"] == role
    lbs = _resources(aws_reference, "aws_lb")
    for key, lb in lbs.items():
        role = lb["tags"]["circleci/role"].replace("-", "_")
        assert outputs[f"{role}_load_balancer_dns_name"]["value"] == f"${{aws_lb.{key}.dns_name}}"
    target_groups = _resources(aws_reference, "aws_lb_target_group")
    arns = {k: o["value"] for k, o in outputs.items() if "_target_group_arn_" in k}
    assert sorted(arns.values()) == sorted(f"${{aws_lb_target_group.{k}.arn}}" for k in target_groups)
    nats = _resources(aws_reference, "aws_nat_gateway")
    assert outputs["nat_public_ips"]["value"] == [f"${{aws_nat_gateway.{k}.public_ip}}" for k in nats]
    assert "yamlencode(local." in outputs["helm_values"]["value"]


def test_reference_stacks_keep_their_earlier_output_ids(aws_reference: Synth, gcp_reference: Synth) -> None:
    for synth, aliases in (
        (
            aws_reference,
            {"vpc-id": "vpc_id", "subnet-ids-k8s-nodes": "k8s_nodes_subnet_ids", "helm-values": "helm_values"},
        ),
        (gcp_reference, {"network-name": "network_name", "pods-range-name": "pods_range_name"}),
    ):
        for old, new in aliases.items():
            assert synth["output"][old]["value"] == synth["output"][new]["value"]
            assert synth["output"][old]["description"] == f"Deprecated: use {new}"


def test_gcp_outputs_name_what_a_gke_module_takes(gcp_reference: Synth) -> None:
    outputs = gcp_reference["output"]
    ((subnet_key, subnet),) = _resources(gcp_reference, "google_compute_subnetwork").items()
    ranges = {r["ip_cidr_range"]: r["range_name"] for r in subnet["secondary_ip_range"]}
    assert outputs["pods_range_name"]["value"] == ranges["10.16.0.0/14"]
    assert outputs["services_range_name"]["value"] == ranges["10.20.0.0/20"]
    assert outputs["subnetwork_self_link"]["value"] == f"${{google_compute_subnetwork.{subnet_key}.self_link}}"
    accounts = _resources(gcp_reference, "google_service_account")
    for role in ("k8s_nodes", "nomad_clients", "external_vms"):
        (key,) = [k for k, a in accounts.items() if a["account_id"] == f"circleci-{role.replace('_', '-')}"]
        assert outputs[f"{role}_service_account"]["value"] == f"${{google_service_account.{key}.email}}"
        assert outputs[f"{role}_network_tag"]["value"] == f"circleci-{role.replace('_', '-')}"
    assert outputs["nat_addresses"]["value"] == []


def test_a_second_network_in_one_stack_takes_a_prefix(options_stacks: dict[str, Synth]) -> None:
    outputs = options_stacks["gcp"]["output"]
    assert outputs["b_network_name"]["value"] != outputs["network_name"]["value"]
    assert outputs["b_pods_range_name"]["value"] == "circleci-b-pods"
    assert {k[2:] for k in outputs if k.startswith("b_")} == {k for k in outputs if not k.startswith("b_")}


@pytest.mark.parametrize("prefix", ["Dev", "dev", "dev-", "_", 3])
def test_bad_output_prefix_is_refused(prefix: object) -> None:
    from cdktf import App, TerraformStack

    from circleci_network.tooling.outputs import Output, add_outputs

    stack = TerraformStack(App(), "s")
    with pytest.raises(ConfigurationError) as caught:
        add_outputs(stack, {"x": Output("v", "d")}, stack=None, prefix=prefix)  # type: ignore[arg-type]
    assert caught.value.field == "add_outputs.prefix"


# --- GCP options -----------------------------------------------------------------------------


def test_helm_values_carry_the_network_name_of_a_referenced_network(options_stacks: dict[str, Synth]) -> None:
    synth = options_stacks["gcp"]
    (values,) = [v for k, v in synth["locals"].items() if "helm-values" in k and "second" not in k]
    network = values["vm_service"]["providers"]["gcp"]["network"]
    assert network == "${basename(data.google_compute_network.shared.id)}"
    assert synth["output"]["network_name"]["value"] == network


def test_labels_reach_every_address_and_nothing_that_takes_none(options_stacks: dict[str, Synth]) -> None:
    synth = options_stacks["gcp"]
    addresses = {k: a for k, a in _resources(synth, "google_compute_address").items() if k.startswith("network_")}
    assert len(addresses) == 5 + 2  # load balancers + reserved NAT addresses
    assert all(a["labels"] == {"team": "platform", "cost_center": "ci-42"} for a in addresses.values())
    for kind in (
        "google_compute_firewall",
        "google_compute_subnetwork",
        "google_compute_route",
        "google_compute_router",
    ):
        assert all("labels" not in r for r in _resources(synth, kind).values())


def test_flow_log_sampling_and_interval(options_stacks: dict[str, Synth], gcp_reference: Synth) -> None:
    (reference,) = _resources(gcp_reference, "google_compute_subnetwork").values()
    assert reference["log_config"]["flow_sampling"] == 1  # CIS GCP 3.8
    subnets = _resources(options_stacks["gcp"], "google_compute_subnetwork")
    configs = {k.split("_")[0]: s["log_config"] for k, s in subnets.items()}
    assert configs["network"]["flow_sampling"] == 0.25
    assert configs["network"]["aggregation_interval"] == "INTERVAL_1_MIN"
    assert configs["second"]["aggregation_interval"] == "INTERVAL_10_MIN"


def test_cloud_nat_sizing_and_static_addresses(options_stacks: dict[str, Synth], gcp_reference: Synth) -> None:
    (reference,) = _resources(gcp_reference, "google_compute_router_nat").values()
    assert reference["nat_ip_allocate_option"] == "AUTO_ONLY" and "nat_ips" not in reference
    synth = options_stacks["gcp"]
    nats = {k.split("_")[0]: n for k, n in _resources(synth, "google_compute_router_nat").items()}
    reserved = [k for k in _resources(synth, "google_compute_address") if "nat-address" in k.replace("_", "-")]
    nat = nats["network"]
    assert nat["nat_ip_allocate_option"] == "MANUAL_ONLY"
    assert nat["nat_ips"] == [f"${{google_compute_address.{k}.self_link}}" for k in reserved]
    assert (nat["min_ports_per_vm"], nat["max_ports_per_vm"]) == (128, 4096)
    assert nat["enable_dynamic_port_allocation"] is True and nat["enable_endpoint_independent_mapping"] is False
    assert synth["output"]["nat_addresses"]["value"] == [f"${{google_compute_address.{k}.address}}" for k in reserved]
    given = "projects/acme-circleci/regions/us-central1/addresses/egress-1"
    assert nats["second"]["nat_ips"] == [given, "${google_compute_address.egress.self_link}"]
    assert nats["second"]["nat_ip_allocate_option"] == "MANUAL_ONLY"
    # The given addresses' IPs are read back, so they can be allowlisted like reserved ones.
    read = synth["data"]["google_compute_address"]
    assert synth["output"]["b_nat_addresses"]["value"] == [
        f"${{data.google_compute_address.{k}.address}}" for k in read
    ]
    literal, reference = read.values()
    assert (literal["project"], literal["region"], literal["name"]) == ("acme-circleci", "us-central1", "egress-1")
    assert "regex(" in reference["name"] and "google_compute_address.egress.self_link" in reference["name"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"labels": {"Team": "x"}}, "GcpVpcProps.labels['Team']"),
        ({"labels": {"team": "Platform Team"}}, "GcpVpcProps.labels['team']"),
        ({"labels": {f"k{i}": "v" for i in range(65)}}, "GcpVpcProps.labels"),
        ({"labels": ["team"]}, "GcpVpcProps.labels"),
        ({"flow_log_sampling": 0}, "GcpVpcProps.flow_log_sampling"),
        ({"flow_log_sampling": 1.5}, "GcpVpcProps.flow_log_sampling"),
        ({"flow_log_sampling": True}, "GcpVpcProps.flow_log_sampling"),
        ({"flow_log_sampling": "1.0"}, "GcpVpcProps.flow_log_sampling"),
        ({"flow_log_interval": "5s"}, "GcpVpcProps.flow_log_interval"),
        ({"nat": {"min_ports_per_vm": 64}}, "GcpNetworkProps.nat"),
    ],
)
def test_bad_gcp_network_options_name_the_field(kwargs: dict[str, object], field: str) -> None:
    from circleci_network.gcp import GcpNetworkProps

    with pytest.raises(ConfigurationError) as caught:
        GcpNetworkProps(project="acme-circleci", region="us-central1", **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_ports_per_vm": 100}, "CloudNat.min_ports_per_vm"),
        ({"min_ports_per_vm": 16, "dynamic_port_allocation": True}, "CloudNat.min_ports_per_vm"),
        ({"min_ports_per_vm": "64"}, "CloudNat.min_ports_per_vm"),
        ({"max_ports_per_vm": 4096}, "CloudNat.max_ports_per_vm"),
        (
            {"dynamic_port_allocation": True, "min_ports_per_vm": 4096, "max_ports_per_vm": 4096},
            "CloudNat.max_ports_per_vm",
        ),
        ({"dynamic_port_allocation": True, "max_ports_per_vm": 1000}, "CloudNat.max_ports_per_vm"),
        ({"dynamic_port_allocation": "yes"}, "CloudNat.dynamic_port_allocation"),
        ({"address_count": -1}, "CloudNat.address_count"),
        (
            {"address_count": 2, "addresses": ("projects/acme-circleci/regions/us-central1/addresses/a",)},
            "CloudNat.address_count",
        ),
        ({"addresses": "projects/acme-circleci/regions/us-central1/addresses/a"}, "CloudNat.addresses"),
        ({"addresses": ("203.0.113.7",)}, "CloudNat.addresses[0]"),
    ],
)
def test_bad_cloud_nat_options_name_the_field(kwargs: dict[str, object], field: str) -> None:
    from circleci_network.gcp.settings import CloudNat

    with pytest.raises(ConfigurationError) as caught:
        CloudNat(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


@settings(max_examples=200, deadline=None)
@given(
    minimum=st.one_of(st.none(), st.sampled_from([1, 2, 16, 32, 64, 100, 4096, 32768, 65536, 131072])),
    maximum=st.one_of(st.none(), st.sampled_from([32, 64, 1000, 4096, 65536, 131072])),
    dynamic=st.booleans(),
    count=st.integers(min_value=-1, max_value=3),
)
def test_cloud_nat_accepts_exactly_what_gcp_takes(
    minimum: int | None, maximum: int | None, dynamic: bool, count: int
) -> None:
    """Either a ConfigurationError, or a configuration within GCP's documented bounds."""
    from circleci_network.gcp.settings import CloudNat

    try:
        nat = CloudNat(
            min_ports_per_vm=minimum, dynamic_port_allocation=dynamic, max_ports_per_vm=maximum, address_count=count
        )
    except ConfigurationError:
        return
    power = {2**n for n in range(1, 17)}
    if nat.min_ports_per_vm is not None:
        assert nat.min_ports_per_vm in power
        assert 32 <= nat.min_ports_per_vm <= 32768 or not dynamic
    if nat.max_ports_per_vm is not None:
        assert dynamic and nat.max_ports_per_vm in power and nat.max_ports_per_vm > (nat.min_ports_per_vm or 32)
    assert nat.manual_addresses == (count > 0)


# --- AWS: NAT Elastic IPs, environment in account-global names ----------------------------


def test_existing_elastic_ips_replace_allocated_ones(options_stacks: dict[str, Synth]) -> None:
    synth = options_stacks["aws"]
    assert "aws_eip" not in synth["resource"]
    ((nat_key, nat),) = _resources(synth, "aws_nat_gateway").items()
    assert nat["allocation_id"] == EIPS[0]
    assert synth["output"]["nat_public_ips"]["value"] == [f"${{aws_nat_gateway.{nat_key}.public_ip}}"]


@pytest.mark.parametrize(
    ("ids", "nat", "problem"),
    [
        (("eipalloc-0123456789abcdef0",), "one-per-az", "1 allocation IDs for 3 NAT gateway(s)"),
        (("eipalloc-0123456789abcdef0", "eipalloc-0123456789abcdef1"), "one", "2 allocation IDs for 1"),
        (("203.0.113.7",), "one", "not an Elastic IP allocation ID"),
        (("eipalloc-0123456789abcdef0",) * 3, "one-per-az", "twice"),
        ("eipalloc-0123456789abcdef0", "one", "not a list"),
    ],
)
def test_bad_nat_elastic_ips_are_refused(ids: object, nat: str, problem: str) -> None:
    from circleci_network.aws import NatGateways

    vpc = reference_aws_props().network.vpc
    with pytest.raises(ConfigurationError) as caught:
        replace(vpc, nat_gateways=NatGateways(nat), nat_eip_allocation_ids=ids)
    assert caught.value.field.startswith("VpcProps.nat_eip_allocation_ids") and problem in caught.value.problem


def test_account_global_names_carry_the_environment(options_stacks: dict[str, Synth], aws_reference: Synth) -> None:
    def names(synth: Synth) -> list[str]:
        found = [
            r["name"]
            for kind in ("aws_iam_role", "aws_cloudwatch_log_group", "aws_lb", "aws_lb_target_group")
            for r in _resources(synth, kind).values()
        ]
        assert len(found) == 1 + 1 + 5 + 7
        return found

    dev, reference = names(options_stacks["aws"]), names(aws_reference)
    assert all("circleci-dev" in name for name in dev)
    assert {"circleci-dev-flow-logs-delivery", "/circleci-dev/vpc-flow-logs", "circleci-dev-frontend"} <= set(dev)
    # The reference environment keeps its names (and so its deployed resources).
    assert {"circleci-flow-logs-delivery", "/circleci/vpc-flow-logs", "circleci-frontend"} <= set(reference)
    assert not any("reference" in name for name in reference)


def test_the_environment_feeds_the_name_prefix_once() -> None:
    from circleci_network.stacks.environments import environment_name_prefix

    aws = reference_aws_props()
    assert replace(aws, environment="dev").network.vpc.name == "circleci-dev"
    assert environment_name_prefix("circleci-dev", "dev") == "circleci-dev"  # already carries it
    assert environment_name_prefix("circleci", "reference") == "circleci"


def test_two_aws_environments_with_colliding_names_in_one_account_are_refused() -> None:
    from cdktf import App

    from circleci_network.stacks.environments import Environment, _check, add_environments

    aws = reference_aws_props()
    bare = replace(aws, network=replace(aws.network, vpc=replace(aws.network.vpc, name="circleci-dev")))
    # "reference" keeps circleci-dev as it is; "dev" turns circleci into circleci-dev.
    envs = [Environment(name="reference", aws=bare), Environment(name="dev", aws=aws)]
    with pytest.raises(ConfigurationError) as caught:
        add_environments(App(), envs)
    assert caught.value.field == "environments[1].aws.network.vpc.name"
    assert "'circleci-dev' is used by reference" in caught.value.problem
    # The same prefix in two named accounts does not collide; one unknown account might.
    in_accounts = [
        replace(e, aws=replace(e.aws, account_id=a))
        for e, a in zip(envs, ("111111111111", "222222222222"), strict=True)
    ]
    assert [a.network.vpc.name for _, a, _ in _check(in_accounts, None) if a] == ["circleci-dev", "circleci-dev"]
    with pytest.raises(ConfigurationError):
        _check([in_accounts[0], envs[1]], None)


def test_bad_account_id_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        replace(reference_aws_props(), account_id="1234")
    assert caught.value.field == "AwsStackProps.account_id"


def test_same_aws_props_in_two_environments_get_their_own_names() -> None:
    from circleci_network.stacks.environments import Environment, _check

    aws = reference_aws_props()
    resolved = _check([Environment(name="dev", aws=aws), Environment(name="prod", aws=aws)], None)
    assert [a.network.vpc.name for _, a, _ in resolved if a] == ["circleci-dev", "circleci-prod"]
