"""The resolved policy: the one step from options and cloud facts to the rules every renderer
and the audit read (``circleci_network.model.resolve``). Pure Python: no synth here; that the
renderers draw the same stacks from it is the snapshot tests' job."""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import fields, replace
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st

from circleci_network.aws.load_balancers import default_node_ports
from circleci_network.errors import ConfigurationError
from circleci_network.model.checks import covers_everything
from circleci_network.model.cloud_facts import GOOGLE_HEALTH_CHECK_RANGES, METADATA_SERVER_CIDR
from circleci_network.model.nat_translation import NatTranslation, PublicAddress
from circleci_network.model.options import EXTRA_EGRESS_ROLES, ExtraEgressRule, HardeningOptions, check_outside_peers
from circleci_network.model.platform_rules import Platform, PlatformOptions, aws_platform_rules, gcp_platform_rules
from circleci_network.model.ports import DOCKER_TLS, HTTP, HTTPS, KUBERNETES_NODE_PORTS, NOMAD_RPC, Port
from circleci_network.model.resolve import Cloud, PeerAddresses, ResolvedPolicy, resolve_policy
from circleci_network.model.roles import COMPUTE_ROLES, JOB_ROLES, OutsidePeer, Role
from circleci_network.model.rules import CustomPeer, Direction, SourceKind, TrafficRule, active_rules
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.vpc_endpoints import VpcEndpoints

VPC = "10.0.0.0/16"
RESOLVER = ("10.0.0.2/32",)
LB_SUBNETS = ("10.0.0.0/24", "10.0.1.0/24")
AWS_ADDRESSES = PeerAddresses(dns_resolver=RESOLVER, load_balancer_health_checks=LB_SUBNETS)
GCP_ADDRESSES = PeerAddresses(
    dns_resolver=(METADATA_SERVER_CIDR,),
    load_balancer_health_checks=GOOGLE_HEALTH_CHECK_RANGES,
    roles={Role.KUBERNETES_NODES: ("10.0.0.0/20", "10.4.0.0/14"), Role.NOMAD_CLIENTS: ("10.0.0.0/20",)},
)
PACKAGE = Path(__file__).resolve().parent.parent / "circleci_network"
# v4 internet mode, as the network constructs build it (aws/network.py, gcp/network.py).
PROXY_ADDRESSES = (PublicAddress("proxy-a", "198.51.100.7/32"), PublicAddress("proxy-b", "198.51.100.8/32"))
NAT_ADDRESSES = (PublicAddress("nat-a", "203.0.113.9/32"),)
AWS_NAT = NatTranslation({Role.PROXY_LB: PROXY_ADDRESSES}, frozenset(COMPUTE_ROLES), NAT_ADDRESSES)
GCP_NAT = NatTranslation(
    {Role.PROXY_LB: PROXY_ADDRESSES[:1]},
    frozenset(JOB_ROLES),
    NAT_ADDRESSES,
    receivers=frozenset({Role.KUBERNETES_NODES}),
    load_balancer_source_ranges=True,
)
V4 = ServerVersion(id=ServerVersionId.V4_3, proxy_job_ports=True)


def _by_id(policy: ResolvedPolicy) -> dict[str, tuple[str, ...]]:
    return {rule.rule_id: rule.peer_cidrs for rule in policy.rules}


# --- unit tests -------------------------------------------------------------------------------


def test_outside_peers_take_the_options_else_the_clouds_addresses() -> None:
    policy = resolve_policy(HardeningOptions(), cloud=Cloud.AWS, addresses=AWS_ADDRESSES)
    cidrs = _by_id(policy)
    assert cidrs["k8s-nodes-out-dns"] == RESOLVER
    assert cidrs["nomad-clients-out-http-https"] == ("0.0.0.0/0",)
    assert cidrs["frontend-external-in-http"] == ("0.0.0.0/0",)
    given = HardeningOptions(dns_server_cidrs=("192.0.2.53/32",), external_cidrs=("203.0.113.0/24",))
    cidrs = _by_id(resolve_policy(given, cloud=Cloud.AWS, addresses=AWS_ADDRESSES))
    assert cidrs["k8s-nodes-out-dns"] == ("192.0.2.53/32",)
    # Without vcs_cidrs the VCS is reached through the 80/443 destinations.
    assert cidrs["nomad-clients-out-ssh-vcs"] == ("203.0.113.0/24",)


def test_an_internal_proxy_is_the_internet_and_the_vcs() -> None:
    options = HardeningOptions(internal_proxy_cidrs=("10.0.0.10/32",))
    policy = resolve_policy(options, cloud=Cloud.GCP, addresses=GCP_ADDRESSES)
    assert policy.peer_cidrs(OutsidePeer.INTERNET) == ("10.0.0.10/32",)
    assert policy.peer_cidrs(OutsidePeer.VCS) == ("10.0.0.10/32",)
    assert _by_id(policy)["external-vms-out-http-https"] == ("10.0.0.10/32",)


def test_gcp_is_transparent_and_keeps_the_listener_ports() -> None:
    policy = resolve_policy(HardeningOptions(), cloud=Cloud.GCP, addresses=GCP_ADDRESSES)
    assert policy.transparent_load_balancers
    moved = {r.rule_id: r for r in policy.rules}["k8s-nodes-in-via-nomad-in-4647"]
    assert moved.role is Role.KUBERNETES_NODES and moved.ports == (NOMAD_RPC,)
    assert moved.peer_role is Role.NOMAD_CLIENTS
    assert not any(r.role.is_load_balancer for r in policy.rules)
    probes = {r.rule_id: r for r in policy.rules}["k8s-nodes-in-node-ports-from-lb-health-checks"]
    assert probes.peer_cidrs == GOOGLE_HEALTH_CHECK_RANGES
    assert policy.peer_cidrs(OutsidePeer.DNS_RESOLVER) == (METADATA_SERVER_CIDR,)


def test_aws_transparent_load_balancers_deliver_to_their_node_ports() -> None:
    node_ports = default_node_ports(ServerVersion())
    options = HardeningOptions(transparent_load_balancers=True)
    policy = resolve_policy(options, cloud=Cloud.AWS, node_ports=node_ports, addresses=AWS_ADDRESSES)
    rules = {r.rule_id: r for r in policy.rules}
    assert rules["k8s-nodes-in-via-frontend-external-in-https"].ports == (
        Port.tcp(node_ports[(Role.FRONTEND_LB, 443)]),
    )
    assert policy.node_port(Role.NOMAD_LB, 4647) == node_ports[(Role.NOMAD_LB, 4647)]
    # Their probes come from the load balancer subnets; their own rows stay for the ACLs, on the listener ports.
    assert rules["k8s-nodes-in-node-ports-from-lb-health-checks"].peer_cidrs == LB_SUBNETS
    layer = {r.rule_id: r for r in policy.load_balancer_rules}
    assert layer["frontend-external-in-https"].ports == (HTTPS,)
    assert layer["nomad-out-node-ports"].ports == (KUBERNETES_NODE_PORTS,)


def test_not_transparent_keeps_listener_ports_and_the_load_balancers_rows() -> None:
    node_ports = default_node_ports(ServerVersion())
    policy = resolve_policy(HardeningOptions(), cloud=Cloud.AWS, node_ports=node_ports, addresses=AWS_ADDRESSES)
    assert not policy.transparent_load_balancers
    assert {r.rule_id for r in policy.load_balancer_rules} == {
        r.rule_id for r in policy.rules if r.role.is_load_balancer
    }
    assert {r.rule_id: r.ports for r in policy.rules}["server-traefik-in-http"] == (HTTP,)
    assert policy.node_ports == node_ports  # kept for the ACLs' preserved-client hop and the values


def test_role_peers_are_named_by_the_addresses_the_caller_knows_only() -> None:
    known = PeerAddresses(roles={Role.EXTERNAL_VMS: ("10.0.32.0/20",)})
    rules = {r.rule_id: r for r in resolve_policy(HardeningOptions(), cloud=Cloud.AWS, addresses=known).rules}
    assert rules["k8s-nodes-out-2376-vms"].peer_cidrs == ("10.0.32.0/20",)
    assert rules["k8s-nodes-out-2376-vms"].peer_role is Role.EXTERNAL_VMS
    assert rules["k8s-nodes-out-4647-nomad-clients"].peer_cidrs == ()  # by identity (a security group)


def test_lookups() -> None:
    policy = resolve_policy(HardeningOptions(), cloud=Cloud.GCP, addresses=GCP_ADDRESSES)
    assert policy.roles == tuple(role for role in Role if role in {r.role for r in policy.rules})
    assert set(policy.roles) == set(COMPUTE_ROLES)
    for role in policy.roles:
        for direction in Direction:
            assert policy.side(role, direction) == tuple(
                r for r in policy.rules if r.role is role and r.direction is direction
            )
    assert {(r.role, r.peer) for r in policy.rerun_ingress_rules} == {
        (role, OutsidePeer.RERUN_SSH_CLIENTS) for role in JOB_ROLES
    }
    assert resolve_policy(HardeningOptions(rerun_ssh_cidrs=()), cloud=Cloud.GCP).rerun_ingress_rules == ()


def test_every_outside_peer_the_cloud_decides_has_a_field_in_peer_addresses() -> None:
    """Adding such a peer to ``OutsidePeer`` means one ``_outside`` field in ``PeerAddresses``
    (v4 internet mode's two come from its ``nat_translation``)."""
    cloud_decides = {peer for peer in OutsidePeer if HardeningOptions().cidrs_for(peer) is None}
    assert cloud_decides <= set(PeerAddresses().outside())
    peers = [f.metadata["peer"] for f in fields(PeerAddresses) if "peer" in f.metadata]
    assert len(peers) == len(set(peers))


def test_nat_translation_resolves_the_rows_across_nat_to_addresses() -> None:
    """AWS v4 internet mode: Nomad clients send to the proxy's EIPs, the proxy admits the NAT
    gateways' addresses; every other row keeps its peer and its CIDRs."""
    plain = resolve_policy(HardeningOptions(), cloud=Cloud.AWS, server_version=V4, addresses=AWS_ADDRESSES)
    translated = resolve_policy(
        HardeningOptions(),
        cloud=Cloud.AWS,
        server_version=V4,
        addresses=replace(AWS_ADDRESSES, nat_translation=AWS_NAT),
    )
    assert [r.rule for r in translated.rules] == [r.rule for r in plain.rules]  # the model's rows, unchanged
    changed = {r.rule_id: (r.peer, r.peer_cidrs) for r, p in zip(translated.rules, plain.rules, strict=True) if r != p}
    proxy, nat = ("198.51.100.7/32", "198.51.100.8/32"), ("203.0.113.9/32",)
    assert changed == {
        **{
            f"nomad-clients-out-{port}-circleci-proxy": (OutsidePeer.PROXY_PUBLIC_ADDRESSES, proxy)
            for port in (4647, 3000, 8585)
        },
        **{f"circleci-proxy-in-{port}": (OutsidePeer.NAT_ADDRESSES, nat) for port in (4647, 3000, 8585)},
    }
    rule = next(r for r in translated.rules if r.rule_id == "circleci-proxy-in-4647")
    assert rule.rule.peer is Role.NOMAD_CLIENTS and rule.peer_role is None  # by address, not the group
    assert translated.peer_cidrs(OutsidePeer.NAT_ADDRESSES) == nat
    assert plain.peer_cidrs(OutsidePeer.NAT_ADDRESSES) == ()


def test_gcp_nat_source_ranges_add_gkes_rule_for_the_nat_addresses() -> None:
    """GCP v4 internet mode: the proxy's rows sit on the nodes and admit Cloud NAT's addresses;
    GKE's k8s-fw rule admits them on every Service port only when the values list them."""
    version = ServerVersion(id=ServerVersionId.V4_3)

    def rules(translation: NatTranslation) -> dict[str, tuple[object, tuple[str, ...]]]:
        addresses = replace(GCP_ADDRESSES, nat_translation=translation)
        policy = resolve_policy(HardeningOptions(), cloud=Cloud.GCP, server_version=version, addresses=addresses)
        return {r.rule_id: (r.peer, r.peer_cidrs) for r in policy.rules}

    listed = rules(GCP_NAT)
    nat = (OutsidePeer.NAT_ADDRESSES, ("203.0.113.9/32",))
    assert listed["k8s-nodes-in-via-circleci-proxy-in-4647"] == nat
    assert listed["k8s-nodes-in-via-circleci-proxy-in-gke-nat-ranges"] == nat
    assert listed["nomad-clients-out-4647-circleci-proxy"] == (OutsidePeer.PROXY_PUBLIC_ADDRESSES, ("198.51.100.7/32",))
    unlisted = rules(replace(GCP_NAT, load_balancer_source_ranges=False))
    assert "k8s-nodes-in-via-circleci-proxy-in-gke-nat-ranges" not in unlisted
    assert unlisted["k8s-nodes-in-via-circleci-proxy-in-4647"] == nat


def test_peer_addresses_refuse_anything_but_a_nat_translation() -> None:
    with pytest.raises(ConfigurationError) as error:
        PeerAddresses(nat_translation={Role.PROXY_LB: ("198.51.100.7/32",)})  # type: ignore[arg-type]
    assert error.value.field == "PeerAddresses.nat_translation"


def test_rendered_peer_is_called_by_resolve_only() -> None:
    """Resolve once: the NAT translation's peer decision is applied in resolve.py and nowhere
    else; the renderers and the audit read translated ``ResolvedRule``s."""
    callers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "rendered_peer"
            ):
                callers.add(path.relative_to(PACKAGE).as_posix())
    assert callers == {"model/resolve.py"}


def test_an_unknown_cloud_is_refused() -> None:
    with pytest.raises(ValueError):
        resolve_policy(HardeningOptions(), cloud="azure")


def test_hardening_options_peer_cidrs_is_called_by_resolve_only() -> None:
    """Resolve once: ``HardeningOptions.peer_cidrs(peer, cloud_defaults)`` (two arguments; the
    policy's own ``peer_cidrs`` takes one) is called nowhere but in resolve.py."""
    callers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "peer_cidrs"
                and len(node.args) == 2
            ):
                callers.add(path.relative_to(PACKAGE).as_posix())
    assert callers == {"model/resolve.py"}


def test_the_gcp_firewall_refuses_a_role_peer_without_addresses() -> None:
    """GCP egress names ranges only: a role the caller gave no addresses for is an error, not an
    empty destination list."""
    from circleci_network.gcp.firewall import CircleciFirewall

    policy = resolve_policy(HardeningOptions(), cloud=Cloud.GCP)
    rule = next(r for r in policy.rules if r.direction is Direction.EGRESS and r.peer_role is not None)
    with pytest.raises(ConfigurationError, match="no address range"):
        CircleciFirewall._ranges(rule)


# --- properties -------------------------------------------------------------------------------

OUTSIDE = ["203.0.113.0/24", "198.51.100.7/32", "192.0.2.0/28", "100.64.0.0/10", "8.8.8.8/32"]
INSIDE = ["10.0.3.0/24", "10.0.0.0/8", "10.0.0.2/32"]  # overlap the VPC: validation must refuse them
cidrs = st.lists(st.sampled_from(OUTSIDE + INSIDE), min_size=1, max_size=3, unique=True).map(tuple)
open_or_narrow = st.one_of(st.just(("0.0.0.0/0",)), cidrs)
extra_egress = st.lists(
    st.builds(
        ExtraEgressRule,
        name=st.sampled_from(["artifactory", "ldap", "metrics"]),
        role=st.sampled_from(EXTRA_EGRESS_ROLES),
        port=st.integers(1, 65535).map(Port.tcp),
        cidrs=st.lists(st.sampled_from(OUTSIDE), min_size=1, max_size=2, unique=True).map(tuple),
        purpose=st.just("workload needs it"),
    ),
    max_size=2,
    unique_by=lambda rule: rule.name,
).map(tuple)
_common = {
    "client_cidrs": open_or_narrow,
    "vcs_cidrs": st.one_of(st.none(), cidrs),
    "rerun_ssh_cidrs": st.one_of(st.just(()), open_or_narrow),
    "ssh_administrator_cidrs": st.one_of(st.just(()), cidrs),
    "dns_server_cidrs": st.one_of(st.none(), cidrs),
    "transparent_load_balancers": st.booleans(),
    "extra_egress": extra_egress,
}


@st.composite
def hardening_options(draw: st.DrawFn) -> HardeningOptions:
    drawn: dict[str, Any] = {k: draw(v) for k, v in _common.items()}
    try:
        if draw(st.booleans()):
            return HardeningOptions(internal_proxy_cidrs=("10.0.0.10/32",), **drawn)
        return HardeningOptions(external_cidrs=draw(open_or_narrow), **drawn)
    except ConfigurationError:  # e.g. administrator CIDRs covering the internet
        reject()


versions = st.sampled_from(
    [
        ServerVersion(),
        ServerVersion(id=ServerVersionId.V3),
        ServerVersion(id=ServerVersionId.V4_0),
        ServerVersion(id=ServerVersionId.V4_3, proxy_job_ports=True),
        ServerVersion(id=ServerVersionId.V4_8, external_nomad_server_cidrs=("10.9.0.0/24",)),
    ]
)
platforms = {
    Cloud.AWS: st.sampled_from([PlatformOptions(), PlatformOptions(platform=Platform.EKS)]),
    Cloud.GCP: st.sampled_from(
        [
            PlatformOptions(),
            PlatformOptions(platform=Platform.GKE),
            PlatformOptions(platform=Platform.GKE, control_plane_cidr="172.16.0.0/28"),
        ]
    ),
}


#: A drawn policy, the NodePorts and the VPC endpoints it was resolved with.
Resolution = tuple[ResolvedPolicy, dict[tuple[Role, int], int], VpcEndpoints | None]
endpoint_choices = st.sampled_from(
    [
        None,
        VpcEndpoints(enabled=True),
        VpcEndpoints(enabled=True, services=("ecr.api", "ecr.dkr", "sts")),
        # S3 only, for Nomad clients too: they sit behind NAT in v4 internet mode.
        VpcEndpoints(enabled=True, services=("s3",), roles=(Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS)),
    ]
)


@st.composite
def resolutions(draw: st.DrawFn) -> Resolution:
    cloud = draw(st.sampled_from(list(Cloud)))
    version = draw(versions)
    options = draw(hardening_options())
    node_ports: dict[tuple[Role, int], int] = {}
    if cloud is Cloud.AWS:
        node_ports = default_node_ports(version)
    addresses, nat = (AWS_ADDRESSES, AWS_NAT) if cloud is Cloud.AWS else (GCP_ADDRESSES, GCP_NAT)
    platform = draw(platforms[cloud])
    endpoints = draw(endpoint_choices) if cloud is Cloud.AWS else None
    if endpoints is not None:
        endpoints = endpoints.with_defaults(eks=platform.is_eks)
    policy = resolve_policy(
        options,
        cloud=cloud,
        server_version=version,
        platform=platform,
        vpc_endpoints=endpoints,
        node_ports=node_ports,
        addresses=replace(addresses, nat_translation=draw(st.sampled_from([None, nat]))),
    )
    return policy, node_ports, endpoints


def _platform_rows(policy: ResolvedPolicy, endpoints: VpcEndpoints | None) -> tuple[TrafficRule, ...]:
    """What the platform adds, as each cloud's renderer asks for it."""
    if policy.cloud is Cloud.GCP:
        nat = policy.addresses.nat_translation
        listed = nat is not None and nat.load_balancer_source_ranges
        return gcp_platform_rules(policy.server_version, policy.platform, nat_source_ranges=listed)
    return aws_platform_rules(policy.platform, endpoints)


quick = settings(max_examples=150, deadline=None, derandomize=True)


@quick
@given(options=hardening_options(), cloud=st.sampled_from(list(Cloud)))
def test_every_outside_peer_cidr_lies_outside_the_network(options: HardeningOptions, cloud: Cloud) -> None:
    """What the props' validation accepted is what the rules name: every CIDR an outside peer of
    the options resolves to lies outside the VPC (or is 0.0.0.0/0, "anywhere"), except an
    internal proxy (an internal peer)."""
    inside = [("the VPC", IPv4Network(VPC))]
    try:
        check_outside_peers(options, inside, "props.hardening")
    except ConfigurationError:
        return  # refused at the props: nothing is resolved for it
    policy = resolve_policy(options, cloud=cloud, addresses=AWS_ADDRESSES if cloud is Cloud.AWS else GCP_ADDRESSES)
    proxy = set(options.internal_proxy_cidrs)
    for rule in policy.rules:
        if rule.peer in (OutsidePeer.DNS_RESOLVER, OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS):
            continue  # the cloud's own (the AWS resolver and load balancer subnets are inside)
        if isinstance(rule.peer, OutsidePeer | CustomPeer):
            for cidr in rule.peer_cidrs:
                # 0.0.0.0/0 is the explicit "anywhere" (the guide's default for clients and egress).
                outside = cidr == "0.0.0.0/0" or not IPv4Network(cidr).overlaps(IPv4Network(VPC))
                assert cidr in proxy or outside, (rule.rule_id, cidr)
    if not options.allow_ssh_administration_from_anywhere:
        assert not covers_everything(policy.peer_cidrs(OutsidePeer.SSH_ADMINISTRATORS))


@quick
@given(resolution=resolutions())
def test_every_rule_in_force_appears_once_per_port(
    resolution: Resolution,
) -> None:
    policy, node_ports, endpoints = resolution
    extra = _platform_rows(policy, endpoints)
    rules = active_rules(
        policy.options,
        transparent_load_balancers=policy.transparent_load_balancers,
        delivered_ports=node_ports if policy.transparent_load_balancers and node_ports else None,
        server_version=policy.server_version,
        platform_rules=extra,
    )
    expected = Counter((r.rule_id, port) for r in rules for port in r.ports)
    resolved = Counter((r.rule_id, port) for r in policy.rules for port in r.ports)
    assert resolved == expected
    assert max(Counter(r.rule_id for r in policy.rules).values()) == 1


@quick
@given(resolution=resolutions())
def test_node_ports_are_delivered_only_when_transparent(
    resolution: Resolution,
) -> None:
    policy, node_ports, _ = resolution
    assigned = {Port.tcp(port) for port in node_ports.values()}
    delivered = {port for rule in policy.rules for port in rule.ports if port in assigned}
    if not policy.transparent_load_balancers:
        assert not delivered
        return
    for rule in policy.rules:
        if rule.rule_id.startswith("k8s-nodes-in-via-"):
            lb = next(r for r in policy.load_balancer_rules if rule.rule_id == f"k8s-nodes-in-via-{r.rule_id}")
            listeners = [p.from_port for p in lb.ports]
            if policy.cloud is Cloud.AWS and node_ports:
                assert rule.ports == tuple(Port.tcp(node_ports[(lb.role, p)]) for p in listeners)
            else:  # GCP's passthrough keeps the port
                assert rule.ports == lb.ports


@quick
@given(resolution=resolutions())
def test_flows_between_roles_are_allowed_at_both_ends(
    resolution: Resolution,
) -> None:
    """Stateful rules: between two roles holding rules, an egress has its ingress and back. A
    transparent load balancer's rows on the nodes pair with the sender's egress to the load
    balancer's address instead (it holds no rules)."""
    policy, _, _ = resolution
    present = set(policy.roles)

    def flows(direction: Direction) -> set[tuple[Role, Role, Port]]:
        found = set()
        for r in policy.rules:
            if r.direction is direction and r.peer_role in present and not r.rule_id.startswith("k8s-nodes-in-via-"):
                assert r.peer_role is not None
                pair = (r.role, r.peer_role) if direction is Direction.EGRESS else (r.peer_role, r.role)
                found |= {(*pair, port) for port in r.ports}
        return found

    egress, ingress = flows(Direction.EGRESS), flows(Direction.INGRESS)
    assert egress <= ingress  # no flow a sender opens is dropped at the receiver
    # The other way only where a guide keeps a receiver's row after dropping the senders'
    # (4.3+: the VM table still admits 2376 from the nodes and Nomad clients).
    one_sided = ingress - egress
    if policy.server_version.id in (ServerVersionId.V4_3, ServerVersionId.V4_8):
        assert one_sided <= {
            (sender, Role.EXTERNAL_VMS, DOCKER_TLS) for sender in (Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS)
        }
    else:
        assert not one_sided


@quick
@given(resolution=resolutions())
def test_resolution_is_deterministic(resolution: Resolution) -> None:
    policy, node_ports, endpoints = resolution
    again = resolve_policy(
        policy.options,
        cloud=policy.cloud,
        server_version=policy.server_version,
        platform=policy.platform,
        vpc_endpoints=endpoints,
        node_ports=node_ports,
        addresses=policy.addresses,
    )
    assert again == policy
    assert [r.rule_id for r in again.rules] == [r.rule_id for r in policy.rules]


@quick
@given(resolution=resolutions())
def test_platform_rules_carry_a_platform_source_and_guide_rows_do_not(
    resolution: Resolution,
) -> None:
    policy, _, endpoints = resolution
    extra = _platform_rows(policy, endpoints)
    platform_ids = {r.rule_id for r in extra}
    for rule in policy.rules:
        # A transparent load balancer's platform row moves to the nodes under a prefixed id.
        if rule.rule_id.removeprefix("k8s-nodes-in-via-") in platform_ids:
            assert rule.source_kind is SourceKind.PLATFORM, rule.rule_id
        elif rule.source_kind is SourceKind.PLATFORM:
            raise AssertionError(f"{rule.rule_id} claims a platform source but is no platform rule")


@quick
@given(resolution=resolutions())
def test_each_rule_names_its_peer_by_the_resolved_addresses(
    resolution: Resolution,
) -> None:
    policy, _, _ = resolution
    for rule in policy.rules + policy.load_balancer_rules:
        if isinstance(rule.peer, CustomPeer):
            assert rule.peer_cidrs == rule.peer.cidrs
        elif rule.peer is OutsidePeer.S3_PREFIX_LIST:
            # Named by its prefix-list ID (the security groups, the audit), never by ranges.
            assert rule.peer_cidrs == () and rule.source_kind is SourceKind.PLATFORM, rule.rule_id
        elif isinstance(rule.peer, OutsidePeer):
            assert rule.peer_cidrs == policy.peer_cidrs(rule.peer)
            assert rule.peer_cidrs, f"{rule.rule_id}: an outside peer turned off leaves its rule out"
        else:
            assert rule.peer_cidrs == policy.addresses.roles.get(rule.peer, ())


@quick
@given(resolution=resolutions())
def test_no_row_across_nat_names_a_role(resolution: Resolution) -> None:
    """v4 internet mode: a role behind NAT never reaches a public role by its identity or private
    range, nor does the public side admit it so; those rows name the translation's addresses,
    and translating adds or drops no row (GKE's row for the listed NAT addresses aside)."""
    policy, node_ports, endpoints = resolution
    nat = policy.addresses.nat_translation
    assume(nat is not None)
    assert nat is not None
    receivers = nat.receivers or frozenset(nat.public_addresses)
    public = {a.cidr for addresses in nat.public_addresses.values() for a in addresses}
    for rule in policy.rules:
        crosses_out = rule.direction is Direction.EGRESS and rule.role in nat.behind_nat
        crosses_in = rule.direction is Direction.INGRESS and rule.role in receivers
        assert not (crosses_out and rule.peer_role in nat.public_addresses), rule.rule_id
        assert not (crosses_in and rule.peer_role in nat.behind_nat), rule.rule_id
        if rule.peer is OutsidePeer.PROXY_PUBLIC_ADDRESSES:
            assert crosses_out and rule.peer_cidrs and set(rule.peer_cidrs) == public
        if rule.peer is OutsidePeer.NAT_ADDRESSES:
            assert rule.peer_cidrs and rule.peer_cidrs == tuple(a.cidr for a in nat.nat_addresses)
    plain = resolve_policy(
        policy.options,
        cloud=policy.cloud,
        server_version=policy.server_version,
        platform=policy.platform,
        vpc_endpoints=endpoints,
        node_ports=node_ports,
        addresses=replace(policy.addresses, nat_translation=None),
    )
    ids = [r.rule_id for r in policy.rules if not r.rule_id.endswith("circleci-proxy-in-gke-nat-ranges")]
    assert ids == [r.rule_id for r in plain.rules]
