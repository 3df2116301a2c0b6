"""The rule table is complete against the guide, and holds nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from circleci_network import SPEC_RULES, Direction, HardeningOptions, OutsidePeer, Port, Role, active_rules
from circleci_network.model.ports import ALL_TRAFFIC, WELL_KNOWN_PORTS
from circleci_network.model.roles import COMPUTE_ROLES, LOAD_BALANCERS
from circleci_network.model.rules import CustomPeer, SpecSection, TrafficRule
from tests.spec_tables import SPEC, SpecRow, read_rows

SECTION_ROLE = {
    "Kubernetes Nodes": Role.KUBERNETES_NODES,
    "Nomad Clients": Role.NOMAD_CLIENTS,
    "External VMs": Role.EXTERNAL_VMS,
}
LB_NAMES = {
    "frontend-external": Role.FRONTEND_LB,
    "*-server-traefik": Role.TRAEFIK_LB,
    "vm-service": Role.VM_SERVICE_LB,
    "nomad": Role.NOMAD_LB,
    "output-processor": Role.OUTPUT_PROCESSOR_LB,
}
PARTIES = {
    "K8s nodes": Role.KUBERNETES_NODES,
    "other nodes": Role.KUBERNETES_NODES,
    "Nomad clients": Role.NOMAD_CLIENTS,
    "VMs": Role.EXTERNAL_VMS,
    "VM Service load balancers": Role.VM_SERVICE_LB,
    "Nomad Load Balancer": Role.NOMAD_LB,
    "Output Processor Load Balancer": Role.OUTPUT_PROCESSOR_LB,
}


def _port(text: str) -> Port:
    if text == "all traffic":
        return ALL_TRAFFIC
    low, _, high = text.partition("-")
    return Port.tcp_range(int(low), int(high or low))


def _expected(row: SpecRow) -> tuple[Role, Direction, Port, object]:
    """(role holding the rule, direction, port, peer) as the guide's row states it."""
    direction = Direction(row.part.lower())
    party = row.cells.get("Source") or row.cells["Destination"]
    if row.section == "Kubernetes Load Balancers":
        role = LB_NAMES[row.cells["Name"]]
        peer: object = OutsidePeer.CLIENTS if party == "External" else PARTIES[party]
    else:
        role = SECTION_ROLE[row.section]
        peer = OutsidePeer.RERUN_SSH_CLIENTS if party == "External" else PARTIES[party]
    return role, direction, _port(row.cells["Port"]), peer


ROWS = read_rows()


def test_the_guide_has_the_tables_we_expect() -> None:
    assert len(ROWS) == 7 + 3 + 2 + 4 + 5  # LB ingress, K8s egress, Nomad in/out, VM ingress


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.section}/{r.part}/{'/'.join(r.cells.values())}")
def test_every_table_row_is_exactly_one_rule(row: SpecRow) -> None:
    role, direction, port, peer = _expected(row)
    matches = [
        r
        for r in SPEC_RULES
        if r.from_table and r.role is role and r.direction is direction and r.peer == peer and port in r.ports
    ]
    assert len(matches) == 1, f"{row} -> {matches}"
    assert matches[0].purpose == row.cells["Purpose"]
    assert matches[0].section.value.startswith(row.section)


def test_every_table_rule_comes_from_a_row() -> None:
    expected = {_expected(row) for row in ROWS}
    for rule in SPEC_RULES:
        if rule.from_table:
            for port in rule.ports:
                assert (rule.role, rule.direction, port, rule.peer) in expected, rule.rule_id


def test_prose_rules_are_exactly_the_guides_prose() -> None:
    prose = {(r.role, r.direction, p, r.peer) for r in SPEC_RULES if not r.from_table for p in r.ports}
    wanted: set[tuple[Role, Direction, Port, object]] = set()
    for lb in LOAD_BALANCERS:  # LB egress to the node ports, and the nodes' matching ingress
        wanted.add((lb, Direction.EGRESS, WELL_KNOWN_PORTS["kubernetes-node-ports-tcp"], Role.KUBERNETES_NODES))
        wanted.add((Role.KUBERNETES_NODES, Direction.INGRESS, WELL_KNOWN_PORTS["kubernetes-node-ports-tcp"], lb))
    wanted.add((Role.KUBERNETES_NODES, Direction.INGRESS, ALL_TRAFFIC, Role.KUBERNETES_NODES))
    for role in COMPUTE_ROLES:
        wanted.add((role, Direction.INGRESS, WELL_KNOWN_PORTS["ssh-tcp"], OutsidePeer.SSH_ADMINISTRATORS))
        wanted.add((role, Direction.EGRESS, WELL_KNOWN_PORTS["dns-udp"], OutsidePeer.DNS_RESOLVER))
        wanted.add((role, Direction.EGRESS, WELL_KNOWN_PORTS["dns-tcp"], OutsidePeer.DNS_RESOLVER))
        wanted.add((role, Direction.EGRESS, WELL_KNOWN_PORTS["http-tcp"], OutsidePeer.INTERNET))
        wanted.add((role, Direction.EGRESS, WELL_KNOWN_PORTS["https-tcp"], OutsidePeer.INTERNET))
    for role in (Role.NOMAD_CLIENTS, Role.EXTERNAL_VMS):
        wanted.add((role, Direction.EGRESS, WELL_KNOWN_PORTS["ssh-tcp"], OutsidePeer.VCS))
    for role in (Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS):
        wanted.add((role, Direction.EGRESS, WELL_KNOWN_PORTS["ssh-tcp"], Role.EXTERNAL_VMS))
    assert prose == wanted


def test_rule_ids_are_unique_and_stable_in_form() -> None:
    ids = [r.rule_id for r in SPEC_RULES]
    assert len(ids) == len(set(ids))
    assert all(i == i.lower() and " " not in i for i in ids)


def test_no_job_instance_talks_to_its_own_kind() -> None:
    for rule in SPEC_RULES:
        if rule.role in (Role.NOMAD_CLIENTS, Role.EXTERNAL_VMS):
            assert rule.peer is not rule.role, rule.rule_id


def _pairs(rules: tuple[TrafficRule, ...]) -> tuple[set[tuple[Role, Role, Port]], set[tuple[Role, Role, Port]]]:
    egress = {
        (r.role, r.peer, p)
        for r in rules
        if r.direction is Direction.EGRESS and isinstance(r.peer, Role)
        for p in r.ports
    }
    ingress = {
        (r.peer, r.role, p)
        for r in rules
        if r.direction is Direction.INGRESS and isinstance(r.peer, Role)
        for p in r.ports
    }
    return egress, ingress  # type: ignore[return-value]


def test_every_internal_flow_is_allowed_at_both_ends() -> None:
    """Stateful rules: a flow between two roles needs the source's egress and the
    destination's ingress. Every internal rule of the model has its other half."""
    egress, ingress = _pairs(active_rules(HardeningOptions()))
    assert egress == ingress


def test_defaults_open_no_ssh_from_outside_and_no_all_ports_egress_to_the_internet() -> None:
    rules = active_rules(HardeningOptions())
    assert not [r for r in rules if r.peer is OutsidePeer.SSH_ADMINISTRATORS]
    for rule in rules:
        if rule.direction is Direction.EGRESS and not isinstance(rule.peer, Role):
            assert ALL_TRAFFIC not in rule.ports


def test_ssh_administration_appears_only_when_asked() -> None:
    rules = active_rules(HardeningOptions(ssh_administrator_cidrs=("198.51.100.0/24",)))
    admin = [r for r in rules if r.peer is OutsidePeer.SSH_ADMINISTRATORS]
    assert {r.role for r in admin} == set(COMPUTE_ROLES)
    assert len(rules) == len(active_rules(HardeningOptions())) + 3


def test_rerun_with_ssh_can_be_turned_off() -> None:
    rules = active_rules(HardeningOptions(rerun_ssh_cidrs=()))
    assert not [r for r in rules if r.peer is OutsidePeer.RERUN_SSH_CLIENTS]


def test_transparent_load_balancers_move_their_ingress_to_the_nodes() -> None:
    rules = active_rules(HardeningOptions(), transparent_load_balancers=True)
    assert not [r for r in rules if r.role.is_load_balancer]
    node_in = {
        (p, r.peer)
        for r in rules
        if r.role is Role.KUBERNETES_NODES and r.direction is Direction.INGRESS
        for p in r.ports
    }
    for lb_rule in SPEC_RULES:
        if lb_rule.section is SpecSection.LB_INGRESS:
            assert (lb_rule.ports[0], lb_rule.peer) in node_in
    assert (WELL_KNOWN_PORTS["kubernetes-node-ports-tcp"], OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS) in node_in


def test_extra_egress_is_added_as_described() -> None:
    from circleci_network import ExtraEgressRule

    extra = ExtraEgressRule("artifactory", Role.NOMAD_CLIENTS, Port.tcp(8081), ("10.20.0.0/24",), "Artifact cache")
    rules = active_rules(HardeningOptions(extra_egress=(extra,)))
    added = [r for r in rules if isinstance(r.peer, CustomPeer)]
    assert len(added) == 1 and added[0].rule_id == "nomad-clients-out-extra-artifactory"
    assert added[0].section is SpecSection.USER_EXTRA_EGRESS


def test_descriptions_name_the_guide_and_fit_aws() -> None:
    for rule in SPEC_RULES:
        assert "spec:" in rule.description and len(rule.description) <= 255


def test_spec_copy_matches_the_shared_reference() -> None:
    shared = SPEC.parent.parent.parent / "shared" / "reference" / SPEC.name
    if not shared.exists():
        pytest.skip(f"{shared} is not beside this checkout; the copy in spec/ is used")
    assert Path(shared).read_text() == SPEC.read_text()
