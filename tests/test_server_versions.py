"""Server version profiles: each table row by row against shared/reference/server-v4-hardening.md,
the options only some versions have, and what moving between profiles changes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circleci_network import HardeningOptions, active_rules
from circleci_network.errors import ConfigurationError
from circleci_network.model.ports import RERUN_WITH_SSH, VM_RERUN_WITH_SSH
from circleci_network.model.rules import SEED_DOCUMENT, SPEC_RULES, SourceKind, TrafficRule, peer_name
from circleci_network.model.server_versions import PROFILES, ServerVersion, ServerVersionId

SEED, V3, V40, V43, V48 = (
    ServerVersionId.V3_SEED,
    ServerVersionId.V3,
    ServerVersionId.V4_0,
    ServerVersionId.V4_3,
    ServerVersionId.V4_8,
)
ALL = frozenset(ServerVersionId)
# v4.8's table is v4.3's: "4.7-4.9 tables identical", 4.10 likewise (reference note (c)).
V3_ERA, V4 = frozenset({SEED, V3}), frozenset({V40, V43, V48})
LBS_V3 = ("server-traefik", "vm-service", "nomad", "output-processor")

Flow = tuple[str, str, str, str]  # role, direction, port label, peer

#: (profiles that hold it, flow, where the reference note states it). Transcribed by hand
#: from the note, independently of the library's tables.
ROWS: list[tuple[frozenset[ServerVersionId], Flow, str]] = [
    # v3 load balancers: "frontend-external 80/443 removed" on the v3 page (7226b5d).
    (frozenset({SEED}), ("frontend-external", "ingress", "tcp/80", "clients"), "(b) frontend-external 80/443"),
    (frozenset({SEED}), ("frontend-external", "ingress", "tcp/443", "clients"), "(b) frontend-external 80/443"),
    (frozenset({SEED}), ("frontend-external", "egress", "tcp/30000-32767", "k8s-nodes"), "(b) LB egress 30000-32767"),
    (frozenset({SEED}), ("k8s-nodes", "ingress", "tcp/30000-32767", "frontend-external"), "(a) K8s in 30000-32767 LBs"),
    (V3_ERA, ("server-traefik", "ingress", "tcp/80", "clients"), "(b) *-server-traefik 80/443"),
    (V3_ERA, ("server-traefik", "ingress", "tcp/443", "clients"), "(b) *-server-traefik 80/443"),
    (V3_ERA, ("vm-service", "ingress", "tcp/3000", "nomad-clients"), "(b) vm-service LB 3000"),
    (V3_ERA, ("nomad", "ingress", "tcp/4647", "nomad-clients"), "(b) nomad LB 4647"),
    (V3_ERA, ("output-processor", "ingress", "tcp/8585", "nomad-clients"), "(b) output-processor LB 8585"),
    *[(V3_ERA, (lb, "egress", "tcp/30000-32767", "k8s-nodes"), "(b) LB egress 30000-32767") for lb in LBS_V3],
    *[(V3_ERA, ("k8s-nodes", "ingress", "tcp/30000-32767", lb), "(a) K8s in 30000-32767 LBs") for lb in LBS_V3],
    (V3_ERA | {V40}, ("k8s-nodes", "egress", "tcp/2376", "external-vms"), "(b) K8s egress 2376: 4.0-4.2"),
    (V3_ERA | {V40}, ("nomad-clients", "egress", "tcp/2376", "external-vms"), "(b) Nomad out 2376: 4.0-4.2"),
    (V3_ERA, ("nomad-clients", "egress", "tcp/3000", "vm-service"), "(b) Nomad out 3000 -> VM-service LB"),
    (V3_ERA, ("nomad-clients", "egress", "tcp/4647", "nomad"), "(b) Nomad out 4647 -> Nomad LB"),
    (V3_ERA, ("nomad-clients", "egress", "tcp/8585", "output-processor"), "(b) Nomad out 8585"),
    # v4: one circleci-proxy.
    (V4, ("circleci-proxy", "ingress", "tcp/80", "clients"), "(a) circleci-proxy in 80 External"),
    (V4, ("circleci-proxy", "ingress", "tcp/443", "clients"), "(a) circleci-proxy in 443 External"),
    (V4, ("circleci-proxy", "ingress", "tcp/4647", "nomad-clients"), "(a) circleci-proxy in 4647"),
    (
        frozenset({V40}),
        ("circleci-proxy", "ingress", "tcp/3000", "nomad-clients"),
        "(b) vm-service row on circleci-proxy, 4.0",
    ),
    (
        frozenset({V40}),
        ("circleci-proxy", "ingress", "tcp/8585", "nomad-clients"),
        "(b) output-processor row on circleci-proxy",
    ),
    (V4, ("circleci-proxy", "egress", "tcp/30000-32767", "k8s-nodes"), "(a) circleci-proxy out 30000-32767"),
    (V4, ("k8s-nodes", "ingress", "tcp/30000-32767", "circleci-proxy"), "(a) K8s in 30000-32767 LBs"),
    (V4, ("nomad-clients", "egress", "tcp/4647", "circleci-proxy"), "(a) Nomad out 4647 circleci-proxy"),
    (frozenset({V40}), ("nomad-clients", "egress", "tcp/3000", "circleci-proxy"), "(b) Nomad out 3000: removed 4.3"),
    (frozenset({V40}), ("nomad-clients", "egress", "tcp/8585", "circleci-proxy"), "(b) Nomad out 8585: removed 4.3"),
    # Kubernetes nodes, Nomad clients, VMs.
    (ALL, ("k8s-nodes", "ingress", "all", "k8s-nodes"), "(a) K8s out/in all other nodes"),
    (ALL, ("k8s-nodes", "egress", "all", "k8s-nodes"), "(a) K8s out/in all other nodes"),
    (ALL, ("k8s-nodes", "egress", "tcp/4647", "nomad-clients"), "(a) K8s out 4647 Nomad clients"),
    (ALL, ("nomad-clients", "ingress", "tcp/4647", "k8s-nodes"), "(a) Nomad in 4647 K8s nodes"),
    (ALL, ("nomad-clients", "ingress", "tcp/64535-65535", "rerun-ssh-clients"), "(a) Nomad in 64535-65535"),
    (ALL, ("nomad-clients", "egress", "tcp/22", "external-vms"), "(a) common out 22 VM subnet; Nomad out 22 VMs"),
    (ALL, ("k8s-nodes", "egress", "tcp/22", "external-vms"), "(a) common out 22 VM subnet"),
    (ALL, ("external-vms", "ingress", "tcp/22", "k8s-nodes"), "(a) VMs in 22"),
    (ALL, ("external-vms", "ingress", "tcp/22", "nomad-clients"), "(a) VMs in 22"),
    (ALL, ("external-vms", "ingress", "tcp/2376", "k8s-nodes"), "(a) VMs in 2376"),
    (ALL, ("external-vms", "ingress", "tcp/2376", "nomad-clients"), "(a) VMs in 2376"),
    (frozenset({SEED}), ("external-vms", "ingress", "tcp/64535-65535", "rerun-ssh-clients"), "(b) VM in 64535-65535"),
    (ALL - {SEED}, ("external-vms", "ingress", "tcp/54782", "rerun-ssh-clients"), "(b) VM in 54782 (5a0fc63)"),
    *[
        (ALL, flow, "(a) Common (all compute)")
        for role in ("k8s-nodes", "nomad-clients", "external-vms")
        for flow in (
            (role, "ingress", "tcp/22", "ssh-administrators"),
            (role, "egress", "udp/53", "dns-resolver"),
            (role, "egress", "tcp/53", "dns-resolver"),
            (role, "egress", "tcp/80", "internet"),
            (role, "egress", "tcp/443", "internet"),
        )
    ],
    (ALL, ("nomad-clients", "egress", "tcp/22", "vcs"), "(a) common out 22 to VCS"),
    (ALL, ("external-vms", "egress", "tcp/22", "vcs"), "(a) common out 22 to VCS"),
]


def flows(rules: tuple[TrafficRule, ...]) -> set[Flow]:
    return {(r.role.value, r.direction.value, p.label, peer_name(r.peer)) for r in rules for p in r.ports}


@pytest.mark.parametrize("version", list(ServerVersionId), ids=str)
def test_each_profile_holds_exactly_the_reference_rows(version: ServerVersionId) -> None:
    expected = {flow for profiles, flow, _ in ROWS if version in profiles}
    actual = flows(PROFILES[version].rules)
    assert actual - expected == set(), "rows the reference note does not list"
    assert expected - actual == set(), "reference rows missing"


@pytest.mark.parametrize(("profiles", "flow", "where"), ROWS, ids=[f"{r[1]}" for r in ROWS])
def test_reference_row(profiles: frozenset[ServerVersionId], flow: Flow, where: str) -> None:
    for version in ServerVersionId:
        assert (flow in flows(PROFILES[version].rules)) is (version in profiles), f"{version}: {where}"


def test_the_default_is_the_guide_in_spec_unchanged() -> None:
    assert PROFILES[SEED].rules is SPEC_RULES
    options = HardeningOptions(ssh_administrator_cidrs=("198.51.100.0/24",))
    assert active_rules(options, server_version=ServerVersion()) == active_rules(options)
    assert all(r.sources[0].document == SEED_DOCUMENT for r in SPEC_RULES)


@pytest.mark.parametrize("version", list(ServerVersionId), ids=str)
def test_every_row_has_its_source_in_the_profiles_document(version: ServerVersionId) -> None:
    profile = PROFILES[version]
    for rule in ServerVersion(version, **_all_options(version)).rules():
        assert rule.sources, rule.rule_id
        guide = [s for s in rule.sources if s.kind is SourceKind.GUIDE]
        assert all(s.document == profile.document for s in guide), rule.rule_id
        assert guide or rule.rule_id.endswith("nomad-servers"), rule.rule_id


def _all_options(version: ServerVersionId) -> dict[str, object]:
    if version is V43:
        return {"proxy_job_ports": True}
    if version is V48:
        return {"proxy_job_ports": True, "external_nomad_server_cidrs": ("10.9.0.0/24",)}
    return {}


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(ServerVersionId, 2)), ids=str)
def test_moving_between_profiles_changes_only_the_rows_that_differ(a: ServerVersionId, b: ServerVersionId) -> None:
    """A flow both versions hold is rendered by the same rule ID and description in both, so
    `terraform plan` shows no change for it; only the flows the versions differ by change."""
    by_flow: dict[tuple[object, ...], tuple[str, str]] = {}
    for version in (a, b):
        for rule in PROFILES[version].rules:
            for port in rule.ports:
                by_flow[(version, rule.role, rule.direction, port, rule.peer)] = (rule.rule_id, rule.description)
    shared = {k[1:] for k in by_flow if k[0] == a} & {k[1:] for k in by_flow if k[0] == b}
    assert shared
    for key in shared:
        assert by_flow[(a, *key)] == by_flow[(b, *key)], key
    changed = flows(PROFILES[a].rules) ^ flows(PROFILES[b].rules)
    expected = {flow for profiles, flow, _ in ROWS if (a in profiles) != (b in profiles)}
    assert changed == expected


def test_v4_3_opt_in_rows_and_external_nomad_servers() -> None:
    base = flows(ServerVersion(V43).rules())
    with_ports = flows(ServerVersion(V43, proxy_job_ports=True).rules())
    assert with_ports - base == {
        ("circleci-proxy", "ingress", "tcp/3000", "nomad-clients"),
        ("circleci-proxy", "ingress", "tcp/8585", "nomad-clients"),
        ("nomad-clients", "egress", "tcp/3000", "circleci-proxy"),
        ("nomad-clients", "egress", "tcp/8585", "circleci-proxy"),
    }
    external = flows(ServerVersion(V48, external_nomad_server_cidrs=("10.9.0.0/24",)).rules())
    assert external - base == {
        ("nomad-clients", "egress", "tcp/4646-4648", "nomad-servers"),
        ("nomad-clients", "ingress", "tcp/4646-4648", "nomad-servers"),
    }


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"id": "v5"}, "ServerVersion.id", "v3-seed, v3, v4.0, v4.3, v4.8"),
        ({"id": V43, "external_nomad_server_cidrs": ("10.9.0.0/24",)}, "external_nomad_server_cidrs", "needs v4.8"),
        ({"id": V3, "external_nomad_server_cidrs": ("10.9.0.0/24",)}, "external_nomad_server_cidrs", "v3"),
        ({"id": V40, "external_nomad_server_cidrs": ("10.9.0.0/24",)}, "external_nomad_server_cidrs", "v4.0"),
        ({"id": V48, "external_nomad_server_cidrs": ("0.0.0.0/0",)}, "external_nomad_server_cidrs", "whole internet"),
        ({"id": V48, "external_nomad_server_cidrs": ("10.9.0.300/24",)}, "external_nomad_server_cidrs", ""),
        ({"id": V3, "proxy_load_balancer": True}, "proxy_load_balancer", "v3 has no circleci-proxy"),
        ({"id": SEED, "proxy_load_balancer": True}, "proxy_load_balancer", "v3-seed has no circleci-proxy"),
        ({"id": V43, "proxy_load_balancer": False}, "proxy_load_balancer", "v4.3 has only the circleci-proxy"),
        ({"id": V40, "vm_rerun_ssh_ports": RERUN_WITH_SSH}, "vm_rerun_ssh_ports", "v4.0"),
        ({"id": V43, "vm_rerun_ssh_ports": RERUN_WITH_SSH}, "vm_rerun_ssh_ports", "54782"),
        ({"id": SEED, "vm_rerun_ssh_ports": VM_RERUN_WITH_SSH}, "vm_rerun_ssh_ports", "v3-seed"),
        ({"id": V3, "proxy_job_ports": True}, "proxy_job_ports", "v3"),
    ],
)
def test_an_option_the_version_does_not_document_is_refused(kwargs: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        ServerVersion(**kwargs)  # type: ignore[arg-type]
    assert field in error.value.field
    assert words in str(error.value)


def test_the_profiles_own_values_are_accepted() -> None:
    assert ServerVersion(V43, proxy_load_balancer=True, vm_rerun_ssh_ports=VM_RERUN_WITH_SSH).rules()
    assert ServerVersion(SEED, proxy_load_balancer=False, vm_rerun_ssh_ports=RERUN_WITH_SSH).rules() == SPEC_RULES


versions = st.builds(
    lambda version, ports, servers: ServerVersion(
        version,
        proxy_job_ports=ports and version in (V40, V43, V48),
        external_nomad_server_cidrs=servers if version is V48 else (),
    ),
    st.sampled_from(list(ServerVersionId)),
    st.booleans(),
    st.sampled_from([(), ("10.9.0.0/24",), ("10.9.0.0/24", "192.168.4.0/26")]),
)


@given(
    version=versions,
    admins=st.sampled_from([(), ("198.51.100.0/24",)]),
    rerun=st.sampled_from([(), ("203.0.113.0/24",)]),
    transparent=st.booleans(),
)
def test_profiles_by_options(
    version: ServerVersion, admins: tuple[str, ...], rerun: tuple[str, ...], transparent: bool
) -> None:
    options = HardeningOptions(ssh_administrator_cidrs=admins, rerun_ssh_cidrs=rerun)
    rules = active_rules(options, transparent_load_balancers=transparent, server_version=version)
    ids = [r.rule_id for r in rules]
    assert len(ids) == len(set(ids))
    assert ServerVersion.from_json(version.to_json()) == version
    # Nothing but the profile's (and the options') rows; nothing widened.
    table = {r.rule_id for r in version.rules()}
    for rule in rules:
        assert rule.rule_id in table or rule.rule_id.startswith("k8s-nodes-in-via-") or "health-checks" in rule.rule_id
        assert rule.sources
    if not transparent:
        assert all(r.role in version.load_balancers or not r.role.is_load_balancer for r in rules)
    rerun_ports = {
        p for r in rules if r.role.value == "external-vms" and r.rule_id.endswith("rerun-ssh") for p in r.ports
    }
    assert rerun_ports == (set() if not rerun else {version.profile.vm_rerun_ssh_port})
