"""The VPC: separate subnets per role in every availability zone, private by default."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network

from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from constructs import Construct

from circleci_network.aws.flow_logs import RETENTION_DAYS, add_flow_logs
from circleci_network.aws.naming import check_name_prefix, zone_region
from circleci_network.errors import ConfigurationError
from circleci_network.model.addressing import ALL_IPV4, carve_subnets, check_disjoint, cidr_tuple, parse_cidr
from circleci_network.model.checks import checked_keywords, member, require_fields
from circleci_network.model.cloud_facts import aws_dns_resolver_address


class SubnetTier(StrEnum):
    """A subnet group: one subnet per availability zone."""

    PUBLIC = "public"  # internet-facing load balancers and the NAT gateways
    KUBERNETES_NODES = "k8s-nodes"
    NOMAD_CLIENTS = "nomad-clients"
    EXTERNAL_VMS = "external-vms"


class NatGateways(StrEnum):
    ONE = "one"  # cheaper; private subnets lose egress if that zone fails
    ONE_PER_AZ = "one-per-az"


#: Subnet size as prefix-length steps below the VPC's: /16 VPC -> /20 role subnets, /24 public.
DEFAULT_SUBNET_STEPS: Mapping[SubnetTier, int] = {
    SubnetTier.KUBERNETES_NODES: 4,
    SubnetTier.NOMAD_CLIENTS: 4,
    SubnetTier.EXTERNAL_VMS: 4,
    SubnetTier.PUBLIC: 8,
}


#: AWS allows VPC CIDR blocks from /16 to /28 (we need room for 4 tiers: /24 at most).
LARGEST_VPC_PREFIX = 16
#: What a new VPC gets when ``VpcProps.cidr_block`` is left out.
DEFAULT_VPC_CIDR = "10.0.0.0/16"


@checked_keywords
@dataclass(frozen=True)
class ExistingVpc:
    """A VPC made elsewhere: only our subnets, routes, NAT and flow logs are added to it."""

    vpc_id: str
    """The VPC's ID (``vpc-…``) or a reference to it."""
    cidr_block: str
    """The VPC's primary CIDR (its DNS resolver is base + 2); our subnets are carved from it."""
    internet_gateway_id: str
    """The VPC's internet gateway (public subnets and NAT need one; a VPC holds only one)."""
    manage_default_security_group: bool = False
    """Removes every rule of the VPC's default security group: check nothing else uses it."""
    taken_cidrs: tuple[str, ...] | None = None
    """
    The ranges already in use in the VPC (its subnets, reserved blocks): our derived subnets
    are carved around them and an explicit one overlapping them is refused. Required (``()``
    if the VPC is empty) unless every tier's ``VpcProps.subnet_cidrs`` is given.
    """

    def __post_init__(self) -> None:
        require_fields(self)
        for field_name, prefix in (("vpc_id", "vpc-"), ("internet_gateway_id", "igw-")):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not (value.startswith(prefix) or value.startswith("${")):
                raise ConfigurationError(
                    f"ExistingVpc.{field_name}",
                    f"{value!r} is not an ID starting with {prefix!r}",
                    f'give the ID (e.g. "{prefix}0123456789abcdef0") or a reference to it',
                )
        _check_vpc_size(parse_cidr(self.cidr_block, "ExistingVpc.cidr_block"), "ExistingVpc.cidr_block")
        if self.taken_cidrs is not None:
            object.__setattr__(self, "taken_cidrs", cidr_tuple(self.taken_cidrs, "ExistingVpc.taken_cidrs"))


def _check_vpc_size(vpc: IPv4Network, field_name: str) -> None:
    if vpc.prefixlen < LARGEST_VPC_PREFIX:
        raise ConfigurationError(
            field_name, f"{vpc} is larger than AWS's largest VPC, a /16", "use a /16 to /24 VPC CIDR"
        )
    if vpc.prefixlen > 24:
        raise ConfigurationError(field_name, f"{vpc} is smaller than a /24", "use a /16 to /24 VPC")


@checked_keywords
@dataclass(frozen=True)
class VpcProps:
    availability_zones: tuple[str, ...]
    """At least two zones of one region; subnet IDs are keyed by zone name, so reordering renames nothing."""
    cidr_block: str | None = None
    """The new VPC's CIDR, /16 to /24; ``None`` means 10.0.0.0/16, or the existing VPC's."""
    existing_vpc: ExistingVpc | None = None
    """Add our subnets to this VPC instead of creating one."""
    name: str = "circleci"
    """Prefix for Name tags and IAM names."""
    nat_gateways: NatGateways = NatGateways.ONE_PER_AZ
    """
    ``ONE_PER_AZ`` (default: a zone failure leaves the others their egress) or ``ONE``
    (cheaper; private subnets lose egress if its zone fails); the enum or its value string.
    """
    subnet_cidrs: Mapping[SubnetTier, Sequence[str]] = field(default_factory=dict)
    """Explicit subnet CIDRs per tier, one per zone in zone order; others are derived."""
    subnet_prefix_lengths: Mapping[SubnetTier, int] = field(default_factory=dict)
    """Derived subnet sizes as prefix lengths, per tier (default: VPC prefix +4, public +8)."""
    flow_log_retention_days: int = 365
    """
    CloudWatch retention of the VPC flow logs, in days: one of
    CloudWatch's values (1, 3, 5, 7, 14, 30, ..., 365, ..., 3653).
    """
    public_job_subnets: bool = False
    """
    Nomad client and external VM subnets route through the internet gateway and give
    instances public IPs (set by ``Topology(job_placement=JobPlacement.PUBLIC)``).
    """
    eks_cluster_name: str | None = None
    """Adds the ``kubernetes.io/cluster/<name>`` tag that EKS load balancer discovery uses."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every resource the VPC construct creates."""
    nat_eip_allocation_ids: Sequence[str] = ()
    """
    Existing Elastic IPs for the NAT gateways (``eipalloc-…``), one per gateway in zone
    order, so allowlisted egress addresses survive a rebuild; empty allocates new ones.
    """

    def __post_init__(self) -> None:
        require_fields(self)
        zones = self.availability_zones
        if isinstance(zones, str) or len(tuple(zones)) < 2:
            raise ConfigurationError(
                "VpcProps.availability_zones",
                f"got {zones!r}; the guide's layout needs subnets in at least two zones",
                'list two or more zones, e.g. ("us-east-1a", "us-east-1b")',
            )
        object.__setattr__(self, "availability_zones", tuple(zones))
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise ConfigurationError("VpcProps.availability_zones", "a zone is listed twice", "list each zone once")
        regions = [zone_region(z, f"VpcProps.availability_zones[{i}]") for i, z in enumerate(self.availability_zones)]
        for i, region in enumerate(regions):
            if region != regions[0]:
                raise ConfigurationError(
                    f"VpcProps.availability_zones[{i}]",
                    f"{self.availability_zones[i]!r} is in {region}, but {self.availability_zones[0]!r} is in "
                    f"{regions[0]}: a VPC lives in one region",
                    f"list zones of {regions[0]} only",
                )
        object.__setattr__(self, "nat_gateways", member(NatGateways, self.nat_gateways, "VpcProps.nat_gateways"))
        for field_name in ("subnet_cidrs", "subnet_prefix_lengths"):
            given = getattr(self, field_name)
            if not isinstance(given, Mapping):
                raise ConfigurationError(
                    f"VpcProps.{field_name}", f"{given!r} is not a mapping", "give a dict keyed by SubnetTier"
                )
            keyed = {member(SubnetTier, k, f"VpcProps.{field_name}"): v for k, v in given.items()}
            object.__setattr__(self, field_name, keyed)
        check_name_prefix(self.name, "VpcProps.name", kinds={"vpc"})
        if self.flow_log_retention_days not in RETENTION_DAYS:
            raise ConfigurationError(
                "VpcProps.flow_log_retention_days",
                f"{self.flow_log_retention_days} is not a CloudWatch retention",
                f"use one of {sorted(RETENTION_DAYS)}",
            )
        existing = self.existing_vpc
        if self.cidr_block is not None:
            _check_vpc_size(parse_cidr(self.cidr_block, "VpcProps.cidr_block"), "VpcProps.cidr_block")
            if existing is not None and parse_cidr(self.cidr_block, "VpcProps.cidr_block") != parse_cidr(
                existing.cidr_block, "ExistingVpc.cidr_block"
            ):
                raise ConfigurationError(
                    "VpcProps.cidr_block",
                    f"{self.cidr_block} contradicts the existing VPC's {existing.cidr_block} (ExistingVpc.cidr_block)",
                    "leave VpcProps.cidr_block out with an existing VPC (its CIDR is ExistingVpc.cidr_block), "
                    "or correct whichever is wrong",
                )
        if existing is not None and existing.taken_cidrs is None and set(self.subnet_cidrs) != set(SubnetTier):
            derived = ", ".join(t.value for t in SubnetTier if t not in self.subnet_cidrs)
            raise ConfigurationError(
                "VpcProps.existing_vpc.taken_cidrs",
                f"is not stated, so the subnets derived for {derived} could overlap subnets already in "
                f"{existing.vpc_id} (terraform apply would fail with InvalidSubnet.Conflict)",
                "list the CIDRs already used in the VPC as ExistingVpc(taken_cidrs=[...]) (taken_cidrs=() if "
                "none), or give every tier's CIDRs in VpcProps.subnet_cidrs",
            )
        self._check_nat_eips()
        self.subnet_plan()  # validates the addressing now, not at deploy time

    @property
    def nat_zones(self) -> tuple[str, ...]:
        """The zones that get a NAT gateway, in order."""
        zones = self.availability_zones
        return zones if self.nat_gateways == NatGateways.ONE_PER_AZ else zones[:1]

    def _check_nat_eips(self) -> None:
        where = "VpcProps.nat_eip_allocation_ids"
        ids = self.nat_eip_allocation_ids
        if isinstance(ids, str):
            raise ConfigurationError(where, f"got the string {ids!r}, not a list", f'wrap it in a tuple: ("{ids}",)')
        ids = tuple(ids)
        object.__setattr__(self, "nat_eip_allocation_ids", ids)
        if not ids:
            return
        if len(ids) != len(self.nat_zones):
            raise ConfigurationError(
                where,
                f"has {len(ids)} allocation IDs for {len(self.nat_zones)} NAT gateway(s) ({', '.join(self.nat_zones)})",
                "give exactly one per NAT gateway, in zone order (or leave it empty to allocate new ones)",
            )
        for i, allocation_id in enumerate(ids):
            if not isinstance(allocation_id, str) or not _EIP_ALLOCATION.match(allocation_id):
                raise ConfigurationError(
                    f"{where}[{i}]",
                    f"{allocation_id!r} is not an Elastic IP allocation ID",
                    'give the allocation ID (e.g. "eipalloc-0123456789abcdef0", not the address) or a reference to it',
                )
        if len(set(ids)) != len(ids):
            raise ConfigurationError(where, "lists an allocation ID twice", "give each NAT gateway its own address")

    @property
    def vpc_network(self) -> IPv4Network:
        """The VPC's CIDR: the existing VPC's, else ``cidr_block``, else 10.0.0.0/16."""
        if self.existing_vpc is not None:
            return parse_cidr(self.existing_vpc.cidr_block, "ExistingVpc.cidr_block")
        return parse_cidr(self.cidr_block or DEFAULT_VPC_CIDR, "VpcProps.cidr_block")

    @property
    def region(self) -> str:
        """The region of the availability zones."""
        return zone_region(self.availability_zones[0], "VpcProps.availability_zones[0]")

    @property
    def dns_resolver_address(self) -> str:
        """The Amazon-provided DNS server: the VPC base address plus two."""
        return aws_dns_resolver_address(self.vpc_network)

    def subnet_plan(self) -> dict[SubnetTier, tuple[IPv4Network, ...]]:
        """The CIDR of every subnet, per tier in zone order. Pure Python: no synth needed."""
        vpc = self.vpc_network
        zones = len(self.availability_zones)
        taken_cidrs = () if self.existing_vpc is None else self.existing_vpc.taken_cidrs or ()
        taken = [
            (f"ExistingVpc.taken_cidrs[{i}]", parse_cidr(c, f"ExistingVpc.taken_cidrs[{i}]"))
            for i, c in enumerate(taken_cidrs)
        ]
        plan: dict[SubnetTier, tuple[IPv4Network, ...]] = {}
        for tier, given in self.subnet_cidrs.items():
            tier = SubnetTier(tier)
            where = f"VpcProps.subnet_cidrs[{tier.value}]"
            if isinstance(given, str) or len(given) != zones:
                raise ConfigurationError(
                    where, f"got {given!r}", f"give exactly one CIDR per availability zone ({zones})"
                )
            networks = tuple(parse_cidr(cidr, f"{where}[{i}]") for i, cidr in enumerate(given))
            for i, network in enumerate(networks):
                if not network.subnet_of(vpc):
                    raise ConfigurationError(
                        f"{where}[{i}]", f"{network} is outside the VPC CIDR {vpc}", f"pick a block inside {vpc}"
                    )
                for taken_field, taken_network in taken:
                    if network.overlaps(taken_network):
                        raise ConfigurationError(
                            f"{where}[{i}]",
                            f"{network} overlaps {taken_network}, already taken in the existing VPC ({taken_field})",
                            "pick a block of the VPC that no existing subnet uses",
                        )
            plan[tier] = networks
        missing = [tier for tier in SubnetTier if tier not in plan]
        lengths: list[int] = []
        for tier in missing:
            length = self.subnet_prefix_lengths.get(tier, min(vpc.prefixlen + DEFAULT_SUBNET_STEPS[tier], 28))
            if not isinstance(length, int) or not vpc.prefixlen <= length <= 28:
                raise ConfigurationError(
                    f"VpcProps.subnet_prefix_lengths[{tier.value}]",
                    f"/{length} does not fit in {vpc}",
                    f"use a prefix length from {vpc.prefixlen} to 28",
                )
            lengths += [length] * zones
        if missing:
            around = [network for networks in plan.values() for network in networks] + [t for _, t in taken]
            carved = carve_subnets(vpc, lengths, "VpcProps.cidr_block", taken=around)
            for n, tier in enumerate(missing):
                plan[tier] = tuple(carved[n * zones : (n + 1) * zones])
        named = [
            (f"VpcProps.subnet_cidrs[{tier.value}][{i}]", network)
            for tier in SubnetTier
            for i, network in enumerate(plan[tier])
        ]
        check_disjoint(named)
        return {tier: plan[tier] for tier in SubnetTier}


_EIP_ALLOCATION = re.compile(r"^eipalloc-[0-9a-f]{8,17}$|^\$\{")


class CircleciVpc(Construct):
    """VPC, role subnets in every zone, NAT, per-tier routes, flow logs, locked default SG."""

    def __init__(self, scope: Construct, id: str, *, props: VpcProps) -> None:
        super().__init__(scope, id)
        self.props = props
        plan = props.subnet_plan()
        name = props.name
        existing = props.existing_vpc
        self.vpc: Vpc | None = None
        if existing is None:
            self.vpc = Vpc(
                self,
                "vpc",
                cidr_block=str(props.vpc_network),
                enable_dns_support=True,
                enable_dns_hostnames=True,
                tags={**props.tags, "Name": name},
            )
            self._vpc_id = self.vpc.id
        else:
            self._vpc_id = existing.vpc_id
        self.default_security_group: DefaultSecurityGroup | None = None
        if existing is None or existing.manage_default_security_group:
            # Takes over the default security group and removes every rule from it.
            self.default_security_group = DefaultSecurityGroup(
                self,
                "default-security-group",
                vpc_id=self._vpc_id,
                tags={**props.tags, "Name": f"{name}-default-unused"},
            )
        self.internet_gateway_id: str
        self.internet_gateway: InternetGateway | None = None
        if existing is None:
            self.internet_gateway = InternetGateway(
                self, "internet-gateway", vpc_id=self._vpc_id, tags={**props.tags, "Name": name}
            )
            self.internet_gateway_id = self.internet_gateway.id
        else:
            self.internet_gateway_id = existing.internet_gateway_id

        cluster_tag = {f"kubernetes.io/cluster/{props.eks_cluster_name}": "shared"} if props.eks_cluster_name else {}
        discovery = {
            SubnetTier.PUBLIC: {"kubernetes.io/role/elb": "1"},
            SubnetTier.KUBERNETES_NODES: {"kubernetes.io/role/internal-elb": "1"},
        }
        public_tiers = {SubnetTier.NOMAD_CLIENTS, SubnetTier.EXTERNAL_VMS} if props.public_job_subnets else set()
        self.subnets: dict[SubnetTier, list[Subnet]] = {}
        for tier in SubnetTier:
            self.subnets[tier] = [
                Subnet(
                    self,
                    f"{tier.value}-{zone}",
                    vpc_id=self._vpc_id,
                    cidr_block=str(cidr),
                    availability_zone=zone,
                    map_public_ip_on_launch=tier in public_tiers,
                    tags={
                        **props.tags,
                        **cluster_tag,
                        **discovery.get(tier, {}),
                        "Name": f"{name}-{tier.value}-{zone}",
                        "circleci/tier": tier.value,
                    },
                )
                for zone, cidr in zip(props.availability_zones, plan[tier], strict=True)
            ]
        # Read once: every ``.id`` is a call into node, and routes, load balancers, outputs and
        # the Helm values all name the subnets.
        self._subnet_ids = {tier: [subnet.id for subnet in subnets] for tier, subnets in self.subnets.items()}

        public_routes = RouteTable(
            self, "public-routes", vpc_id=self._vpc_id, tags={**props.tags, "Name": f"{name}-public"}
        )
        public_routes_id = public_routes.id
        Route(
            self,
            "public-default-route",
            route_table_id=public_routes_id,
            destination_cidr_block=ALL_IPV4,
            gateway_id=self.internet_gateway_id,
        )
        for zone, subnet_id in zip(props.availability_zones, self._subnet_ids[SubnetTier.PUBLIC], strict=True):
            RouteTableAssociation(self, f"public-routes-{zone}", subnet_id=subnet_id, route_table_id=public_routes_id)
        self.route_tables: dict[SubnetTier, list[RouteTable]] = {SubnetTier.PUBLIC: [public_routes]}

        nat_zones = props.nat_zones
        self.nat_gateways: list[NatGateway] = []
        public_subnet_ids = self._subnet_ids[SubnetTier.PUBLIC][: len(nat_zones)]
        given_eips = props.nat_eip_allocation_ids
        for index, (zone, subnet_id) in enumerate(zip(nat_zones, public_subnet_ids, strict=True)):
            if given_eips:
                allocation_id = given_eips[index]
            else:
                eip = Eip(self, f"nat-address-{zone}", domain="vpc", tags={**props.tags, "Name": f"{name}-nat-{zone}"})
                allocation_id = eip.id
            self.nat_gateways.append(
                NatGateway(
                    self,
                    f"nat-gateway-{zone}",
                    allocation_id=allocation_id,
                    subnet_id=subnet_id,
                    tags={**props.tags, "Name": f"{name}-{zone}"},
                    depends_on=[self.internet_gateway] if self.internet_gateway else None,
                )
            )
        nat_ids = [nat.id for nat in self.nat_gateways]
        #: The NAT gateways' public IPs, in zone order: what the VCS and proxies see.
        self.nat_public_ips: list[str] = [nat.public_ip for nat in self.nat_gateways]

        for tier in (SubnetTier.KUBERNETES_NODES, SubnetTier.NOMAD_CLIENTS, SubnetTier.EXTERNAL_VMS):
            self.route_tables[tier] = []
            for index, (zone, subnet_id) in enumerate(
                zip(props.availability_zones, self._subnet_ids[tier], strict=True)
            ):
                nat_id = nat_ids[index if len(nat_ids) > 1 else 0]
                table = RouteTable(
                    self,
                    f"{tier.value}-routes-{zone}",
                    vpc_id=self._vpc_id,
                    tags={**props.tags, "Name": f"{name}-{tier.value}-{zone}"},
                )
                # Public job subnets need the internet gateway: replies to SSH must leave from the public IP.
                through_gateway = tier in public_tiers
                table_id = table.id
                Route(
                    self,
                    f"{tier.value}-default-route-{zone}",
                    route_table_id=table_id,
                    destination_cidr_block=ALL_IPV4,
                    gateway_id=self.internet_gateway_id if through_gateway else None,
                    nat_gateway_id=None if through_gateway else nat_id,
                )
                RouteTableAssociation(
                    self, f"{tier.value}-routes-assoc-{zone}", subnet_id=subnet_id, route_table_id=table_id
                )
                self.route_tables[tier].append(table)

        flow_logs = add_flow_logs(
            self, vpc_id=self._vpc_id, name=name, retention_days=props.flow_log_retention_days, tags=props.tags
        )
        self.region_name: str = flow_logs.region_name
        self.flow_log_key = flow_logs.key
        self.flow_log_group = flow_logs.group
        self.flow_log = flow_logs.flow_log

    @property
    def vpc_id(self) -> str:
        return self._vpc_id

    def subnet_ids(self, tier: SubnetTier) -> list[str]:
        return list(self._subnet_ids[tier])
