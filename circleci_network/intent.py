"""What a rendered network was built for, recorded in the synthesized stack as a Terraform
local so that the audit can compare the JSON with the model without our Python objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from circleci_network.options import HardeningOptions, options_from_json, options_to_json
from circleci_network.platform_rules import PlatformOptions
from circleci_network.roles import OutsidePeer, Role
from circleci_network.server_versions import ServerVersion

#: Part of the Terraform local's name; the audit looks for it.
INTENT_LOCAL = "circleci-network-intent"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class NetworkIntent:
    cloud: str  # "aws" or "gcp"
    name: str
    options: HardeningOptions
    transparent_load_balancers: bool
    #: CIDRs the cloud decides for peers the options leave open (DNS resolver, health checks).
    cloud_peer_cidrs: Mapping[OutsidePeer, tuple[str, ...]] = field(default_factory=dict)
    #: Roles that egress rules must name by address (GCP always; AWS for transparent LBs).
    egress_role_cidrs: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    #: Transparent load balancers whose cloud rewrites the port: (role, listener port) -> node port.
    delivered_ports: Mapping[tuple[Role, int], int] = field(default_factory=dict)
    #: Where roles live when the stack holds no subnets of ours (security groups only).
    role_cidrs: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    #: The server version whose rule table applies (recorded only when not the default).
    server_version: ServerVersion = field(default_factory=ServerVersion)
    #: The managed Kubernetes platform and its options (recorded only when a platform is set).
    platform: PlatformOptions = field(default_factory=PlatformOptions)

    def peer_cidrs(self, peer: OutsidePeer) -> tuple[str, ...]:
        return self.options.peer_cidrs(peer, self.cloud_peer_cidrs)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "cloud": self.cloud,
            "name": self.name,
            "options": options_to_json(self.options),
            "transparent_load_balancers": self.transparent_load_balancers,
            "cloud_peer_cidrs": {peer.value: list(cidrs) for peer, cidrs in self.cloud_peer_cidrs.items()},
            "egress_role_cidrs": {role.value: list(cidrs) for role, cidrs in self.egress_role_cidrs.items()},
            **({"role_cidrs": {r.value: list(c) for r, c in self.role_cidrs.items()}} if self.role_cidrs else {}),
            **(
                {"delivered_ports": [[r.value, p, n] for (r, p), n in sorted(self.delivered_ports.items())]}
                if self.delivered_ports
                else {}
            ),
            **({} if self.server_version.is_default else {"server_version": self.server_version.to_json()}),
            **({} if self.platform.platform is None else {"platform": self.platform.to_json()}),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> NetworkIntent:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown circleci-network intent format {data.get('format')!r}")
        return NetworkIntent(
            cloud=str(data["cloud"]),
            name=str(data["name"]),
            options=options_from_json(dict(data["options"])),
            transparent_load_balancers=bool(data["transparent_load_balancers"]),
            cloud_peer_cidrs={OutsidePeer(k): tuple(v) for k, v in dict(data["cloud_peer_cidrs"]).items()},
            egress_role_cidrs={Role(k): tuple(v) for k, v in dict(data["egress_role_cidrs"]).items()},
            role_cidrs={Role(k): tuple(v) for k, v in dict(data.get("role_cidrs", {})).items()},
            delivered_ports={(Role(r), int(p)): int(n) for r, p, n in data.get("delivered_ports", [])},
            server_version=ServerVersion.from_json(data.get("server_version", {"id": "v3-seed"})),
            platform=PlatformOptions.from_json(dict(data.get("platform", {}))),
        )
