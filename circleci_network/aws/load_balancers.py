"""Network load balancers for CircleCI's Kubernetes services, listening on the guide's ports.

Each listener forwards to an instance target group on a fixed NodePort, so the services
bind to it (AWS Load Balancer Controller ``TargetGroupBinding``) instead of creating
load balancers of their own that this library could not harden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.lb import Lb
from cdktf_cdktf_provider_aws.lb_listener import LbListener, LbListenerDefaultAction
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from constructs import Construct

from circleci_network.aws.naming import SHORT_NAMES, check_name_prefix, check_vpc_id
from circleci_network.errors import ConfigurationError
from circleci_network.model.checks import checked_keywords, member, require_fields
from circleci_network.model.ports import KUBERNETES_NODE_PORTS, Port
from circleci_network.model.roles import INTERNET_FACING_LOAD_BALANCERS, Role
from circleci_network.model.rules import load_balancer_ports
from circleci_network.model.server_versions import ServerVersion, terraform_load_balancers

NodePortAssignment = Mapping[tuple[Role, int], int]

#: The NodePort each listener forwards to; set the same in the Helm values.
DEFAULT_NODE_PORTS: NodePortAssignment = {
    (Role.FRONTEND_LB, 80): 30080,
    (Role.FRONTEND_LB, 443): 30443,
    (Role.TRAEFIK_LB, 80): 31080,
    (Role.TRAEFIK_LB, 443): 31443,
    (Role.VM_SERVICE_LB, 3000): 32000,
    (Role.NOMAD_LB, 4647): 30647,
    (Role.OUTPUT_PROCESSOR_LB, 8585): 30585,
}


def default_node_ports(version: ServerVersion) -> dict[tuple[Role, int], int]:
    """``DEFAULT_NODE_PORTS`` for the load balancers our Terraform builds for this version
    (none on v4: the chart's Service gets its NodePorts from Kubernetes)."""
    return {key: port for key, port in DEFAULT_NODE_PORTS.items() if key in _listeners(version)}


def _listeners(version: ServerVersion) -> set[tuple[Role, int]]:
    rules = version.rules()
    return {
        (role, port.from_port)
        for role in terraform_load_balancers(version)
        for port in load_balancer_ports(role, rules)
    }


@checked_keywords
@dataclass(frozen=True)
class LoadBalancerProps:
    vpc_id: str
    """The VPC of the target groups: ``vpc-…`` or a reference (``CircleciVpc.vpc_id``)."""
    public_subnet_ids: Sequence[str]
    """Subnets of the internet-facing load balancers (frontend, traefik): the public tier's, one per zone."""
    internal_subnet_ids: Sequence[str]
    """
    Subnets of the internal load balancers (every one with
    ``internet_facing=False``): ``AwsNetwork`` gives the Kubernetes node tier's.
    """
    security_group_ids: Mapping[Role, str]
    """Per load balancer role; empty with transparent load balancers (no security groups)."""
    name: str = "circleci"
    """
    Prefix of load balancer and target group names (``<name>-<short>-<port>``): lowercase
    letters, digits and '-', starting with a letter; each must fit AWS's 32 characters.
    """
    internet_facing: bool = True
    """``False`` makes frontend and traefik internal too (VPN mode)."""
    node_ports: NodePortAssignment | None = None
    """``None``: ``default_node_ports(server_version)``; listeners left out keep their default."""
    deletion_protection: bool = True
    """NLB deletion protection: ``terraform destroy`` fails until it is turned off."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every load balancer, target group and listener."""
    server_version: ServerVersion = field(default_factory=ServerVersion)
    """v3 profiles build their load balancers here; on v4 the cluster builds circleci-proxy."""

    def __post_init__(self) -> None:
        require_fields(self)
        check_vpc_id(self.vpc_id, "LoadBalancerProps.vpc_id")
        object.__setattr__(
            self,
            "node_ports",
            node_port_assignment(self.node_ports, "LoadBalancerProps.node_ports", self.server_version),
        )
        check_name_prefix(self.name, "LoadBalancerProps.name", {"load-balancers"}, self.server_version)

    @property
    def listener_node_ports(self) -> NodePortAssignment:
        assert self.node_ports is not None  # set in __post_init__
        return self.node_ports


def node_port_assignment(given: object, field_name: str, version: ServerVersion) -> dict[tuple[Role, int], int]:
    """``given`` (``None``, or some listeners' NodePorts) over ``default_node_ports(version)``, checked."""
    assigned = default_node_ports(version)
    if given is not None:
        if not isinstance(given, Mapping):
            raise ConfigurationError(
                field_name,
                f"{given!r} is not a mapping",
                "give {(Role.FRONTEND_LB, 443): 30443, ...}: (load balancer role, listener port) -> NodePort",
            )
        for key, node_port in given.items():
            if not (isinstance(key, tuple) and len(key) == 2 and isinstance(key[1], int)):
                raise ConfigurationError(
                    f"{field_name}[{key!r}]",
                    "is not a (load balancer role, listener port) pair",
                    "key each NodePort by (Role.FRONTEND_LB, 443) and the like; listeners left out keep "
                    "DEFAULT_NODE_PORTS (circleci_network.aws)",
                )
            assigned[(member(Role, key[0], f"{field_name}[{key!r}]"), key[1])] = node_port
    check_node_ports(assigned, field_name, version)
    return assigned


def check_node_ports(node_ports: NodePortAssignment, field_name: str, version: ServerVersion | None = None) -> None:
    """One NodePort in 30000-32767 per (load balancer, listener port), none shared: the nodes
    admit exactly these ports, so a wrong one would open something else."""
    wanted = _listeners(version or ServerVersion())
    given = set(node_ports)
    if given != wanted:
        missing = sorted(f"{r.value}:{p}" for r, p in wanted - given)
        extra = sorted(f"{getattr(r, 'value', r)}:{p}" for r, p in given - wanted)
        raise ConfigurationError(
            field_name,
            f"missing {missing}, unknown {extra}",
            "key NodePorts by the (load balancer, listener port) pairs of DEFAULT_NODE_PORTS (circleci_network.aws)"
            + ("" if version is None or version.is_default else f" that server version {version.id.value} has"),
        )
    seen: dict[int, tuple[Role, int]] = {}
    for key, node_port in node_ports.items():
        where = f"{field_name}[{key[0].value}:{key[1]}]"
        if not isinstance(node_port, int) or not KUBERNETES_NODE_PORTS.covers(Port.tcp(node_port)):
            raise ConfigurationError(
                where, f"{node_port} is outside the NodePort range 30000-32767", "pick a port from 30000 to 32767"
            )
        if node_port in seen:
            raise ConfigurationError(
                where,
                f"{node_port} is also used by {seen[node_port][0].value}:{seen[node_port][1]}",
                "give each listener its own NodePort",
            )
        seen[node_port] = key


class CircleciLoadBalancers(Construct):
    def __init__(self, scope: Construct, id: str, *, props: LoadBalancerProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.load_balancers: dict[Role, Lb] = {}
        self.target_groups: dict[tuple[Role, int], LbTargetGroup] = {}
        self.target_group_arns: dict[tuple[Role, int], str] = {}
        rules = props.server_version.rules()
        for role in terraform_load_balancers(props.server_version):
            internal = not (props.internet_facing and role in INTERNET_FACING_LOAD_BALANCERS)
            group = props.security_group_ids.get(role)
            short = SHORT_NAMES[role]
            lb = Lb(
                self,
                role.value,
                name=f"{props.name}-{short}",
                load_balancer_type="network",
                internal=internal,
                subnets=list(props.internal_subnet_ids if internal else props.public_subnet_ids),
                security_groups=[group] if group is not None else None,
                enable_cross_zone_load_balancing=True,
                enable_deletion_protection=props.deletion_protection,
                tags={**props.tags, "Name": f"{props.name}-{short}", "circleci/role": role.value},
            )
            self.load_balancers[role] = lb
            lb_arn = lb.arn  # read once: each read is a call into node
            for port in load_balancer_ports(role, rules):
                node_port = props.listener_node_ports[(role, port.from_port)]
                target_group = LbTargetGroup(
                    self,
                    f"{role.value}-{port.from_port}",
                    name=f"{props.name}-{short}-{port.from_port}",
                    target_type="instance",
                    protocol="TCP",
                    port=node_port,
                    vpc_id=props.vpc_id,
                    health_check=LbTargetGroupHealthCheck(protocol="TCP", port="traffic-port"),
                    tags={**props.tags, "circleci/role": role.value, "circleci/node-port": str(node_port)},
                )
                self.target_groups[(role, port.from_port)] = target_group
                self.target_group_arns[(role, port.from_port)] = target_group_arn = target_group.arn
                LbListener(
                    self,
                    f"{role.value}-listener-{port.from_port}",
                    load_balancer_arn=lb_arn,
                    port=port.from_port,
                    protocol="TCP",
                    default_action=[LbListenerDefaultAction(type="forward", target_group_arn=target_group_arn)],
                    tags=dict(props.tags),
                )

    def dns_name(self, role: Role) -> str:
        return self.load_balancers[role].dns_name
