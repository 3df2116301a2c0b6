"""Firewall rules rendered from the rule model, plus a deny-all baseline per compute role.

GCP facts this design follows: egress rules name destination ranges only, so isolation
between roles in the shared subnet comes from each destination's ingress rules; rules
target service accounts (or tags, never both); lower priority numbers win, and deny
beats allow at equal priority.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from cdktf import TerraformLocal
from cdktf_cdktf_provider_google.compute_firewall import (
    ComputeFirewall,
    ComputeFirewallAllow,
    ComputeFirewallDeny,
    ComputeFirewallLogConfig,
)
from constructs import Construct

from circleci_network.errors import ConfigurationError
from circleci_network.gcp.load_balancer_addresses import fixed_addresses
from circleci_network.gcp.naming import (
    baseline_name,
    check_prefix_lengths,
    job_deny_name,
    rerun_deny_name,
    rule_name,
)
from circleci_network.gcp.settings import (
    FirewallTargets,
    GcpAddressing,
    check_name,
    check_project,
)
from circleci_network.model.accepted_findings import AcceptedFinding, check_accepted_findings
from circleci_network.model.checks import checked_keywords, member, require_fields
from circleci_network.model.cloud_facts import GOOGLE_HEALTH_CHECK_RANGES, METADATA_SERVER_CIDR
from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent, StackInputs
from circleci_network.model.nat_translation import NatTranslation
from circleci_network.model.options import HardeningOptions, check_outside_peers
from circleci_network.model.platform_rules import GKE_RULE_PRIORITY, PlatformOptions
from circleci_network.model.ports import Port, Protocol
from circleci_network.model.resolve import Cloud, PeerAddresses, ResolvedPolicy, ResolvedRule, resolve_policy
from circleci_network.model.roles import COMPUTE_ROLES, INTERNAL_LOAD_BALANCERS, JOB_ROLES, Role
from circleci_network.model.rules import Direction
from circleci_network.model.server_versions import ServerVersion

ALLOW_PRIORITY = 1000
BASELINE_PRIORITY = 65000


def addressed_load_balancers(version: ServerVersion) -> tuple[Role, ...]:
    """Load balancers egress rules name by their fixed internal address."""
    return tuple(r for r in version.load_balancers if r in INTERNAL_LOAD_BALANCERS or r is Role.PROXY_LB)


@checked_keywords
@dataclass(frozen=True)
class FirewallProps:
    project: str
    """GCP project ID: 6-30 lowercase letters, digits and '-', starting with a letter."""
    network_id: str
    """The network the rules belong to: its ID or self link (``CircleciGcpVpc.network_id``)."""
    service_account_emails: Mapping[Role, str]
    """
    Each compute role's service account email (``RoleIdentities.service_account_email``):
    targets and sources with ``FirewallTargets.SERVICE_ACCOUNTS``.
    """
    tags: Mapping[Role, str]
    """
    Each compute role's network tag (``RoleIdentities.tags``):
    targets and sources with ``FirewallTargets.NETWORK_TAGS``.
    """
    addressing: GcpAddressing = field(default_factory=GcpAddressing)
    """
    The subnet, pod and service ranges and internal load balancer addresses:
    egress rules name peers by these; outside peers' CIDRs must not overlap them.
    """
    hardening: HardeningOptions = field(default_factory=HardeningOptions)
    """Who counts as "External" for each rule of the guide, and what is opened on request."""
    name: str = "circleci"
    """
    Prefix of every rule name (``<name>-<rule id>``): lowercase letters, digits and
    '-', starting with a letter; the longest rule name must fit GCP's 63 characters.
    """
    targets: FirewallTargets = FirewallTargets.SERVICE_ACCOUNTS
    """
    How rules pick instances: ``SERVICE_ACCOUNTS`` (default; only IAM can change them) or
    ``NETWORK_TAGS`` (anyone with ``compute.instances.setTags`` can); the enum or its value string.
    """
    allow_priority: int = ALLOW_PRIORITY
    """
    Priority of the allow rules, 0-65534 (lower wins): below ``baseline_priority``;
    with ``Platform.GKE`` at most 998 (GKE's own rules are at 1000).
    """
    baseline_priority: int = BASELINE_PRIORITY
    """Priority of the deny baseline, 0-65534 (lower wins): above ``allow_priority``."""
    server_version: ServerVersion = field(default_factory=ServerVersion)
    """Whose rule table to render (default: the guide in spec/)."""
    platform: PlatformOptions = field(default_factory=PlatformOptions)
    """
    The managed Kubernetes platform: GKE adds its platform rules and a deny from the job
    identities to the nodes at ``allow_priority + 1``, before GKE's own rules at 1000.
    """
    nat_translation: NatTranslation | None = None
    """
    v4 internet mode (set by ``CircleciGcpNetwork``): Nomad clients reach circleci-proxy's external
    address through Cloud NAT, so ``policy`` resolves those rows to addresses (``circleci_network.model.nat_translation``),
    and GKE's Service rule admits Cloud NAT's addresses too (``load_balancer_source_ranges``).
    """
    accepted_findings: tuple[AcceptedFinding, ...] = ()
    """
    Audit findings about your own resources in the same stack (a firewall rule or subnetwork
    on another network of yours), each with its reason; recorded, so the policy file pins them.
    Default ``()``: every such resource fails the audit (README "Your own resources in the stack").
    """

    def __post_init__(self) -> None:
        require_fields(self)
        if self.nat_translation is not None and not isinstance(self.nat_translation, NatTranslation):
            raise ConfigurationError(
                "FirewallProps.nat_translation",
                f"{self.nat_translation!r} is not a NatTranslation",
                "leave it None (CircleciGcpNetwork sets it)",
            )
        check_project(self.project, "FirewallProps.project")
        object.__setattr__(
            self,
            "accepted_findings",
            check_accepted_findings(self.accepted_findings, "FirewallProps.accepted_findings", "gcp"),
        )
        check_name(self.name, "FirewallProps.name")
        object.__setattr__(self, "targets", member(FirewallTargets, self.targets, "FirewallProps.targets"))
        for field_name in ("allow_priority", "baseline_priority"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or not 0 <= value <= 65534:
                raise ConfigurationError(
                    f"FirewallProps.{field_name}",
                    f"{value!r} is not a priority from 0 to 65534",
                    "use a whole number; lower wins",
                )
        if self.allow_priority >= self.baseline_priority:
            raise ConfigurationError(
                "FirewallProps.allow_priority",
                f"{self.allow_priority} does not win over the deny baseline at {self.baseline_priority}",
                "give allow rules a lower number than baseline_priority (lower wins)",
            )
        check_outside_peers(self.hardening, self.addressing.ranges(), "FirewallProps.hardening")
        if self.platform.is_gke and self.allow_priority + 1 >= GKE_RULE_PRIORITY:
            raise ConfigurationError(
                "FirewallProps.allow_priority",
                f"{self.allow_priority} leaves no room for the job deny before GKE's own rules at {GKE_RULE_PRIORITY}",
                f"with Platform.GKE use an allow priority of at most {GKE_RULE_PRIORITY - 2} (default 900)",
            )
        # Every rule name this policy renders: the version's, the platform's, internet mode's.
        check_prefix_lengths(self.name, "FirewallProps.name", {"firewall"}, policy=self.policy)

    @cached_property
    def policy(self) -> ResolvedPolicy:
        """The rules these props render, resolved once (``firewall_policy``)."""
        return firewall_policy(
            self.addressing, self.hardening, self.server_version, self.platform, self.nat_translation
        )


def firewall_policy(
    addressing: GcpAddressing,
    hardening: HardeningOptions,
    server_version: ServerVersion,
    platform: PlatformOptions,
    nat_translation: NatTranslation | None,
) -> ResolvedPolicy:
    """The rules a firewall renders. Egress rules can name peers by range only: the nodes by the
    subnet and pod range, the other roles by the subnet, the internal load balancers by their
    fixed /32, an external one (v4 internet mode) by its static addresses."""
    a = addressing
    subnet = (a.subnet_cidr,)
    roles: dict[Role, tuple[str, ...]] = {role: subnet for role in COMPUTE_ROLES}
    roles[Role.KUBERNETES_NODES] = (a.subnet_cidr, a.pods_cidr)
    roles |= {lb: (f"{address}/32",) for lb, address in fixed_addresses(a, server_version).items()}
    public = nat_translation.public_addresses if nat_translation is not None else {}
    roles |= {lb: tuple(address.cidr for address in addresses) for lb, addresses in public.items()}
    return resolve_policy(
        hardening,
        cloud=Cloud.GCP,
        server_version=server_version,
        platform=platform,
        addresses=PeerAddresses(
            dns_resolver=(METADATA_SERVER_CIDR,),
            load_balancer_health_checks=GOOGLE_HEALTH_CHECK_RANGES,
            roles=roles,
            nat_translation=nat_translation,
        ),
    )


def _allow_blocks(ports: tuple[Port, ...]) -> list[tuple[str, list[str] | None]]:
    by_protocol: dict[str, list[str] | None] = {}
    for port in ports:
        if port.protocol is Protocol.ALL:
            by_protocol["all"] = None
            continue
        span = str(port.from_port) if port.is_single else f"{port.from_port}-{port.to_port}"
        existing = by_protocol.setdefault(port.protocol.value, [])
        if existing is not None:
            existing.append(span)
    return sorted(by_protocol.items())


@dataclass(frozen=True)
class _Selectors:
    """Which packets a firewall rule matches, besides ports: GCP's target and peer fields."""

    target_service_accounts: list[str] | None = None
    target_tags: list[str] | None = None
    source_ranges: list[str] | None = None
    source_service_accounts: list[str] | None = None
    source_tags: list[str] | None = None
    destination_ranges: list[str] | None = None


class CircleciFirewall(Construct):
    def __init__(self, scope: Construct, id: str, *, props: FirewallProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.policy = props.policy
        self.rules = self.policy.rules
        addresses = self.policy.addresses.roles
        translation = self.policy.addresses.nat_translation
        #: Load balancers at static external addresses (v4 internet mode).
        self.public_load_balancers = frozenset(translation.public_addresses) if translation is not None else frozenset()
        self.firewalls: dict[str, ComputeFirewall] = {}
        for rule in self.rules:
            self.firewalls[rule.rule_id] = self._firewall(
                rule.rule_id,
                rule_name(props.name, rule.rule_id),
                rule.direction,
                props.allow_priority,
                rule.description,
                self._selectors(rule),
                allow=[ComputeFirewallAllow(protocol=p, ports=ports) for p, ports in _allow_blocks(rule.ports)],
            )
        nodes = self._identity_selectors(Role.KUBERNETES_NODES)
        for rule in self.policy.rerun_ingress_rules:
            # Deny beats allow at equal priority: the nodes and pods never reach the rerun ports.
            self.firewalls[rerun_deny_name(props.name, rule.role)] = self._firewall(
                f"{rule.role.value}-deny-rerun-from-k8s-nodes",
                rerun_deny_name(props.name, rule.role),
                Direction.INGRESS,
                props.allow_priority,
                f"Deny the Kubernetes nodes and pods the rerun-with-SSH ports of {rule.role.display_name} "
                "(their egress reaches the shared subnet; the guide has no such row)",
                _Selectors(**self._target(rule.role), **nodes),
                deny=[ComputeFirewallDeny(protocol=p, ports=ports) for p, ports in _allow_blocks(rule.ports)],
            )
        if props.platform.is_gke:
            jobs: dict[str, list[str]] = {}
            for role in JOB_ROLES:
                for key, values in self._identity_selectors(role).items():
                    jobs.setdefault(key, []).extend(values)
            # GKE's -vms rule admits the whole subnet, internal load balancer addresses included.
            vips = [
                c
                for lb in addressed_load_balancers(props.server_version)
                if lb not in self.public_load_balancers  # reached at an external address, not in the subnet
                for c in addresses[lb]
            ]
            if vips:
                jobs["source_ranges"] = vips
            self.firewalls[job_deny_name(props.name)] = self._firewall(
                "k8s-nodes-deny-from-jobs",
                job_deny_name(props.name),
                Direction.INGRESS,
                props.allow_priority + 1,
                f"Deny Nomad clients, external VMs and internal LB addresses the rest to the nodes, before GKE's "
                f"gke-*-vms/-all rules at {GKE_RULE_PRIORITY} (platform rule ordering, not a guide row)",
                _Selectors(**self._target(Role.KUBERNETES_NODES), **jobs),
                deny=[ComputeFirewallDeny(protocol="all")],
            )
        for role in COMPUTE_ROLES:
            for direction in Direction:
                everywhere = ["0.0.0.0/0"]
                ingress = direction is Direction.INGRESS
                selectors = _Selectors(
                    **self._target(role),
                    source_ranges=everywhere if ingress else None,
                    destination_ranges=None if ingress else everywhere,
                )
                name = baseline_name(props.name, role, direction)
                self.firewalls[name] = self._firewall(
                    f"{role.value}-deny-all-{direction.value}",
                    name,
                    direction,
                    props.baseline_priority,
                    f"Baseline: deny all {direction.value} for {role.display_name}; the allow rules above it are the guide's",
                    selectors,
                    deny=[ComputeFirewallDeny(protocol="all")],
                )
        # Alone, the stack holds neither subnet nor addresses: the addressing is the user's input.
        # CircleciGcpNetwork replaces this record with its own (``record``).
        self.intent = NetworkIntent(
            cloud="gcp",
            name=props.name,
            options=props.hardening,
            inputs=StackInputs(
                existing_network=props.network_id,
                role_cidrs={
                    role: addresses[role] for role in (*COMPUTE_ROLES, *addressed_load_balancers(props.server_version))
                },
            ),
            server_version=props.server_version,
            platform=props.platform,
            accepted_findings=props.accepted_findings,
        )
        self._record = TerraformLocal(self, INTENT_LOCAL, self.intent.to_json())

    def record(self, intent: NetworkIntent) -> None:
        """Replace the recorded inputs (a whole network records its shape, not its derived facts)."""
        self.intent = intent
        self._record.expression = intent.to_json()

    def _firewall(
        self,
        construct_id: str,
        name: str,
        direction: Direction,
        priority: int,
        description: str,
        selectors: _Selectors,
        *,
        allow: list[ComputeFirewallAllow] | None = None,
        deny: list[ComputeFirewallDeny] | None = None,
    ) -> ComputeFirewall:
        return ComputeFirewall(
            self,
            construct_id,
            name=name,
            project=self.props.project,
            network=self.props.network_id,
            direction=direction.name,
            priority=priority,
            allow=allow,
            deny=deny,
            log_config=ComputeFirewallLogConfig(metadata="INCLUDE_ALL_METADATA"),
            description=description,
            target_service_accounts=selectors.target_service_accounts,
            target_tags=selectors.target_tags,
            source_ranges=selectors.source_ranges,
            source_service_accounts=selectors.source_service_accounts,
            source_tags=selectors.source_tags,
            destination_ranges=selectors.destination_ranges,
        )

    def _target(self, role: Role) -> dict[str, list[str]]:
        if self.props.targets is FirewallTargets.SERVICE_ACCOUNTS:
            return {"target_service_accounts": [self.props.service_account_emails[role]]}
        return {"target_tags": [self.props.tags[role]]}

    def _selectors(self, rule: ResolvedRule) -> _Selectors:
        target = self._target(rule.role)
        peer = rule.peer_role
        if rule.direction is Direction.EGRESS:  # GCP egress names destination ranges only
            return _Selectors(**target, destination_ranges=self._ranges(rule))
        if peer is None or peer not in COMPUTE_ROLES:
            return _Selectors(**target, source_ranges=self._ranges(rule))
        return _Selectors(**target, **self._identity_selectors(peer))

    @staticmethod
    def _ranges(rule: ResolvedRule) -> list[str]:
        if not rule.peer_cidrs:  # an empty list would make GCP match nothing, or refuse the rule
            raise ConfigurationError(
                f"rule {rule.rule_id}",
                f"its peer {rule.peer} has no address range on GCP",
                "report this: every peer of a GCP rule needs ranges (circleci_network.model.resolve.PeerAddresses)",
            )
        return list(rule.peer_cidrs)

    def _identity_selectors(self, peer: Role) -> dict[str, list[str]]:
        """A compute role as an ingress source: its identity, plus the pod range for the nodes."""
        selectors: dict[str, list[str]] = {}
        if self.props.targets is FirewallTargets.SERVICE_ACCOUNTS:
            selectors["source_service_accounts"] = [self.props.service_account_emails[peer]]
        else:
            selectors["source_tags"] = [self.props.tags[peer]]
        if peer is Role.KUBERNETES_NODES:
            # Pods (VPC-native, e.g. the Nomad server) send from the pod range, not the node's address.
            selectors["source_ranges"] = [self.props.addressing.pods_cidr]
        return selectors
