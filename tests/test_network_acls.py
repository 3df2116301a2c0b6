"""Network ACLs: one per subnet tier, mirroring the security groups' rules with their replies,
the default ACL emptied; the audit checks requests and replies through them, and that they
open nothing the model does not need."""

from __future__ import annotations

import copy
import itertools
from ipaddress import IPv4Network
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network import ConfigurationError, ExtraEgressRule, HardeningOptions, Port, Protocol, Role
from circleci_network.audit import StackAudit, assert_matches_spec, audit_stack
from circleci_network.audit.audit import intents
from circleci_network.audit.aws_nacl import Acl
from circleci_network.audit.aws_view import AwsView
from circleci_network.audit.engine import Cells, cut, matrix
from circleci_network.audit.expected import ExpectedView
from circleci_network.audit.facts import stack_policy
from circleci_network.audit.public_addresses import public_placement
from circleci_network.audit.space import AddressCell
from circleci_network.audit.views import Endpoint

aws = pytest.importorskip("circleci_network.aws")
from circleci_network.aws.nacl_compactor import AclEntry, compact, rule_numbers  # noqa: E402
from circleci_network.aws.network_acls import NetworkAclProps  # noqa: E402
from circleci_network.aws.vpc import SubnetTier, VpcProps  # noqa: E402

Synth = dict[str, Any]
ACL_KINDS = ("aws_default_network_acl", "aws_network_acl", "aws_network_acl_rule")
NACL_STACKS = ("circleci-aws-nacl", "circleci-aws-nacl-vpn", "circleci-aws-nacl-public-jobs")


@pytest.fixture(scope="module")
def nacl(reference_stacks: dict[str, Synth]) -> Synth:
    return reference_stacks["circleci-aws-nacl"]


@pytest.fixture(scope="module")
def nacl_vpn(reference_stacks: dict[str, Synth]) -> Synth:
    return reference_stacks["circleci-aws-nacl-vpn"]


def _resources(stack: Synth, kind: str) -> dict[str, Synth]:
    return stack["resource"].setdefault(kind, {})


def _acl(stack: Synth, tier: str) -> str:
    (name,) = [n for n, acl in _resources(stack, "aws_network_acl").items() if acl["tags"]["circleci/tier"] == tier]
    return name


def _rule(stack: Synth, tier: str, *, egress: bool, protocol: str, from_port: int, cidr: str) -> str:
    ref = f"${{aws_network_acl.{_acl(stack, tier)}.id}}"
    (name,) = [
        n
        for n, r in _resources(stack, "aws_network_acl_rule").items()
        if r["network_acl_id"] == ref
        and r["egress"] is egress
        and r["protocol"] == protocol
        and r.get("from_port") == from_port
        and r["cidr_block"] == cidr
    ]
    return name


def _only(result: StackAudit, kind: str) -> list[str]:
    return [str(d) for d in result.differences if d.kind == kind]


# -- the synthesized ACLs ------------------------------------------------------------------


def test_snapshot(nacl: Synth, snapshot: SnapshotAssertion) -> None:
    """The ACLs only: the rest of the stack is the reference's (tests/test_aws_synth.py)."""
    acls = {kind: nacl["resource"][kind] for kind in ACL_KINDS}
    assert acls == snapshot.use_extension(JSONSnapshotExtension)


def test_off_by_default(aws_reference: Synth) -> None:
    for kind in ACL_KINDS:
        assert kind not in aws_reference["resource"]


@pytest.mark.parametrize("stack", NACL_STACKS)
def test_one_acl_per_tier_tagged_and_holding_exactly_its_subnets(
    reference_stacks: dict[str, Synth], stack: str
) -> None:
    synth = reference_stacks[stack]
    acls = _resources(synth, "aws_network_acl")
    assert sorted(a["tags"]["circleci/tier"] for a in acls.values()) == sorted(t.value for t in SubnetTier)
    for acl in acls.values():
        tier = acl["tags"]["circleci/tier"]
        assert acl["tags"]["Name"].endswith(tier)
        subnets = {
            f"${{aws_subnet.{n}.id}}"
            for n, s in _resources(synth, "aws_subnet").items()
            if s["tags"]["circleci/tier"] == tier
        }
        assert set(acl["subnet_ids"]) == subnets and len(subnets) >= 2


def test_default_acl_is_adopted_and_left_without_rules(nacl: Synth, nacl_vpn: Synth) -> None:
    (default,) = _resources(nacl, "aws_default_network_acl").values()
    assert default["default_network_acl_id"].startswith("${aws_vpc.")
    assert "ingress" not in default and "egress" not in default
    assert default["lifecycle"] == {"ignore_changes": ["subnet_ids"]}
    # An existing VPC's default ACL may serve other subnets: it is left alone.
    assert "aws_default_network_acl" not in nacl_vpn["resource"]


@pytest.mark.parametrize("stack", NACL_STACKS)
def test_rules_allow_only_with_unique_numbers_within_quota(reference_stacks: dict[str, Synth], stack: str) -> None:
    per_side: dict[tuple[str, bool], list[int]] = {}
    for rule in _resources(reference_stacks[stack], "aws_network_acl_rule").values():
        assert rule["rule_action"] == "allow" and 100 <= rule["rule_number"] <= 32766
        per_side.setdefault((rule["network_acl_id"], rule["egress"]), []).append(rule["rule_number"])
    assert len(per_side) == 8
    for numbers in per_side.values():
        assert len(numbers) == len(set(numbers)) and len(numbers) <= 20


@pytest.mark.parametrize("stack", NACL_STACKS)
def test_the_world_never_reaches_22_or_3389(reference_stacks: dict[str, Synth], stack: str) -> None:
    for rule in _resources(reference_stacks[stack], "aws_network_acl_rule").values():
        if not rule["egress"] and rule["cidr_block"] == "0.0.0.0/0":
            assert rule["protocol"] != "-1"
            assert not any(rule["from_port"] <= port <= rule["to_port"] for port in (22, 3389)), rule


def test_the_reference_acls_are_few_and_wide(nacl: Synth) -> None:
    """With all of IPv4 as "External", replies from the world cover the internal rules."""
    nomad = f"${{aws_network_acl.{_acl(nacl, 'nomad-clients')}.id}}"
    ingress = sorted(
        (r["protocol"], r["cidr_block"], r["from_port"], r["to_port"])
        for r in _resources(nacl, "aws_network_acl_rule").values()
        if r["network_acl_id"] == nomad and not r["egress"]
    )
    assert ingress == [
        ("tcp", "0.0.0.0/0", 1024, 3388),
        ("tcp", "0.0.0.0/0", 3390, 65535),
        ("udp", "10.0.0.2/32", 1024, 65535),  # replies from the VPC resolver
    ]


# -- the audit -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", NACL_STACKS)
def test_audit_clean(reference_stacks: dict[str, Synth], stack: str) -> None:
    result = assert_matches_spec(reference_stacks[stack], stack)
    assert result.flows.keys() == result.expected.keys() and result.flows


def test_acls_change_no_flow(reference_stacks: dict[str, Synth]) -> None:
    plain = matrix(audit_stack(reference_stacks["circleci-aws"]).flows)
    filtered = matrix(audit_stack(reference_stacks["circleci-aws-nacl"]).flows)
    assert (filtered.between, filtered.outside) == (plain.between, plain.outside)


def test_missing_reply_rule_is_reported_naming_the_acl(nacl_vpn: Synth) -> None:
    stack = copy.deepcopy(nacl_vpn)
    # Replies from the egress proxy to the Nomad clients.
    name = _rule(stack, "nomad-clients", egress=False, protocol="tcp", from_port=1024, cidr="198.51.100.7/32")
    del _resources(stack, "aws_network_acl_rule")[name]
    result = audit_stack(stack)
    missing = _only(result, "missing")
    acl = f"aws_network_acl.{_acl(stack, 'nomad-clients')}"
    https = [
        m for m in missing if m.startswith("MISSING: nomad-clients -> outside (198.51.100.7/32)") and "tcp/443" in m
    ]
    assert https and all(
        f"{acl} (nomad-clients network ACL): ingress from outside tcp/1024-3388, tcp/3390-65535" in m for m in https
    )
    assert all("reply to request" in m for m in https)
    assert not _only(result, "extra")


def test_missing_reply_from_the_world_is_reported(nacl: Synth) -> None:
    stack = copy.deepcopy(nacl)
    name = _rule(stack, "external-vms", egress=False, protocol="tcp", from_port=3390, cidr="0.0.0.0/0")
    del _resources(stack, "aws_network_acl_rule")[name]
    missing = _only(audit_stack(stack), "missing")
    acl = f"aws_network_acl.{_acl(stack, 'external-vms')}"
    assert all(acl in m for m in missing)
    replies = [m for m in missing if m.startswith("MISSING: external-vms -> outside") and "tcp/443" in m]
    assert replies and all("tcp/3390-65535, reply to request" in m for m in replies)
    # Rerun-with-SSH had been merged into the same rule: it goes too.
    assert any(m.startswith("MISSING: outside -> external-vms") and "tcp/64535-65535" in m for m in missing)


def test_world_ssh_rule_is_an_acl_difference_but_opens_no_flow(nacl: Synth) -> None:
    stack = copy.deepcopy(nacl)
    _resources(stack, "aws_network_acl_rule")["hand_made_ssh"] = {
        "network_acl_id": f"${{aws_network_acl.{_acl(stack, 'nomad-clients')}.id}}",
        "rule_number": 50,
        "egress": False,
        "protocol": "tcp",
        "rule_action": "allow",
        "cidr_block": "0.0.0.0/0",
        "from_port": 22,
        "to_port": 22,
    }
    result = audit_stack(stack)
    # The security groups still refuse SSH: no effective flow changes ...
    assert result.flows.keys() == result.expected.keys()
    # ... but the ACL is broader than the model needs, and the audit says which rule.
    extra = _only(result, "extra")
    assert any(
        e.startswith("EXTRA: outside -> nomad-clients network ACL (ingress) (") and "tcp/22;" in e for e in extra
    )
    assert all(e.endswith("aws_network_acl_rule.hand_made_ssh") for e in extra) and not result.ok


def test_a_rule_in_the_default_acl_is_caught(nacl: Synth) -> None:
    stack = copy.deepcopy(nacl)
    (name, default), *_ = _resources(stack, "aws_default_network_acl").items()
    default["ingress"] = [{"rule_no": 100, "action": "allow", "protocol": "-1", "cidr_block": "0.0.0.0/0"}]
    extra = _only(audit_stack(stack), "extra")
    assert any(e.startswith("EXTRA: outside -> default network ACL (ingress)") for e in extra)
    assert all(e.endswith(f"aws_default_network_acl.{name}") for e in extra)


def test_a_subnet_left_on_the_default_acl_loses_its_flows(nacl: Synth) -> None:
    stack = copy.deepcopy(nacl)
    acl = _resources(stack, "aws_network_acl")[_acl(stack, "external-vms")]
    acl["subnet_ids"] = acl["subnet_ids"][1:]
    (default,) = _resources(stack, "aws_default_network_acl")
    missing = _only(audit_stack(stack), "missing")
    assert any(m.startswith("MISSING: k8s-nodes -> external-vms tcp/2376") for m in missing)
    assert all(f"aws_default_network_acl.{default} (default network ACL)" in m for m in missing)


def test_nat_gateway_transit_is_checked(nacl: Synth) -> None:
    stack = copy.deepcopy(nacl)
    name = _rule(stack, "public", egress=True, protocol="tcp", from_port=443, cidr="0.0.0.0/0")
    del _resources(stack, "aws_network_acl_rule")[name]
    missing = _only(audit_stack(stack), "missing")
    roles = {m.split(" -> ")[0].removeprefix("MISSING: ") for m in missing}
    assert roles == {"k8s-nodes", "nomad-clients", "external-vms"}
    assert all("tcp/443" in m and "egress to outside tcp/443, request via the NAT gateway" in m for m in missing)


def test_the_client_address_kept_by_a_load_balancer_is_checked(nacl_vpn: Synth) -> None:
    stack = copy.deepcopy(nacl_vpn)
    name = _rule(stack, "k8s-nodes", egress=False, protocol="tcp", from_port=30443, cidr="203.0.113.0/24")
    del _resources(stack, "aws_network_acl_rule")[name]
    (missing,) = _only(audit_stack(stack), "missing")
    assert missing.startswith("MISSING: outside -> frontend-external (203.0.113.0/24) tcp/443")
    assert "ingress from outside tcp/30443, frontend-external forwarding to its targets on 30443" in missing


def test_an_explicit_deny_is_named(nacl: Synth) -> None:
    stack = copy.deepcopy(nacl)
    _resources(stack, "aws_network_acl_rule")["no_docker"] = {
        "network_acl_id": f"${{aws_network_acl.{_acl(stack, 'external-vms')}.id}}",
        "rule_number": 1,
        "egress": False,
        "protocol": "tcp",
        "rule_action": "deny",
        "cidr_block": "10.0.48.0/20",  # the first Nomad client subnet
        "from_port": 2376,
        "to_port": 2376,
    }
    (missing,) = _only(audit_stack(stack), "missing")
    assert missing.startswith("MISSING: nomad-clients -> external-vms tcp/2376")
    assert "aws_network_acl_rule.no_docker" in missing


def _view_and_cells(stack: Synth) -> tuple[AwsView, Cells]:
    """The audit's own view of ``stack`` and its cells, built as ``audit_stack`` builds them."""
    (intent,) = intents(stack)
    public = public_placement(stack, intent)
    policy = stack_policy(stack, intent, public)
    view = AwsView(stack, intent, policy, public)
    rendered = ExpectedView(intent, policy, view.book)
    pure = ExpectedView(intent, policy, view.book, as_rendered=False)
    return view, cut([view, rendered, pure], view.book)


def _tampered(stack: Synth) -> Synth:
    """A reply rule gone and a deny inserted: the pass must also answer "blocked" per class."""
    stack = copy.deepcopy(stack)
    rules = _resources(stack, "aws_network_acl_rule")
    ref = f"${{aws_network_acl.{_acl(stack, 'nomad-clients')}.id}}"
    replies = [
        n for n, r in rules.items() if r["network_acl_id"] == ref and not r["egress"] and r.get("from_port") == 1024
    ]
    del rules[replies[0]]
    rules["deny_https"] = {
        "network_acl_id": f"${{aws_network_acl.{_acl(stack, 'k8s-nodes')}.id}}",
        "rule_number": 1,
        "egress": True,
        "protocol": "tcp",
        "rule_action": "deny",
        "cidr_block": "10.0.0.0/8",
        "from_port": 443,
        "to_port": 443,
    }
    return stack


def _first_match_reference(acl: Acl, egress: bool, cell: AddressCell, protocol: str, low: int, high: int) -> str | None:
    """The ACL pass's decision as it was before it was indexed: every rule, every time."""
    remaining = [(low, high)]
    for rule in acl.rules:  # lowest number first
        if rule.egress is not egress or rule.spec.protocol not in ("all", protocol):
            continue
        if not (cell.within(rule.network) or (not rule.allow and cell.overlaps(rule.network))):
            continue
        lo, hi = (0, 65535) if rule.spec.protocol in ("all", "other") else (rule.spec.low, rule.spec.high)
        if not any(a <= hi and lo <= b for a, b in remaining):
            continue
        if not rule.allow:
            return rule.resource
        remaining = [p for a, b in remaining for p in ((a, min(b, lo - 1)), (max(a, hi + 1), b)) if p[0] <= p[1]]
        if not remaining:
            return None
    return acl.resource


@pytest.mark.parametrize("tamper", [False, True], ids=["as-built", "tampered"])
@pytest.mark.parametrize("stack", NACL_STACKS)
def test_the_memoised_acl_pass_answers_as_the_uncached_one(
    reference_stacks: dict[str, Synth], stack: str, tamper: bool
) -> None:
    """The pass answers once per class of addresses and indexes each ACL's rules per cell: for
    every pair of ends and every port, the memoised answer is the one worked out afresh, and
    every indexed decision is the plain first-match one."""
    synth = _tampered(reference_stacks[stack]) if tamper else reference_stacks[stack]
    view, cells = _view_and_cells(synth)
    acls = view.acls
    ends = [Endpoint(role, c) for role, cs in cells.parties.items() for c in cs]
    ends += [Endpoint(None, c) for c in cells.outside]
    blocked = 0
    for source, destination in itertools.product(ends, ends):
        if source.role is None and destination.role is None:
            continue
        for port in cells.ports:
            memoised = acls.blockers(source, destination, port, cells)
            assert memoised == acls._blockers(source, destination, port, cells), (source, destination, port)
            blocked += bool(memoised)
    assert blocked  # the check saw refusals too, not only passes
    for acl in acls.acls.values():
        for egress, cell, port in itertools.product((False, True), [e.cell for e in ends], cells.ports):
            low, high = (0, 0) if port.protocol == "other" else (port.low, port.high)
            expected = _first_match_reference(acl, egress, cell, port.protocol, low, high)
            assert acls.decide(acl, egress, cell, port.protocol, low, high) == expected


# -- the plan, in pure Python ----------------------------------------------------------------

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def _props(**kwargs: Any) -> NetworkAclProps:
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
        **kwargs,
    )


MANY = tuple(f"198.51.{i}.0/24" for i in range(0, 40, 2))


def test_over_quota_names_the_field_and_the_fix() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _props(hardening=HardeningOptions(external_cidrs=MANY))
    error = caught.value
    assert error.field == "NetworkAclProps.rules_per_acl_quota"
    assert "network ACL needs" in error.problem and "over the quota of 20" in error.problem
    assert "external_cidrs" in error.fix and "AwsNetworkProps.network_acl_rules_quota" in error.fix


def test_quota_is_at_most_40() -> None:
    with pytest.raises(ConfigurationError, match="at most 40"):
        _props(rules_per_acl_quota=41)


def test_numbers_are_deterministic_and_stable_when_a_rule_is_added() -> None:
    before = _props().plan()
    again = _props().plan()
    extra = ExtraEgressRule("ldaps", Role.NOMAD_CLIENTS, Port.tcp(636), ("172.16.8.0/22",), "Directory")
    after = _props(hardening=HardeningOptions(extra_egress=(extra,))).plan()
    for tier in SubnetTier:
        assert rule_numbers(before[tier]) == rule_numbers(again[tier])
        old, new = rule_numbers(before[tier]), rule_numbers(after[tier])
        kept = set(old) & set(new)
        assert kept and all(old[e] == new[e] for e in kept)
    assert len(after[SubnetTier.NOMAD_CLIENTS]) > len(before[SubnetTier.NOMAD_CLIENTS])


def test_replies_never_add_a_rule_for_3389_alone() -> None:
    for entries in _props().plan().values():
        assert not [e for e in entries if (e.from_port, e.to_port) == (3389, 3389)]


def _allowed(
    entries: tuple[AclEntry, ...] | set[AclEntry], egress: bool, address: int, protocol: Protocol, port: int
) -> bool:
    return any(
        e.egress is egress
        and (e.protocol is Protocol.ALL or (e.protocol is protocol and e.from_port <= port <= e.to_port))
        and int(e.network.network_address) <= address <= int(e.network.broadcast_address)
        for e in entries
    )


NETWORKS = ["0.0.0.0/0", "10.0.0.0/16", "10.0.0.0/17", "10.0.128.0/17", "10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
# Every boundary of the networks above, and its neighbours: the merged rules must agree there.
PROBES = sorted(
    x
    for x in {
        int(a) + d
        for n in map(IPv4Network, NETWORKS)
        for a in (n.network_address, n.broadcast_address)
        for d in (-1, 0, 1)
    }
    if 0 <= x < 1 << 32
)
networks = st.sampled_from(NETWORKS)
entries = st.builds(
    lambda egress, protocol, network, low, width: AclEntry(
        egress,
        protocol,
        IPv4Network(network),
        *((0, 65535) if protocol is Protocol.ALL else (low, min(low + width, 65535))),
    ),
    st.booleans(),
    st.sampled_from([Protocol.TCP, Protocol.TCP, Protocol.UDP, Protocol.ALL]),
    networks,
    st.sampled_from([22, 53, 80, 443, 1024, 3000, 3389, 30000]),
    st.sampled_from([0, 1, 100, 2000, 40000]),
)


@settings(max_examples=200, deadline=None)
@given(st.sets(entries, max_size=10))
def test_merging_keeps_exactly_the_same_addresses_and_ports(given_entries: set[AclEntry]) -> None:
    merged = compact(given_entries)
    assert len(merged) <= len(given_entries)
    ports = {p + d for e in given_entries for p in (e.from_port, e.to_port) for d in (-1, 0, 1)}
    for egress, address, protocol, port in itertools.product(
        (False, True), PROBES, (Protocol.TCP, Protocol.UDP), sorted(ports)
    ):
        assert _allowed(merged, egress, address, protocol, port) == _allowed(
            given_entries, egress, address, protocol, port
        )
