"""The hardening guide as data: one ``TrafficRule`` per table row and per prose rule.

This table is the only place a port is opened. AWS and GCP render it; the audit checks
synthesized output against it. ``rule_id`` values are part of resource IDs in users'
state: never rename one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from circleci_network.model.options import HardeningOptions
from circleci_network.model.ports import (
    ALL_TRAFFIC,
    DNS_TCP,
    DNS_UDP,
    DOCKER_TLS,
    HTTP,
    HTTPS,
    KUBERNETES_NODE_PORTS,
    NOMAD_RPC,
    OUTPUT_PROCESSOR,
    RERUN_WITH_SSH,
    SSH,
    VM_SERVICE,
    Port,
)
from circleci_network.model.roles import LOAD_BALANCERS, OutsidePeer, Role

if TYPE_CHECKING:
    from circleci_network.model.server_versions import ServerVersion


class Direction(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"


class SpecSection(StrEnum):
    """Where in the guide a rule comes from (heading / part)."""

    LB_INGRESS = "Kubernetes Load Balancers / Ingress"
    LB_EGRESS = "Kubernetes Load Balancers / Egress"
    COMMON_INGRESS = "Common Rules for Compute Instances / Ingress"
    COMMON_EGRESS = "Common Rules for Compute Instances / Egress"
    K8S_INTRA = "Kubernetes Nodes / Intra-node traffic"
    K8S_INGRESS = "Kubernetes Nodes / Ingress"
    K8S_EGRESS = "Kubernetes Nodes / Egress"
    NOMAD_INGRESS = "Nomad Clients / Ingress"
    NOMAD_EGRESS = "Nomad Clients / Egress"
    VM_INGRESS = "External VMs / Ingress"
    VM_EGRESS = "External VMs / Egress"
    USER_EXTRA_EGRESS = "Network Traffic (additional egress for workloads, user-supplied)"
    USER_NODE_EXTRA_EGRESS = "Kubernetes nodes extra egress, beyond the guide (user-supplied)"
    """
    Not a part of the guide: it names extra egress for the job roles only. No apostrophe:
    AWS refuses one in a security group rule's description.
    """


class SourceKind(StrEnum):
    """What kind of document a rule comes from."""

    GUIDE = "guide"  # CircleCI's hardening guide (a revision of it)
    VENDOR_TERRAFORM = "vendor terraform"  # CircleCI's reference Terraform (server-terraform)
    PLATFORM = "platform"  # the cloud's or Kubernetes' documentation (EKS, GKE, controllers)
    USER_OPTION = "user option"  # an option the user set (HardeningOptions, ServerVersion)


#: The guide in spec/: an early revision of the Server v3 page, and the default profile.
SEED_DOCUMENT = "spec/circleci-server-v3-hardening.md (early revision of the Server v3 page)"


@dataclass(frozen=True)
class RuleSource:
    """Where one rule comes from: the document, its section, and the row or option."""

    kind: SourceKind
    document: str
    section: str
    reference: str

    @property
    def label(self) -> str:
        return f"{self.kind.value}: {self.document} / {self.section} / {self.reference}"


@dataclass(frozen=True)
class CustomPeer:
    """Named CIDRs a user supplied (extra egress)."""

    name: str
    cidrs: tuple[str, ...]


Peer = Role | OutsidePeer | CustomPeer


@dataclass(frozen=True)
class TrafficRule:
    """One allowed flow, seen from ``role``: ingress from ``peer`` or egress to it."""

    rule_id: str
    role: Role
    direction: Direction
    ports: tuple[Port, ...]
    peer: Peer
    purpose: str
    section: str
    """
    The guide's heading / part; with ``purpose`` and the peer it makes the description,
    so a row that several versions share keeps one description (no cloud-side update).
    """
    from_table: bool  # a table row of the guide (True) or a prose rule (False)
    sources: tuple[RuleSource, ...] = ()
    """Every document row this rule stands for, first the one it is rendered from."""

    @property
    def description(self) -> str:
        """Short enough for every cloud (AWS: 255, GCP: 2048 characters)."""
        arrow = "from" if self.direction is Direction.INGRESS else "to"
        # A platform rule is not a guide row: its label says where it does come from.
        label = "platform" if self.sources and self.sources[0].kind is SourceKind.PLATFORM else "spec"
        if self.section == SpecSection.USER_NODE_EXTRA_EGRESS:
            label = "option"  # the guide has no such row: "spec" would claim one
        text = f"{self.purpose} ({arrow} {peer_name(self.peer)}; {label}: {self.section})"
        return text[:255]


def peer_name(peer: Peer) -> str:
    if isinstance(peer, CustomPeer):
        return peer.name
    return peer.value


IN, OUT = Direction.INGRESS, Direction.EGRESS
K8S, NOMAD, VMS = Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS, Role.EXTERNAL_VMS
S = SpecSection


def _rule(
    rule_id: str,
    role: Role,
    direction: Direction,
    ports: tuple[Port, ...],
    peer: Peer,
    purpose: str,
    section: SpecSection,
    *,
    table: bool,
) -> TrafficRule:
    source = RuleSource(SourceKind.GUIDE, SEED_DOCUMENT, section.value, "table row" if table else "prose")
    return TrafficRule(rule_id, role, direction, ports, peer, purpose, section, table, (source,))


# The table stays one rule per line, like the guide's rows.
# fmt: off
def _load_balancer_rules() -> list[TrafficRule]:
    rules = [
        _rule("frontend-external-in-http", Role.FRONTEND_LB, IN, (HTTP,), OutsidePeer.CLIENTS, "Frontend API", S.LB_INGRESS, table=True),
        _rule("frontend-external-in-https", Role.FRONTEND_LB, IN, (HTTPS,), OutsidePeer.CLIENTS, "Frontend API", S.LB_INGRESS, table=True),
        _rule("server-traefik-in-http", Role.TRAEFIK_LB, IN, (HTTP,), OutsidePeer.CLIENTS, "User Interface", S.LB_INGRESS, table=True),
        _rule("server-traefik-in-https", Role.TRAEFIK_LB, IN, (HTTPS,), OutsidePeer.CLIENTS, "User Interface", S.LB_INGRESS, table=True),
        _rule("vm-service-in-3000", Role.VM_SERVICE_LB, IN, (VM_SERVICE,), NOMAD, "Communication with Nomad clients", S.LB_INGRESS, table=True),
        _rule("nomad-in-4647", Role.NOMAD_LB, IN, (NOMAD_RPC,), NOMAD, "Communication with Nomad clients", S.LB_INGRESS, table=True),
        _rule("output-processor-in-8585", Role.OUTPUT_PROCESSOR_LB, IN, (OUTPUT_PROCESSOR,), NOMAD, "Communication with Nomad clients", S.LB_INGRESS, table=True),
    ]
    for lb in LOAD_BALANCERS:
        rules.append(_rule(f"{lb.value}-out-node-ports", lb, OUT, (KUBERNETES_NODE_PORTS,), K8S,
                           "Kubernetes load balancer port range on the nodes", S.LB_EGRESS, table=False))
        rules.append(_rule(f"k8s-nodes-in-node-ports-from-{lb.value}", K8S, IN, (KUBERNETES_NODE_PORTS,), lb,
                           f"Kubernetes load balancer port range from the {lb.display_name}", S.K8S_INGRESS, table=False))
    return rules


def _common_rules() -> list[TrafficRule]:
    rules: list[TrafficRule] = []
    for role in (K8S, NOMAD, VMS):
        r = role.value
        rules += [
            _rule(f"{r}-in-ssh-administration", role, IN, (SSH,), OutsidePeer.SSH_ADMINISTRATORS,
                  "SSH access, scoped to allowed source IPs", S.COMMON_INGRESS, table=False),
            _rule(f"{r}-out-dns", role, OUT, (DNS_UDP, DNS_TCP), OutsidePeer.DNS_RESOLVER,
                  "DNS to the DNS server within the VPC", S.COMMON_EGRESS, table=False),
            _rule(f"{r}-out-http-https", role, OUT, (HTTP, HTTPS), OutsidePeer.INTERNET,
                  "HTTP/HTTPS", S.COMMON_EGRESS, table=False),
        ]
    for role in (NOMAD, VMS):
        rules.append(_rule(f"{role.value}-out-ssh-vcs", role, OUT, (SSH,), OutsidePeer.VCS,
                           "SSH to the VCS (instances building jobs)", S.COMMON_EGRESS, table=False))
    # "SSH ... for all instances with the destination of the VM subnet": the VMs themselves
    # are left out, because "no need for external VMs to communicate with each other".
    for role in (K8S, NOMAD):
        rules.append(_rule(f"{role.value}-out-ssh-vms", role, OUT, (SSH,), VMS,
                           "SSH to external VMs", S.COMMON_EGRESS, table=False))
    return rules


def _role_table_rules() -> list[TrafficRule]:
    return [
        _rule("k8s-nodes-in-all-from-k8s-nodes", K8S, IN, (ALL_TRAFFIC,), K8S,
              "Intra-cluster traffic, regulated by Kubernetes network policies", S.K8S_INTRA, table=False),
        _rule("k8s-nodes-out-2376-vms", K8S, OUT, (DOCKER_TLS,), VMS, "Communication with VMs", S.K8S_EGRESS, table=True),
        _rule("k8s-nodes-out-4647-nomad-clients", K8S, OUT, (NOMAD_RPC,), NOMAD, "Communication with the Nomad clients", S.K8S_EGRESS, table=True),
        _rule("k8s-nodes-out-all-k8s-nodes", K8S, OUT, (ALL_TRAFFIC,), K8S, "Allow intra-cluster traffic", S.K8S_EGRESS, table=True),
        _rule("nomad-clients-in-4647-k8s-nodes", NOMAD, IN, (NOMAD_RPC,), K8S, "Communication with Nomad server", S.NOMAD_INGRESS, table=True),
        _rule("nomad-clients-in-rerun-ssh", NOMAD, IN, (RERUN_WITH_SSH,), OutsidePeer.RERUN_SSH_CLIENTS, "Rerun jobs with SSH functionality", S.NOMAD_INGRESS, table=True),
        _rule("nomad-clients-out-2376-vms", NOMAD, OUT, (DOCKER_TLS,), VMS, "Communication with VMs", S.NOMAD_EGRESS, table=True),
        _rule("nomad-clients-out-3000-vm-service", NOMAD, OUT, (VM_SERVICE,), Role.VM_SERVICE_LB, "Internal communication", S.NOMAD_EGRESS, table=True),
        _rule("nomad-clients-out-4647-nomad", NOMAD, OUT, (NOMAD_RPC,), Role.NOMAD_LB, "Internal communication", S.NOMAD_EGRESS, table=True),
        _rule("nomad-clients-out-8585-output-processor", NOMAD, OUT, (OUTPUT_PROCESSOR,), Role.OUTPUT_PROCESSOR_LB, "Internal communication", S.NOMAD_EGRESS, table=True),
        _rule("external-vms-in-ssh-k8s-nodes", VMS, IN, (SSH,), K8S, "Internal communication", S.VM_INGRESS, table=True),
        _rule("external-vms-in-ssh-nomad-clients", VMS, IN, (SSH,), NOMAD, "Internal communication", S.VM_INGRESS, table=True),
        _rule("external-vms-in-2376-k8s-nodes", VMS, IN, (DOCKER_TLS,), K8S, "Internal communication", S.VM_INGRESS, table=True),
        _rule("external-vms-in-2376-nomad-clients", VMS, IN, (DOCKER_TLS,), NOMAD, "Internal communication", S.VM_INGRESS, table=True),
        _rule("external-vms-in-rerun-ssh", VMS, IN, (RERUN_WITH_SSH,), OutsidePeer.RERUN_SSH_CLIENTS, "Rerun jobs with SSH functionality", S.VM_INGRESS, table=True),
    ]


# fmt: on


#: Every rule of the guide, before options are applied.
SPEC_RULES: tuple[TrafficRule, ...] = tuple(_load_balancer_rules() + _common_rules() + _role_table_rules())


def extra_egress_section(role: Role) -> SpecSection:
    """The guide allows extra egress for the job roles; the nodes' is beyond it, and says so."""
    return S.USER_NODE_EXTRA_EGRESS if role is K8S else S.USER_EXTRA_EGRESS


def _extra_rules(options: HardeningOptions) -> list[TrafficRule]:
    return [
        TrafficRule(
            f"{extra.role.value}-out-extra-{extra.name}",
            extra.role,
            OUT,
            (extra.port,),
            CustomPeer(extra.name, extra.cidrs),
            extra.purpose,
            extra_egress_section(extra.role),
            False,
            (
                RuleSource(
                    SourceKind.USER_OPTION,
                    "HardeningOptions.extra_egress",
                    extra_egress_section(extra.role).value,
                    f"ExtraEgressRule({extra.name!r})",
                ),
            ),
        )
        for extra in options.extra_egress
    ]


#: Where a transparent load balancer's listener port arrives on the nodes, for clouds that
#: rewrite it: (load balancer, listener port) -> node port. An AWS NLB with instance targets
#: delivers to the NodePort and keeps the client's address; GCP's passthrough keeps the port.
DeliveredPorts = Mapping[tuple[Role, int], int]


def _make_transparent(rules: list[TrafficRule], delivered: DeliveredPorts | None) -> list[TrafficRule]:
    """Apply the guide: with transparent load balancers, "the rules of this section apply
    directly to the underlying destination or source"."""
    result: list[TrafficRule] = []
    health_checks_added = False
    for rule in rules:
        if rule.role.is_load_balancer and rule.direction is IN:
            ports = rule.ports
            if delivered is not None:
                ports = tuple(Port.tcp(delivered[(rule.role, port.from_port)]) for port in rule.ports)
            result.append(replace(rule, rule_id=f"k8s-nodes-in-via-{rule.rule_id}", role=K8S, ports=ports))
        elif rule.role.is_load_balancer:
            continue  # a transparent load balancer has no egress of its own
        elif rule.section == S.K8S_INGRESS:
            if not health_checks_added:  # the node-port range now comes from the probes only
                result.append(
                    replace(
                        rule,
                        rule_id="k8s-nodes-in-node-ports-from-lb-health-checks",
                        peer=OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS,
                        purpose="Kubernetes load balancer port range from the load balancers' health checks",
                    )
                )
                health_checks_added = True
        else:
            result.append(rule)
    return result


def active_rules(
    options: HardeningOptions,
    *,
    transparent_load_balancers: bool | None = None,
    delivered_ports: DeliveredPorts | None = None,
    server_version: ServerVersion | None = None,
    platform_rules: tuple[TrafficRule, ...] = (),
) -> tuple[TrafficRule, ...]:
    """The rules in force for these options and server version (``None``: the guide in spec/),
    with ``platform_rules`` (what the cluster adds by itself, ``controller_rules``).

    A rule whose outside peer resolves to no CIDRs (no SSH administrators, rerun-with-SSH
    turned off) is left out; nothing is ever widened.
    """
    transparent = (
        options.transparent_load_balancers if transparent_load_balancers is None else transparent_load_balancers
    )
    rules = list(SPEC_RULES if server_version is None else server_version.rules()) + list(platform_rules)
    if transparent:
        rules = _make_transparent(rules, delivered_ports)
    rules += _extra_rules(options)
    return tuple(
        rule for rule in rules if not (isinstance(rule.peer, OutsidePeer) and options.cidrs_for(rule.peer) == ())
    )


def rerun_ingress_rules(rules: tuple[TrafficRule, ...]) -> tuple[TrafficRule, ...]:
    """The job roles' rerun-with-SSH ingress. On GCP its outside ranges may cover the shared
    subnet, which the nodes' all-traffic egress reaches; the guide has no node -> job row on
    these ports, so GCP renders a deny of the nodes (and pods) beside each."""
    return tuple(
        r
        for r in rules
        if r.direction is Direction.INGRESS
        and r.role in (Role.NOMAD_CLIENTS, Role.EXTERNAL_VMS)
        and r.peer is OutsidePeer.RERUN_SSH_CLIENTS
    )


def rules_for(rules: tuple[TrafficRule, ...], role: Role) -> tuple[TrafficRule, ...]:
    return tuple(rule for rule in rules if rule.role is role)


def roles_in(rules: tuple[TrafficRule, ...]) -> tuple[Role, ...]:
    """The roles that hold at least one rule, in the enum's order."""
    present = {rule.role for rule in rules}
    return tuple(role for role in Role if role in present)


def load_balancer_ports(role: Role, rules: tuple[TrafficRule, ...] = SPEC_RULES) -> tuple[Port, ...]:
    """The ports a load balancer listens on: its ingress rows in the table (default: the guide in spec/)."""
    return tuple(
        port for rule in rules if rule.role is role and rule.direction is Direction.INGRESS for port in rule.ports
    )
