"""GKE's own firewall rules, as the audit adds them to a GKE stack's rules [GKE-FW].

GKE creates these on the cluster's node tag (``gke-<cluster>-<hash>-node``) after our apply,
so the synthesized JSON never holds them; with ``platform=gke`` the audit evaluates the JSON
together with them (the names are GKE's, the cluster and hash placeholders).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from circleci_network.audit.space import PortSpec
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.platform_rules import GKE_RULE_PRIORITY
from circleci_network.model.roles import Role

if TYPE_CHECKING:
    from circleci_network.audit.gcp_view import FirewallRule

#: The tag GKE puts on every node of a cluster; the audit counts it as the Kubernetes nodes.
GKE_NODE_TAG = re.compile(r"^gke-[a-z0-9-]+-node$")
EVERYWHERE = IPv4Network("0.0.0.0/0")
KUBELET_READ_ONLY = PortSpec("tcp", 10255, 10255)


def implicit_rules(
    intent: NetworkIntent, subnet_ranges: Sequence[IPv4Network], pod_ranges: Sequence[IPv4Network]
) -> list[FirewallRule]:
    """The ingress rules GKE adds (GKE relies on the implied allow-egress)."""
    from circleci_network.audit.gcp_view import FirewallRule  # gcp_view imports this module

    nodes = frozenset({Role.KUBERNETES_NODES})

    def rule(
        suffix: str,
        specs: tuple[PortSpec, ...],
        sources: Sequence[IPv4Network],
        *,
        priority: int = GKE_RULE_PRIORITY,
        allow: bool = True,
        source_roles: frozenset[Role] = frozenset(),
    ) -> FirewallRule:
        return FirewallRule(
            resource=f"GKE's own rule gke-<cluster>-<hash>-{suffix} (priority {priority}, platform)",
            direction="INGRESS",
            priority=priority,
            allow=allow,
            specs=specs,
            targets=nodes,
            source_roles=source_roles,
            source_ranges=tuple(sources),
            destination_ranges=(EVERYWHERE,),
        )

    rules = [
        rule("vms", (PortSpec("tcp", 1, 65535), PortSpec("udp", 1, 65535), PortSpec("other")), subnet_ranges),
        rule("all", (PortSpec("all"),), pod_ranges),
        rule("inkubelet", (KUBELET_READ_ONLY,), pod_ranges, priority=GKE_RULE_PRIORITY - 1, source_roles=nodes),
        rule("exkubelet", (KUBELET_READ_ONLY,), (EVERYWHERE,), allow=False),
    ]
    cidr = intent.platform.control_plane_cidr
    if cidr is not None:  # private clusters
        rules.append(rule("master", (PortSpec("tcp", 443, 443), PortSpec("tcp", 10250, 10250)), (IPv4Network(cidr),)))
    return rules
