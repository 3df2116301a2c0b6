"""Platform rules: flows the managed Kubernetes platform needs that the guide has no row for.

Each is a ``TrafficRule`` whose source is ``SourceKind.PLATFORM`` (the cloud's documentation,
keys as in shared/reference/managed-kubernetes-network-facts.md) and whose purpose and
section say "platform rule, not a guide row", so every description, report and table shows
it as such. Core module: no cloud imports; the GCP renderer and the audit both read it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from circleci_network.errors import ConfigurationError
from circleci_network.model.addressing import parse_cidr
from circleci_network.model.checks import checked_keywords
from circleci_network.model.cloud_facts import GOOGLE_HEALTH_CHECK_RANGES
from circleci_network.model.ports import Port
from circleci_network.model.roles import COMPUTE_ROLES, OutsidePeer, Role
from circleci_network.model.rules import CustomPeer, Direction, RuleSource, SourceKind, TrafficRule

if TYPE_CHECKING:
    from circleci_network.model.server_versions import ServerVersion
    from circleci_network.model.vpc_endpoints import VpcEndpoints


class Platform(StrEnum):
    GKE = "gke"
    EKS = "eks"


class TrafficPolicy(StrEnum):
    """A LoadBalancer Service's ``externalTrafficPolicy``: where GKE's L4 health check probes."""

    CLUSTER = "Cluster"  # kube-proxy's /healthz on TCP 10256 (Kubernetes' default)
    LOCAL = "Local"  # the Service's healthCheckNodePort, inside the NodePort range


class GoogleApiAccess(StrEnum):
    """Private Google Access through one of Google's fixed API ranges (or not at all)."""

    NONE = "none"
    PRIVATE = "private"  # private.googleapis.com: most Google APIs
    RESTRICTED = "restricted"  # restricted.googleapis.com: VPC Service Controls-supported APIs only


#: Google's L4 load balancer health-check sources: the one constant, in ``cloud_facts``.
GOOGLE_L4_HEALTH_CHECK_RANGES: tuple[str, ...] = GOOGLE_HEALTH_CHECK_RANGES
#: The fixed ranges behind private.googleapis.com and restricted.googleapis.com.
GOOGLE_API_RANGES: dict[GoogleApiAccess, str] = {
    GoogleApiAccess.PRIVATE: "199.36.153.8/30",
    GoogleApiAccess.RESTRICTED: "199.36.153.4/30",
}
#: The priority of the rules GKE creates on the node tag [GKE-FW] ("-inkubelet" uses 999).
GKE_RULE_PRIORITY = 1000
#: Our allow rules' priority with ``Platform.GKE``: evaluated before GKE's own rules.
GKE_ALLOW_PRIORITY = 900
#: GKE requires a private cluster's control-plane range to be exactly a /28.
GKE_CONTROL_PLANE_PREFIX = 28
KUBELET = Port.tcp(10250)
KUBE_PROXY_HEALTH = Port.tcp(10256)
HTTPS = Port.tcp(443)

GKE_FW = "[GKE-FW] https://cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules"
CPG = "[CPG] kubernetes/cloud-provider-gcp@4e24531 providers/gce/gce_healthchecks.go, gce_loadbalancer.go"
GKE_PRIVATE = "https://cloud.google.com/kubernetes-engine/docs/concepts/private-cluster-concept"
GOOGLE_PGA = "https://cloud.google.com/vpc/docs/configure-private-google-access (private and restricted domains)"
SECTION = "GKE, cloud documentation"

EKS_SG = "[EKS-SG] awsdocs/amazon-eks-user-guide@4d52b4d latest/ug/networking/sec-group-reqs.adoc"
EKS_LT = "[EKS-LT] awsdocs/amazon-eks-user-guide@4d52b4d latest/ug/nodes/launch-templates.adoc"
LBC = "[LBC] kubernetes-sigs/aws-load-balancer-controller@225f445 docs/deploy/installation.md"
METRICS_SERVER = "awsdocs/amazon-eks-user-guide@4d52b4d latest/ug/clusters/management/metrics-server.adoc"
EKS_SECTION = "EKS, cloud documentation"
SECURITY_GROUP_ID = re.compile(r"sg-(?:[0-9a-f]{8}|[0-9a-f]{17})")
#: The AWS Load Balancer Controller's webhook [LBC] and metrics-server (10250, the kubelet's port).
LOAD_BALANCER_CONTROLLER_WEBHOOK = 9443
METRICS_SERVER_PORT = 10250
EKS_DEFAULT_WEBHOOK_PORTS: tuple[int, ...] = (LOAD_BALANCER_CONTROLLER_WEBHOOK, METRICS_SERVER_PORT)


@checked_keywords
@dataclass(frozen=True)
class PlatformOptions:
    """Which managed Kubernetes platform runs the nodes, and what it needs beyond the guide.

    Defaults add nothing: ``platform=None`` keeps the guide's rules only.
    """

    platform: Platform | None = None
    """``Platform.GKE`` adds GKE's platform rules and makes our rules win over GKE's own."""
    control_plane_cidr: str | None = None
    """A private cluster's control-plane range (GKE's ``master_ipv4_cidr_block``, a /28)."""
    webhook_ports: tuple[int, ...] | None = None
    """
    Admission webhook ports the control plane calls on the nodes, beyond 443 and 10250.
    ``None``: the platform's default. GKE none (its managed add-ons use 443/10250, CircleCI
    Server's chart declares no webhook, and the AWS Load Balancer Controller does not run on
    GKE); EKS ``(9443, 10250)``, the AWS Load Balancer Controller and metrics-server.
    """
    external_traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    """Where the L4 health checks probe: ``Cluster`` (Kubernetes' default) needs TCP 10256."""
    google_api_access: GoogleApiAccess = GoogleApiAccess.NONE
    """Google APIs through a fixed range (route, firewall egress 443, DNS): for proxy egress."""
    google_api_roles: tuple[Role, ...] = (Role.KUBERNETES_NODES,)
    """Roles given egress 443 to the Google API range."""
    eks_cluster_security_group_on_nodes: bool = False
    """
    EKS only: the nodes also carry EKS's cluster security group (a managed node group whose launch
    template names no security groups). The audit then adds that group's rules (all from itself,
    all egress to 0.0.0.0/0) to the nodes and reports the widening. Default: our launch template
    names only our node group, so EKS does not attach it [EKS-LT].
    """
    eks_cluster_security_group_id: str | None = None
    """
    EKS only: an existing group for the control plane (``sg-…``, e.g. the cluster's own group)
    instead of the one the library makes. Our control-plane rules are written on it and the node
    rules reference it; the audit counts that ID as the EKS control plane.
    """

    def __post_init__(self) -> None:
        where = "PlatformOptions"
        if self.platform is not None and not isinstance(self.platform, Platform):
            raise ConfigurationError(
                f"{where}.platform", f"{self.platform!r} is not a Platform", "use Platform.GKE, Platform.EKS or None"
            )
        if not isinstance(self.external_traffic_policy, TrafficPolicy):
            raise ConfigurationError(
                f"{where}.external_traffic_policy",
                f"{self.external_traffic_policy!r} is not a TrafficPolicy",
                "use TrafficPolicy.CLUSTER or TrafficPolicy.LOCAL",
            )
        if not isinstance(self.google_api_access, GoogleApiAccess):
            raise ConfigurationError(
                f"{where}.google_api_access",
                f"{self.google_api_access!r} is not a GoogleApiAccess",
                "use GoogleApiAccess.NONE, PRIVATE or RESTRICTED",
            )
        declared_webhooks = self.webhook_ports is not None and bool(tuple(self.webhook_ports))
        if self.webhook_ports is None:
            defaults = EKS_DEFAULT_WEBHOOK_PORTS if self.platform is Platform.EKS else ()
            object.__setattr__(self, "webhook_ports", defaults)
        object.__setattr__(self, "webhook_ports", tuple(self.webhook_ports or ()))
        for port in self.ports_for_webhooks:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise ConfigurationError(
                    f"{where}.webhook_ports", f"{port!r} is not a port from 1 to 65535", "give TCP port numbers"
                )
        object.__setattr__(self, "google_api_roles", tuple(self.google_api_roles))
        bad_roles = [r for r in self.google_api_roles if r not in COMPUTE_ROLES]
        if bad_roles or not self.google_api_roles:
            raise ConfigurationError(
                f"{where}.google_api_roles",
                f"{bad_roles or 'an empty list'} is not a list of compute roles",
                "name Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS and/or Role.EXTERNAL_VMS",
            )
        if self.control_plane_cidr is not None:
            network = parse_cidr(self.control_plane_cidr, f"{where}.control_plane_cidr")
            if self.platform is Platform.GKE and network.prefixlen != GKE_CONTROL_PLANE_PREFIX:
                raise ConfigurationError(
                    f"{where}.control_plane_cidr",
                    f"{network} is a /{network.prefixlen}; GKE requires a /28 for a private cluster's control plane",
                    "give the cluster's master_ipv4_cidr_block, e.g. 172.16.0.32/28",
                )
        if self.platform is None:
            asked = [
                name
                for name, value in (
                    ("control_plane_cidr", self.control_plane_cidr is not None),
                    ("webhook_ports", declared_webhooks),
                    ("google_api_access", self.google_api_access is not GoogleApiAccess.NONE),
                    ("eks_cluster_security_group_on_nodes", self.eks_cluster_security_group_on_nodes),
                    ("eks_cluster_security_group_id", self.eks_cluster_security_group_id is not None),
                )
                if value
            ]
            if asked:
                raise ConfigurationError(
                    f"{where}.{asked[0]}",
                    "asks for platform rules but no platform is set",
                    "set PlatformOptions(platform=Platform.GKE, ...) or leave the platform options at their defaults",
                )

        if not isinstance(self.eks_cluster_security_group_on_nodes, bool):
            raise ConfigurationError(
                f"{where}.eks_cluster_security_group_on_nodes",
                f"{self.eks_cluster_security_group_on_nodes!r} is not a bool",
                "give True or False",
            )
        group_id = self.eks_cluster_security_group_id
        if group_id is not None and (not isinstance(group_id, str) or not SECURITY_GROUP_ID.fullmatch(group_id)):
            raise ConfigurationError(
                f"{where}.eks_cluster_security_group_id",
                f"{group_id!r} is not a security group ID",
                "give the group's ID, sg- and 8 or 17 hex digits (aws_eks_cluster's vpc_config[0].cluster_security_group_id)",
            )
        if self.platform is Platform.GKE and group_id is not None:
            raise ConfigurationError(
                f"{where}.eks_cluster_security_group_id",
                "is an EKS option, but the platform is GKE",
                "leave it None with Platform.GKE",
            )
        if self.platform is Platform.GKE and self.eks_cluster_security_group_on_nodes:
            raise ConfigurationError(
                f"{where}.eks_cluster_security_group_on_nodes",
                "is an EKS option, but the platform is GKE",
                "leave it False with Platform.GKE",
            )
        if self.platform is Platform.EKS:
            gke_only = [
                name
                for name, value in (
                    ("control_plane_cidr", self.control_plane_cidr is not None),
                    ("google_api_access", self.google_api_access is not GoogleApiAccess.NONE),
                )
                if value
            ]
            if gke_only:
                raise ConfigurationError(
                    f"{where}.{gke_only[0]}",
                    "is a GKE option, but the platform is EKS (its control plane is a security group, not a range)",
                    "leave it at its default with Platform.EKS",
                )

    @property
    def ports_for_webhooks(self) -> tuple[int, ...]:
        """The webhook ports, the platform's default resolved (``__post_init__`` sets a tuple)."""
        return tuple(self.webhook_ports or ())

    @property
    def is_eks(self) -> bool:
        return self.platform is Platform.EKS

    @property
    def is_gke(self) -> bool:
        return self.platform is Platform.GKE

    @property
    def google_api_cidr(self) -> str | None:
        return GOOGLE_API_RANGES.get(self.google_api_access)

    def check_control_plane_disjoint(self, ranges: Sequence[tuple[str, str]]) -> None:
        """GKE refuses a control-plane range that overlaps the node, pod or service ranges."""
        if self.control_plane_cidr is None:
            return
        control_plane = IPv4Network(self.control_plane_cidr)
        for name, cidr in ranges:
            if control_plane.overlaps(IPv4Network(cidr)):
                raise ConfigurationError(
                    "PlatformOptions.control_plane_cidr",
                    f"{control_plane} overlaps {name} {cidr}",
                    "pick a /28 outside the subnet, pod and service ranges (e.g. in 172.16.0.0/12)",
                )

    def to_json(self) -> dict[str, object]:
        return {
            "platform": None if self.platform is None else self.platform.value,
            "control_plane_cidr": self.control_plane_cidr,
            "webhook_ports": list(self.ports_for_webhooks),
            "external_traffic_policy": self.external_traffic_policy.value,
            "google_api_access": self.google_api_access.value,
            "google_api_roles": [r.value for r in self.google_api_roles],
            # Recorded only when set, so stacks without it keep their record.
            **({"eks_cluster_security_group_on_nodes": True} if self.eks_cluster_security_group_on_nodes else {}),
            **(
                {"eks_cluster_security_group_id": self.eks_cluster_security_group_id}
                if self.eks_cluster_security_group_id is not None
                else {}
            ),
        }

    @staticmethod
    def from_json(data: dict[str, object]) -> PlatformOptions:
        platform = data.get("platform")
        cidr = data.get("control_plane_cidr")
        group = data.get("eks_cluster_security_group_id")
        ports = data.get("webhook_ports", [])
        roles = data.get("google_api_roles", [Role.KUBERNETES_NODES.value])
        assert isinstance(ports, list) and isinstance(roles, list)
        return PlatformOptions(
            platform=None if platform is None else Platform(str(platform)),
            control_plane_cidr=None if cidr is None else str(cidr),
            webhook_ports=tuple(int(p) for p in ports),
            external_traffic_policy=TrafficPolicy(str(data.get("external_traffic_policy", "Cluster"))),
            google_api_access=GoogleApiAccess(str(data.get("google_api_access", "none"))),
            google_api_roles=tuple(Role(str(r)) for r in roles),
            eks_cluster_security_group_on_nodes=data.get("eks_cluster_security_group_on_nodes") is True,
            eks_cluster_security_group_id=None if group is None else str(group),
        )


def _source(document: str, reference: str, platform: str = "GKE") -> tuple[RuleSource, ...]:
    return (RuleSource(SourceKind.PLATFORM, document, platform, reference),)


def rules_for_platform(
    options: PlatformOptions, *, service_rules_probe_kube_proxy: bool = False
) -> tuple[TrafficRule, ...]:
    """The platform's rows for these options (none without a platform)."""
    if options.is_eks:
        return eks_rules(options)
    if not options.is_gke:
        return ()
    k8s = Role.KUBERNETES_NODES
    rules: list[TrafficRule] = []
    if options.control_plane_cidr is not None:
        ports = (HTTPS, KUBELET, *_webhooks(options))
        rules.append(
            TrafficRule(
                "gke-k8s-nodes-in-control-plane",
                k8s,
                Direction.INGRESS,
                ports,
                CustomPeer("gke-control-plane", (options.control_plane_cidr,)),
                "Platform rule (GKE, not a guide row): private control plane to kubelet, metrics-server, webhooks",
                SECTION,
                False,
                _source(GKE_FW, "gke-<cluster>-<hash>-master: control-plane /28 to nodes TCP 443, 10250")
                + _source(GKE_PRIVATE, "webhooks on other ports need a rule from the control-plane range"),
            )
        )
    if options.external_traffic_policy is TrafficPolicy.CLUSTER and not service_rules_probe_kube_proxy:
        rules.append(
            TrafficRule(
                "gke-k8s-nodes-in-kube-proxy-health",
                k8s,
                Direction.INGRESS,
                (KUBE_PROXY_HEALTH,),
                OutsidePeer.LOAD_BALANCER_HEALTH_CHECKS,
                "Platform rule (GKE, not a guide row): L4 health checks to kube-proxy /healthz (Cluster policy)",
                SECTION,
                False,
                _source(CPG, "k8s-<clusterid>-node-http-hc: L4 health-check ranges to TCP 10256"),
            )
        )
    cidr = options.google_api_cidr
    if cidr is not None:
        name = f"{options.google_api_access.value}-googleapis"
        for role in options.google_api_roles:
            rules.append(
                TrafficRule(
                    f"gke-{role.value}-out-{name}",
                    role,
                    Direction.EGRESS,
                    (HTTPS,),
                    CustomPeer(f"{options.google_api_access.value}.googleapis.com", (cidr,)),
                    "Platform rule (GKE, not a guide row): Private Google Access to Google APIs",
                    SECTION,
                    False,
                    _source(GOOGLE_PGA, f"{options.google_api_access.value}.googleapis.com {cidr} TCP 443"),
                )
            )
    return tuple(rules)


def aws_platform_rules(
    options: PlatformOptions | None, endpoints: VpcEndpoints | None = None
) -> tuple[TrafficRule, ...]:
    """EKS's rows and the VPC endpoints' rows, for the AWS renderer and the audit alike (none
    without ``Platform.EKS`` and without endpoints)."""
    from circleci_network.model.vpc_endpoints import endpoint_rules  # it imports rules, like this module

    eks = eks_rules(options) if options is not None and options.is_eks else ()
    return eks + (endpoint_rules(endpoints) if endpoints is not None and endpoints.enabled else ())


def gcp_platform_rules(
    version: ServerVersion | None, options: PlatformOptions | None, *, nat_source_ranges: bool = False
) -> tuple[TrafficRule, ...]:
    """Everything GKE needs or adds beyond the guide, for the GCP renderer and the audit alike:
    the chart's Service rules (v4, ``controller_rules``) and the platform's rows. The Service
    rules already admit kube-proxy's 10256, so the platform's own 10256 row is then left out."""
    from circleci_network.model.controller_rules import KUBE_PROXY_HEALTH as SERVICE_HEALTH
    from circleci_network.model.controller_rules import gke_service_rules  # it imports this module

    service = gke_service_rules(version, nat_source_ranges=nat_source_ranges) if version is not None else ()
    probes = any(r.role is Role.KUBERNETES_NODES and SERVICE_HEALTH in r.ports for r in service)
    own = rules_for_platform(options, service_rules_probe_kube_proxy=probes) if options is not None else ()
    return service + own


def _webhooks(options: PlatformOptions) -> tuple[Port, ...]:
    return tuple(Port.tcp(p) for p in sorted(set(options.ports_for_webhooks)) if p not in (443, 10250))


def eks_rules(options: PlatformOptions) -> tuple[TrafficRule, ...]:
    """EKS's minimum rules between the control plane's group and ours [EKS-SG]: with a launch
    template naming our node group, EKS adds its cluster group nowhere on the nodes [EKS-LT]."""
    k8s, plane = Role.KUBERNETES_NODES, Role.EKS_CONTROL_PLANE
    to_nodes = (HTTPS, KUBELET, *_webhooks(options))
    why_in = "Platform rule (EKS, not a guide row): control plane to kubelet, metrics-server, webhooks"
    why_out = "Platform rule (EKS, not a guide row): nodes to the Kubernetes API server"
    sources_in = (
        _source(EKS_SG, "minimum rules: TCP 443 and 10250 between control plane and nodes", "EKS")
        + _source(LBC, "AWS Load Balancer Controller webhook TCP 9443 from the control plane", "EKS")
        + _source(METRICS_SERVER, "metrics-server on the kubelet port 10250", "EKS")
    )
    sources_out = _source(EKS_SG, "minimum rules: nodes to the cluster group TCP 443", "EKS") + _source(
        EKS_LT, "a launch template with security groups must allow node to control-plane traffic", "EKS"
    )

    def rule(rule_id: str, role: Role, direction: Direction, ports: tuple[Port, ...], peer: Role, why: str,
             sources: tuple[RuleSource, ...]) -> TrafficRule:  # fmt: skip
        return TrafficRule(rule_id, role, direction, ports, peer, why, EKS_SECTION, False, sources)

    return (
        rule("eks-k8s-nodes-in-control-plane", k8s, Direction.INGRESS, to_nodes, plane, why_in, sources_in),
        rule("eks-control-plane-out-k8s-nodes", plane, Direction.EGRESS, to_nodes, k8s, why_in, sources_in),
        rule("eks-k8s-nodes-out-control-plane", k8s, Direction.EGRESS, (HTTPS,), plane, why_out, sources_out),
        rule("eks-control-plane-in-k8s-nodes", plane, Direction.INGRESS, (HTTPS,), k8s, why_out, sources_out),
    )
