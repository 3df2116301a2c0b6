"""The whole hardened AWS network in one construct: VPC, security groups, load balancers."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cdktf import TerraformOutput, TerraformStack
from constructs import Construct

from circleci_network.aws.load_balancers import (
    DEFAULT_NODE_PORTS,
    CircleciLoadBalancers,
    LoadBalancerProps,
    NodePortAssignment,
    check_node_ports,
)
from circleci_network.aws.naming import check_name_prefix
from circleci_network.aws.network_acls import RULES_PER_ACL_QUOTA, CircleciNetworkAcls, NetworkAclProps
from circleci_network.aws.security_groups import CircleciSecurityGroups, SecurityGroupProps
from circleci_network.aws.vpc import CircleciVpc, SubnetTier, VpcProps
from circleci_network.checks import require_fields
from circleci_network.errors import ConfigurationError
from circleci_network.helm_values import HelmValues
from circleci_network.intent import NetworkIntent, StackInputs
from circleci_network.options import HardeningOptions, check_outside_peers
from circleci_network.outputs import Output, add_outputs, snake
from circleci_network.roles import COMPUTE_ROLES, INTERNET_FACING_LOAD_BALANCERS, LOAD_BALANCERS, Role
from circleci_network.topology import Topology
from circleci_network.validation import validate_against_spec


@dataclass(frozen=True)
class AwsNetworkProps:
    vpc: VpcProps
    hardening: HardeningOptions = field(default_factory=HardeningOptions)
    node_ports: NodePortAssignment = field(default_factory=lambda: dict(DEFAULT_NODE_PORTS))
    load_balancer_deletion_protection: bool = True
    #: VPN or internet access for users; private or public job subnets (the guide's shapes).
    topology: Topology = field(default_factory=Topology)
    #: Fail ``synth`` when the stack's flows differ from the guide (see ``circleci_network.validation``).
    validate_against_spec: bool = True
    #: Per-tier network ACLs mirroring the security groups, with reply rules (``aws.network_acls``).
    network_acls: bool = False
    #: AWS's "rules per network ACL" quota per direction (default 20, at most 40).
    network_acl_rules_quota: int = RULES_PER_ACL_QUOTA

    def __post_init__(self) -> None:
        require_fields(self)
        # Every name VpcProps.name reaches, checked here once: the sub-props built inside never report.
        check_name_prefix(self.vpc.name, "VpcProps.name", kinds={"vpc", "security-groups", "load-balancers"})
        vpc = self.vpc.vpc_network
        plan = self.vpc.subnet_plan()
        check_outside_peers(
            self.hardening,
            [("the VPC, VpcProps.cidr_block" if self.vpc.existing_vpc is None else "ExistingVpc.cidr_block", vpc)],
            "AwsNetworkProps.hardening",
            ours=[(f"VpcProps subnet {tier.value}", c) for tier, cidrs in plan.items() for c in cidrs],
        )
        self.topology.check(self.hardening, "AwsNetworkProps")
        check_node_ports(self.node_ports, "AwsNetworkProps.node_ports")
        if self.vpc.public_job_subnets and not self.topology.public_job_instances:
            raise ConfigurationError(
                "AwsNetworkProps.vpc.public_job_subnets",
                "contradicts topology.job_placement=JobPlacement.PRIVATE",
                "set topology=Topology(job_placement=JobPlacement.PUBLIC) and leave VpcProps.public_job_subnets unset",
            )
        if self.topology.public_job_instances:
            object.__setattr__(self, "vpc", replace(self.vpc, public_job_subnets=True))


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
            ),
        )
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
                    node_ports=props.node_ports,
                    rules_per_acl_quota=props.network_acl_rules_quota,
                ),
            )
        self.helm_values = HelmValues(self, "helm-values", values=self._helm_values())
        if props.validate_against_spec:
            validate_against_spec(self)

    def _helm_values(self) -> dict[str, Any]:
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
                    str(port): {"node_port": self.props.node_ports[(r, port)], "target_group_arn": arn}
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
        return self.vpc.subnet_ids(ROLE_SUBNETS[role])

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
        for (role, port), arn in lbs.target_group_arns.items():
            out[f"{snake(role)}_target_group_arn_{port}"] = Output(
                arn, f"Bind the {role.value} service's port {port} here (TargetGroupBinding)"
            )
        out["helm_values"] = Output(
            self.helm_values.yaml, "CircleCI Server Helm values: terraform output -raw helm_values"
        )
        return out

    def add_outputs(self, stack: TerraformStack | None = None, *, prefix: str = "") -> dict[str, TerraformOutput]:
        """Adds :meth:`outputs` to ``stack`` (default: this network's); ``prefix`` for a second network."""
        return add_outputs(self, self.outputs(), stack=stack, prefix=prefix)
