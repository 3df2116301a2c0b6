"""The audit's flow search asks each view once per class of ports (engine.Verdicts) and the
network ACL pass works on port ranges: both must answer exactly as the plain search did, port
by port and address by address. The plain search lives here, as the reference."""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from ipaddress import IPv4Network
from typing import Any

import pytest

from circleci_network.audit.audit import intents
from circleci_network.audit.aws_nacl import (
    TARGETS,
    Acl,
    NetworkAcls,
    _covered,
    _Needs,
    _reply_any,
    _reply_spec,
    extra_differences,
)
from circleci_network.audit.aws_view import AwsView
from circleci_network.audit.engine import (
    OUTSIDE,
    Cells,
    Difference,
    FlowKey,
    Flows,
    Verdicts,
    cut,
    effective_flows,
    half_flows,
)
from circleci_network.audit.expected import ExpectedView, port_spec
from circleci_network.audit.facts import stack_policy
from circleci_network.audit.gcp_view import GcpView
from circleci_network.audit.public_addresses import public_placement
from circleci_network.audit.space import AddressCell, PortCell, PortSpec
from circleci_network.audit.views import Endpoint, NetworkView, Verdict
from circleci_network.model.resolve import ResolvedRule
from circleci_network.model.roles import COMPUTE_ROLES, Role
from circleci_network.model.rules import Direction, SourceKind
from tests.gke_stacks import with_gke_rules

Synth = dict[str, Any]


def _views(stack: Synth) -> tuple[NetworkView, ExpectedView, ExpectedView, Cells]:
    """The views and cells of ``stack``, built as ``audit_stack`` builds them."""
    (intent,) = intents(stack)
    public = public_placement(stack, intent)
    policy = stack_policy(stack, intent, public)
    actual: NetworkView = (
        AwsView(stack, intent, policy, public) if intent.cloud == "aws" else GcpView(stack, intent, policy, public)
    )
    for role, cidrs in intent.inputs.role_cidrs.items():
        if role in COMPUTE_ROLES and not actual.book.ranges.get(role):
            actual.book.ranges[role] = [IPv4Network(c) for c in cidrs]
    rendered = ExpectedView(intent, policy, actual.book)
    pure = ExpectedView(intent, policy, actual.book, as_rendered=False)
    return actual, rendered, pure, cut([actual, rendered, pure], actual.book)


def _stateless_blockers(view: NetworkView, cells: Cells, key: FlowKey, stateless: bool) -> tuple[str, ...]:
    """Every pair of addresses the flow covers, each through the ACLs' uncached pass."""
    if not (stateless and isinstance(view, AwsView) and view.acls.present):
        return ()
    parties = {role.value: role for role in cells.parties}
    src, dst = parties.get(key.source), parties.get(key.destination)
    if src is not None and dst is not None:
        senders = [
            Endpoint(src, c) for c in cells.parties[src] if view.ingress(dst, Endpoint(src, c), key.port).allowed
        ]
        receivers = [
            Endpoint(dst, c) for c in cells.parties[dst] if view.egress(src, Endpoint(dst, c), key.port).allowed
        ]
    elif src is not None:
        senders, receivers = [Endpoint(src, c) for c in cells.parties[src]], [Endpoint(None, key.outside)]  # type: ignore[arg-type]
    else:
        senders, receivers = [Endpoint(None, key.outside)], [Endpoint(dst, c) for c in cells.parties[dst]]  # type: ignore[arg-type, index]
    for sender, receiver in itertools.product(senders, receivers):
        if found := view.acls._blockers(sender, receiver, key.port, cells):
            return found
    return ()


def _plain_effective_flows(view: NetworkView, cells: Cells, *, stateless: bool = True) -> Flows:
    """Every port, every pair of roles, every address, straight from the view (with its ACLs
    unless told otherwise)."""
    flows: Flows = {}
    for port in cells.ports:
        for a in [r for r in cells.parties if r not in view.book.transparent]:
            for b, b_cells in cells.parties.items():
                if view.closed(a, "egress", port) or view.closed(b, "ingress", port):
                    continue
                out = next((v for c in b_cells if (v := view.egress(a, Endpoint(b, c), port)).allowed), None)
                into = next((v for c in cells.parties[a] if (v := view.ingress(b, Endpoint(a, c), port)).allowed), None)
                key = FlowKey(a.value, b.value, port)
                if out is not None and into is not None and not _stateless_blockers(view, cells, key, stateless):
                    flows[key] = tuple(dict.fromkeys(out.because + into.because))
            for c in cells.outside:
                verdict = view.egress(a, Endpoint(None, c), port)
                key = FlowKey(a.value, OUTSIDE, port, c)
                if verdict.allowed and not _stateless_blockers(view, cells, key, stateless):
                    flows[key] = verdict.because
        for b in cells.parties:
            if view.closed(b, "ingress", port):
                continue
            for c in cells.outside:
                verdict = view.ingress(b, Endpoint(None, c), port)
                key = FlowKey(OUTSIDE, b.value, port, c)
                if verdict.allowed and not _stateless_blockers(view, cells, key, stateless):
                    flows[key] = verdict.because
    return flows


def _plain_half_flows(view: NetworkView, cells: Cells) -> Flows:
    flows: Flows = {}
    for port in cells.ports:
        for role in [r for r in cells.parties if r not in view.book.transparent]:
            for other, other_cells in cells.parties.items():
                # Asked lazily, as _plain_effective_flows asks: a closed side or an earlier allowing cell
                # decides (the views' answers do not depend on what was asked before).
                if not view.closed(role, "egress", port) and (
                    out := next(
                        (v for c in other_cells if (v := view.egress(role, Endpoint(other, c), port)).allowed), None
                    )
                ):
                    flows[FlowKey(role.value, f"{other.value} (egress rule)", port)] = out.because
                if not view.closed(role, "ingress", port) and (
                    into := next(
                        (v for c in other_cells if (v := view.ingress(role, Endpoint(other, c), port)).allowed), None
                    )
                ):
                    flows[FlowKey(other.value, f"{role.value} (ingress rule)", port)] = into.because
    return flows


def _tampered_acls(stack: Synth) -> Synth:
    """A deny that cuts a port range in two and an allow for one outside address, ahead of the rest."""
    stack = copy.deepcopy(stack)
    rules = stack["resource"]["aws_network_acl_rule"]
    acl = next(iter(stack["resource"]["aws_network_acl"]))
    common = {"network_acl_id": f"${{aws_network_acl.{acl}.id}}", "protocol": "tcp"}
    rules["deny_some"] = {**common, "rule_number": 1, "egress": True, "rule_action": "deny"}
    rules["deny_some"] |= {"cidr_block": "0.0.0.0/0", "from_port": 30000, "to_port": 30100}
    rules["allow_one"] = {**common, "rule_number": 2, "egress": False, "rule_action": "allow"}
    rules["allow_one"] |= {"cidr_block": "198.51.100.7/32", "from_port": 1, "to_port": 65535}
    return stack


def _every_stack(
    reference_stacks: dict[str, Synth],
    shape_stacks: dict[str, Synth],
    gke_stacks: dict[str, Synth],
    v4_internet: dict[str, Synth],
) -> dict[str, Synth]:
    found = {**reference_stacks, **shape_stacks, **gke_stacks, **v4_internet}
    found["gcp-gke-private+gke-rules"] = with_gke_rules(gke_stacks["gcp-gke-private"])
    for name in [n for n in reference_stacks if "nacl" in n]:
        found[f"{name}+tampered"] = _tampered_acls(reference_stacks[name])
    return found


def test_the_flow_search_answers_as_the_plain_one_on_every_shape(
    reference_stacks: dict[str, Synth],
    shape_stacks: dict[str, Synth],
    gke_stacks: dict[str, Synth],
    aws_v4_internet: Synth,
    aws_v4_internet_endpoints: Synth,
    gcp_v4_internet: Synth,
) -> None:
    """Same flows, same resources, in the same order (reports list them in it), for the stack,
    the model as rendered and the pure model; and the same one-sided flows. The v4 internet-mode
    shapes put the NAT and proxy addresses at stand-ins the classes must tell apart."""
    v4_internet = {
        "aws-v4.3-internet": aws_v4_internet,
        "aws-v4.3-internet+endpoints": aws_v4_internet_endpoints,
        "gcp-v4.3-internet": gcp_v4_internet,
    }
    for name, stack in v4_internet.items():
        assert _views(stack)[0].book.nat is not None, name  # the NAT path is modelled: the shape is what it says
    stacks = _every_stack(reference_stacks, shape_stacks, gke_stacks, v4_internet)
    for name, stack in stacks.items():
        actual, rendered, pure, cells = _views(stack)
        for label, view in (("stack", actual), ("rendered", rendered), ("pure", pure)):
            plain = _plain_effective_flows(view, cells)
            assert list(effective_flows(Verdicts(view, cells)).items()) == list(plain.items()), (name, label)
        for label, view in (("stack", actual), ("rendered", rendered)):
            plain = _plain_half_flows(view, cells)
            assert list(half_flows(Verdicts(view, cells)).items()) == list(plain.items()), (name, label)
        if name.endswith("+tampered"):
            # The tampered ACLs refuse flows the security groups allow: the comparison saw refusals.
            stateful = _plain_effective_flows(actual, cells, stateless=False)
            assert _plain_effective_flows(actual, cells).keys() < stateful.keys(), name


@pytest.mark.parametrize("tamper", [False, True], ids=["as-built", "tampered"])
def test_the_flow_search_with_acls_answers_as_the_plain_one_on_the_eks_example(
    eks_nacl_example: Synth, tamper: bool
) -> None:
    """The stateless filters, kept per pair of addresses and shared by the flows and classes of
    ports whose pairs agree (``Verdicts.stateless_ports``), pass the plain search's flows on the
    EKS example's ACLs too (its control plane and proxy add ends of their own)."""
    stack = _tampered_acls(eks_nacl_example) if tamper else eks_nacl_example
    actual, _, _, cells = _views(stack)
    plain = _plain_effective_flows(actual, cells)
    assert list(effective_flows(Verdicts(actual, cells)).items()) == list(plain.items())
    if tamper:
        assert plain.keys() < _plain_effective_flows(actual, cells, stateless=False).keys()


@pytest.mark.parametrize("stack", ["circleci-aws-nacl", "circleci-aws-nacl-vpn", "circleci-aws-nacl-public-jobs"])
@pytest.mark.parametrize("tamper", [False, True], ids=["as-built", "tampered"])
def test_the_acl_pass_by_port_ranges_answers_as_the_one_by_port(
    reference_stacks: dict[str, Synth], stack: str, tamper: bool
) -> None:
    """``passes`` (worked out per class of addresses, for all ports at once, as ranges) is
    ``not _blockers`` (port by port, with the reasons) for every pair of ends and every port."""
    synth = _tampered_acls(reference_stacks[stack]) if tamper else reference_stacks[stack]
    view, _, _, cells = _views(synth)
    assert isinstance(view, AwsView)
    ends = [Endpoint(role, c) for role, cs in cells.parties.items() for c in cs]
    ends += [Endpoint(None, c) for c in cells.outside]
    refused = 0
    for source, destination in itertools.product(ends, ends):
        if source.role is None and destination.role is None:
            continue
        for port in cells.ports:
            reasons = view.acls._blockers(source, destination, port, cells)
            assert view.acls.passes(source, destination, port, cells) == (not reasons), (source, destination, port)
            refused += bool(reasons)
    assert refused


def _plain_needs(needs: _Needs, acl: Acl, egress: bool, cell: AddressCell) -> set[PortSpec]:
    """What the model needs ``acl`` to pass to/from ``cell``, for this one address: every rule
    matched afresh, every NAT client subnet and load balancer listener in turn."""
    acls = needs.acls

    def matching(role: Role, direction: Direction) -> list[ResolvedRule]:
        found = []
        for rule, _ in needs._side(role, direction):
            networks = needs.expected.rule_networks(rule)  # the networks themselves, not their spans
            if isinstance(rule.peer, Role) and not networks:
                if rule.peer in needs.owners.get(cell, set()):
                    found.append(rule)
            elif any(cell.within(n) for n in networks):
                found.append(rule)
        return found

    way, back = (Direction.EGRESS, Direction.INGRESS) if egress else (Direction.INGRESS, Direction.EGRESS)
    specs: set[PortSpec] = set()
    occupants = needs._occupy(acl)
    for role in occupants:
        specs |= {port_spec(p) for rule in matching(role, way) for p in rule.ports}
        specs |= {_reply_any(p) for rule in matching(role, back) for p in rule.ports}
    nat_subnets = {s for s, a in acls.subnet_acl.items() if a is acl}
    for subnet, routes in acls.nat_routes.items():
        if not any(nat in nat_subnets for _, nat in routes):
            continue
        client = acls.subnet_of(cell) == subnet
        for role in needs.living[subnet]:
            beyond = [r for r, _ in needs._side(role, Direction.EGRESS) if needs._beyond(r)]
            leaving = [r for r in matching(role, Direction.EGRESS) if r in beyond]
            if egress:
                specs |= {port_spec(p) for r in leaving for p in r.ports}
                specs |= {_reply_any(p) for r in beyond for p in r.ports} if client else set()
            else:
                specs |= {port_spec(p) for r in beyond for p in r.ports} if client else set()
                specs |= {_reply_any(p) for r in leaving for p in r.ports}
    owners = needs.owners.get(cell, set())
    for lb, listeners in acls.listeners.items():
        for listener in listeners:
            node_port = PortSpec("tcp", listener.target_port, listener.target_port)
            if TARGETS in occupants:
                at = PortCell("tcp", listener.port, listener.port)
                if listener.preserves_client:
                    sender = any(port_spec(p).matches(at) for r in matching(lb, Direction.INGRESS) for p in r.ports)
                else:
                    sender = lb in owners
                if sender:
                    specs.add(_reply_spec("tcp") if egress else node_port)
            if lb in occupants and TARGETS in owners:
                specs.add(node_port if egress else _reply_spec("tcp"))
    return specs


def _plain_acl_differences(acls: NetworkAcls, expected: ExpectedView, cells: Cells) -> list[Difference]:
    """Every ACL, direction, address and port in turn: the port passes when the ACL's first
    matching rule for that address allows it, and counts when the model does not need it."""
    needs = _Needs(acls, expected, cells)
    every = list(dict.fromkeys([c for cs in cells.parties.values() for c in cs] + cells.outside))
    grouped: dict[tuple[str, bool, str, tuple[str, ...]], list[tuple[AddressCell, PortCell]]] = defaultdict(list)
    for acl in acls.acls.values():
        for egress in (False, True):
            for cell in every:
                needed = _plain_needs(needs, acl, egress, cell)
                for port in cells.ports:
                    if any(spec.matches(port) for spec in needed):
                        continue
                    low, high = (0, 0) if port.protocol == "other" else (port.low, port.high)
                    applying = acls._applying(acl, egress, cell, port.protocol)
                    if NetworkAcls._first_match(applying, low, high, acl.resource) is not None:
                        continue
                    allowing = [r for r in acl.rules if r.egress is egress and r.allow and cell.within(r.network)]
                    because = tuple(dict.fromkeys(r.resource for r in allowing if r.spec.matches(port)))
                    grouped[(acl.label, egress, acls._who(cell), because)].append((cell, port))
    return extra_differences(grouped, acls.book.names)  # the same report format: only the search differs


def _acl_stacks(reference_stacks: dict[str, Synth], eks_nacl_example: Synth) -> dict[str, Synth]:
    found = {name: stack for name, stack in reference_stacks.items() if "nacl" in name}
    found["aws-eks-nacl"] = eks_nacl_example
    for name in list(found):
        found[f"{name}+tampered"] = _tampered_acls(found[name])
    return found


def test_the_acl_breadth_check_answers_as_the_plain_one_on_every_acl_shape(
    reference_stacks: dict[str, Synth], eks_nacl_example: Synth
) -> None:
    """``differences`` (per class of addresses, per set of an ACL's rules applying, for all
    ports at once) reports what the address-by-address, port-by-port pass reports."""
    tampered_extras = 0
    for name, stack in _acl_stacks(reference_stacks, eks_nacl_example).items():
        view, rendered, _, cells = _views(stack)
        assert isinstance(view, AwsView) and view.acls.present, name
        plain = _plain_acl_differences(view.acls, rendered, cells)
        assert view.acls.differences(rendered, cells) == plain, name
        if name.endswith("+tampered"):
            tampered_extras += any("198.51.100.7" in (d.outside or "") for d in plain)
    assert tampered_extras  # the tampered allow for one outside address is reported


def test_the_acl_ports_per_set_of_rules_answer_as_the_rules_do_per_address(
    reference_stacks: dict[str, Synth], eks_nacl_example: Synth
) -> None:
    """``_allowed`` (once per set of the ACL's rules that apply) against the first matching rule
    for each address and port; and ``passes`` against ``_blockers`` on the EKS example."""
    for name, stack in _acl_stacks(reference_stacks, eks_nacl_example).items():
        view, _, _, cells = _views(stack)
        assert isinstance(view, AwsView)
        acls = view.acls
        every = [c for cs in cells.parties.values() for c in cs] + cells.outside
        for acl, egress, cell, port in itertools.product(acls.acls.values(), (False, True), every, cells.ports):
            low, high = (0, 0) if port.protocol == "other" else (port.low, port.high)
            first = NetworkAcls._first_match(acls._applying(acl, egress, cell, port.protocol), low, high, "")
            assert _covered(acls._allowed(acl, egress, cell, port.protocol), low, high) == (first is None), name
        if name.startswith("aws-eks-nacl"):
            ends = [Endpoint(role, c) for role, cs in cells.parties.items() for c in cs]
            ends += [Endpoint(None, c) for c in cells.outside]
            for source, destination in itertools.product(ends, ends):
                if source.role is None and destination.role is None:
                    continue
                for port in cells.ports:
                    reasons = acls._blockers(source, destination, port, cells)
                    assert acls.passes(source, destination, port, cells) == (not reasons), (name, source, port)


def _plain_expected_decide(
    view: ExpectedView, on_port: list[tuple[ResolvedRule, list[IPv4Network]]], other: Endpoint
) -> Verdict:
    """The model's verdict rule by rule: ``on_port`` is the side's rules whose port specs match
    the port, each matched afresh (no index), with its peer's ranges; each peer matched afresh."""
    because = []
    for rule, networks in on_port:
        if other.role is Role.KUBERNETES_NODES and rule.rule_id in view._nodes_denied:
            continue
        if isinstance(rule.peer, Role) and not networks:
            if other.role is not rule.peer:
                continue
        elif not any(other.cell.within(n) for n in networks):
            continue
        because.append(f"{'platform rule' if rule.source_kind is SourceKind.PLATFORM else 'rule'} {rule.rule_id}")
    return Verdict(True, tuple(because)) if because else Verdict(False)


def _same_partition(keys: list[object], plain: list[object]) -> bool:
    return all((a == b) == (c == d) for (a, c), (b, d) in itertools.product(zip(keys, plain, strict=True), repeat=2))


def test_the_views_port_and_address_indexes_answer_as_the_rules_do(
    reference_stacks: dict[str, Synth], gke_stacks: dict[str, Synth], eks_nacl_example: Synth
) -> None:
    """The views find the rules matching a port by bisection over their bounds (``PortIndex``)
    and compare ranges as numbers: the same rules as matching every spec afresh, for the cut's
    cells and for cells across the bounds; the same classes; the model's same verdicts."""
    stacks = {**reference_stacks, "aws-eks-nacl": eks_nacl_example, **gke_stacks}
    for name, stack in stacks.items():
        actual, rendered, pure, cells = _views(stack)
        ports = list(cells.ports) + [
            PortCell(p, low, high) for p in ("tcp", "udp") for low, high in ((1, 65535), (0, 80), (443, 8443), (22, 22))
        ]
        sides = [(role, d) for role in cells.parties for d in ("egress", "ingress")]
        for role, d in sides:
            for view in (actual, rendered, pure):  # the flow search asks for a whole cut at once
                assert list(view.port_classes(role, d, ports)) == [view.port_class(role, d, p) for p in ports], name
            if isinstance(actual, AwsView):
                grants = [g for g in actual.grants if g.role is role and g.direction == d]
                for port in ports:
                    assert list(actual._grants(role, d, port)) == [g for g in grants if g.spec.matches(port)], name
                # A transparent load balancer's ingress is its nodes'.
                behind = Role.KUBERNETES_NODES if d == "ingress" and role in actual.book.transparent else role
                spanned = [g for g in actual.grants if g.role is behind and g.direction == d and g.peer_network]
                plain = [tuple(id(g) for g in spanned if c.within(g.peer_network)) for c in cells.outside]  # type: ignore[arg-type]
                assert _same_partition([actual.address_class(role, d, c) for c in cells.outside], plain), name
            side = Direction.INGRESS if d == "ingress" else Direction.EGRESS
            for view in (rendered, pure):
                rules = [r for r in view.rules if r.role is role and r.direction is side]
                others = [Endpoint(r, c) for r, cs in cells.parties.items() for c in cs[:3]]
                others += [Endpoint(None, c) for c in cells.outside[:40]]
                for port in ports:
                    found = [e.rule for e in view._on_port(role, side, port)[0]]
                    matching = [r for r in rules if any(port_spec(p).matches(port) for p in r.ports)]
                    assert found == matching, name
                    # The port's rules once per port, not once per peer: ~3x faster, the same verdicts.
                    on_port = [(r, view.rule_networks(r)) for r in matching]
                    for other in others:
                        plain_verdict = _plain_expected_decide(view, on_port, other)
                        assert view._decide(role, side, other, port) == plain_verdict, (name, role, d, port)
                behind = Role.KUBERNETES_NODES if d == "ingress" and role in view.book.transparent else role
                spanned_rules = [r for r in view.rules if r.role is behind and r.direction is side]
                plain = [
                    tuple(id(r) for r in spanned_rules if any(c.within(n) for n in view.rule_networks(r)))
                    for c in cells.outside
                ]
                assert _same_partition([view.address_class(role, d, c)[1:] for c in cells.outside], plain), name
