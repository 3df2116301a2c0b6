"""AWS VPC endpoints as an option: which AWS APIs the nodes reach inside the VPC, and the
platform rules that open them (security-group references to the endpoints' group, and the
S3 prefix list for the gateway endpoint).

Core module: no cloud imports. ``aws/vpc_endpoints.py`` renders the endpoints, the security
groups render the rules, and the audit rebuilds the same rules from the recorded options.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from circleci_network.errors import ConfigurationError
from circleci_network.model.checks import checked_keywords, covers_everything
from circleci_network.model.options import HardeningOptions
from circleci_network.model.ports import Port
from circleci_network.model.roles import COMPUTE_ROLES, OutsidePeer, Role
from circleci_network.model.rules import Direction, RuleSource, SourceKind, TrafficRule

HTTPS = Port.tcp(443)
S3 = "s3"
#: S3 is reached through a gateway endpoint (route-table entries, no ENI, no charge).
GATEWAY_SERVICES = frozenset({S3})
#: Every endpoint this option knows, with what the nodes use it for ([EKS-PRIV]).
SERVICE_PURPOSES: Mapping[str, str] = {
    S3: "ECR image layers (ECR keeps them in S3): gateway endpoint",
    "ecr.api": "ECR API: registry authorization tokens and image manifests",
    "ecr.dkr": "ECR registry: image pulls (docker/containerd)",
    "sts": "STS: IAM roles for service accounts (regional STS)",
    "ec2": "EC2 API: the VPC CNI's ENIs and addresses, node bootstrap",
    "logs": "CloudWatch Logs: log agents and control-plane log shipping from nodes",
    "elasticloadbalancing": "ELB API: the AWS Load Balancer Controller's target groups",
    "eks": "EKS API: node bootstrap introspection (DescribeCluster) with a private-only API endpoint",
    "autoscaling": "Auto Scaling API: Cluster Autoscaler",
    "xray": "X-Ray: tracing daemons",
}
#: The default list when turned on: what EKS nodes need with no route to the internet [EKS-PRIV].
DEFAULT_SERVICES: tuple[str, ...] = (S3, "ecr.api", "ecr.dkr", "sts", "ec2", "logs", "elasticloadbalancing")
#: Added to the default list with ``Platform.EKS`` (nodes introspect the cluster through it).
EKS_SERVICE = "eks"
#: What nodes need to join the cluster and pull images: a proxy-mode list must hold them all.
NODE_JOIN_SERVICES: tuple[str, ...] = ("ecr.api", "ecr.dkr", S3, "sts", "ec2")

PRIVATELINK = "AWS PrivateLink guide https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html"
GATEWAY = "AWS PrivateLink guide https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html"
EKS_PRIV = "[EKS-PRIV] awsdocs/amazon-eks-user-guide@4d52b4d latest/ug/clusters/private-clusters.adoc"
ECR_ENDPOINTS = "ECR user guide https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html"
SECTION = "AWS VPC endpoints, cloud documentation"


def service_name(region: str, service: str) -> str:
    """``com.amazonaws.<region>.<service>``: the name every AWS endpoint service has."""
    return f"com.amazonaws.{region}.{service}"


@checked_keywords
@dataclass(frozen=True)
class VpcEndpoints:
    """AWS APIs inside the VPC, for nodes whose egress is locked to a proxy (or to save NAT).

    Off by default: nothing is added. ``enabled=True`` adds an S3 gateway endpoint on the using
    roles' route tables and interface endpoints (private DNS on) in the first using role's subnets,
    with one security group admitting TCP 443 from the using roles only.
    """

    enabled: bool = False
    """Turns the endpoints on. Interface endpoints are billed per hour in every zone (see README)."""
    services: tuple[str, ...] | None = None
    """
    Endpoint names (``"s3"``, ``"ecr.api"``, ...: the part after ``com.amazonaws.<region>.``).
    ``None``: s3, ecr.api, ecr.dkr, sts, ec2, logs, elasticloadbalancing, plus eks with ``Platform.EKS``.
    """
    roles: tuple[Role, ...] = (Role.KUBERNETES_NODES,)
    """
    The roles that use the endpoints: they get egress 443 to them, the endpoints' group admits 443
    from them, and the S3 gateway goes on their route tables. Interface endpoints sit in the first
    role's subnets (AWS allows one subnet per zone); private DNS serves the whole VPC.
    """
    proxy_carries_aws_apis: bool = False
    """
    With egress locked to a proxy and ``Platform.EKS``: you state that the proxy carries the AWS APIs
    the list leaves out (ecr.api, ecr.dkr, s3, sts, ec2 are otherwise required).
    """
    existing_vpc_checked: bool = False
    """
    With ``ExistingVpc``: you checked what the library cannot see: the VPC has DNS support and DNS
    hostnames on, and holds no endpoint of these services with private DNS already.
    """

    def __post_init__(self) -> None:
        where = "VpcEndpoints"
        for name in ("enabled", "proxy_carries_aws_apis", "existing_vpc_checked"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(
                    f"{where}.{name}", f"{getattr(self, name)!r} is not a bool", "give True or False"
                )
        if self.services is not None:
            if isinstance(self.services, str):
                raise ConfigurationError(
                    f"{where}.services",
                    f"got the string {self.services!r}, not a list",
                    f'wrap it in a tuple: ("{self.services}",)',
                )
            services = tuple(self.services)
            for i, name in enumerate(services):
                if name not in SERVICE_PURPOSES:
                    close = difflib.get_close_matches(str(name), list(SERVICE_PURPOSES), n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise ConfigurationError(
                        f"{where}.services[{i}]",
                        f"{name!r} is not an endpoint this library knows",
                        f"{hint}use names from {sorted(SERVICE_PURPOSES)} (without com.amazonaws.<region>.)",
                    )
            if len(set(services)) != len(services):
                raise ConfigurationError(f"{where}.services", "lists an endpoint twice", "list each endpoint once")
            if not services:
                raise ConfigurationError(
                    f"{where}.services",
                    "is empty",
                    "leave it None for the default list, or set enabled=False for no endpoints",
                )
            object.__setattr__(self, "services", services)
        roles = (self.roles,) if isinstance(self.roles, Role) else tuple(self.roles)
        bad = [r for r in roles if r not in COMPUTE_ROLES]
        if bad or not roles or len(set(roles)) != len(roles):
            raise ConfigurationError(
                f"{where}.roles",
                f"{list(roles)!r} is not a list of distinct compute roles",
                "name Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS and/or Role.EXTERNAL_VMS, each once",
            )
        object.__setattr__(self, "roles", roles)
        if not self.enabled:
            asked = [
                name
                for name, value in (
                    ("services", self.services is not None),
                    ("roles", roles != (Role.KUBERNETES_NODES,)),
                    ("proxy_carries_aws_apis", self.proxy_carries_aws_apis),
                    ("existing_vpc_checked", self.existing_vpc_checked),
                )
                if value
            ]
            if asked:
                raise ConfigurationError(
                    f"{where}.{asked[0]}",
                    "configures endpoints, but enabled is False",
                    "set VpcEndpoints(enabled=True, ...) or leave the other fields at their defaults",
                )

    def with_defaults(self, *, eks: bool) -> VpcEndpoints:
        """The list resolved: ``None`` becomes the default list (with eks on EKS)."""
        if not self.enabled or self.services is not None:
            return self
        return replace(self, services=DEFAULT_SERVICES + ((EKS_SERVICE,) if eks else ()))

    @property
    def service_list(self) -> tuple[str, ...]:
        """The endpoints in force (``with_defaults`` resolves ``None``); none when off."""
        if not self.enabled:
            return ()
        return self.services if self.services is not None else DEFAULT_SERVICES

    @property
    def gateway_services(self) -> tuple[str, ...]:
        return tuple(s for s in self.service_list if s in GATEWAY_SERVICES)

    @property
    def interface_services(self) -> tuple[str, ...]:
        return tuple(s for s in self.service_list if s not in GATEWAY_SERVICES)

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "services": list(self.service_list),
            "roles": [r.value for r in self.roles],
            **({"proxy_carries_aws_apis": True} if self.proxy_carries_aws_apis else {}),
            **({"existing_vpc_checked": True} if self.existing_vpc_checked else {}),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> VpcEndpoints:
        if not data.get("enabled"):
            return VpcEndpoints()
        return VpcEndpoints(
            enabled=True,
            services=tuple(str(s) for s in data.get("services", ())) or None,
            roles=tuple(Role(str(r)) for r in data.get("roles", [Role.KUBERNETES_NODES.value])),
            proxy_carries_aws_apis=data.get("proxy_carries_aws_apis") is True,
            existing_vpc_checked=data.get("existing_vpc_checked") is True,
        )


def proxy_mode(hardening: HardeningOptions) -> bool:
    """Egress locked to a proxy: 80/443 go to an internal proxy or to ``external_cidrs`` short of 0.0.0.0/0."""
    return bool(hardening.internal_proxy_cidrs) or not covers_everything(hardening.external_cidrs)


def check_vpc_endpoints(
    endpoints: VpcEndpoints,
    *,
    hardening: HardeningOptions,
    eks: bool,
    existing_vpc: bool,
    network_acls: bool,
    where: str = "AwsNetworkProps.vpc_endpoints",
) -> None:
    """What the endpoints contradict in the rest of the network's props.

    The proxy rule: with ``Platform.EKS`` and egress locked to a proxy, nodes reach AWS's APIs only
    through the endpoints, so the list must hold ecr.api, ecr.dkr, s3, sts and ec2 (join and pull
    images), unless ``proxy_carries_aws_apis`` says the proxy carries the rest. That statement is
    refused without a proxy (nothing for it to mean). Endpoints off: not checked, the proxy may carry
    the APIs (README "VPC endpoints").
    """
    if not isinstance(endpoints, VpcEndpoints):
        raise ConfigurationError(where, f"{endpoints!r} is not VpcEndpoints", "use VpcEndpoints(enabled=True, ...)")
    if not endpoints.enabled:
        return
    proxied = proxy_mode(hardening)
    if endpoints.proxy_carries_aws_apis and not proxied:
        raise ConfigurationError(
            f"{where}.proxy_carries_aws_apis",
            "says a proxy carries the AWS APIs, but egress is not locked to a proxy "
            "(HardeningOptions.external_cidrs is 0.0.0.0/0 and internal_proxy_cidrs is empty)",
            "leave it False, or set HardeningOptions.external_cidrs / internal_proxy_cidrs to the proxy",
        )
    missing = [s for s in NODE_JOIN_SERVICES if s not in endpoints.service_list]
    if eks and proxied and missing and not endpoints.proxy_carries_aws_apis:
        raise ConfigurationError(
            f"{where}.services",
            f"leaves out {', '.join(missing)}, but egress is locked to a proxy (HardeningOptions), so EKS nodes "
            "could not join the cluster or pull images",
            f"add {', '.join(missing)} (or leave services None for the default list), or set "
            "proxy_carries_aws_apis=True if the proxy carries those APIs",
        )
    if network_acls:
        raise ConfigurationError(
            "AwsNetworkProps.network_acls",
            "network ACLs do not yet mirror the VPC endpoint rules (443 to the endpoints, S3's prefix list)",
            "leave network_acls False with VpcEndpoints(enabled=True)",
        )
    if existing_vpc and not endpoints.existing_vpc_checked:
        raise ConfigurationError(
            f"{where}.existing_vpc_checked",
            "is False with an existing VPC: the library cannot see its DNS attributes or the endpoints already "
            "in it, and private DNS fails if DNS hostnames are off or an endpoint of the same service has it",
            "check the VPC (enableDnsSupport and enableDnsHostnames on, no endpoint of these services with "
            "private DNS) and set VpcEndpoints(existing_vpc_checked=True), or remove the existing endpoints "
            "from services",
        )


def _source(document: str, reference: str) -> RuleSource:
    return RuleSource(SourceKind.PLATFORM, document, "AWS", reference)


def endpoint_rules(endpoints: VpcEndpoints) -> tuple[TrafficRule, ...]:
    """The using roles' 443 to the endpoints' group and to S3's prefix list, and the group's
    443 from them: security-group references and a prefix list, never the VPC CIDR."""
    rules: list[TrafficRule] = []
    interface, gateway = endpoints.interface_services, endpoints.gateway_services
    names = ", ".join(interface)
    to_group = (
        _source(PRIVATELINK, "the endpoint's security group must allow HTTPS (443) from the clients"),
        _source(EKS_PRIV, f"interface endpoints for nodes without internet: {names}"),
    )
    to_s3 = (
        _source(GATEWAY, "gateway endpoint: security groups allow outbound to the S3 prefix list"),
        _source(ECR_ENDPOINTS, "ECR keeps image layers in S3: an S3 gateway endpoint"),
    )
    why = "Platform rule (AWS VPC endpoints, not a guide row)"
    for role in endpoints.roles:
        if interface:
            rules += [
                TrafficRule(
                    f"{role.value}-out-https-vpc-endpoints",
                    role,
                    Direction.EGRESS,
                    (HTTPS,),
                    Role.VPC_ENDPOINTS,
                    f"{why}: AWS APIs through the interface endpoints",
                    SECTION,
                    False,
                    to_group,
                ),
                TrafficRule(
                    f"vpc-endpoints-in-https-from-{role.value}",
                    Role.VPC_ENDPOINTS,
                    Direction.INGRESS,
                    (HTTPS,),
                    role,
                    f"{why}: AWS APIs through the interface endpoints",
                    SECTION,
                    False,
                    to_group,
                ),
            ]
        if gateway:
            rules.append(
                TrafficRule(
                    f"{role.value}-out-https-s3-gateway",
                    role,
                    Direction.EGRESS,
                    (HTTPS,),
                    OutsidePeer.S3_PREFIX_LIST,
                    f"{why}: S3 through the gateway endpoint",
                    SECTION,
                    False,
                    to_s3,
                )
            )
    return tuple(rules)
