"""The whole hardened AWS network in one construct: VPC, security groups, load balancers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cdktf import Fn, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.eip import Eip
from constructs import Construct

from circleci_network.aws.load_balancers import (
    CircleciLoadBalancers,
    LoadBalancerProps,
    NodePortAssignment,
    node_port_assignment,
)
from circleci_network.aws.naming import check_name_prefix
from circleci_network.aws.network_acls import RULES_PER_ACL_QUOTA, CircleciNetworkAcls, NetworkAclProps
from circleci_network.aws.security_groups import CircleciSecurityGroups, SecurityGroupProps, check_aws_platform
from circleci_network.aws.vpc import CircleciVpc, SubnetTier, VpcProps
from circleci_network.errors import ConfigurationError
from circleci_network.model.accepted_findings import AcceptedFinding, check_accepted_findings
from circleci_network.model.checks import checked_keywords, require_fields
from circleci_network.model.intent import NetworkIntent, StackInputs
from circleci_network.model.nat_translation import NatTranslation, PublicAddress
from circleci_network.model.options import HardeningOptions, check_outside_peers
from circleci_network.model.platform_rules import PlatformOptions
from circleci_network.model.roles import COMPUTE_ROLES, INTERNET_FACING_LOAD_BALANCERS, LOAD_BALANCERS, Role
from circleci_network.model.server_versions import ConfigFile, ServerVersion
from circleci_network.model.topology import Topology
from circleci_network.model.vpc_endpoints import VpcEndpoints, check_vpc_endpoints
from circleci_network.tooling.application_config import (
    ApplicationConfig,
    application_config,
    application_config_outputs,
    chart_nomad_values,
)
from circleci_network.tooling.kots_settings import KotsField
from circleci_network.tooling.outputs import Output, add_outputs, snake
from circleci_network.tooling.validation import validate_against_spec

if TYPE_CHECKING:
    from circleci_network.aws.vpc_endpoints import CircleciVpcEndpoints


@checked_keywords
@dataclass(frozen=True)
class AwsNetworkProps:
    vpc: VpcProps
    """Zones, CIDR, name prefix (checked here against every name it reaches), NAT, or an existing VPC."""
    hardening: HardeningOptions = field(default_factory=HardeningOptions)
    """Who counts as "External" for each rule of the guide; outside peers' CIDRs must not overlap the VPC."""
    node_ports: NodePortAssignment | None = None
    """
    ``None``: ``default_node_ports(server_version)`` (none on v4). ``{(Role.FRONTEND_LB, 443): 30443}``
    changes that listener's NodePort; listeners left out keep their default.
    """
    load_balancer_deletion_protection: bool = True
    """NLB deletion protection: ``terraform destroy`` fails until it is turned off."""
    topology: Topology = field(default_factory=Topology)
    """VPN or internet access for users; private or public job subnets (the guide's shapes)."""
    validate_against_spec: bool = True
    """Fail ``synth`` when the stack's flows differ from the guide (see ``circleci_network.tooling.validation``)."""
    network_acls: bool = False
    """
    Per-tier network ACLs mirroring the security groups, with reply rules (``aws.network_acls``);
    with ``Platform.EKS`` they pass its platform rules too.
    """
    network_acl_rules_quota: int = RULES_PER_ACL_QUOTA
    """AWS's "rules per network ACL" quota per direction (default 20, at most 40)."""
    server_version: ServerVersion = field(default_factory=ServerVersion)
    """The CircleCI Server version whose rule table applies (default: the guide in spec/)."""
    platform: PlatformOptions = field(default_factory=PlatformOptions)
    """
    ``Platform.EKS``: a control-plane security group for the cluster's ``vpc_config`` (its ENIs
    in the Kubernetes node subnets) and EKS's platform rules between it and the nodes.
    """
    vpc_endpoints: VpcEndpoints = field(default_factory=VpcEndpoints)
    """
    Off by default. ``VpcEndpoints(enabled=True)``: an S3 gateway and interface endpoints for the
    AWS APIs EKS nodes need, with their own security group (README "VPC endpoints").
    """
    accepted_findings: tuple[AcceptedFinding, ...] = ()
    """
    Audit findings about your own resources in the same stack (a database's security group,
    your own load balancer), each with its reason; recorded, so the policy file pins them.
    Default ``()``: every such resource fails the audit (README "Your own resources in the stack").
    """

    def __post_init__(self) -> None:
        require_fields(self)
        check_aws_platform(self.platform, "AwsNetworkProps.platform")
        object.__setattr__(
            self,
            "accepted_findings",
            check_accepted_findings(self.accepted_findings, "AwsNetworkProps.accepted_findings", "aws"),
        )
        check_vpc_endpoints(
            self.vpc_endpoints,
            hardening=self.hardening,
            eks=self.platform.is_eks,
            existing_vpc=self.vpc.existing_vpc is not None,
            network_acls=self.network_acls,
        )
        object.__setattr__(self, "vpc_endpoints", self.vpc_endpoints.with_defaults(eks=self.platform.is_eks))
        # Every name VpcProps.name reaches, checked here once: the sub-props built inside never report.
        check_name_prefix(
            self.vpc.name, "VpcProps.name", {"vpc", "security-groups", "load-balancers"}, self.server_version
        )
        vpc = self.vpc.vpc_network
        plan = self.vpc.subnet_plan()
        check_outside_peers(
            self.hardening,
            [("the VPC, VpcProps.cidr_block" if self.vpc.existing_vpc is None else "ExistingVpc.cidr_block", vpc)],
            "AwsNetworkProps.hardening",
            ours=[(f"VpcProps subnet {tier.value}", c) for tier, cidrs in plan.items() for c in cidrs],
        )
        self.topology.check(self.hardening, "AwsNetworkProps")
        object.__setattr__(
            self, "node_ports", node_port_assignment(self.node_ports, "AwsNetworkProps.node_ports", self.server_version)
        )
        version = self.server_version.id.value
        if self.network_acls and not self.server_version.is_default:
            raise ConfigurationError(
                "AwsNetworkProps.network_acls",
                f"network ACLs are built for the default server version only, not {version}",
                "leave network_acls False with a server version, or use the default ServerVersion()",
            )
        if self.hardening.transparent_load_balancers and self.server_version.profile.proxy_load_balancer:
            raise ConfigurationError(
                "AwsNetworkProps.hardening.transparent_load_balancers",
                f"server version {version}: the chart's circleci-proxy NLB carries our circleci-proxy security "
                "group (AWS Load Balancer Controller annotations), so it is not transparent",
                "leave transparent_load_balancers False with a v4 server version",
            )
        if (
            self.server_version.profile.proxy_load_balancer
            and self.topology.internet_facing_load_balancers
            and self.topology.public_job_instances
        ):
            raise ConfigurationError(
                "AwsNetworkProps.topology.job_placement",
                f"server version {version} with UserAccess.INTERNET: Nomad clients with public IPs reach "
                "circleci-proxy's public address from their own auto-assigned addresses, which no rule can name",
                "use JobPlacement.PRIVATE (Nomad clients then reach it through NAT, whose addresses are static)",
            )
        if self.vpc.public_job_subnets and not self.topology.public_job_instances:
            raise ConfigurationError(
                "AwsNetworkProps.vpc.public_job_subnets",
                "contradicts topology.job_placement=JobPlacement.PRIVATE",
                "set topology=Topology(job_placement=JobPlacement.PUBLIC) and leave VpcProps.public_job_subnets unset",
            )
        if self.topology.public_job_instances:
            object.__setattr__(self, "vpc", replace(self.vpc, public_job_subnets=True))

    @property
    def listener_node_ports(self) -> NodePortAssignment:
        assert self.node_ports is not None  # set in __post_init__
        return self.node_ports


#: Which subnets each role's instances belong in.
ROLE_SUBNETS = {
    Role.KUBERNETES_NODES: SubnetTier.KUBERNETES_NODES,
    Role.NOMAD_CLIENTS: SubnetTier.NOMAD_CLIENTS,
    Role.EXTERNAL_VMS: SubnetTier.EXTERNAL_VMS,
}


class CircleciAwsNetwork(Construct):
    """Use inside any ``TerraformStack`` that has an AWS provider."""

    def __init__(self, scope: Construct, id: str, *, props: AwsNetworkProps) -> None:
        super().__init__(scope, id)
        self.props = props
        vpc_props = props.vpc
        self.vpc = CircleciVpc(self, "vpc", props=vpc_props)
        plan = vpc_props.subnet_plan()
        lb_subnet_cidrs = tuple(str(c) for tier in (SubnetTier.PUBLIC, SubnetTier.KUBERNETES_NODES) for c in plan[tier])
        version = props.server_version
        #: v4: the subnets the chart's circleci-proxy NLB is annotated into (the audit places it there).
        self.proxy_subnet_tier = (
            SubnetTier.PUBLIC if props.topology.internet_facing_load_balancers else SubnetTier.KUBERNETES_NODES
        )
        proxy_cidrs = tuple(str(c) for c in plan[self.proxy_subnet_tier])
        self.proxy_addresses, translation = self._proxy_addresses()
        endpoints = props.vpc_endpoints
        self.vpc_endpoints: CircleciVpcEndpoints | None = None
        if endpoints.enabled:
            # Imported here: the endpoint provider module costs ~60 ms to load, for stacks without endpoints too.
            from circleci_network.aws.vpc_endpoints import CircleciVpcEndpoints, VpcEndpointProps

            tiers = [ROLE_SUBNETS[role] for role in endpoints.roles]
            self.vpc_endpoints = CircleciVpcEndpoints(
                self,
                "vpc-endpoints",
                props=VpcEndpointProps(
                    vpc_id=self.vpc.vpc_id,
                    region=vpc_props.region,
                    endpoints=endpoints,
                    route_table_ids=tuple(t.id for tier in tiers for t in self.vpc.route_tables[tier]),
                    subnet_ids=tuple(self.vpc.subnet_ids(tiers[0])),
                    name=vpc_props.name,
                    tags=vpc_props.tags,
                ),
            )
        self.security_groups = CircleciSecurityGroups(
            self,
            "security-groups",
            props=SecurityGroupProps(
                vpc_id=self.vpc.vpc_id,
                dns_resolver_cidrs=(f"{vpc_props.dns_resolver_address}/32",),
                hardening=props.hardening,
                load_balancer_subnet_cidrs=lb_subnet_cidrs,
                node_ports=props.node_ports,
                name=vpc_props.name,
                tags=vpc_props.tags,
                role_subnet_cidrs={Role.PROXY_LB: proxy_cidrs} if version.profile.proxy_load_balancer else {},
                server_version=version,
                platform=props.platform,
                nat_translation=translation,
                vpc_endpoints=endpoints,
                s3_prefix_list_id=self.vpc_endpoints.s3_prefix_list_id if self.vpc_endpoints else None,
            ),
        )
        if self.vpc_endpoints is not None and endpoints.interface_services:
            self.vpc_endpoints.add_interface_endpoints(self.security_groups.group_ids[Role.VPC_ENDPOINTS])
        existing = vpc_props.existing_vpc
        self.security_groups.record(
            NetworkIntent(
                cloud="aws",
                name=vpc_props.name,
                options=props.hardening,
                topology=props.topology,
                inputs=StackInputs(
                    existing_network=existing.vpc_id if existing else None,
                    vpc_cidr=existing.cidr_block if existing else None,
                ),
                server_version=props.server_version,
                platform=props.platform,
                vpc_endpoints=endpoints,
                network_acls=props.network_acls,
                accepted_findings=props.accepted_findings,
            )
        )
        self.load_balancers = CircleciLoadBalancers(
            self,
            "load-balancers",
            props=LoadBalancerProps(
                vpc_id=self.vpc.vpc_id,
                public_subnet_ids=self.vpc.subnet_ids(SubnetTier.PUBLIC),
                internal_subnet_ids=self.vpc.subnet_ids(SubnetTier.KUBERNETES_NODES),
                security_group_ids={
                    role: self.security_groups.group_ids[role]
                    for role in LOAD_BALANCERS
                    if role in self.security_groups.groups
                },
                name=vpc_props.name,
                internet_facing=props.topology.internet_facing_load_balancers,
                node_ports=props.node_ports,
                deletion_protection=props.load_balancer_deletion_protection,
                tags=vpc_props.tags,
                server_version=version,
            ),
        )
        self.network_acls: CircleciNetworkAcls | None = None
        if props.network_acls:
            self.network_acls = CircleciNetworkAcls(
                self,
                "network-acls",
                props=NetworkAclProps.for_vpc(
                    self.vpc,
                    hardening=props.hardening,
                    internet_facing_load_balancers=props.topology.internet_facing_load_balancers,
                    load_balancer_subnet_cidrs=lb_subnet_cidrs,
                    node_ports=props.listener_node_ports,
                    rules_per_acl_quota=props.network_acl_rules_quota,
                    platform=props.platform,
                ),
            )
        self.helm_values: ApplicationConfig = application_config(
            self,
            version,
            helm_values=self._helm_values,
            network_facts=self._network_facts,
            kots_fields=self._kots_fields,
        )
        if props.validate_against_spec:
            validate_against_spec(self)

    def _proxy_addresses(self) -> tuple[list[Eip], NatTranslation | None]:
        """v4 internet mode: static EIPs for the chart's NLB, one per proxy subnet in zone order
        (the ``eip-allocations`` annotation pairs them with the ``subnets`` one), so Nomad clients,
        whose packets leave through NAT, can name the proxy, and the proxy the NAT gateways."""
        props = self.props
        if not (props.server_version.profile.proxy_load_balancer and props.topology.internet_facing_load_balancers):
            return [], None
        vpc = props.vpc
        addresses = [
            Eip(
                self,
                f"circleci-proxy-address-{zone}",
                domain="vpc",
                tags={**vpc.tags, "Name": f"{vpc.name}-circleci-proxy-{zone}", "circleci/role": Role.PROXY_LB.value},
            )
            for zone in vpc.availability_zones
        ]
        # The NAT gateways' own public_ip: right for new and for existing (nat_eip_allocation_ids) EIPs alike.
        translation = NatTranslation(
            public_addresses={
                Role.PROXY_LB: tuple(
                    PublicAddress(f"proxy-{zone}", f"{eip.public_ip}/32")
                    for zone, eip in zip(vpc.availability_zones, addresses, strict=True)
                )
            },
            behind_nat=frozenset(COMPUTE_ROLES),  # public job subnets are refused with an internet-facing proxy
            nat_addresses=tuple(
                PublicAddress(f"nat-{zone}", f"{ip}/32")
                for zone, ip in zip(vpc.nat_zones, self.vpc.nat_public_ips, strict=True)
            ),
        )
        return addresses, translation

    def _helm_values(self) -> dict[str, Any]:
        """v4: the chart's documented keys only; the default profile: today's fragment, unchanged."""
        version = self.props.server_version
        if version.profile.config_file is not ConfigFile.HELM_VALUES:
            return self._legacy_values()
        internet = self.props.topology.internet_facing_load_balancers
        a = "service.beta.kubernetes.io/aws-load-balancer"
        # The AWS Load Balancer Controller builds the chart's nginx Service as an NLB in our
        # subnets with our circleci-proxy group, and writes no node rules of its own ([LBC]
        # docs/guide/service/annotations.md): the node rules are ours, from the model.
        values: dict[str, Any] = {
            "nginx": {
                "annotations": {
                    f"{a}-type": "external",
                    f"{a}-nlb-target-type": "instance",
                    f"{a}-scheme": "internet-facing" if internet else "internal",
                    f"{a}-subnets": Fn.join(",", self.vpc.subnet_ids(self.proxy_subnet_tier)),
                    f"{a}-security-groups": self.security_groups.group_ids[Role.PROXY_LB],
                    f"{a}-manage-backend-security-group-rules": "false",
                    f"{a}-cross-zone-load-balancing-enabled": "true",
                    # Internet-facing: our static EIPs, one per subnet above, in the same (zone) order.
                    **(
                        {f"{a}-eip-allocations": Fn.join(",", [eip.id for eip in self.proxy_addresses])}
                        if self.proxy_addresses
                        else {}
                    ),
                }
            },
            version.profile.vm_provider_key: {
                "providers": {
                    "ec2": {
                        "region": self.vpc.region_name,
                        "subnets": self.subnet_ids(Role.EXTERNAL_VMS),
                        "securityGroupId": self.security_groups.group_ids[Role.EXTERNAL_VMS],
                        "assignPublicIP": self.props.topology.public_job_instances,
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
        if self.props.server_version.profile.proxy_load_balancer:
            facts["load_balancers"] = {
                Role.PROXY_LB.value: {
                    "built_by": "the chart's nginx Service (AWS Load Balancer Controller, annotations in the values)",
                    "security_group_id": self.security_groups.group_ids[Role.PROXY_LB],
                    "subnet_ids": self.vpc.subnet_ids(self.proxy_subnet_tier),
                    "internal": not self.props.topology.internet_facing_load_balancers,
                    **({"public_ips": self.proxy_public_ips} if self.proxy_addresses else {}),
                }
            }
        return facts

    @property
    def proxy_public_ips(self) -> list[str]:
        """v4 internet mode: circleci-proxy's static public IPs, zone order (empty otherwise)."""
        return [eip.public_ip for eip in self.proxy_addresses]

    def _kots_fields(self) -> list[KotsField]:
        """v3: the admin console's network fields (server-v4-hardening.md (e))."""
        lbs = self.load_balancers
        vms = self.subnet_ids(Role.EXTERNAL_VMS)
        return [
            KotsField(
                "Frontend / General settings",
                "Private Load Balancer",
                not self.props.topology.internet_facing_load_balancers,
                "hidden while Let's Encrypt is on",
            ),
            KotsField(
                "Nomad",
                "Nomad Load Balancer",
                lbs.dns_name(Role.NOMAD_LB),
                "Nomad clients reach it on 4647 (server_endpoint)",
            ),
            KotsField(
                "Output Processor", "Output Processor Load Balancer Hostname", lbs.dns_name(Role.OUTPUT_PROCESSOR_LB)
            ),
            KotsField("VM Service", "VM Service Load Balancer Hostname", lbs.dns_name(Role.VM_SERVICE_LB)),
            KotsField("VM Service", "VM service port", 3000),
            KotsField("VM Service (AWS EC2)", "Region", self.vpc.region_name),
            KotsField(
                "VM Service (AWS EC2)",
                "Subnets",
                vms[:1],
                f"v3 takes subnets of one availability zone: this is {self.props.vpc.availability_zones[0]}'s",
            ),
            KotsField("VM Service (AWS EC2)", "Security Group ID", self.security_groups.group_ids[Role.EXTERNAL_VMS]),
            KotsField("VM Service (AWS EC2)", "Assign Public IPs", self.props.topology.public_job_instances),
        ]

    def _legacy_values(self) -> dict[str, Any]:
        def placement(role: Role) -> dict[str, Any]:
            return {"subnet_ids": self.subnet_ids(role), "security_group_id": self.security_groups.group_ids[role]}

        load_balancers: dict[str, Any] = {}
        for role, lb in self.load_balancers.load_balancers.items():
            load_balancers[role.value] = {
                "name": lb.name,
                "dns_name": lb.dns_name,
                "internal": role not in INTERNET_FACING_LOAD_BALANCERS
                or not self.props.topology.internet_facing_load_balancers,
                # Each Kubernetes service binds its NodePort to the target group (TargetGroupBinding).
                "listeners": {
                    str(port): {"node_port": self.security_groups.policy.node_port(r, port), "target_group_arn": arn}
                    for (r, port), arn in self.load_balancers.target_group_arns.items()
                    if r is role
                },
            }
        return {
            "vm_service": {
                "providers": {
                    "ec2": {
                        "enabled": True,
                        "region": self.vpc.region_name,
                        "subnets": self.subnet_ids(Role.EXTERNAL_VMS),
                        "securityGroupId": self.security_groups.group_ids[Role.EXTERNAL_VMS],
                        "assignPublicIP": self.props.topology.public_job_instances,
                    }
                }
            },
            "circleci_network": {
                "cloud": "aws",
                "vpc_id": self.vpc.vpc_id,
                "user_access": self.props.topology.user_access.value,
                "public_job_instances": self.props.topology.public_job_instances,
                **{role.value: placement(role) for role in COMPUTE_ROLES},
                "load_balancers": load_balancers,
            },
        }

    def subnet_ids(self, role: Role) -> list[str]:
        """Subnet IDs of a compute role's tier, in zone order (``vpc.subnet_ids(SubnetTier)`` for any tier)."""
        tier = ROLE_SUBNETS.get(role) if isinstance(role, Role) else None
        if tier is None:
            raise ConfigurationError(
                "subnet_ids(role)",
                f"{role!r} is not a compute role with subnets of its own",
                "give Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS or Role.EXTERNAL_VMS; load balancers sit in "
                "vpc.subnet_ids(SubnetTier.PUBLIC) or SubnetTier.KUBERNETES_NODES",
            )
        return self.vpc.subnet_ids(tier)

    def outputs(self) -> dict[str, Output]:
        """What an EKS module, node groups, the VM service and the Helm chart take, by output name."""
        vpc, groups, lbs = self.vpc, self.security_groups.group_ids, self.load_balancers
        out: dict[str, Output] = {
            "vpc_id": Output(vpc.vpc_id, "VPC ID"),
            "vpc_cidr_block": Output(str(self.props.vpc.vpc_network), "VPC CIDR"),
            "vpc_dns_resolver": Output(self.props.vpc.dns_resolver_address, "Amazon-provided DNS server (base + 2)"),
            "nat_public_ips": Output(vpc.nat_public_ips, "NAT gateways' public IPs: allowlist them at the VCS"),
        }
        for tier in SubnetTier:
            out[f"{snake(tier.value)}_subnet_ids"] = Output(vpc.subnet_ids(tier), f"{tier.value} subnets, zone order")
        for role in COMPUTE_ROLES:
            out[f"{snake(role)}_security_group_id"] = Output(groups[role], f"Security group of {role.display_name}")
        for role, lb in lbs.load_balancers.items():
            if role in groups:
                out[f"{snake(role)}_load_balancer_security_group_id"] = Output(
                    groups[role], f"Security group of the {role.value} load balancer"
                )
            out[f"{snake(role)}_load_balancer_name"] = Output(lb.name, f"{role.value} NLB name")
            out[f"{snake(role)}_load_balancer_dns_name"] = Output(lb.dns_name, f"{role.value} NLB DNS name")
        if Role.PROXY_LB in groups:  # v4: the chart's NLB takes it through the nginx annotations
            out["circleci_proxy_load_balancer_security_group_id"] = Output(
                groups[Role.PROXY_LB], "Security group of the circleci-proxy load balancer (built by the chart)"
            )
        if self.proxy_addresses:
            out["circleci_proxy_public_ips"] = Output(
                self.proxy_public_ips, "circleci-proxy's static EIPs (zone order): point your DNS records here"
            )
        if Role.EKS_CONTROL_PLANE in groups:  # names as terraform-aws-eks's inputs
            out["cluster_security_group_id"] = Output(
                groups[Role.EKS_CONTROL_PLANE],
                "EKS control-plane group: the cluster's vpc_config.security_group_ids (ENIs in the k8s node subnets)",
            )
            out["node_security_group_id"] = Output(
                groups[Role.KUBERNETES_NODES],
                "The only group in the node groups' launch template: EKS then attaches no cluster group to nodes",
            )
        if Role.VPC_ENDPOINTS in groups:
            out["vpc_endpoints_security_group_id"] = Output(
                groups[Role.VPC_ENDPOINTS], "Security group of the VPC interface endpoints (443 from the using roles)"
            )
        for (role, port), arn in lbs.target_group_arns.items():
            out[f"{snake(role)}_target_group_arn_{port}"] = Output(
                arn, f"Bind the {role.value} service's port {port} here (TargetGroupBinding)"
            )
        out.update(application_config_outputs(self.helm_values))
        return out

    def add_outputs(self, stack: TerraformStack | None = None, *, prefix: str = "") -> dict[str, TerraformOutput]:
        """Adds :meth:`outputs` to ``stack`` (default: this network's); ``prefix`` for a second network."""
        return add_outputs(self, self.outputs(), stack=stack, prefix=prefix)
