"""The whole hardened GCP network in one construct."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from circleci_network.errors import ConfigurationError
from circleci_network.gcp.firewall import (
    ALLOW_PRIORITY,
    BASELINE_PRIORITY,
    CircleciFirewall,
    FirewallProps,
    firewall_policy,
)
from circleci_network.gcp.identities import RoleIdentities, RoleIdentityProps, role_tag
from circleci_network.gcp.load_balancer_addresses import LoadBalancerAddresses, LoadBalancerAddressProps
from circleci_network.gcp.naming import ALL_KINDS, check_prefix_lengths
from circleci_network.gcp.private_google_access import PrivateGoogleAccess, PrivateGoogleAccessProps
from circleci_network.gcp.settings import (
    CloudNat,
    FirewallTargets,
    FlowLogInterval,
    GcpAddressing,
    check_name,
    check_project,
    check_region,
    check_taken_ranges,
)
from circleci_network.gcp.vpc import CircleciGcpVpc, GcpVpcProps
from circleci_network.model.accepted_findings import AcceptedFinding, check_accepted_findings
from circleci_network.model.checks import checked_keywords, member, require_fields
from circleci_network.model.intent import NetworkIntent, StackInputs
from circleci_network.model.nat_translation import NatTranslation, PublicAddress
from circleci_network.model.options import HardeningOptions, check_outside_peers
from circleci_network.model.platform_rules import GKE_ALLOW_PRIORITY, Platform, PlatformOptions
from circleci_network.model.roles import COMPUTE_ROLES, JOB_ROLES, OutsidePeer, Role
from circleci_network.model.server_versions import ConfigFile, ServerVersion
from circleci_network.model.topology import Topology
from circleci_network.tooling.application_config import (
    ApplicationConfig,
    application_config,
    application_config_outputs,
    chart_nomad_values,
)
from circleci_network.tooling.kots_settings import KotsField
from circleci_network.tooling.outputs import Output, add_outputs, snake
from circleci_network.tooling.validation import validate_against_spec


@checked_keywords
@dataclass(frozen=True)
class GcpNetworkProps:
    project: str
    """GCP project ID: 6-30 lowercase letters, digits and '-', starting with a letter."""
    region: str
    """GCP region, such as ``us-central1`` (not a zone); it must start with one of Google's geographies."""
    name: str = "circleci"
    """
    Prefix of every resource name: lowercase letters, digits and '-', starting with a letter;
    refused when a name it makes would pass GCP's limit (service account IDs 30, others 63).
    """
    addressing: GcpAddressing = field(default_factory=GcpAddressing)
    """
    The subnet, GKE's pod and service ranges and the internal load
    balancer addresses (default 10.0.0.0/20, 10.16.0.0/14, 10.20.0.0/20).
    """
    hardening: HardeningOptions = field(default_factory=HardeningOptions)
    """
    Who counts as "External" for each rule of the guide; outside peers' CIDRs must not overlap ``addressing``'s ranges.
    """
    firewall_targets: FirewallTargets = FirewallTargets.SERVICE_ACCOUNTS
    """
    How rules pick instances: ``SERVICE_ACCOUNTS`` (default; only IAM can change them) or
    ``NETWORK_TAGS`` (anyone with ``compute.instances.setTags`` can); the enum or its value string.
    """
    allow_priority: int | None = None
    """Default 1000, or 900 with ``Platform.GKE`` (before GKE's own rules at 1000)."""
    baseline_priority: int = BASELINE_PRIORITY
    """Priority of the deny baseline, 0-65534 (lower wins): above the allow priority."""
    topology: Topology = field(default_factory=Topology)
    """
    VPN mode reserves internal addresses for frontend and traefik. Public job placement changes no network resource
    on GCP (one shared subnet): give the instance templates external IPs; the firewall already scopes rerun-with-SSH.
    """
    existing_network: str | None = None
    """Bring your own network: add our subnet, firewall rules, route and NAT to it (see GcpVpcProps)."""
    existing_network_taken_cidrs: tuple[str, ...] | None = None
    """
    With ``existing_network``: the ranges already used in it (every subnet's primary and secondary ranges,
    peered ranges); required, ``()`` if none. Our subnet, pod and service ranges must not overlap them.
    """
    validate_against_spec: bool = True
    """Fail ``synth`` when the stack's flows differ from the guide (see ``circleci_network.tooling.validation``)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """
    Labels on every resource we create that takes labels (addresses; GCP firewall
    rules, networks, subnets, routes, routers and service accounts take none).
    """
    flow_log_sampling: float = 1.0
    """Share of flows sampled into subnet flow logs: 1.0 (CIS GCP 3.8) logs every flow."""
    flow_log_interval: FlowLogInterval = FlowLogInterval.INTERVAL_5_SEC
    """
    How long flows aggregate into one log entry (``INTERVAL_5_SEC`` to
    ``INTERVAL_15_MIN``; the enum or its value string); longer means fewer entries.
    """
    nat: CloudNat = field(default_factory=CloudNat)
    """Cloud NAT ports per VM, dynamic port allocation, static addresses to allowlist at the VCS."""

    server_version: ServerVersion = field(default_factory=ServerVersion)
    """The CircleCI Server version whose rule table applies (default: the guide in spec/)."""
    platform: PlatformOptions = field(default_factory=PlatformOptions)
    """The managed Kubernetes platform (``Platform.GKE``) and its platform rules."""
    accepted_findings: tuple[AcceptedFinding, ...] = ()
    """
    Audit findings about your own resources in the same stack (a firewall rule or subnetwork
    on another network of yours), each with its reason; recorded, so the policy file pins them.
    Default ``()``: every such resource fails the audit (README "Your own resources in the stack").
    """

    def __post_init__(self) -> None:
        # Validate every part now, so errors name our props rather than surfacing mid-build.
        require_fields(self)
        object.__setattr__(
            self,
            "accepted_findings",
            check_accepted_findings(self.accepted_findings, "GcpNetworkProps.accepted_findings", "gcp"),
        )
        object.__setattr__(
            self, "firewall_targets", member(FirewallTargets, self.firewall_targets, "GcpNetworkProps.firewall_targets")
        )
        profile = self.server_version.profile
        if profile.proxy_load_balancer and not profile.load_balancer_source_ranges:
            raise ConfigurationError(
                "GcpNetworkProps.server_version",
                f"server version {self.server_version.id.value} has no nginx.loadBalancerSourceRanges (4.3+), so GKE "
                "would open circleci-proxy's Service ports (80, 443, 3000, 4647, 8585) on the nodes to 0.0.0.0/0",
                "use ServerVersionId.V4_3 or V4_8 (Server 4.3 or later) on GCP",
            )
        if not isinstance(self.nat, CloudNat):
            raise ConfigurationError("GcpNetworkProps.nat", f"{self.nat!r} is not a CloudNat", "use CloudNat(...)")
        if self.internet_proxy and not self.nat.manual_addresses:
            raise ConfigurationError(
                "GcpNetworkProps.nat",
                f"server version {self.server_version.id.value} with UserAccess.INTERNET: Nomad clients reach "
                "circleci-proxy's external address through Cloud NAT, whose automatic addresses no rule can name",
                "give Cloud NAT static addresses: nat=CloudNat(address_count=1) (or more; each gives 64512 ports), "
                "or CloudNat(addresses=...) to reuse yours; or use Topology(user_access=UserAccess.VPN)",
            )
        if self.internet_proxy and self.topology.public_job_instances:
            raise ConfigurationError(
                "GcpNetworkProps.topology.job_placement",
                f"server version {self.server_version.id.value} with UserAccess.INTERNET: Nomad clients with "
                "external IPs reach circleci-proxy from their own ephemeral addresses, which no rule can name",
                "use JobPlacement.PRIVATE (Nomad clients then reach it through Cloud NAT's static addresses)",
            )
        check_project(self.project, "GcpNetworkProps.project")
        check_region(self.region, "GcpNetworkProps.region")
        check_name(self.name, "GcpNetworkProps.name")
        if not isinstance(self.platform, PlatformOptions):
            raise ConfigurationError(
                "GcpNetworkProps.platform", f"{self.platform!r} is not PlatformOptions", "use PlatformOptions(...)"
            )
        if self.platform.platform is Platform.EKS:
            raise ConfigurationError(
                "GcpNetworkProps.platform", "Platform.EKS is an AWS platform", "use Platform.GKE (or None) on GCP"
            )
        a = self.addressing
        self.platform.check_control_plane_disjoint(
            [("the subnet", a.subnet_cidr), ("the pod range", a.pods_cidr), ("the service range", a.services_cidr)]
        )
        taken = check_taken_ranges(
            self.addressing, self.existing_network, self.existing_network_taken_cidrs, "GcpNetworkProps"
        )
        object.__setattr__(self, "existing_network_taken_cidrs", taken)
        check_outside_peers(self.hardening, self.addressing.ranges(), "GcpNetworkProps.hardening")
        self.topology.check(self.hardening, "GcpNetworkProps")
        # Internet mode's rules too (the NAT platform row): an address-less translation stands for it here.
        stand_in = NatTranslation(load_balancer_source_ranges=True) if self.internet_proxy else None
        policy = firewall_policy(self.addressing, self.hardening, self.server_version, self.platform, stand_in)
        # Every name the prefix reaches, once, from the policy the firewall renders (its version,
        # platform and NAT rows): the sub-props built below never report on it.
        check_prefix_lengths(
            self.name,
            "GcpNetworkProps.name",
            ALL_KINDS,
            region=self.region,
            policy=policy,
            nat_address_count=self.nat.address_count,
        )
        self.vpc_props()
        RoleIdentityProps(project=self.project, name=self.name)
        self.firewall_props("validation", {}, {}, stand_in)

    @property
    def internet_proxy(self) -> bool:
        """v4 with UserAccess.INTERNET: an external circleci-proxy that Nomad clients reach through Cloud NAT."""
        return self.server_version.profile.proxy_load_balancer and self.topology.internet_facing_load_balancers

    def vpc_props(self) -> GcpVpcProps:
        return GcpVpcProps(
            project=self.project,
            region=self.region,
            name=self.name,
            addressing=self.addressing,
            internet_route_tags=[role_tag(self.name, role) for role in COMPUTE_ROLES],
            existing_network=self.existing_network,
            existing_network_taken_cidrs=self.existing_network_taken_cidrs,
            flow_log_sampling=self.flow_log_sampling,
            flow_log_interval=self.flow_log_interval,
            nat=self.nat,
            labels=self.labels,
        )

    def firewall_props(
        self,
        network_id: str,
        emails: Mapping[Role, str],
        tags: Mapping[Role, str],
        nat_translation: NatTranslation | None = None,
    ) -> FirewallProps:
        return FirewallProps(
            project=self.project,
            network_id=network_id,
            service_account_emails=emails,
            tags=tags,
            addressing=self.addressing,
            hardening=self.hardening,
            name=self.name,
            targets=self.firewall_targets,
            allow_priority=self.resolved_allow_priority,
            baseline_priority=self.baseline_priority,
            server_version=self.server_version,
            platform=self.platform,
            nat_translation=nat_translation,
        )

    @property
    def resolved_allow_priority(self) -> int:
        if self.allow_priority is not None:
            return self.allow_priority
        return GKE_ALLOW_PRIORITY if self.platform.is_gke else ALLOW_PRIORITY


class CircleciGcpNetwork(Construct):
    """Use inside any ``TerraformStack`` that has a Google provider."""

    def __init__(self, scope: Construct, id: str, *, props: GcpNetworkProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.vpc = CircleciGcpVpc(self, "vpc", props=props.vpc_props())
        self.identities = RoleIdentities(
            self, "identities", props=RoleIdentityProps(project=props.project, name=props.name)
        )
        emails = {role: self.identities.service_account_email(role) for role in COMPUTE_ROLES}
        # Internet mode: the proxy's address first, since the firewall names it.
        early = self._load_balancer_addresses() if props.internet_proxy else None
        translation = self._nat_translation(early) if early is not None else None
        self.firewall = CircleciFirewall(
            self,
            "firewall",
            props=props.firewall_props(self.vpc.network_id, emails, self.identities.tags, translation),
        )
        self.load_balancer_addresses = early or self._load_balancer_addresses()
        self.firewall.record(
            NetworkIntent(
                cloud="gcp",
                name=props.name,
                options=props.hardening,
                topology=props.topology,
                inputs=StackInputs(existing_network=props.existing_network),
                server_version=props.server_version,
                platform=props.platform,
                accepted_findings=props.accepted_findings,
            )
        )
        self.private_google_access: PrivateGoogleAccess | None = None
        if props.platform.google_api_cidr is not None:
            self.private_google_access = PrivateGoogleAccess(
                self,
                "private-google-access",
                props=PrivateGoogleAccessProps(
                    project=props.project, network_id=self.vpc.network_id, name=props.name, platform=props.platform
                ),
            )
        self.helm_values: ApplicationConfig = application_config(
            self,
            props.server_version,
            helm_values=self._helm_values,
            network_facts=self._network_facts,
            kots_fields=self._kots_fields,
        )
        if props.validate_against_spec:
            validate_against_spec(self)

    def _load_balancer_addresses(self) -> LoadBalancerAddresses:
        props = self.props
        return LoadBalancerAddresses(
            self,
            "load-balancer-addresses",
            props=LoadBalancerAddressProps(
                project=props.project,
                region=props.region,
                subnetwork_id=self.vpc.subnet.id,
                addressing=props.addressing,
                name=props.name,
                internet_facing=props.topology.internet_facing_load_balancers,
                labels=props.labels,
                server_version=props.server_version,
            ),
        )

    def _nat_translation(self, addresses: LoadBalancerAddresses) -> NatTranslation:
        return internet_mode_translation(addresses.addresses[Role.PROXY_LB].address, self.vpc.nat_ips)

    @property
    def required_network_tags(self) -> dict[str, str]:
        """Role -> the tag every instance of it must carry, in either targets mode: the internet
        route (so Cloud NAT and Google APIs) is scoped to these tags, so a GKE node pool or
        instance template without its role's tag has no egress at all."""
        return {role.value: self.identities.tags[role] for role in COMPUTE_ROLES}

    def _helm_values(self) -> dict[str, Any]:
        """v4: the chart's documented keys only; the default profile: today's fragment, unchanged."""
        props = self.props
        version = props.server_version
        if version.profile.config_file is not ConfigFile.HELM_VALUES:
            return self._legacy_values()
        nginx: dict[str, Any] = {"loadBalancerIp": self.load_balancer_addresses.addresses[Role.PROXY_LB].address}
        if version.profile.load_balancer_source_ranges:  # 4.3+
            # The clients as the firewall names them (GKE's k8s-fw rule admits these: controller_rules);
            # internet mode: Cloud NAT's addresses too, or k8s-fw drops Nomad clients' 4647.
            policy = self.firewall.policy
            ranges = policy.peer_cidrs(OutsidePeer.CLIENTS)
            translation = policy.addresses.nat_translation
            if translation is not None and translation.load_balancer_source_ranges:
                ranges += policy.peer_cidrs(OutsidePeer.NAT_ADDRESSES)
            nginx["loadBalancerSourceRanges"] = list(ranges)
        if not props.topology.internet_facing_load_balancers:
            nginx["annotations"] = {"networking.gke.io/load-balancer-type": "Internal"}
        values: dict[str, Any] = {
            "nginx": nginx,
            version.profile.vm_provider_key: {
                "providers": {
                    "gcp": {
                        "project_id": props.project,
                        "network": self.vpc.network_name,
                        "subnetwork": self.vpc.subnet.name,
                        "network_tags": [self.identities.tags[Role.EXTERNAL_VMS]],
                        "assignPublicIP": props.topology.public_job_instances,
                    }
                }
            },
        }
        values.update(chart_nomad_values(version))
        return values

    def _network_facts(self) -> dict[str, Any]:
        """What no chart reads: a Terraform output (``network-facts``), not Helm values."""
        facts: dict[str, Any] = dict(self._legacy_values()["circleci_network"])
        facts["server_version"] = self.props.server_version.id.value
        return facts

    def _kots_fields(self) -> list[KotsField]:
        """v3: the admin console's network fields (server-v4-hardening.md (e))."""
        props = self.props
        addresses = self.load_balancer_addresses.addresses
        return [
            KotsField(
                "Frontend / General settings",
                "Private Load Balancer",
                not props.topology.internet_facing_load_balancers,
                "hidden while Let's Encrypt is on",
            ),
            KotsField(
                "Nomad", "Nomad Load Balancer", addresses[Role.NOMAD_LB].address, "Nomad clients reach it on 4647"
            ),
            KotsField(
                "Output Processor",
                "Output Processor Load Balancer Hostname",
                addresses[Role.OUTPUT_PROCESSOR_LB].address,
            ),
            KotsField("VM Service", "VM Service Load Balancer Hostname", addresses[Role.VM_SERVICE_LB].address),
            KotsField("VM Service", "VM service port", 3000),
            KotsField("VM Service (GCP)", "Zone", f"a zone of {props.region}", "the zone your VMs should run in"),
            KotsField("VM Service (GCP)", "VPC Network", self.vpc.network_name),
            KotsField("VM Service (GCP)", "VPC Subnet", self.vpc.subnet.name, "blank would pick one automatically"),
            KotsField("VM Service (GCP)", "Assign Public IPs", props.topology.public_job_instances),
        ]

    def _legacy_values(self) -> dict[str, Any]:
        props = self.props
        identities = self.identities

        def identity(role: Role) -> dict[str, str]:
            return {"service_account": identities.service_account_email(role), "network_tag": identities.tags[role]}

        return {
            "vm_service": {
                "providers": {
                    "gcp": {
                        "enabled": True,
                        "project_id": props.project,
                        "network": self.vpc.network_name,
                        "subnetwork": self.vpc.subnet.name,
                        "network_tags": [identities.tags[Role.EXTERNAL_VMS]],
                        "service_account": identities.service_account_email(Role.EXTERNAL_VMS),
                        "assignPublicIP": props.topology.public_job_instances,
                    }
                }
            },
            "circleci_network": {
                "cloud": "gcp",
                "region": props.region,
                "user_access": props.topology.user_access.value,
                "public_job_instances": props.topology.public_job_instances,
                "firewall_targets": props.firewall_targets.value,
                "required_network_tags": self.required_network_tags,
                **{role.value: identity(role) for role in COMPUTE_ROLES},
                "load_balancers": {
                    role.value: {"address": address.address, "address_type": address.address_type}
                    for role, address in self.load_balancer_addresses.addresses.items()
                },
            },
        }

    def outputs(self) -> dict[str, Output]:
        """What a GKE module, node pools, the VM service and the Helm chart take, by output name."""
        vpc, identities = self.vpc, self.identities
        out: dict[str, Output] = {
            "network_name": Output(vpc.network_name, "Network name (GKE network)"),
            "network_self_link": Output(vpc.network_self_link, "Network self link"),
            "subnetwork_name": Output(vpc.subnet.name, "Subnet name (GKE subnetwork)"),
            "subnetwork_self_link": Output(vpc.subnet.self_link, "Subnet self link"),
            "pods_range_name": Output(vpc.pods_range_name, "ip_allocation_policy.cluster_secondary_range_name"),
            "services_range_name": Output(
                vpc.services_range_name, "ip_allocation_policy.services_secondary_range_name"
            ),
            "nat_addresses": Output(
                vpc.nat_ips, "Cloud NAT's static addresses (empty: automatic): allowlist at the VCS"
            ),
            "required_network_tags": Output(
                self.required_network_tags,
                "Role -> tag every instance must carry (GKE node pools included): the internet route follows tags",
            ),
        }
        for role in COMPUTE_ROLES:
            out[f"{snake(role)}_service_account"] = Output(
                identities.service_account_email(role), f"Service account of {role.display_name}"
            )
            out[f"{snake(role)}_network_tag"] = Output(identities.tags[role], f"Network tag of {role.display_name}")
        for role, address in self.load_balancer_addresses.addresses.items():
            out[f"{snake(role)}_load_balancer_address"] = Output(address.address, f"{role.value} load balancer address")
        out.update(application_config_outputs(self.helm_values))
        return out

    def add_outputs(self, stack: TerraformStack | None = None, *, prefix: str = "") -> dict[str, TerraformOutput]:
        """Adds :meth:`outputs` to ``stack`` (default: this network's); ``prefix`` for a second network."""
        return add_outputs(self, self.outputs(), stack=stack, prefix=prefix)


def internet_mode_translation(proxy_address: str, nat_ips: Sequence[str]) -> NatTranslation:
    """v4 internet mode: Nomad clients (and VMs) reach circleci-proxy's reserved external address
    through Cloud NAT, so they send to that address and the nodes (the passthrough proxy is
    transparent) admit them from Cloud NAT's static addresses."""
    return NatTranslation(
        public_addresses={Role.PROXY_LB: (PublicAddress("proxy", f"{proxy_address}/32"),)},
        # The nodes reach each other by identity, never through NAT: only the job roles are translated.
        behind_nat=frozenset(JOB_ROLES),
        nat_addresses=tuple(PublicAddress(f"nat-{i}", f"{ip}/32") for i, ip in enumerate(nat_ips)),
        receivers=frozenset({Role.KUBERNETES_NODES}),
        load_balancer_source_ranges=True,  # the Helm values list them (``_helm_values``)
    )
