"""Server version profiles: each is its own rule table, every row with its source.

The guide in ``spec/`` (``v3-seed``) is an early revision of the Server v3 page and stays
the default: choosing no profile changes nothing. The other tables follow
``shared/reference/server-v4-hardening.md``:

- ``v3``: the v3 page as finally documented ([H3] @4388b94): no ``frontend-external`` load
  balancer (SERVER-1137, commit 7226b5d), rerun-with-SSH on VMs on 54782 (commit 5a0fc63).
- ``v4.0`` (4.0-4.2): one ``circleci-proxy`` load balancer (the chart's nginx Service)
  instead of four; Nomad clients gain egress 22 to VMs; 2376, 3000 and 8585 still listed.
- ``v4.3`` (4.3-4.10, current): 2376 to the VMs and Nomad egress 3000/8585 are gone. The
  ``circleci-proxy`` table still lists 3000/8585 from Nomad clients although nginx routes
  only to kong and nomad since 4.3: probably stale, so opt-in (``proxy_job_ports``).
- ``v4.8`` (4.8-4.10): v4.3's table (the 4.7-4.10 pages are identical), plus Nomad servers
  outside Kubernetes, documented from 4.8 only (``external_nomad_server_cidrs``).

A shared row keeps its ``rule_id`` and description in every profile, so moving a network
from one profile to another changes only the rows the versions differ by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from circleci_network.errors import ConfigurationError
from circleci_network.model.addressing import ALL_IPV4, cidr_tuple
from circleci_network.model.checks import checked_keywords
from circleci_network.model.ports import (
    HTTP,
    HTTPS,
    KUBERNETES_NODE_PORTS,
    NOMAD_RPC,
    NOMAD_SERVER_PORTS,
    OUTPUT_PROCESSOR,
    RERUN_WITH_SSH,
    VM_RERUN_WITH_SSH,
    VM_SERVICE,
    Port,
    Protocol,
)
from circleci_network.model.roles import LOAD_BALANCERS, OutsidePeer, Role
from circleci_network.model.rules import (
    SEED_DOCUMENT,
    SPEC_RULES,
    CustomPeer,
    Direction,
    Peer,
    RuleSource,
    SourceKind,
    SpecSection,
    TrafficRule,
)


class ServerVersionId(StrEnum):
    V3_SEED = "v3-seed"
    V3 = "v3"
    V4_0 = "v4.0"
    V4_3 = "v4.3"
    V4_8 = "v4.8"


class ConfigFile(StrEnum):
    """What the network writes for the application side."""

    LEGACY_VALUES = "legacy helm values fragment"
    """
    Today's fragment (``vm_service.*`` plus ``circleci_network.*``), kept byte
    for byte for existing stacks; neither v3 (KOTS) nor v4 reads it as a whole.
    """
    KOTS_SHEET = "KOTS settings sheet"
    """A Markdown sheet of KOTS admin-console fields and the value to enter (v3)."""
    HELM_VALUES = "helm values"
    """A Helm values fragment with the chart's documented keys only (v4)."""


# Sources (server-v4-hardening.md, "Sources").
H3 = "[H3] circleci/circleci-docs@4388b94 jekyll/_cci2/server-3-install-hardening-your-cluster.adoc"
H4_0 = "[H4.0] circleci/circleci-docs@096aaaf archived/_cci2/server/v4.0/installation/hardening-your-cluster.adoc"
H4_10 = "[H4.10] circleci/circleci-docs@9734a14 docs/server-admin-4.10/modules/installation/pages/hardening-your-cluster.adoc"
V4_10_VALUES = (
    "[V4.10] circleci/circleci-docs@9734a14 docs/server-admin-4.10/modules/ROOT/partials/installation/values.adoc"
)
TF_NOMAD_SERVER = "[TF] CircleCI-Public/server-terraform@888333e nomad-aws/modules/nomad-server-aws/nlb.tf"
TF_NOMAD_CLIENT = "[TF] CircleCI-Public/server-terraform@888333e nomad-aws/security_groups.tf"

IN, OUT = Direction.INGRESS, Direction.EGRESS
K8S, NOMAD, VMS, PROXY = Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS, Role.EXTERNAL_VMS, Role.PROXY_LB
S = SpecSection
NOMAD_SERVERS = "nomad-servers"

# v4 page headings (sources only: descriptions keep the seed's section names).
V4_LB = "Load balancer circleci-proxy"
V4_COMMON = "Common (all compute)"
V4_K8S = "Kubernetes nodes"
V4_NOMAD = "Nomad clients"
V4_VMS = "External VMs (machine provisioner)"


def _guide(document: str, section: str, reference: str) -> RuleSource:
    return RuleSource(SourceKind.GUIDE, document, section, reference)


def _row(
    rule_id: str,
    role: Role,
    direction: Direction,
    ports: tuple[Port, ...],
    peer: Peer,
    purpose: str,
    section: SpecSection | str,
    *sources: RuleSource,
    table: bool = True,
) -> TrafficRule:
    return TrafficRule(rule_id, role, direction, ports, peer, purpose, section, table, sources)


def _seed_rule(rule_id: str) -> TrafficRule:
    return next(rule for rule in SPEC_RULES if rule.rule_id == rule_id)


# --- v3 as finally documented --------------------------------------------------------------


def _v3_rules() -> tuple[TrafficRule, ...]:
    """The seed's rows with the final v3 page as their source, less frontend-external, with
    rerun-with-SSH on VMs at 54782. Every other row reads the same on both revisions."""
    rules: list[TrafficRule] = []
    for rule in SPEC_RULES:
        if Role.FRONTEND_LB in (rule.role, rule.peer):
            continue  # removed from the v3 page in June 2021 (commit 7226b5d, SERVER-1137)
        kind = "table row" if rule.from_table else "prose"
        source = _guide(H3, str(rule.section), kind)
        if rule.rule_id == "external-vms-in-rerun-ssh":
            rule = replace(rule, ports=(VM_RERUN_WITH_SSH,))
            source = _guide(H3, str(rule.section), 'table row, 54782 since commit 5a0fc63 "The SSH port is 54782"')
        rules.append(replace(rule, sources=(source,)))
    return tuple(rules)


# --- v4 -----------------------------------------------------------------------------------


def _v4_common(doc: str) -> list[TrafficRule]:
    """Common rows, with the seed's rule IDs and descriptions (same flows)."""
    rules = []
    for role in (K8S, NOMAD, VMS):
        r = role.value
        rules += [
            replace(
                _seed_rule(f"{r}-in-ssh-administration"),
                sources=(_guide(doc, V4_COMMON, "in 22, optional, tightly scoped"),),
            ),
            replace(_seed_rule(f"{r}-out-dns"), sources=(_guide(doc, V4_COMMON, "out 53 TCP+UDP to VPC DNS"),)),
            replace(_seed_rule(f"{r}-out-http-https"), sources=(_guide(doc, V4_COMMON, "out 80, 443"),)),
        ]
    for role in (NOMAD, VMS):
        rules.append(
            replace(_seed_rule(f"{role.value}-out-ssh-vcs"), sources=(_guide(doc, V4_COMMON, "out 22 to VCS"),))
        )
    rules.append(
        replace(_seed_rule("k8s-nodes-out-ssh-vms"), sources=(_guide(doc, V4_COMMON, "out 22 to the VM subnet"),))
    )
    # Nomad clients: the common row, and since 4.0 a row of their own table (one rule, two rows).
    rules.append(
        replace(
            _seed_rule("nomad-clients-out-ssh-vms"),
            sources=(
                _guide(doc, V4_COMMON, "out 22 to the VM subnet"),
                _guide(doc, V4_NOMAD, "out 22 VMs (new in 4.0)"),
            ),
        )
    )
    return rules


def _proxy_job_port_rules(doc: str, reference: str) -> list[TrafficRule]:
    """3000 and 8585 from Nomad clients on circleci-proxy (vm-service, output-processor)."""
    return [
        _row(
            "circleci-proxy-in-3000",
            PROXY,
            IN,
            (VM_SERVICE,),
            NOMAD,
            "Communication with Nomad clients",
            S.LB_INGRESS,
            _guide(doc, V4_LB, f"in 3000 Nomad clients; {reference}"),
        ),
        _row(
            "circleci-proxy-in-8585",
            PROXY,
            IN,
            (OUTPUT_PROCESSOR,),
            NOMAD,
            "Communication with Nomad clients",
            S.LB_INGRESS,
            _guide(doc, V4_LB, f"in 8585 Nomad clients; {reference}"),
        ),
        _row(
            "nomad-clients-out-3000-circleci-proxy",
            NOMAD,
            OUT,
            (VM_SERVICE,),
            PROXY,
            "Internal communication",
            S.NOMAD_EGRESS,
            _guide(doc, V4_LB, f"in 3000 Nomad clients (the sender's half); {reference}"),
        ),
        _row(
            "nomad-clients-out-8585-circleci-proxy",
            NOMAD,
            OUT,
            (OUTPUT_PROCESSOR,),
            PROXY,
            "Internal communication",
            S.NOMAD_EGRESS,
            _guide(doc, V4_LB, f"in 8585 Nomad clients (the sender's half); {reference}"),
        ),
    ]


# The tables stay one rule per line, like the guide's rows.
# fmt: off
def _v4_rules(doc: str, *, docker_and_job_ports: bool) -> tuple[TrafficRule, ...]:
    """``docker_and_job_ports``: the 4.0-4.2 rows gone in 4.3 (2376 egress to VMs, Nomad 3000/8585)."""
    rules = [
        _row("circleci-proxy-in-http", PROXY, IN, (HTTP,), OutsidePeer.CLIENTS, "UI + frontend API", S.LB_INGRESS,
             _guide(doc, V4_LB, "in 80 External")),
        _row("circleci-proxy-in-https", PROXY, IN, (HTTPS,), OutsidePeer.CLIENTS, "UI + frontend API", S.LB_INGRESS,
             _guide(doc, V4_LB, "in 443 External")),
        _row("circleci-proxy-in-4647", PROXY, IN, (NOMAD_RPC,), NOMAD, "Nomad RPC", S.LB_INGRESS,
             _guide(doc, V4_LB, "in 4647 Nomad clients")),
        _row("circleci-proxy-out-node-ports", PROXY, OUT, (KUBERNETES_NODE_PORTS,), K8S,
             "Kubernetes load balancer port range on the nodes", S.LB_EGRESS, _guide(doc, V4_LB, "out 30000-32767 K8s nodes")),
        _row("k8s-nodes-in-node-ports-from-circleci-proxy", K8S, IN, (KUBERNETES_NODE_PORTS,), PROXY,
             "Kubernetes load balancer port range from the circleci-proxy load balancer", S.K8S_INGRESS,
             _guide(doc, V4_K8S, "in 30000-32767 LBs")),
        replace(_seed_rule("k8s-nodes-in-all-from-k8s-nodes"), sources=(_guide(doc, V4_K8S, "out/in all other nodes"),)),
        replace(_seed_rule("k8s-nodes-out-4647-nomad-clients"), sources=(_guide(doc, V4_K8S, "out 4647 Nomad clients"),)),
        replace(_seed_rule("k8s-nodes-out-all-k8s-nodes"), sources=(_guide(doc, V4_K8S, "out/in all other nodes"),)),
        replace(_seed_rule("nomad-clients-in-4647-k8s-nodes"), sources=(_guide(doc, V4_NOMAD, "in 4647 K8s nodes"),)),
        replace(_seed_rule("nomad-clients-in-rerun-ssh"), sources=(_guide(doc, V4_NOMAD, "in 64535-65535 External"),)),
        _row("nomad-clients-out-4647-circleci-proxy", NOMAD, OUT, (NOMAD_RPC,), PROXY, "Internal communication", S.NOMAD_EGRESS,
             _guide(doc, V4_NOMAD, "out 4647 Nomad LB (circleci-proxy)")),
        replace(_seed_rule("external-vms-in-ssh-k8s-nodes"), sources=(_guide(doc, V4_VMS, "in 22 K8s nodes"),)),
        replace(_seed_rule("external-vms-in-ssh-nomad-clients"), sources=(_guide(doc, V4_VMS, "in 22 Nomad clients"),)),
        # Kept in the VM table of every v4 page, even after 4.3 dropped the senders' 2376 rows.
        replace(_seed_rule("external-vms-in-2376-k8s-nodes"), sources=(_guide(doc, V4_VMS, "in 2376 K8s nodes"),)),
        replace(_seed_rule("external-vms-in-2376-nomad-clients"), sources=(_guide(doc, V4_VMS, "in 2376 Nomad clients"),)),
        replace(_seed_rule("external-vms-in-rerun-ssh"), ports=(VM_RERUN_WITH_SSH,), sources=(_guide(doc, V4_VMS, "in 54782 External"),)),
    ]
    if docker_and_job_ports:
        rules += [
            replace(_seed_rule("k8s-nodes-out-2376-vms"), sources=(_guide(doc, V4_K8S, "out 2376 VMs (4.0-4.2)"),)),
            replace(_seed_rule("nomad-clients-out-2376-vms"), sources=(_guide(doc, V4_NOMAD, "out 2376 VMs (4.0-4.2)"),)),
            *_proxy_job_port_rules(doc, "4.0-4.2: nginx routes to vm-service and output-processor"),
        ]
    return tuple(_v4_common(doc) + rules)


def external_nomad_server_rules(cidrs: tuple[str, ...]) -> list[TrafficRule]:
    """Server 4.8+ (``nomad.server.internal: false``); the hardening page has no rows for it,
    so the rows come from CircleCI's reference Terraform, narrowed to the servers' CIDRs."""
    servers = CustomPeer(NOMAD_SERVERS, cidrs)
    section = "Nomad servers outside Kubernetes (Server 4.8+)"
    terraform = SourceKind.VENDOR_TERRAFORM
    return [
        _row("nomad-clients-out-nomad-servers", NOMAD, OUT, (NOMAD_SERVER_PORTS,), servers,
             "Nomad servers outside Kubernetes (HTTP, RPC, Serf)", section,
             RuleSource(terraform, TF_NOMAD_SERVER, "nomad-server NLB", "TCP listeners 4646, 4647, 4648 (tag 4.8.0)"),
             RuleSource(SourceKind.USER_OPTION, "ServerVersion.external_nomad_server_cidrs", section, "the servers' CIDRs")),
        _row("nomad-clients-in-nomad-servers", NOMAD, IN, (NOMAD_SERVER_PORTS,), servers,
             "Nomad servers outside Kubernetes (HTTP, RPC, Serf)", section,
             RuleSource(terraform, TF_NOMAD_CLIENT, "Nomad client security group",
                        "ingress 4646-4648 from the VPC CIDR (ONPREM-2249), here from the servers only"),
             RuleSource(SourceKind.USER_OPTION, "ServerVersion.external_nomad_server_cidrs", section, "the servers' CIDRs")),
    ]
# fmt: on


@dataclass(frozen=True)
class Profile:
    """One server version's rule table and what it documents."""

    id: ServerVersionId
    title: str
    releases: str
    document: str
    rules: tuple[TrafficRule, ...]
    proxy_job_port_rules: tuple[TrafficRule, ...] = ()
    """Opt-in rows (``ServerVersion.proxy_job_ports``); empty where the option does not exist."""
    external_nomad_servers: bool = False
    """Nomad servers outside Kubernetes are documented (Server 4.8+)."""
    vm_rerun_ssh_port: Port = RERUN_WITH_SSH
    config_file: ConfigFile = ConfigFile.KOTS_SHEET
    vm_provider_key: str = "vm_service"
    """The Helm key of the VM provider (``vm_service`` before 4.3, then ``machine_provisioner``)."""
    load_balancer_source_ranges: bool = False
    """Whether ``nginx.loadBalancerSourceRanges`` exists (4.3+)."""

    @property
    def load_balancers(self) -> tuple[Role, ...]:
        present = {rule.role for rule in self.rules if rule.role.is_load_balancer}
        return tuple(role for role in Role if role in present)

    @property
    def proxy_load_balancer(self) -> bool:
        """v4: the chart's nginx Service is the one load balancer; the cluster creates it."""
        return Role.PROXY_LB in self.load_balancers


PROFILES: Mapping[ServerVersionId, Profile] = {
    ServerVersionId.V3_SEED: Profile(
        ServerVersionId.V3_SEED,
        "Server v3, the guide in spec/ (early revision)",
        "3.x",
        SEED_DOCUMENT,
        SPEC_RULES,
        config_file=ConfigFile.LEGACY_VALUES,
    ),
    ServerVersionId.V3: Profile(
        ServerVersionId.V3,
        "Server v3 as finally documented",
        "3.x",
        H3,
        _v3_rules(),
        vm_rerun_ssh_port=VM_RERUN_WITH_SSH,
    ),
    ServerVersionId.V4_0: Profile(
        ServerVersionId.V4_0,
        "Server 4.0-4.2",
        "4.0-4.2",
        H4_0,
        _v4_rules(H4_0, docker_and_job_ports=True),
        vm_rerun_ssh_port=VM_RERUN_WITH_SSH,
        config_file=ConfigFile.HELM_VALUES,
    ),
    ServerVersionId.V4_3: Profile(
        ServerVersionId.V4_3,
        "Server 4.3-4.7",
        "4.3-4.7",
        H4_10,
        _v4_rules(H4_10, docker_and_job_ports=False),
        proxy_job_port_rules=tuple(
            _proxy_job_port_rules(H4_10, "listed on the 4.3+ page but nginx routes only to kong and nomad (opt-in)")
        ),
        vm_rerun_ssh_port=VM_RERUN_WITH_SSH,
        config_file=ConfigFile.HELM_VALUES,
        vm_provider_key="machine_provisioner",
        load_balancer_source_ranges=True,
    ),
    ServerVersionId.V4_8: Profile(
        ServerVersionId.V4_8,
        "Server 4.8 and later (current: 4.10)",
        "4.8-4.10",
        H4_10,
        _v4_rules(H4_10, docker_and_job_ports=False),
        proxy_job_port_rules=tuple(
            _proxy_job_port_rules(H4_10, "listed on the 4.3+ page but nginx routes only to kong and nomad (opt-in)")
        ),
        external_nomad_servers=True,
        vm_rerun_ssh_port=VM_RERUN_WITH_SSH,
        config_file=ConfigFile.HELM_VALUES,
        vm_provider_key="machine_provisioner",
        load_balancer_source_ranges=True,
    ),
}

KNOWN_IDS = ", ".join(p.value for p in ServerVersionId)


def profile_id(value: object, field_name: str) -> ServerVersionId:
    try:
        return ServerVersionId(str(value))
    except ValueError:
        raise ConfigurationError(
            field_name, f"{value!r} is not a known server version", f"use one of {KNOWN_IDS}"
        ) from None


@checked_keywords
@dataclass(frozen=True)
class ServerVersion:
    """The CircleCI Server version the network is for, and the options only some versions have."""

    id: ServerVersionId = ServerVersionId.V3_SEED
    """
    Whose rule table and application config apply: ``v3-seed`` (default: the guide in spec/,
    today's stacks unchanged), ``v3``, ``v4.0`` or ``v4.3``; the enum or its value string.
    """
    proxy_job_ports: bool = False
    """v4.3, v4.8: also open 3000 and 8585 from Nomad clients on circleci-proxy (listed, probably stale)."""
    external_nomad_server_cidrs: tuple[str, ...] = ()
    """v4.8 (Server 4.8+): the CIDRs of Nomad servers run outside Kubernetes (4646-4648)."""
    proxy_load_balancer: bool | None = None
    """``None``: the profile's. v4 has only ``circleci-proxy``; v3 has none."""
    vm_rerun_ssh_ports: Port | None = None
    """``None``: the profile's (64535-65535 on v3-seed, 54782 since the final v3 page)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", profile_id(self.id, "ServerVersion.id"))
        object.__setattr__(
            self,
            "external_nomad_server_cidrs",
            cidr_tuple(self.external_nomad_server_cidrs, "ServerVersion.external_nomad_server_cidrs"),
        )
        profile = self.profile
        name = f"server version {self.id.value}"
        if self.proxy_job_ports and not profile.proxy_job_port_rules and not profile.proxy_load_balancer:
            raise ConfigurationError(
                "ServerVersion.proxy_job_ports",
                f"{name} has no circleci-proxy load balancer (it is Server v4's)",
                "use id=ServerVersionId.V4_3 or V4_8, or leave proxy_job_ports False",
            )
        if self.external_nomad_server_cidrs and not profile.external_nomad_servers:
            raise ConfigurationError(
                "ServerVersion.external_nomad_server_cidrs",
                f"{name} documents no Nomad servers outside Kubernetes: that needs v4.8 (Server 4.8+)",
                "use id=ServerVersionId.V4_8 if you run Server 4.8 or later, or leave it empty",
            )
        if ALL_IPV4 in self.external_nomad_server_cidrs:
            raise ConfigurationError(
                "ServerVersion.external_nomad_server_cidrs",
                "0.0.0.0/0 would open Nomad's HTTP, RPC and Serf ports to the whole internet",
                "list the subnets your Nomad servers run in",
            )
        if self.proxy_load_balancer is not None and self.proxy_load_balancer != profile.proxy_load_balancer:
            has = (
                "has only the circleci-proxy load balancer"
                if profile.proxy_load_balancer
                else (
                    "has no circleci-proxy load balancer (Server v4's); its load balancers are "
                    + ", ".join(r.value for r in profile.load_balancers)
                )
            )
            raise ConfigurationError(
                "ServerVersion.proxy_load_balancer",
                f"{name} {has}",
                "leave proxy_load_balancer unset, or choose a v4 id (v4.0, v4.3, v4.8) for circleci-proxy",
            )
        if self.vm_rerun_ssh_ports is not None and self.vm_rerun_ssh_ports != profile.vm_rerun_ssh_port:
            raise ConfigurationError(
                "ServerVersion.vm_rerun_ssh_ports",
                f"{name} documents rerun-with-SSH on external VMs at {profile.vm_rerun_ssh_port}, "
                f"not {self.vm_rerun_ssh_ports}",
                f"leave it unset (the profile's {profile.vm_rerun_ssh_port}), or pick the server version that lists it",
            )

    @property
    def profile(self) -> Profile:
        return PROFILES[self.id]

    @property
    def is_default(self) -> bool:
        return self == ServerVersion()

    def rules(self) -> tuple[TrafficRule, ...]:
        """The profile's table with the options this version offers applied."""
        rules = list(self.profile.rules)
        if self.proxy_job_ports:
            rules += self.profile.proxy_job_port_rules
        if self.external_nomad_server_cidrs:
            rules += external_nomad_server_rules(self.external_nomad_server_cidrs)
        return tuple(rules)

    @property
    def load_balancers(self) -> tuple[Role, ...]:
        return self.profile.load_balancers

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id.value}
        if self.proxy_job_ports:
            data["proxy_job_ports"] = True
        if self.external_nomad_server_cidrs:
            data["external_nomad_server_cidrs"] = list(self.external_nomad_server_cidrs)
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ServerVersion:
        return ServerVersion(
            id=profile_id(data.get("id"), "intent.server_version.id"),
            proxy_job_ports=bool(data.get("proxy_job_ports")),
            external_nomad_server_cidrs=tuple(data.get("external_nomad_server_cidrs", ())),
        )


def terraform_load_balancers(version: ServerVersion) -> tuple[Role, ...]:
    """Load balancers our Terraform builds: v3's; on v4 the cluster builds circleci-proxy."""
    return tuple(role for role in version.load_balancers if role in LOAD_BALANCERS)


def rows(rules: Iterable[TrafficRule]) -> list[dict[str, Any]]:
    """The table for reviewers: one row per rule and port, with its sources."""
    result = []
    for rule in rules:
        for port in rule.ports:
            every = port.protocol is Protocol.ALL
            result.append(
                {
                    "rule_id": rule.rule_id,
                    "role": rule.role.value,
                    "direction": rule.direction.value,
                    "protocol": port.protocol.value,
                    "from_port": None if every else port.from_port,
                    "to_port": None if every else port.to_port,
                    "peer": rule.peer.name if isinstance(rule.peer, CustomPeer) else rule.peer.value,
                    "purpose": rule.purpose,
                    "sources": [
                        {"kind": s.kind.value, "document": s.document, "section": s.section, "reference": s.reference}
                        for s in rule.sources
                    ],
                }
            )
    return result
