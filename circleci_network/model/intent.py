"""What a rendered network was built for, recorded in the synthesized stack as a Terraform
local so that the audit can compare the JSON with the model without our Python objects.

The record holds inputs only: the options, the shape, and what the user gave for things the
stack does not hold itself (subnets managed elsewhere, an existing VPC's CIDR). Every derived
fact (subnet CIDRs, resolver address, delivered NodePorts) the audit works out from the JSON,
so a renderer bug cannot show on both sides of the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from circleci_network.model.accepted_findings import AcceptedFinding
from circleci_network.model.options import HardeningOptions, options_from_json, options_to_json
from circleci_network.model.platform_rules import PlatformOptions
from circleci_network.model.resolve import load_balancers_transparent
from circleci_network.model.roles import Role
from circleci_network.model.server_versions import ServerVersion
from circleci_network.model.topology import JobPlacement, Topology, UserAccess
from circleci_network.model.vpc_endpoints import VpcEndpoints

#: Part of the Terraform local's name; the audit looks for it.
INTENT_LOCAL = "circleci-network-intent"
#: 2: inputs only (format 1 also held derived facts, which the audit no longer trusts).
FORMAT_VERSION = 2


class IntentFormatError(ValueError):
    """The record was written by another version of circleci-network."""


@dataclass(frozen=True)
class StackInputs:
    """What the user gave for parts of the network the stack does not hold. Empty for a whole
    network of ours: the audit reads those facts from the stack's resources."""

    existing_network: str | None = None
    """An existing VPC's ID, or an existing GCP network."""
    vpc_cidr: str | None = None
    """That existing VPC's primary CIDR (its resolver is base + 2)."""
    dns_resolver_cidrs: tuple[str, ...] | None = None
    """Security groups only: ``SecurityGroupProps.dns_resolver_cidrs``."""
    load_balancer_subnet_cidrs: tuple[str, ...] = ()
    """Security groups only, transparent load balancers: the subnets the load balancers sit in."""
    node_ports: Mapping[tuple[Role, int], int] = field(default_factory=dict)
    """
    Security groups only, transparent load balancers: the NodePort each (load balancer, listener port) delivers to.
    """
    role_cidrs: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    """
    Where roles live when the stack holds no subnets of theirs (``role_subnet_cidrs``;
    GCP firewall alone: its addressing, load balancers by their /32).
    """

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.existing_network is not None:
            out["existing_network"] = self.existing_network
        if self.vpc_cidr is not None:
            out["vpc_cidr"] = self.vpc_cidr
        if self.dns_resolver_cidrs is not None:
            out["dns_resolver_cidrs"] = list(self.dns_resolver_cidrs)
        if self.load_balancer_subnet_cidrs:
            out["load_balancer_subnet_cidrs"] = list(self.load_balancer_subnet_cidrs)
        if self.node_ports:
            out["node_ports"] = [[r.value, p, n] for (r, p), n in sorted(self.node_ports.items())]
        if self.role_cidrs:
            out["role_cidrs"] = {r.value: list(c) for r, c in sorted(self.role_cidrs.items())}
        return out

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> StackInputs:
        resolver = data.get("dns_resolver_cidrs")
        return StackInputs(
            existing_network=data.get("existing_network"),
            vpc_cidr=data.get("vpc_cidr"),
            dns_resolver_cidrs=None if resolver is None else tuple(resolver),
            load_balancer_subnet_cidrs=tuple(data.get("load_balancer_subnet_cidrs", ())),
            node_ports={(Role(r), int(p)): int(n) for r, p, n in data.get("node_ports", [])},
            role_cidrs={Role(k): tuple(v) for k, v in dict(data.get("role_cidrs", {})).items()},
        )


@dataclass(frozen=True)
class NetworkIntent:
    cloud: str  # "aws" or "gcp"
    name: str
    options: HardeningOptions
    topology: Topology | None = None
    """
    The installation shape; ``None`` when the stack holds no subnets or load balancers
    (security groups or firewall alone): the audit then skips the checks that need it.
    """
    inputs: StackInputs = field(default_factory=StackInputs)
    server_version: ServerVersion = field(default_factory=ServerVersion)
    """The server version whose rule table applies (recorded only when not the default)."""
    platform: PlatformOptions = field(default_factory=PlatformOptions)
    """The managed Kubernetes platform and its options (recorded only when a platform is set)."""
    vpc_endpoints: VpcEndpoints = field(default_factory=VpcEndpoints)
    """AWS VPC endpoints, their list resolved (recorded only when turned on)."""
    network_acls: bool = False
    """AWS per-tier network ACLs (``AwsNetworkProps.network_acls``; recorded only when on), so a
    policy pins them: a stack that drops them no longer matches its policy."""
    accepted_findings: tuple[AcceptedFinding, ...] = ()
    """Audit findings about the team's own resources in the stack, accepted with a reason
    (recorded only when given), so a policy pins them and a reviewer sees each."""

    @property
    def transparent_load_balancers(self) -> bool:
        """GCP's passthrough load balancers are always transparent; on AWS it is an option."""
        return load_balancers_transparent(self.cloud, self.options)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "cloud": self.cloud,
            "name": self.name,
            "options": options_to_json(self.options),
            "topology": None
            if self.topology is None
            else {"user_access": self.topology.user_access.value, "job_placement": self.topology.job_placement.value},
            "inputs": self.inputs.to_json(),
            **({} if self.server_version.is_default else {"server_version": self.server_version.to_json()}),
            **({} if self.platform.platform is None else {"platform": self.platform.to_json()}),
            **({"vpc_endpoints": self.vpc_endpoints.to_json()} if self.vpc_endpoints.enabled else {}),
            **({"network_acls": True} if self.network_acls else {}),
            **({"accepted_findings": [a.to_json() for a in self.accepted_findings]} if self.accepted_findings else {}),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> NetworkIntent:
        version = data.get("format")
        if version != FORMAT_VERSION:
            raise IntentFormatError(
                f"the circleci-network record has format {version!r}, this audit reads format {FORMAT_VERSION}: "
                "synthesize the stack again with this version of circleci-network"
            )
        topology = data.get("topology")
        network_acls = data.get("network_acls", False)
        if not isinstance(network_acls, bool):
            raise ValueError(f"network_acls is {network_acls!r}, not true or false")
        accepted = data.get("accepted_findings", [])
        if not isinstance(accepted, list) or not all(isinstance(a, dict) for a in accepted):
            raise ValueError(f"accepted_findings is {accepted!r}, not a list of objects")
        return NetworkIntent(
            cloud=str(data["cloud"]),
            name=str(data["name"]),
            options=options_from_json(dict(data["options"])),
            topology=None
            if topology is None
            else Topology(UserAccess(topology["user_access"]), JobPlacement(topology["job_placement"])),
            inputs=StackInputs.from_json(dict(data.get("inputs", {}))),
            server_version=ServerVersion.from_json(data.get("server_version", {"id": "v3-seed"})),
            platform=PlatformOptions.from_json(dict(data.get("platform", {}))),
            vpc_endpoints=VpcEndpoints.from_json(dict(data.get("vpc_endpoints", {}))),
            network_acls=network_acls,
            accepted_findings=tuple(AcceptedFinding.from_json(a) for a in accepted),
        )
