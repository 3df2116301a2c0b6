"""Network ACLs per subnet tier: the security groups' rules again, as stateless subnet filters.

Nothing here opens a port of its own. Each tier's ACL is derived from the resolved policy:

* every rule of a role living in the tier, towards its peer's CIDRs (a role peer stands for
  its tier's subnets), and the rule's replies the other way on the initiator's ephemeral
  ports (``ports.reply_ports``: 1024-65535, without 22 and 3389 when the peer is 0.0.0.0/0);
* the NAT gateways' transit in the public tier: a private instance's traffic to the outside
  enters the public subnets from the instance's tier and leaves them to the destination;
* the client address a network load balancer keeps on its way to the nodes (instance
  targets preserve client IPs): the node tier accepts the load balancer's clients on the
  NodePorts its listeners forward to;
* with transparent load balancers, their subnets pass what the guide's load balancer section
  says and what the nodes accept, and peers name them by every load balancer subnet, as
  the security groups do;
* with ``Platform.EKS``, the platform rules between the control plane and the nodes: the
  control plane's ENIs sit in the subnets of the cluster's ``vpc_config``, which are the node
  subnets (``CONTROL_PLANE_TIER``). Traffic inside one subnet is not filtered, but between two
  node subnets (another zone) it crosses the node tier's ACL both ways.

The sets are merged exactly (same addresses and ports, fewer rules) before counting against
AWS's rules-per-ACL quota. Every rule allows, so rule order is irrelevant: a rule's number
comes from its content, and adding one renumbers nothing (1-99 stay free for your denies).
The default network ACL is adopted and left without rules: a subnet outside the tiers is shut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from ipaddress import IPv4Network

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.default_network_acl import DefaultNetworkAcl
from cdktf_cdktf_provider_aws.network_acl import NetworkAcl
from cdktf_cdktf_provider_aws.network_acl_rule import NetworkAclRule
from constructs import Construct

from circleci_network.aws.load_balancers import DEFAULT_NODE_PORTS, NodePortAssignment
from circleci_network.aws.nacl_compactor import AclEntry, compact, rule_numbers
from circleci_network.aws.naming import check_vpc_id
from circleci_network.aws.security_groups import check_aws_platform
from circleci_network.aws.vpc import CircleciVpc, SubnetTier
from circleci_network.errors import ConfigurationError
from circleci_network.model.addressing import cidr_tuple, parse_cidr
from circleci_network.model.checks import checked_keywords, require_fields
from circleci_network.model.options import HardeningOptions, check_outside_peers
from circleci_network.model.platform_rules import PlatformOptions
from circleci_network.model.ports import Port, Protocol, reply_ports
from circleci_network.model.resolve import Cloud, PeerAddresses, ResolvedPolicy, ResolvedRule, resolve_policy
from circleci_network.model.roles import INTERNET_FACING_LOAD_BALANCERS, Role
from circleci_network.model.rules import Direction

#: AWS's default quota of rules per network ACL and direction; it can be raised to 40.
RULES_PER_ACL_QUOTA = 20
RULES_PER_ACL_HARD_LIMIT = 40

ROLE_TIERS: Mapping[Role, SubnetTier] = {
    Role.KUBERNETES_NODES: SubnetTier.KUBERNETES_NODES,
    Role.NOMAD_CLIENTS: SubnetTier.NOMAD_CLIENTS,
    Role.EXTERNAL_VMS: SubnetTier.EXTERNAL_VMS,
}
PRIVATE_TIERS = frozenset(ROLE_TIERS.values())
#: Where EKS puts the control plane's ENIs: the cluster's ``vpc_config`` subnets, which the
#: network's outputs and the EKS example give as the node subnets.
CONTROL_PLANE_TIER = SubnetTier.KUBERNETES_NODES


@checked_keywords
@dataclass(frozen=True)
class NetworkAclProps:
    vpc_id: str
    """The VPC of the ACLs: ``vpc-…`` or a reference (``CircleciVpc.vpc_id``)."""
    default_network_acl_id: str | None
    """
    ``Vpc.default_network_acl_id``: adopted and left without rules. ``None``
    leaves it alone (an existing VPC's default ACL may serve other subnets).
    """
    subnet_ids: Mapping[SubnetTier, Sequence[str]]
    """Subnet IDs per tier (``CircleciVpc.subnet_ids``)."""
    subnet_cidrs: Mapping[SubnetTier, Sequence[str]]
    """Subnet CIDRs per tier (``VpcProps.subnet_plan()``)."""
    vpc_cidr: str
    """
    The VPC's primary CIDR: egress beyond it passes the NAT gateway, so the
    public tier's ACL allows it too; outside peers' CIDRs must not overlap it.
    """
    dns_resolver_cidrs: tuple[str, ...]
    """The Amazon-provided DNS server as /32 (``VpcProps.dns_resolver_address``)."""
    hardening: HardeningOptions = field(default_factory=HardeningOptions)
    """The same options as the security groups': the ACLs mirror their rules."""
    internet_facing_load_balancers: bool = True
    """Frontend and traefik load balancers sit in the public tier; the others in the node tier."""
    load_balancer_subnet_cidrs: tuple[str, ...] = ()
    """
    The subnets load balancers may sit in, as the security groups name them when the
    load balancers are transparent (``SecurityGroupProps.load_balancer_subnet_cidrs``).
    """
    nat_routed_tiers: frozenset[SubnetTier] = PRIVATE_TIERS
    """Tiers whose default route is a NAT gateway in the public tier."""
    node_ports: NodePortAssignment = field(default_factory=lambda: dict(DEFAULT_NODE_PORTS))
    """
    The NodePort each (load balancer, listener port) delivers to: with
    transparent load balancers the node tier admits clients on these.
    """
    name: str = "circleci"
    """Prefix of the ACLs' Name tags (``<name>-<tier>``)."""
    rules_per_acl_quota: int = RULES_PER_ACL_QUOTA
    """Raise (up to 40) after raising the AWS quota "Rules per network ACL"."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every network ACL."""
    platform: PlatformOptions = field(default_factory=PlatformOptions)
    """
    The security groups' platform options: with ``Platform.EKS`` the ACLs also pass EKS's
    platform rules (control plane <-> nodes) with their replies, the control plane in ``CONTROL_PLANE_TIER``.
    """

    def __post_init__(self) -> None:
        require_fields(self)
        check_vpc_id(self.vpc_id, "NetworkAclProps.vpc_id")
        check_aws_platform(self.platform, "NetworkAclProps.platform")
        for name in ("dns_resolver_cidrs", "load_balancer_subnet_cidrs"):
            object.__setattr__(self, name, cidr_tuple(getattr(self, name), f"NetworkAclProps.{name}"))
        vpc = parse_cidr(self.vpc_cidr, "NetworkAclProps.vpc_cidr")
        ours = [
            (
                f"NetworkAclProps.subnet_cidrs[{tier.value}]",
                parse_cidr(c, f"NetworkAclProps.subnet_cidrs[{tier.value}]"),
            )
            for tier in SubnetTier
            for c in cidr_tuple(self.subnet_cidrs.get(tier, ()), f"NetworkAclProps.subnet_cidrs[{tier.value}]")
        ]
        check_outside_peers(self.hardening, [("NetworkAclProps.vpc_cidr", vpc)], "NetworkAclProps.hardening", ours=ours)
        quota = self.rules_per_acl_quota
        if not isinstance(quota, int) or not 1 <= quota <= RULES_PER_ACL_HARD_LIMIT:
            raise ConfigurationError(
                "NetworkAclProps.rules_per_acl_quota",
                f"{quota!r} is outside 1-{RULES_PER_ACL_HARD_LIMIT}",
                f"AWS allows at most {RULES_PER_ACL_HARD_LIMIT} rules per network ACL and direction",
            )
        self.plan()  # the quota check, before any resource exists

    @staticmethod
    def for_vpc(
        vpc: CircleciVpc,
        *,
        hardening: HardeningOptions,
        internet_facing_load_balancers: bool,
        load_balancer_subnet_cidrs: tuple[str, ...],
        node_ports: NodePortAssignment,
        rules_per_acl_quota: int = RULES_PER_ACL_QUOTA,
        platform: PlatformOptions | None = None,
    ) -> NetworkAclProps:
        """Props for the tiers ``vpc`` built: its subnets, their CIDRs and routes."""
        props = vpc.props
        plan = props.subnet_plan()
        public_jobs = {SubnetTier.NOMAD_CLIENTS, SubnetTier.EXTERNAL_VMS} if props.public_job_subnets else set()
        return NetworkAclProps(
            vpc_id=vpc.vpc_id,
            default_network_acl_id=vpc.vpc.default_network_acl_id if vpc.vpc is not None else None,
            subnet_ids={tier: vpc.subnet_ids(tier) for tier in SubnetTier},
            subnet_cidrs={tier: tuple(str(c) for c in plan[tier]) for tier in SubnetTier},
            vpc_cidr=str(props.vpc_network),
            dns_resolver_cidrs=(f"{props.dns_resolver_address}/32",),
            hardening=hardening,
            internet_facing_load_balancers=internet_facing_load_balancers,
            load_balancer_subnet_cidrs=load_balancer_subnet_cidrs,
            nat_routed_tiers=PRIVATE_TIERS - public_jobs,
            node_ports=node_ports,
            name=props.name,
            rules_per_acl_quota=rules_per_acl_quota,
            tags=props.tags,
            platform=platform or PlatformOptions(),
        )

    def tier_of(self, role: Role) -> SubnetTier:
        """Where a role's addresses are: instances in their tier, load balancers where they are placed."""
        if role in ROLE_TIERS:
            return ROLE_TIERS[role]
        if role is Role.EKS_CONTROL_PLANE:
            return CONTROL_PLANE_TIER
        if self.internet_facing_load_balancers and role in INTERNET_FACING_LOAD_BALANCERS:
            return SubnetTier.PUBLIC
        return SubnetTier.KUBERNETES_NODES

    @cached_property
    def policy(self) -> ResolvedPolicy:
        """The rules the ACLs mirror, resolved once: a role peer stands for its tier's subnets, a
        transparent load balancer for every load balancer subnet (as the security groups name it)."""
        transparent = self.hardening.transparent_load_balancers
        roles = {
            role: self.load_balancer_subnet_cidrs
            if role.is_load_balancer and transparent
            else tuple(self.subnet_cidrs.get(self.tier_of(role), ()))
            for role in Role
        }
        return resolve_policy(
            self.hardening,
            cloud=Cloud.AWS,
            platform=self.platform,
            node_ports=self.node_ports,
            addresses=PeerAddresses(
                dns_resolver=self.dns_resolver_cidrs,
                load_balancer_health_checks=self.load_balancer_subnet_cidrs,
                roles=roles,
            ),
        )

    def plan(self) -> dict[SubnetTier, tuple[AclEntry, ...]]:
        """Each tier's rules, merged and checked against the quota. Pure Python: no synth needed."""
        planned = {tier: compact(entries, flexible) for tier, (entries, flexible) in _Planner(self).entries().items()}
        for tier, entries in planned.items():
            for egress in (False, True):
                count = sum(1 for e in entries if e.egress is egress)
                if count > self.rules_per_acl_quota:
                    raise ConfigurationError(
                        "NetworkAclProps.rules_per_acl_quota",
                        f"the {tier.value} network ACL needs {count} {'egress' if egress else 'ingress'} rules "
                        f"after merging, over the quota of {self.rules_per_acl_quota}",
                        "list fewer or wider CIDRs in HardeningOptions (each CIDR of client_cidrs, external_cidrs, "
                        "vcs_cidrs, rerun_ssh_cidrs, ssh_administrator_cidrs, dns_server_cidrs and extra_egress is "
                        "a rule and its reply), or raise the AWS quota 'Rules per network ACL' and "
                        f"AwsNetworkProps.network_acl_rules_quota (at most {RULES_PER_ACL_HARD_LIMIT})",
                    )
        return planned


class _Planner:
    def __init__(self, props: NetworkAclProps) -> None:
        self.props = props
        self.vpc = IPv4Network(props.vpc_cidr)
        self.boxes: dict[SubnetTier, set[AclEntry]] = {tier: set() for tier in SubnetTier}
        #: Replies from inside peers: their closed ports may be dropped (see ``compact``).
        self.flexible: dict[SubnetTier, set[AclEntry]] = {tier: set() for tier in SubnetTier}
        self._fixed: dict[SubnetTier, set[AclEntry]] = {tier: set() for tier in SubnetTier}
        policy = props.policy
        self.rules = policy.rules
        # Transparent load balancers hold no rules, but they still sit in their subnets and
        # pass what the guide's load balancer section says.
        self.load_balancer_rules = policy.load_balancer_rules
        self.transparent = policy.transparent_load_balancers

    def entries(self) -> dict[SubnetTier, tuple[set[AclEntry], set[AclEntry]]]:
        """Per tier: every rule, and those of them that are replies on negotiable ports."""
        for rule in self.rules:
            if not rule.role.is_load_balancer:
                self._mirror(rule)
        if self.transparent:
            # A transparent load balancer's addresses accept what the nodes accept.
            tiers = {self.props.tier_of(rule.role) for rule in self.load_balancer_rules} - {SubnetTier.KUBERNETES_NODES}
            for tier in sorted(tiers):
                for rule in self.rules:
                    if rule.role is Role.KUBERNETES_NODES and rule.direction is Direction.INGRESS:
                        self._mirror(rule, tier)
        for rule in self.load_balancer_rules:
            self._mirror(rule)
            if rule.direction is Direction.INGRESS:
                self._preserved_client(rule)
        return {tier: (self.boxes[tier], self.flexible[tier] - self._fixed[tier]) for tier in SubnetTier}

    def _add(
        self, tier: SubnetTier, egress: bool, ports: Iterable[Port], cidrs: Iterable[str], *, flexible: bool = False
    ) -> None:
        for port in ports:
            for cidr in cidrs:
                entry = AclEntry(egress, port.protocol, IPv4Network(cidr), port.from_port, port.to_port)
                self.boxes[tier].add(entry)
                (self.flexible if flexible else self._fixed)[tier].add(entry)

    def _both_ways(self, tier: SubnetTier, outbound: bool, ports: Sequence[Port], cidrs: Sequence[str]) -> None:
        """Requests one way, their replies the other way on the initiator's ephemeral ports."""
        self._add(tier, outbound, ports, cidrs)
        for port in ports:
            for cidr in cidrs:
                # Replies coming in from the whole internet never open 22 or 3389; from
                # narrower peers those ports are not needed either, but may stay if that saves rules.
                world = outbound and IPv4Network(cidr).prefixlen == 0
                self._add(tier, not outbound, reply_ports(port, from_the_world=world), (cidr,), flexible=not world)

    def _mirror(self, rule: ResolvedRule, tier: SubnetTier | None = None) -> None:
        tier = tier or self.props.tier_of(rule.role)
        cidrs = rule.peer_cidrs
        outbound = rule.direction is Direction.EGRESS
        self._both_ways(tier, outbound, rule.ports, cidrs)
        if outbound and tier in self.props.nat_routed_tiers and rule.peer_role is None:
            beyond = tuple(c for c in cidrs if not IPv4Network(c).subnet_of(self.vpc))
            if beyond:  # routed through a NAT gateway: in from the instances, out to the destination
                self._both_ways(SubnetTier.PUBLIC, False, rule.ports, tuple(self.props.subnet_cidrs[tier]))
                self._both_ways(SubnetTier.PUBLIC, True, rule.ports, beyond)

    def _preserved_client(self, rule: ResolvedRule) -> None:
        """Instance targets see the client's address: the node tier accepts the load balancer's
        clients on the NodePorts its listeners forward to (the model's node-port hop)."""
        for hop in self.load_balancer_rules:
            if hop.role is not rule.role or hop.direction is not Direction.EGRESS or hop.peer_role is None:
                continue
            node_ports: list[Port] = []
            for listener in rule.ports:
                assigned = self.props.policy.node_port(rule.role, listener.from_port)
                node_ports += [Port.tcp(assigned)] if assigned is not None else list(hop.ports)
            node_ports = [p for p in node_ports if any(h.covers(p) for h in hop.ports)]
            self._both_ways(self.props.tier_of(hop.peer_role), False, node_ports, rule.peer_cidrs)


def _aws_protocol(protocol: Protocol) -> str:
    return "-1" if protocol is Protocol.ALL else protocol.value


class CircleciNetworkAcls(Construct):
    """One network ACL per subnet tier, tagged with it, plus the emptied default ACL."""

    def __init__(self, scope: Construct, id: str, *, props: NetworkAclProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.plan = props.plan()
        # Adopting the default ACL removes its rules; new subnets outside the tiers land there, shut.
        self.default_network_acl: DefaultNetworkAcl | None = None
        if props.default_network_acl_id is not None:
            self.default_network_acl = DefaultNetworkAcl(
                self,
                "default",
                default_network_acl_id=props.default_network_acl_id,
                tags={**props.tags, "Name": f"{props.name}-default-unused"},
                lifecycle=TerraformResourceLifecycle(ignore_changes=["subnet_ids"]),
            )
        self.acls: dict[SubnetTier, NetworkAcl] = {}
        for tier in SubnetTier:
            acl = NetworkAcl(
                self,
                tier.value,
                vpc_id=props.vpc_id,
                subnet_ids=list(props.subnet_ids.get(tier, ())),
                tags={**props.tags, "Name": f"{props.name}-{tier.value}", "circleci/tier": tier.value},
            )
            self.acls[tier] = acl
            entries = self.plan[tier]
            numbers = rule_numbers(entries)
            for entry in entries:
                every = entry.protocol is Protocol.ALL
                NetworkAclRule(
                    self,
                    f"{tier.value}-{entry.key}",
                    network_acl_id=acl.id,
                    rule_number=numbers[entry],
                    egress=entry.egress,
                    protocol=_aws_protocol(entry.protocol),
                    rule_action="allow",
                    cidr_block=str(entry.network),
                    from_port=None if every else entry.from_port,
                    to_port=None if every else entry.to_port,
                )

    def network_acl_id(self, tier: SubnetTier) -> str:
        return self.acls[tier].id
