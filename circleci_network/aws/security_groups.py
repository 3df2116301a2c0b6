"""One security group per role, with exactly the rules of the model and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from cdktf import TerraformLocal
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from circleci_network.aws.load_balancers import node_port_assignment
from circleci_network.aws.naming import check_name_prefix, check_vpc_id
from circleci_network.errors import ConfigurationError
from circleci_network.model.accepted_findings import AcceptedFinding, check_accepted_findings
from circleci_network.model.addressing import cidr_tuple, parse_cidr
from circleci_network.model.checks import checked_keywords, member, require_fields
from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent, StackInputs
from circleci_network.model.nat_translation import NatTranslation
from circleci_network.model.options import HardeningOptions, check_outside_peers
from circleci_network.model.platform_rules import Platform, PlatformOptions
from circleci_network.model.ports import Port, Protocol
from circleci_network.model.resolve import Cloud, PeerAddresses, ResolvedPolicy, ResolvedRule, resolve_policy
from circleci_network.model.roles import ALL_LOAD_BALANCERS, OutsidePeer, Role
from circleci_network.model.rules import Direction
from circleci_network.model.server_versions import ServerVersion
from circleci_network.model.vpc_endpoints import VpcEndpoints

#: AWS's default quota of rules per security group and direction.
RULES_PER_GROUP_QUOTA = 60


@checked_keywords
@dataclass(frozen=True)
class SecurityGroupProps:
    vpc_id: str
    """The VPC the groups belong to: ``vpc-…`` or a reference (``CircleciVpc.vpc_id``); never empty."""
    dns_resolver_cidrs: tuple[str, ...]
    """The Amazon-provided DNS server as /32 (``CircleciVpc.props.dns_resolver_address``)."""
    hardening: HardeningOptions = field(default_factory=HardeningOptions)
    """
    Who counts as "External" for each rule of the guide; outside peers' CIDRs
    must not overlap ``role_subnet_cidrs`` or ``load_balancer_subnet_cidrs``.
    """
    load_balancer_subnet_cidrs: tuple[str, ...] = ()
    """With transparent load balancers: the subnets their addresses and probes come from."""
    node_ports: Mapping[tuple[Role, int], int] | None = None
    """
    With transparent load balancers: the NodePort each listener port arrives on at the nodes (the NLB keeps the
    client's address, so the nodes admit clients on these ports). ``None``: ``default_node_ports(server_version)``.
    """
    role_subnet_cidrs: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    """
    Subnet CIDRs of each compute role, for the audit when the subnets are managed elsewhere;
    on v4, those of circleci-proxy (the chart builds it: no ``aws_lb`` tells the audit where).
    """
    name: str = "circleci"
    """Prefix of the security group names: lowercase letters, digits and '-', starting with a letter."""
    rules_per_group_quota: int = RULES_PER_GROUP_QUOTA
    """Raise if you have a higher "rules per security group" quota."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every security group."""
    server_version: ServerVersion = field(default_factory=ServerVersion)
    """Whose rule table to render (default: the guide in spec/)."""
    platform: PlatformOptions = field(default_factory=PlatformOptions)
    """``Platform.EKS`` adds the EKS control-plane group and its platform rules (see README "EKS")."""
    nat_translation: NatTranslation | None = None
    """
    v4 internet mode (set by ``CircleciAwsNetwork``): Nomad clients reach circleci-proxy at its
    EIPs through NAT, so ``policy`` resolves those rows to addresses (``circleci_network.model.nat_translation``).
    """
    vpc_endpoints: VpcEndpoints = field(default_factory=VpcEndpoints)
    """Turned on: the endpoints' group and the using roles' 443 to it and to S3 (README "VPC endpoints")."""
    s3_prefix_list_id: str | None = None
    """S3's prefix list (the gateway endpoint's ``prefix_list_id``): required when the endpoints include s3."""
    accepted_findings: tuple[AcceptedFinding, ...] = ()
    """
    Audit findings about your own resources in the same stack (a database's security group,
    your own load balancer), each with its reason; recorded, so the policy file pins them.
    Default ``()``: every such resource fails the audit (README "Your own resources in the stack").
    """

    def __post_init__(self) -> None:
        require_fields(self)
        check_aws_platform(self.platform, "SecurityGroupProps.platform")
        object.__setattr__(
            self,
            "accepted_findings",
            check_accepted_findings(self.accepted_findings, "SecurityGroupProps.accepted_findings", "aws"),
        )
        if self.nat_translation is not None and not isinstance(self.nat_translation, NatTranslation):
            raise ConfigurationError(
                "SecurityGroupProps.nat_translation",
                f"{self.nat_translation!r} is not a NatTranslation",
                "leave it None (CircleciAwsNetwork sets it)",
            )
        check_vpc_id(self.vpc_id, "SecurityGroupProps.vpc_id")
        if not isinstance(self.vpc_endpoints, VpcEndpoints):
            raise ConfigurationError(
                "SecurityGroupProps.vpc_endpoints",
                f"{self.vpc_endpoints!r} is not VpcEndpoints",
                "use VpcEndpoints(...)",
            )
        if self.vpc_endpoints.gateway_services and not self.s3_prefix_list_id:
            raise ConfigurationError(
                "SecurityGroupProps.s3_prefix_list_id",
                "is not given, but the VPC endpoints include s3 (the nodes' egress to S3 names its prefix list)",
                "give the S3 gateway endpoint's prefix_list_id (CircleciVpcEndpoints.s3_prefix_list_id)",
            )
        object.__setattr__(
            self,
            "node_ports",
            node_port_assignment(self.node_ports, "SecurityGroupProps.node_ports", self.server_version),
        )
        object.__setattr__(
            self, "dns_resolver_cidrs", cidr_tuple(self.dns_resolver_cidrs, "SecurityGroupProps.dns_resolver_cidrs")
        )
        object.__setattr__(
            self,
            "load_balancer_subnet_cidrs",
            cidr_tuple(self.load_balancer_subnet_cidrs, "SecurityGroupProps.load_balancer_subnet_cidrs"),
        )
        check_name_prefix(self.name, "SecurityGroupProps.name", kinds={"security-groups"})
        role_cidrs = {
            member(Role, role, "SecurityGroupProps.role_subnet_cidrs"): cidr_tuple(
                cidrs, f"SecurityGroupProps.role_subnet_cidrs[{role}]"
            )
            for role, cidrs in self.role_subnet_cidrs.items()
        }
        object.__setattr__(self, "role_subnet_cidrs", role_cidrs)
        inside = [
            (f"SecurityGroupProps.role_subnet_cidrs[{role.value}]", parse_cidr(c, "role_subnet_cidrs"))
            for role, cidrs in role_cidrs.items()
            for c in cidrs
        ] + [
            ("SecurityGroupProps.load_balancer_subnet_cidrs", parse_cidr(c, "load_balancer_subnet_cidrs"))
            for c in self.load_balancer_subnet_cidrs
        ]
        check_outside_peers(self.hardening, inside, "SecurityGroupProps.hardening")
        if self.hardening.transparent_load_balancers and self.server_version.profile.proxy_load_balancer:
            raise ConfigurationError(
                "HardeningOptions.transparent_load_balancers",
                f"server version {self.server_version.id.value}: the chart's circleci-proxy NLB carries our "
                "circleci-proxy security group (AWS Load Balancer Controller annotations), so it is not transparent",
                "leave transparent_load_balancers False with a v4 server version",
            )
        if self.hardening.transparent_load_balancers and not self.load_balancer_subnet_cidrs:
            raise ConfigurationError(
                "SecurityGroupProps.load_balancer_subnet_cidrs",
                "is empty, but transparent load balancers have no security group to refer to",
                "give the CIDRs of the subnets the load balancers sit in",
            )

    @property
    def listener_node_ports(self) -> Mapping[tuple[Role, int], int]:
        assert self.node_ports is not None  # set in __post_init__
        return self.node_ports

    @cached_property
    def policy(self) -> ResolvedPolicy:
        """The rules these props render, resolved once. Roles with a group are named by it; load
        balancers without one (transparent) by the subnets they sit in."""
        transparent = self.hardening.transparent_load_balancers
        roles = dict(self.role_subnet_cidrs)
        if transparent:
            roles |= {lb: self.load_balancer_subnet_cidrs for lb in ALL_LOAD_BALANCERS}
        return resolve_policy(
            self.hardening,
            cloud=Cloud.AWS,
            server_version=self.server_version,
            platform=self.platform,
            vpc_endpoints=self.vpc_endpoints,
            node_ports=self.listener_node_ports,
            addresses=PeerAddresses(
                dns_resolver=self.dns_resolver_cidrs,
                load_balancer_health_checks=self.load_balancer_subnet_cidrs,
                roles=roles,
                nat_translation=self.nat_translation,
            ),
        )


def _aws_protocol(port: Port) -> str:
    return "-1" if port.protocol is Protocol.ALL else port.protocol.value


def _group_description(role: Role) -> str:
    if role is Role.EKS_CONTROL_PLANE:  # EKS puts it on the control plane's ENIs (vpc_config)
        return "CircleCI Server EKS control plane (platform rules from the EKS documentation)"
    if role is Role.VPC_ENDPOINTS:  # on the interface endpoints' ENIs
        return "CircleCI Server VPC interface endpoints (platform rules from the AWS documentation)"
    return f"CircleCI Server {role.display_name} (rules from the CircleCI Server v3 hardening guide)"


def _cidr_slug(cidr: str) -> str:
    return cidr.replace(".", "-").replace("/", "-")


def check_aws_platform(platform: PlatformOptions, field_name: str) -> None:
    if not isinstance(platform, PlatformOptions):
        raise ConfigurationError(field_name, f"{platform!r} is not PlatformOptions", "use PlatformOptions(...)")
    if platform.platform is Platform.GKE:
        raise ConfigurationError(field_name, "Platform.GKE is a GCP platform", "use Platform.EKS (or None) on AWS")


class CircleciSecurityGroups(Construct):
    """Security groups rendered from the resolved policy: SG references between roles, literal
    CIDRs for outside peers, a description naming the guide's section on every rule."""

    def __init__(self, scope: Construct, id: str, *, props: SecurityGroupProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.policy = props.policy
        self.rules = self.policy.rules
        transparent = self.policy.transparent_load_balancers
        self.groups: dict[Role, SecurityGroup] = {}
        existing_plane = props.platform.eks_cluster_security_group_id
        for role in self.policy.roles:
            if role is Role.EKS_CONTROL_PLANE and existing_plane is not None:
                continue  # the user's group: our rules go on it, below
            self.groups[role] = SecurityGroup(
                self,
                role.value,
                name=f"{props.name}-{role.value}",
                vpc_id=props.vpc_id,
                description=_group_description(role),
                revoke_rules_on_delete=True,
                tags={**props.tags, "Name": f"{props.name}-{role.value}", "circleci/role": role.value},
            )
        # One read per group: each ``.id`` is a call into node, and rules name groups hundreds of times.
        self.group_ids: dict[Role, str] = {role: group.id for role, group in self.groups.items()}
        if existing_plane is not None and Role.EKS_CONTROL_PLANE in self.policy.roles:
            self.group_ids[Role.EKS_CONTROL_PLANE] = existing_plane
        # Static addresses known after apply (v4 internet mode) are named by label in resource IDs.
        translation = self.policy.addresses.nat_translation
        self._address_labels = translation.labels() if translation else {}
        #: Peers named by a prefix list, not CIDRs (S3 through its gateway endpoint).
        self.prefix_lists = {OutsidePeer.S3_PREFIX_LIST: props.s3_prefix_list_id} if props.s3_prefix_list_id else {}
        # Alone, the stack holds none of the facts these props give: they are the user's inputs.
        # CircleciAwsNetwork replaces this record with its own (``record``).
        self.intent = NetworkIntent(
            cloud="aws",
            name=props.name,
            options=props.hardening,
            inputs=StackInputs(
                existing_network=props.vpc_id,
                dns_resolver_cidrs=props.dns_resolver_cidrs,
                load_balancer_subnet_cidrs=props.load_balancer_subnet_cidrs if transparent else (),
                node_ports=dict(props.listener_node_ports) if transparent else {},
                role_cidrs=dict(props.role_subnet_cidrs),
            ),
            server_version=props.server_version,
            platform=props.platform,
            vpc_endpoints=props.vpc_endpoints,
            accepted_findings=props.accepted_findings,
        )
        self._check_quota()
        for rule in self.rules:
            self._render(rule)
        self._record = TerraformLocal(self, INTENT_LOCAL, self.intent.to_json())

    def record(self, intent: NetworkIntent) -> None:
        """Replace the recorded inputs (a whole network records its shape, not its derived facts)."""
        self.intent = intent
        self._record.expression = intent.to_json()

    def _check_quota(self) -> None:
        counts: dict[tuple[Role, Direction], int] = {}
        for rule in self.rules:
            by_reference = rule.peer_role in self.group_ids or rule.peer in self.prefix_lists
            per_port = 1 if by_reference else len(rule.peer_cidrs)
            key = (rule.role, rule.direction)
            counts[key] = counts.get(key, 0) + per_port * len(rule.ports)
        for (role, direction), count in counts.items():
            if count > self.props.rules_per_group_quota:
                raise ConfigurationError(
                    "HardeningOptions",
                    f"the {role.value} security group would need {count} {direction.value} rules, "
                    f"over the quota of {self.props.rules_per_group_quota}",
                    "list fewer, wider CIDRs, or raise SecurityGroupProps.rules_per_group_quota after raising the AWS quota",
                )

    def _render(self, rule: ResolvedRule) -> None:
        group_id = self.group_ids[rule.role]
        resource = VpcSecurityGroupIngressRule if rule.direction is Direction.INGRESS else VpcSecurityGroupEgressRule
        tags = {**self.props.tags, "circleci/rule": rule.rule_id}
        for port in rule.ports:
            every = port.protocol is Protocol.ALL  # AWS: protocol -1 takes no ports
            from_port, to_port = (None, None) if every else (port.from_port, port.to_port)
            base_id = f"{rule.rule_id}-{port.id_fragment}"
            # One resource per peer: (logical ID, group reference, prefix list, CIDR), one of the three set.
            peers: list[tuple[str, str | None, str | None, str | None]]
            if rule.peer_role is not None and rule.peer_role in self.group_ids:
                peers = [(base_id, self.group_ids[rule.peer_role], None, None)]
            elif isinstance(rule.peer, OutsidePeer) and rule.peer in self.prefix_lists:
                peers = [(base_id, None, self.prefix_lists[rule.peer], None)]
            else:
                # A static address known after apply is named by its label (its zone), not its value.
                peers = [
                    (f"{base_id}-{self._address_labels.get(cidr) or _cidr_slug(cidr)}", None, None, cidr)
                    for cidr in rule.peer_cidrs
                ]
            for resource_id, group, prefix_list, cidr in peers:
                resource(
                    self,
                    resource_id,
                    security_group_id=group_id,
                    ip_protocol=_aws_protocol(port),
                    referenced_security_group_id=group,
                    prefix_list_id=prefix_list,
                    cidr_ipv4=cidr,
                    description=rule.description,
                    tags=tags,
                    from_port=from_port,
                    to_port=to_port,
                )

    def security_group_id(self, role: Role) -> str:
        if role not in self.group_ids:
            raise KeyError(f"no security group for {role.value}: it holds no rules with these options")
        return self.group_ids[role]
