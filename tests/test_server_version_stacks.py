"""Stacks per server version on both clouds: clean audits, the load balancer and config each
version gets, and what moving a stack between versions changes in its Terraform."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import replace
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network.audit import assert_matches_spec
from circleci_network.errors import ConfigurationError
from circleci_network.model.options import HardeningOptions
from circleci_network.model.roles import Role
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.topology import Topology, TopologyWarning, UserAccess
from tests.snapshot_diff import structural_diff

Synth = dict[str, Any]
V3, V40, V43, V48 = ServerVersionId.V3, ServerVersionId.V4_0, ServerVersionId.V4_3, ServerVersionId.V4_8
VPN = Topology(user_access=UserAccess.VPN)
VPN_OPTIONS = HardeningOptions(client_cidrs=("10.200.0.0/16",), rerun_ssh_cidrs=("10.200.0.0/16",))
NOMAD_SERVERS = ("10.9.0.0/24",)

AWS_CASES: dict[str, ServerVersion] = {
    "aws-v3": ServerVersion(V3),
    "aws-v4.0": ServerVersion(V40),
    "aws-v4.3": ServerVersion(V43),
    "aws-v4.8-options": ServerVersion(V48, proxy_job_ports=True, external_nomad_server_cidrs=NOMAD_SERVERS),
}
#: v4 shapes beside the reference one (internet mode): VPN mode, and the NAT on existing EIPs.
EXISTING_NAT_EIPS = tuple(f"eipalloc-0123456789abcde{i}" for i in range(3))
AWS_SHAPES: dict[str, tuple[ServerVersion, dict[str, Any], dict[str, Any]]] = {
    "aws-v4.3-vpn": (ServerVersion(V43), {"topology": VPN, "hardening": VPN_OPTIONS}, {}),
    "aws-v4.0-existing-nat-eips": (ServerVersion(V40), {}, {"nat_eip_allocation_ids": EXISTING_NAT_EIPS}),
}
#: GCP v4 needs VPN mode (see GcpNetworkProps): compare it with the default version in VPN mode.
GCP_CASES: dict[str, tuple[ServerVersion, bool]] = {
    "gcp-v3": (ServerVersion(V3), False),
    "gcp-v3-seed-vpn": (ServerVersion(), True),
    "gcp-v4.3-vpn": (ServerVersion(V43), True),
}


#: GCP v4 with internet-facing users: Cloud NAT on static addresses (reserved, or given).
INTERNET_CLIENTS = HardeningOptions(client_cidrs=("203.0.113.0/24",))
GIVEN_NAT = ("projects/acme-circleci/regions/us-central1/addresses/egress-1",)
GCP_SHAPES: dict[str, tuple[ServerVersion, dict[str, Any]]] = {
    "gcp-v4.3-internet": (ServerVersion(V43), {"nat": {"address_count": 2}, "hardening": INTERNET_CLIENTS}),
    "gcp-v4.8-internet-given-nat": (ServerVersion(V48), {"nat": {"addresses": GIVEN_NAT}}),
}


@pytest.fixture(scope="module")
def stacks() -> dict[str, Synth]:
    from cdktf import App, Testing

    from circleci_network.stacks.aws import CircleciAwsStack
    from circleci_network.stacks.gcp import CircleciGcpStack
    from stacks.reference import reference_aws_props, reference_gcp_props

    app = App()
    built = {}
    aws, gcp = reference_aws_props(), reference_gcp_props()
    for name, version in AWS_CASES.items():
        network = replace(aws.network, server_version=version, node_ports=None)
        built[name] = CircleciAwsStack(app, name, props=replace(aws, network=network))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)
        for name, (version, changes, vpc_changes) in AWS_SHAPES.items():
            vpc = replace(aws.network.vpc, **vpc_changes)
            network = replace(aws.network, server_version=version, node_ports=None, vpc=vpc, **changes)
            built[name] = CircleciAwsStack(app, name, props=replace(aws, network=network))
        for name, (version, vpn) in GCP_CASES.items():
            extra: dict[str, Any] = {"topology": VPN, "hardening": VPN_OPTIONS} if vpn else {}
            network = replace(gcp.network, server_version=version, **extra)
            built[name] = CircleciGcpStack(app, name, props=replace(gcp, network=network))
        from circleci_network.gcp.settings import CloudNat

        for name, (version, changes) in GCP_SHAPES.items():
            changes = {**changes, "nat": CloudNat(**changes["nat"])}
            network = replace(gcp.network, server_version=version, **changes)
            built[name] = CircleciGcpStack(app, name, props=replace(gcp, network=network))
    return {name: json.loads(Testing.synth(stack)) for name, stack in built.items()}


def _resources(stack: Synth, kind: str) -> dict[str, Any]:
    return dict(stack.get("resource", {}).get(kind, {}))


def _values(stack: Synth, local: str = "circleci-helm-values") -> Any:
    (values,) = [v for k, v in stack["locals"].items() if local in k]
    return values


def test_aws_v4_proxy_is_placed_where_the_values_put_it_and_audited(stacks: dict[str, Synth]) -> None:
    """The chart's controller builds circleci-proxy in the subnets our values name: the audit places
    it there (from the JSON), so a rule someone adds to its security group is a finding."""
    import copy

    from circleci_network.audit import audit_stack

    stack = copy.deepcopy(stacks["aws-v4.3"])
    flows = {(k.source, k.destination) for k in audit_stack(stack, "aws-v4.3").flows}
    assert {("nomad-clients", "circleci-proxy"), ("circleci-proxy", "k8s-nodes")} <= flows
    (group,) = [n for n, g in _resources(stack, "aws_security_group").items() if g["name"].endswith("circleci-proxy")]
    stack["resource"]["aws_vpc_security_group_ingress_rule"]["tampered-ssh"] = {
        "security_group_id": f"${{aws_security_group.{group}.id}}",
        "ip_protocol": "tcp",
        "from_port": 22,
        "to_port": 22,
        "cidr_ipv4": "0.0.0.0/0",
    }
    result = audit_stack(stack, "aws-v4.3")
    assert not result.ok
    assert any(d.destination == "circleci-proxy" and "tcp/22" in d.ports for d in result.differences)


@pytest.mark.parametrize("name", [*AWS_CASES, *AWS_SHAPES, *GCP_CASES, *GCP_SHAPES])
def test_every_version_stack_matches_its_table(stacks: dict[str, Synth], name: str) -> None:
    result = assert_matches_spec(stacks[name], name)
    shapes = {**{k: v[0] for k, v in AWS_SHAPES.items()}, **{k: v[0] for k, v in GCP_SHAPES.items()}}
    expected = AWS_CASES.get(name) or shapes.get(name) or GCP_CASES[name][0]
    assert result.intent.server_version == expected


def _table(version: ServerVersion) -> dict[str, tuple[object, ...]]:
    return {r.rule_id: (r.role, r.direction, r.ports, r.peer, r.description) for r in version.rules()}


@pytest.mark.parametrize("name", list(AWS_CASES))
def test_aws_moving_from_the_default_changes_only_the_rows_that_differ(
    stacks: dict[str, Synth], aws_reference: Synth, name: str
) -> None:
    """What `terraform plan` would show moving the reference stack to this version: security
    groups untouched (a new one for circleci-proxy), and rule resources added or removed only
    for rows the tables differ by; every shared row's resource is byte-identical."""
    old, new = _table(ServerVersion()), _table(AWS_CASES[name])
    shared = {rule_id for rule_id, row in old.items() if new.get(rule_id) == row}
    groups_before = _resources(aws_reference, "aws_security_group")
    groups_after = _resources(stacks[name], "aws_security_group")
    for key in groups_before.keys() & groups_after.keys():
        assert groups_before[key] == groups_after[key], key  # a changed description would replace the group
    gone = {groups_before[k]["tags"]["circleci/role"] for k in groups_before.keys() - groups_after.keys()}
    added = {groups_after[k]["tags"]["circleci/role"] for k in groups_after.keys() - groups_before.keys()}
    assert gone == {r.value for r in ServerVersion().load_balancers} - {r.value for r in AWS_CASES[name].load_balancers}
    assert added == ({"circleci-proxy"} if AWS_CASES[name].profile.proxy_load_balancer else set())
    for kind in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
        before, after = _resources(aws_reference, kind), _resources(stacks[name], kind)
        for key in before.keys() | after.keys():
            rule_id = (before.get(key) or after[key])["tags"]["circleci/rule"]
            if rule_id in shared:
                assert before.get(key) == after.get(key), key
            else:
                assert key not in before or key not in after or before[key] != after[key] or rule_id in new, key
                assert rule_id not in old or rule_id not in new or old[rule_id] != new[rule_id], key


def test_gcp_moving_to_v4_changes_only_the_rows_that_differ(stacks: dict[str, Synth]) -> None:
    old, new = _table(ServerVersion()), _table(ServerVersion(V43))
    shared = {rule_id for rule_id, row in old.items() if new.get(rule_id) == row}
    before = _resources(stacks["gcp-v3-seed-vpn"], "google_compute_firewall")
    after = _resources(stacks["gcp-v4.3-vpn"], "google_compute_firewall")
    for key in before.keys() | after.keys():
        name = (before.get(key) or after[key])["name"].removeprefix("circleci-")
        rule_id = name.removeprefix("k8s-nodes-in-via-")
        if rule_id in shared or "deny-all" in name:
            assert before.get(key) == after.get(key), key
        else:
            assert rule_id not in shared, key
    removed = {v["name"] for k, v in before.items() if k not in after}
    added = {v["name"] for k, v in after.items() if k not in before}
    assert "circleci-nomad-clients-out-4647-circleci-proxy" in added
    assert "circleci-nomad-clients-out-4647-nomad" in removed
    assert "circleci-k8s-nodes-out-2376-vms" in removed


def test_aws_v3_builds_four_nlbs_and_a_kots_sheet(stacks: dict[str, Synth], tmp_path: Path) -> None:
    from circleci_network.tooling.kots_settings import write_kots_settings

    stack = stacks["aws-v3"]
    roles = {lb["tags"]["circleci/role"] for lb in _resources(stack, "aws_lb").values()}
    assert roles == {"server-traefik", "vm-service", "nomad", "output-processor"}
    assert not any("circleci-helm-values" in k for k in stack["locals"])
    fields = {(row["section"], row["field"]): row["value"] for row in _values(stack, "circleci-kots-settings")}
    assert fields[("VM Service", "VM service port")] == 3000
    assert fields[("Frontend / General settings", "Private Load Balancer")] is False
    assert "aws_lb.network_load-balancers_nomad" in fields[("Nomad", "Nomad Load Balancer")]
    assert {"kots_settings", "network_facts"} <= set(stack["output"]) and "helm_values" not in stack["output"]
    folder = tmp_path / "stacks" / "aws-v3"
    folder.mkdir(parents=True)
    (folder / "cdk.tf.json").write_text(json.dumps(stack))
    (sheet,) = write_kots_settings(tmp_path)
    text = sheet.read_text()
    assert "| VM Service (AWS EC2) | Security Group ID | `${aws_security_group." in text
    assert "ConfigValues" not in text.split("\n", 3)[3].replace("no `ConfigValues`", "")


@pytest.mark.parametrize(("name", "provider"), [("aws-v4.0", "vm_service"), ("aws-v4.3", "machine_provisioner")])
def test_aws_v4_the_chart_builds_circleci_proxy_in_our_subnets_with_our_group(
    stacks: dict[str, Synth], name: str, provider: str
) -> None:
    stack = stacks[name]
    assert _resources(stack, "aws_lb") == {}
    groups = {g["tags"]["circleci/role"]: k for k, g in _resources(stack, "aws_security_group").items()}
    assert "circleci-proxy" in groups and not {"nomad", "vm-service", "frontend-external"} & set(groups)
    values = _values(stack)
    assert set(values) == {"nginx", provider}  # real keys only: no circleci_network block
    annotations = values["nginx"]["annotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer"
    assert annotations[f"{prefix}-security-groups"] == f"${{aws_security_group.{groups['circleci-proxy']}.id}}"
    assert annotations[f"{prefix}-manage-backend-security-group-rules"] == "false"
    assert annotations[f"{prefix}-scheme"] == "internet-facing"
    assert "aws_subnet.network_vpc_public-us-east-1a" in annotations[f"{prefix}-subnets"]
    assert set(values[provider]["providers"]["ec2"]) == {"region", "subnets", "securityGroupId", "assignPublicIP"}
    assert {"network_facts", "circleci_proxy_load_balancer_security_group_id"} <= set(stack["output"])


def test_aws_v4_8_options_open_their_rows_and_ask_for_external_nomad(stacks: dict[str, Synth]) -> None:
    stack = stacks["aws-v4.8-options"]
    rules = {
        (r["tags"]["circleci/rule"], r.get("from_port"), r.get("cidr_ipv4"))
        for kind in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")
        for r in _resources(stack, kind).values()
    }
    nat = "${aws_nat_gateway.network_vpc_nat-gateway-us-east-1a_C95F063B.public_ip}/32"
    assert ("circleci-proxy-in-3000", 3000, nat) in rules  # internet mode: from the NAT addresses
    assert ("nomad-clients-out-nomad-servers", 4646, "10.9.0.0/24") in rules
    assert ("nomad-clients-in-nomad-servers", 4646, "10.9.0.0/24") in rules
    assert _values(stack)["nomad"] == {"server": {"internal": False}}


def test_gcp_v4_reserves_the_proxy_address_the_chart_uses(stacks: dict[str, Synth]) -> None:
    stack = stacks["gcp-v4.3-vpn"]
    addresses = {a["name"]: (k, a) for k, a in _resources(stack, "google_compute_address").items()}
    assert set(addresses) == {"circleci-circleci-proxy"}
    key, proxy = addresses["circleci-circleci-proxy"]
    assert (proxy["address_type"], proxy["address"]) == ("INTERNAL", "10.0.0.10")
    nginx = _values(stack)["nginx"]
    assert nginx == {
        "loadBalancerIp": f"${{google_compute_address.{key}.address}}",
        "loadBalancerSourceRanges": ["10.200.0.0/16"],
        "annotations": {"networking.gke.io/load-balancer-type": "Internal"},
    }
    firewalls = {f["name"]: f for f in _resources(stack, "google_compute_firewall").values()}
    assert firewalls["circleci-nomad-clients-out-4647-circleci-proxy"]["destination_ranges"] == ["10.0.0.10/32"]
    # What GKE opens for the Service under these values, rendered by us and expected by the audit.
    gke_ranges = firewalls["circleci-k8s-nodes-in-via-circleci-proxy-in-gke-ranges"]
    assert (gke_ranges["source_ranges"], gke_ranges["allow"]) == (
        ["10.200.0.0/16"],
        [{"protocol": "tcp", "ports": ["4647"]}],
    )
    health = firewalls["circleci-k8s-nodes-in-gke-node-health-checks"]
    assert health["allow"] == [{"protocol": "tcp", "ports": ["10256"]}] and len(health["source_ranges"]) == 4


def test_gcp_v3_has_no_frontend_address(stacks: dict[str, Synth]) -> None:
    names = {a["name"] for a in _resources(stacks["gcp-v3"], "google_compute_address").values()}
    assert names == {f"circleci-{r}" for r in ("server-traefik", "vm-service", "nomad", "output-processor")}


@pytest.mark.parametrize("name", ["aws-v4.0", "aws-v4.3", "gcp-v4.3-vpn", "gcp-v4.3-internet"])
def test_snapshot(
    reference_stacks: dict[str, Synth], stacks: dict[str, Synth], name: str, snapshot: SnapshotAssertion
) -> None:
    """What a v4 version changes relative to the cloud's reference stack, so a reviewer reads only the change."""
    reference = reference_stacks["circleci-aws" if name.startswith("aws-") else "circleci-gcp"]
    assert structural_diff(reference, stacks[name]) == snapshot.use_extension(JSONSnapshotExtension)


def test_bad_props_per_version() -> None:
    from circleci_network.aws import AwsNetworkProps, VpcProps
    from circleci_network.aws.load_balancers import DEFAULT_NODE_PORTS
    from circleci_network.gcp import GcpNetworkProps

    vpc = VpcProps(availability_zones=("us-east-1a", "us-east-1b"))
    with pytest.raises(ConfigurationError, match=r"v4\.3") as error:
        AwsNetworkProps(
            vpc=vpc, server_version=ServerVersion(V43), hardening=HardeningOptions(transparent_load_balancers=True)
        )
    assert error.value.field == "AwsNetworkProps.hardening.transparent_load_balancers"
    with pytest.raises(ConfigurationError, match=r"v4\.0") as error:
        AwsNetworkProps(vpc=vpc, server_version=ServerVersion(V40), network_acls=True)
    assert error.value.field == "AwsNetworkProps.network_acls"
    with pytest.raises(ConfigurationError, match="frontend-external") as error:
        AwsNetworkProps(vpc=vpc, server_version=ServerVersion(V3), node_ports=dict(DEFAULT_NODE_PORTS))
    assert error.value.field == "AwsNetworkProps.node_ports"
    with pytest.raises(ConfigurationError, match=r"v4\.3 with UserAccess.INTERNET") as error:
        GcpNetworkProps(project="acme-circleci", region="us-central1", server_version=ServerVersion(V43))
    assert error.value.field == "GcpNetworkProps.nat" and "CloudNat(address_count=1)" in error.value.fix
    with pytest.raises(ConfigurationError, match=r"0\.0\.0\.0/0") as error:
        GcpNetworkProps(
            project="acme-circleci",
            region="us-central1",
            server_version=ServerVersion(V40),
            topology=VPN,
            hardening=HardeningOptions(client_cidrs=("10.200.0.0/16",), rerun_ssh_cidrs=()),
        )
    assert error.value.field == "GcpNetworkProps.server_version"
    assert AwsNetworkProps(vpc=vpc, server_version=ServerVersion(V43)).node_ports == {}
    assert set(AwsNetworkProps(vpc=vpc, server_version=ServerVersion(V3)).listener_node_ports) == {
        key for key in DEFAULT_NODE_PORTS if key[0] is not Role.FRONTEND_LB
    }


# --- v4 with internet-facing users: static addresses on both ends of Nomad -> circleci-proxy ---

PREFIX = "service.beta.kubernetes.io/aws-load-balancer"


def _rules_named(stack: Synth, kind: str, rule_id: str) -> list[dict[str, Any]]:
    return [r for r in _resources(stack, kind).values() if r["tags"]["circleci/rule"] == rule_id]


def _nat_public_ips(stack: Synth) -> set[str]:
    return {f"${{aws_nat_gateway.{n}.public_ip}}/32" for n in _resources(stack, "aws_nat_gateway")}


@pytest.mark.parametrize("name", ["aws-v4.0", "aws-v4.3", "aws-v4.0-existing-nat-eips"])
def test_aws_v4_internet_proxy_gets_static_eips_and_nomad_reaches_it_through_nat(
    stacks: dict[str, Synth], name: str
) -> None:
    stack = stacks[name]
    annotations = _values(stack)["nginx"]["annotations"]
    proxy_eips = [
        k for k, e in _resources(stack, "aws_eip").items() if e["tags"].get("circleci/role") == "circleci-proxy"
    ]
    assert len(proxy_eips) == 3
    # One EIP per subnet, in the subnets annotation's (zone) order.
    zones = ("us-east-1a", "us-east-1b", "us-east-1c")
    subnets = annotations[f"{PREFIX}-subnets"]
    eips = annotations[f"{PREFIX}-eip-allocations"]
    assert [subnets.index(f"public-{z}") for z in zones] == sorted(subnets.index(f"public-{z}") for z in zones)
    assert [eips.index(f"circleci-proxy-address-{z}") for z in zones] == sorted(
        eips.index(f"circleci-proxy-address-{z}") for z in zones
    )
    assert annotations[f"{PREFIX}-scheme"] == "internet-facing"
    # Nomad clients' egress names the proxy's EIPs, and nothing else, on 4647.
    egress = _rules_named(stack, "aws_vpc_security_group_egress_rule", "nomad-clients-out-4647-circleci-proxy")
    assert {r["cidr_ipv4"] for r in egress} == {f"${{aws_eip.{k}.public_ip}}/32" for k in proxy_eips}
    assert all("referenced_security_group_id" not in r for r in egress)
    # The proxy admits 4647 from the NAT gateways' addresses (existing EIPs too), as /32s.
    ingress = _rules_named(stack, "aws_vpc_security_group_ingress_rule", "circleci-proxy-in-4647")
    assert {r["cidr_ipv4"] for r in ingress} == _nat_public_ips(stack)
    assert len(ingress) == 3
    assert "circleci_proxy_public_ips" in stack["output"]


def test_aws_existing_nat_eips_are_read_through_the_gateways(stacks: dict[str, Synth]) -> None:
    stack = stacks["aws-v4.0-existing-nat-eips"]
    gateways = _resources(stack, "aws_nat_gateway").values()
    assert sorted(g["allocation_id"] for g in gateways) == sorted(EXISTING_NAT_EIPS)
    assert not [e for e in _resources(stack, "aws_eip").values() if e["tags"].get("circleci/role") != "circleci-proxy"]


def test_aws_v4_vpn_has_no_public_addresses(stacks: dict[str, Synth]) -> None:
    stack = stacks["aws-v4.3-vpn"]
    annotations = _values(stack)["nginx"]["annotations"]
    assert f"{PREFIX}-eip-allocations" not in annotations and annotations[f"{PREFIX}-scheme"] == "internal"
    assert not [e for e in _resources(stack, "aws_eip").values() if e["tags"].get("circleci/role") == "circleci-proxy"]
    (egress,) = _rules_named(stack, "aws_vpc_security_group_egress_rule", "nomad-clients-out-4647-circleci-proxy")
    assert "referenced_security_group_id" in egress  # inside the VPC: by group, no NAT in between


def _tamper_4647(stack: Synth, kind: str, rule_id: str, change: str) -> Synth:
    import copy

    stack = copy.deepcopy(stack)
    rules = stack["resource"][kind]
    keys = sorted(k for k, r in rules.items() if r["tags"]["circleci/rule"] == rule_id)
    if change == "widen":
        rules[keys[0]]["cidr_ipv4"] = "0.0.0.0/0"
    else:
        del rules[keys[0]]
    return stack


@pytest.mark.parametrize(
    ("kind", "rule_id", "change", "words"),
    [
        ("aws_vpc_security_group_ingress_rule", "circleci-proxy-in-4647", "widen", "EXTRA: outside -> circleci-proxy"),
        (
            "aws_vpc_security_group_ingress_rule",
            "circleci-proxy-in-4647",
            "remove",
            "MISSING: nomad-clients -> circleci-proxy",
        ),
        (
            "aws_vpc_security_group_egress_rule",
            "nomad-clients-out-4647-circleci-proxy",
            "widen",
            "EXTRA: nomad-clients -> outside",
        ),
        (
            "aws_vpc_security_group_egress_rule",
            "nomad-clients-out-4647-circleci-proxy",
            "remove",
            "MISSING: nomad-clients -> circleci-proxy",
        ),
    ],
)
def test_aws_v4_internet_tampering_with_the_4647_path_is_found(
    stacks: dict[str, Synth], kind: str, rule_id: str, change: str, words: str
) -> None:
    """The audit places the EIPs from the JSON: the proxy opened to 0.0.0.0/0 on 4647, one NAT
    address dropped, or Nomad's egress widened each fail, on 4647."""
    from circleci_network.audit import audit_stack

    assert audit_stack(stacks["aws-v4.3"], "aws-v4.3").ok
    result = audit_stack(_tamper_4647(stacks["aws-v4.3"], kind, rule_id, change), "aws-v4.3")
    assert not result.ok
    found = [str(d) for d in result.differences if "tcp/4647" in d.ports]
    assert any(words in d for d in found), found


def test_aws_v4_internet_audit_sees_nomad_traffic_leave_through_nat(stacks: dict[str, Synth]) -> None:
    from circleci_network.audit import audit_stack
    from circleci_network.audit.public_addresses import STAND_INS

    result = audit_stack(stacks["aws-v4.3"], "aws-v4.3")
    on_4647 = {(k.source, k.destination, k.outside) for k in result.flows if k.port.label == "tcp/4647"}
    assert ("nomad-clients", "circleci-proxy", None) in on_4647
    # To the proxy's EIPs (egress) and from the NAT addresses (ingress), each at its stand-in.
    outside = [(s, d, o) for s, d, o in on_4647 if o is not None]
    assert {s for s, d, o in outside if d == "outside"} == {"nomad-clients"}
    assert {d for s, d, o in outside if s == "outside"} == {"circleci-proxy"}
    assert all(n.subnet_of(STAND_INS) for *_, o in outside for n in o.networks)  # type: ignore[union-attr]
    assert len(outside) == 6  # three EIPs, three NAT gateways


def _everything_read(result: Any) -> str:
    """Every text a person reads of an audit: the summary, the report, the --format json output."""
    from circleci_network.__main__ import as_json
    from circleci_network.audit.report import markdown

    return "\n".join([result.summary(), markdown(result), json.dumps(as_json([result]))])


def _bare_stand_ins(text: str, stack: Synth, name: str) -> list[str]:
    """CIDRs in ``text`` made only of stand-ins (public addresses known after apply): what a
    reviewer could not map back to anything."""
    from circleci_network.audit.audit import intents
    from circleci_network.audit.public_addresses import public_placement

    (intent,) = intents(stack, name)
    stand_ins = {IPv4Network(s) for s in public_placement(stack, intent).stand_ins.values()}
    assert stand_ins
    cidrs = {IPv4Network(c) for c in re.findall(r"\b\d+\.\d+\.\d+\.\d+/\d+\b", text)}
    return sorted(
        str(n) for n in cidrs if n.num_addresses <= len(stand_ins) and all(IPv4Network(a) in stand_ins for a in n)
    )


def _resource_of(cidr: str) -> str:
    """``${aws_eip.x.public_ip}/32`` -> ``aws_eip.x``: the resource a rule names an address by."""
    return cidr.removeprefix("${").rsplit(".", 1)[0]


@pytest.mark.parametrize(
    ("kind", "rule_id", "change"),
    [
        ("aws_vpc_security_group_ingress_rule", "circleci-proxy-in-4647", "widen"),
        ("aws_vpc_security_group_ingress_rule", "circleci-proxy-in-4647", "remove"),
        ("aws_vpc_security_group_egress_rule", "nomad-clients-out-4647-circleci-proxy", "widen"),
        ("aws_vpc_security_group_egress_rule", "nomad-clients-out-4647-circleci-proxy", "remove"),
    ],
)
def test_aws_v4_internet_findings_name_the_public_addresses(
    stacks: dict[str, Synth], kind: str, rule_id: str, change: str
) -> None:
    """A tampered 4647 path is reported with the NAT gateway or proxy EIP behind each address the
    audit placed at a stand-in, in the summary, the report and the JSON: never a bare 240.x."""
    from circleci_network.audit import audit_stack

    stack = stacks["aws-v4.3"]
    nat = sorted(_resource_of(c) for c in _nat_public_ips(stack))
    egress = _rules_named(stack, "aws_vpc_security_group_egress_rule", "nomad-clients-out-4647-circleci-proxy")
    proxy = sorted(_resource_of(r["cidr_ipv4"]) for r in egress)
    assert len(nat) == len(proxy) == 3
    tampered = _tamper_4647(stack, kind, rule_id, change)
    result = audit_stack(tampered, "aws-v4.3")
    found = [str(d) for d in result.differences if "tcp/4647" in d.ports]
    if change == "remove":  # the address the removed rule named is now missing, by its resource
        rules = stack["resource"][kind]
        removed = rules[min(k for k, r in rules.items() if r["tags"]["circleci/rule"] == rule_id)]["cidr_ipv4"]
        expected = (
            [f"MISSING: outside -> circleci-proxy ({_resource_of(removed)} (NAT public IP)) tcp/4647"]
            if "ingress" in kind
            else [f"MISSING: nomad-clients -> outside ({_resource_of(removed)} (circleci-proxy public IP)) tcp/4647"]
        )
    elif "ingress" in kind:  # 4647 from every outside address but the NAT gateways' (which it admits anyway)
        except_nat = ", ".join(f"{g} (NAT public IP)" for g in nat)
        expected = [f"EXTRA: outside -> circleci-proxy (0.0.0.0/0 except {except_nat}) tcp/4647"]
    else:  # Nomad may send 4647 anywhere but the proxy's EIPs (where it may anyway)
        except_proxy = ", ".join(f"{p} (circleci-proxy public IP)" for p in proxy)
        expected = [f"EXTRA: nomad-clients -> outside (0.0.0.0/0 except {except_proxy}) tcp/4647"]
    assert all(any(e in f for f in found) for e in expected), found
    read = _everything_read(result)
    assert all(e.split(": ", 1)[1].split(" tcp/")[0] in read for e in expected)  # in the JSON flow too
    assert _bare_stand_ins(read, tampered, "aws-v4.3") == []


@pytest.mark.parametrize("name", ["aws-v4.3", "aws-v4.0-existing-nat-eips"])
def test_aws_v4_internet_report_names_the_public_addresses(stacks: dict[str, Synth], name: str) -> None:
    """The flow matrix's rows with the outside name the proxy's EIPs and the NAT gateways (given
    EIPs have no resource: the gateway is named), also inside "0.0.0.0/0 except ..."."""
    from circleci_network.audit import audit_stack
    from circleci_network.audit.report import markdown

    stack = stacks[name]
    result = audit_stack(stack, name)
    assert result.ok, result.summary()
    report = markdown(result)
    outside = report.split("## With the outside")[1].split("## Why")[0]
    egress = _rules_named(stack, "aws_vpc_security_group_egress_rule", "nomad-clients-out-4647-circleci-proxy")
    for cidr in _nat_public_ips(stack):
        assert f"{_resource_of(cidr)} (NAT public IP)" in outside
    for rule in egress:
        assert f"{_resource_of(rule['cidr_ipv4'])} (circleci-proxy public IP)" in outside
    assert _bare_stand_ins(_everything_read(result), stack, name) == []


def test_aws_v4_internet_hand_made_network_acl_names_the_public_addresses(stacks: dict[str, Synth]) -> None:
    """ACL openings the model does not need are reported per other end: a stand-in end is its
    resource (network ACLs are built only without a server version, but a hand-made one is audited)."""
    import copy

    from circleci_network.audit import audit_stack

    stack = copy.deepcopy(stacks["aws-v4.3"])
    subnets = [
        f"${{aws_subnet.{k}.id}}"
        for k, s in _resources(stack, "aws_subnet").items()
        if s["tags"].get("circleci/tier") == Role.NOMAD_CLIENTS.value
    ]
    everything = {"protocol": "-1", "rule_no": 100, "action": "allow", "cidr_block": "0.0.0.0/0"}
    stack["resource"]["aws_network_acl"] = {
        "by_hand": {"vpc_id": "vpc", "subnet_ids": subnets, "ingress": [everything], "egress": [everything]}
    }
    result = audit_stack(stack, "aws-v4.3")
    extra = [str(d) for d in result.differences if d.kind == "extra" and "aws_network_acl.by_hand" in d.because]
    for cidr in _nat_public_ips(stack):
        assert any(f"-> {_resource_of(cidr)} (NAT public IP) " in d for d in extra), extra
        assert any(d.startswith(f"EXTRA: {_resource_of(cidr)} (NAT public IP) -> ") for d in extra), extra
    assert _bare_stand_ins(_everything_read(result), stack, "aws-v4.3") == []


def test_aws_v4_internet_refuses_public_nomad_clients() -> None:
    from circleci_network.aws import AwsNetworkProps, VpcProps
    from circleci_network.model.topology import JobPlacement

    with pytest.raises(ConfigurationError, match="auto-assigned") as error:
        AwsNetworkProps(
            vpc=VpcProps(availability_zones=("us-east-1a", "us-east-1b")),
            server_version=ServerVersion(V43),
            topology=Topology(job_placement=JobPlacement.PUBLIC),
        )
    assert error.value.field == "AwsNetworkProps.topology.job_placement"
    assert "JobPlacement.PRIVATE" in error.value.fix


def _firewalls(stack: Synth) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in _resources(stack, "google_compute_firewall").values()}


@pytest.mark.parametrize("name", list(GCP_SHAPES))
def test_gcp_v4_internet_nomad_reaches_the_external_proxy_through_cloud_nat(
    stacks: dict[str, Synth], name: str
) -> None:
    stack = stacks[name]
    addresses = {a["name"]: (k, a) for k, a in _resources(stack, "google_compute_address").items()}
    key, proxy = addresses["circleci-circleci-proxy"]
    assert proxy["address_type"] == "EXTERNAL"
    proxy_cidr = f"${{google_compute_address.{key}.address}}/32"
    (router,) = _resources(stack, "google_compute_router_nat").values()
    assert router["nat_ip_allocate_option"] == "MANUAL_ONLY"
    if "given" in name:
        (data,) = stack["data"]["google_compute_address"]
        nat = [f"${{data.google_compute_address.{data}.address}}/32"]
    else:
        nat = [f"${{google_compute_address.{k}.address}}/32" for n, (k, _) in sorted(addresses.items()) if "-nat-" in n]
    nginx = _values(stack)["nginx"]
    clients = list(GCP_SHAPES[name][1].get("hardening", HardeningOptions()).client_cidrs)
    # The NAT addresses join loadBalancerSourceRanges, or GKE's k8s-fw rule drops Nomad's 4647.
    assert nginx == {"loadBalancerIp": proxy_cidr.removesuffix("/32"), "loadBalancerSourceRanges": clients + nat}
    firewalls = _firewalls(stack)
    assert firewalls["circleci-nomad-clients-out-4647-circleci-proxy"]["destination_ranges"] == [proxy_cidr]
    via = firewalls["circleci-k8s-nodes-in-via-circleci-proxy-in-4647"]
    assert via["source_ranges"] == nat and "source_service_accounts" not in via
    # What GKE really writes: every Service port from every range, so 80/443 from our NAT too.
    nat_ranges = firewalls["circleci-k8s-nodes-in-via-circleci-proxy-in-gke-nat-ranges"]
    assert (nat_ranges["source_ranges"], nat_ranges["allow"]) == (nat, [{"protocol": "tcp", "ports": ["80", "443"]}])


def _tamper_gcp(stack: Synth, rule: str, change: str) -> Synth:
    import copy

    stack = copy.deepcopy(stack)
    firewalls = stack["resource"]["google_compute_firewall"]
    (key,) = [k for k, f in firewalls.items() if f["name"] == f"circleci-{rule}"]
    if change == "remove":
        del firewalls[key]
    elif "source_ranges" in firewalls[key]:
        firewalls[key]["source_ranges"] = ["0.0.0.0/0"]
    else:
        firewalls[key]["destination_ranges"] = ["0.0.0.0/0"]
    return stack


@pytest.mark.parametrize(
    ("rule", "change", "words"),
    [
        ("k8s-nodes-in-via-circleci-proxy-in-4647", "widen", "EXTRA: outside -> circleci-proxy"),
        ("k8s-nodes-in-via-circleci-proxy-in-4647", "remove", "MISSING: nomad-clients -> circleci-proxy"),
        ("nomad-clients-out-4647-circleci-proxy", "widen", "EXTRA: nomad-clients -> outside"),
        ("nomad-clients-out-4647-circleci-proxy", "remove", "MISSING: nomad-clients -> circleci-proxy"),
    ],
)
def test_gcp_v4_internet_tampering_with_the_4647_path_is_found(
    stacks: dict[str, Synth], rule: str, change: str, words: str
) -> None:
    from circleci_network.audit import audit_stack

    stack = stacks["gcp-v4.3-internet"]
    assert audit_stack(stack, "gcp").ok
    result = audit_stack(_tamper_gcp(stack, rule, change), "gcp")
    assert not result.ok
    found = [str(d) for d in result.differences if "tcp/4647" in d.ports]
    assert any(words in d for d in found), found


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("k8s-nodes-in-via-circleci-proxy-in-4647", "widen"),
        ("k8s-nodes-in-via-circleci-proxy-in-4647", "remove"),
        ("nomad-clients-out-4647-circleci-proxy", "widen"),
        ("nomad-clients-out-4647-circleci-proxy", "remove"),
    ],
)
def test_gcp_v4_internet_findings_name_the_public_addresses(stacks: dict[str, Synth], rule: str, change: str) -> None:
    """Cloud NAT's reserved addresses are named by their google_compute_address wherever a
    finding or the report mentions them."""
    from circleci_network.audit import audit_stack

    stack = stacks["gcp-v4.3-internet"]
    nat = sorted(
        _resource_of(c) for c in _firewalls(stack)["circleci-k8s-nodes-in-via-circleci-proxy-in-4647"]["source_ranges"]
    )
    assert len(nat) == 2 and all(n.startswith("google_compute_address.") for n in nat)
    tampered = _tamper_gcp(stack, rule, change)
    result = audit_stack(tampered, "gcp")
    found = [str(d) for d in result.differences if "tcp/4647" in d.ports]
    both = ", ".join(f"{n} (Cloud NAT address)" for n in nat)  # one finding for the two addresses
    expected = {
        ("k8s-nodes-in-via-circleci-proxy-in-4647", "remove"): [
            f"MISSING: outside -> circleci-proxy ({both}) tcp/4647"
        ],
        # Every outside address but the metadata server (reachable anyway): the NAT addresses among them.
        ("nomad-clients-out-4647-circleci-proxy", "widen"): [
            "EXTRA: nomad-clients -> outside (0.0.0.0/0 except 169.254.169.254/32) tcp/4647"
        ],
    }.get((rule, change), [])
    assert not result.ok
    assert all(any(e in f for f in found) for e in expected), found
    assert _bare_stand_ins(_everything_read(result), tampered, "gcp") == []


@pytest.mark.parametrize("name", list(GCP_SHAPES))
def test_gcp_v4_internet_report_names_the_public_addresses(stacks: dict[str, Synth], name: str) -> None:
    """The report names the proxy's reserved address, and Cloud NAT's where it lists them apart
    (with the default clients, 0.0.0.0/0, the NAT addresses are just part of the internet)."""
    from circleci_network.audit import audit_stack
    from circleci_network.audit.report import markdown

    stack = stacks[name]
    result = audit_stack(stack, name)
    assert result.ok, result.summary()
    outside = markdown(result).split("## With the outside")[1].split("## Why")[0]
    firewalls = _firewalls(stack)
    clients = GCP_SHAPES[name][1].get("hardening", HardeningOptions()).client_cidrs
    for cidr in firewalls["circleci-k8s-nodes-in-via-circleci-proxy-in-4647"]["source_ranges"]:
        assert (f"{_resource_of(cidr)} (Cloud NAT address)" in outside) is (clients != ("0.0.0.0/0",))
    # The proxy's address is circleci-proxy's own (a role's), never one of the outside addresses listed.
    (proxy,) = firewalls["circleci-nomad-clients-out-4647-circleci-proxy"]["destination_ranges"]
    assert f"{_resource_of(proxy)} (circleci-proxy public IP)" not in outside
    assert _bare_stand_ins(_everything_read(result), stack, name) == []


def test_gcp_v4_internet_given_nat_addresses_are_named_by_their_data_source(stacks: dict[str, Synth]) -> None:
    import copy

    from circleci_network.audit import audit_stack

    stack = stacks["gcp-v4.8-internet-given-nat"]
    (nat,) = _firewalls(stack)["circleci-k8s-nodes-in-via-circleci-proxy-in-4647"]["source_ranges"]
    assert _resource_of(nat).startswith("data.google_compute_address.")
    # The NAT-address rule opened to SSH as well: a flow from exactly the NAT address.
    tampered = copy.deepcopy(stack)
    (rule,) = [
        f
        for f in tampered["resource"]["google_compute_firewall"].values()
        if f["name"] == "circleci-k8s-nodes-in-via-circleci-proxy-in-4647"
    ]
    rule["allow"] = [{"protocol": "tcp", "ports": ["4647", "22"]}]
    result = audit_stack(tampered, "gcp")
    found = [str(d) for d in result.differences if "tcp/22" in d.ports]
    assert any(f"-> k8s-nodes ({_resource_of(nat)} (Cloud NAT address)) tcp/22" in f for f in found), found
    assert _bare_stand_ins(_everything_read(result), tampered, "gcp") == []


def test_gcp_v4_internet_refuses_public_nomad_clients() -> None:
    from circleci_network.gcp import GcpNetworkProps
    from circleci_network.gcp.settings import CloudNat
    from circleci_network.model.topology import JobPlacement

    with pytest.raises(ConfigurationError, match="ephemeral") as error:
        GcpNetworkProps(
            project="acme-circleci",
            region="us-central1",
            server_version=ServerVersion(V48),
            nat=CloudNat(address_count=1),
            topology=Topology(job_placement=JobPlacement.PUBLIC),
        )
    assert error.value.field == "GcpNetworkProps.topology.job_placement"


def test_an_address_the_audit_cannot_place_is_reported_not_a_crash(stacks: dict[str, Synth]) -> None:
    """A rule naming an address known only after apply that is neither a NAT's nor the proxy's."""
    import copy

    from circleci_network.audit import audit_stack

    stack = copy.deepcopy(stacks["aws-v4.3"])
    rules = stack["resource"]["aws_vpc_security_group_egress_rule"]
    key = sorted(k for k, r in rules.items() if r["tags"]["circleci/rule"] == "nomad-clients-out-4647-circleci-proxy")[
        0
    ]
    rules[key]["cidr_ipv4"] = "${aws_eip.someone_elses.public_ip}/32"
    result = audit_stack(stack, "aws-v4.3")
    assert not result.ok
    assert any("aws_eip.someone_elses" in u and "cannot place" in u for u in result.unmodelled)


def test_a_public_proxy_without_nat_addresses_is_an_audit_error_not_a_crash(stacks: dict[str, Synth]) -> None:
    """NAT gateways managed elsewhere (or removed): the NAT path cannot be modelled, and the audit
    says which fact is missing instead of raising NatTranslation's ConfigurationError."""
    import copy

    from circleci_network.audit import AuditError, audit_stack

    stack = copy.deepcopy(stacks["aws-v4.3"])
    del stack["resource"]["aws_nat_gateway"]
    with pytest.raises(AuditError, match="no aws_nat_gateway"):
        audit_stack(stack, "aws-v4.3")
