"""Platform rules: what a cluster controller opens by itself for the chart's LoadBalancer
Service under our values (shared/reference/managed-kubernetes-network-facts.md).

On v4 the chart's nginx Service is ``circleci-proxy``. On AWS our values stop the Load
Balancer Controller from writing any rule (our security group, no backend rule management),
so nothing is added there. GKE's controller writes, whatever we say:

- ``k8s-fw-<lb>``: every Service port (80, 443, 4647, and 3000/8585 where routed) from
  ``loadBalancerSourceRanges``, which our values set to ``client_cidrs``; so 4647 is open from
  the clients too, beyond the guide's rows;
- ``k8s-<clusterid>-node-hc``: kube-proxy's health port 10256 from the L4 health-check ranges.

We render the same rules ourselves (typed like guide rows, kind ``platform``), so the audit
expects what the cluster will open, and the load balancer keeps working if you turn GKE's
firewall reconciliation off. Data only: no cloud is imported here.
"""

from __future__ import annotations

from circleci_network.model.platform_rules import GOOGLE_L4_HEALTH_CHECK_RANGES
from circleci_network.model.ports import Port
from circleci_network.model.roles import OutsidePeer, Role
from circleci_network.model.rules import CustomPeer, Direction, RuleSource, SourceKind, TrafficRule, load_balancer_ports
from circleci_network.model.server_versions import ServerVersion

#: The L4 (internal and external passthrough) health-check source set of the GCE controller.
GKE_L4_HEALTH_CHECK_RANGES = GOOGLE_L4_HEALTH_CHECK_RANGES
#: kube-proxy ``/healthz``, probed with ``externalTrafficPolicy: Cluster``.
KUBE_PROXY_HEALTH = Port.tcp(10256)
CPG = "[CPG] kubernetes/cloud-provider-gcp@4e24531"
SECTION = "GKE LoadBalancer Service"


def gke_service_rules(version: ServerVersion, *, nat_source_ranges: bool = False) -> tuple[TrafficRule, ...]:
    """The rules GKE adds for the circleci-proxy Service (none before v4: no chart Service).

    ``nat_source_ranges`` (v4 internet mode): our values add Cloud NAT's addresses to
    ``loadBalancerSourceRanges`` so Nomad clients' 4647 passes; GKE's one ``k8s-fw`` rule then
    admits every Service port from them, so 80/443 from our own NAT too (inside-out traffic of
    our instances, which reach 80/443 anyway when client_cidrs is 0.0.0.0/0)."""
    if not version.profile.proxy_load_balancer:
        return ()
    rules = version.rules()
    proxy = Role.PROXY_LB
    from_clients = {
        port
        for r in rules
        if r.role is proxy and r.direction is Direction.INGRESS and r.peer is OutsidePeer.CLIENTS
        for port in r.ports
    }
    beyond = tuple(port for port in load_balancer_ports(proxy, rules) if port not in from_clients)
    platform = SourceKind.PLATFORM
    result = []
    if beyond:
        result.append(
            TrafficRule(
                "circleci-proxy-in-gke-ranges",
                proxy,
                Direction.INGRESS,
                beyond,
                OutsidePeer.CLIENTS,
                "GKE opens every Service port to loadBalancerSourceRanges",
                f"{SECTION} (k8s-fw)",
                False,
                (
                    RuleSource(
                        platform,
                        f"{CPG} providers/gce/gce_loadbalancer_internal.go, gce_loadbalancer_external.go",
                        "k8s-fw-<lb>",
                        "Service ports from loadBalancerSourceRanges (our values: client_cidrs)",
                    ),
                ),
            )
        )
    if nat_source_ranges:
        result.append(
            TrafficRule(
                "circleci-proxy-in-gke-nat-ranges",
                proxy,
                Direction.INGRESS,
                tuple(port for port in load_balancer_ports(proxy, rules) if port in from_clients),
                OutsidePeer.NAT_ADDRESSES,
                "GKE opens every Service port to loadBalancerSourceRanges, Cloud NAT's included",
                f"{SECTION} (k8s-fw)",
                False,
                (
                    RuleSource(
                        platform,
                        f"{CPG} providers/gce/gce_loadbalancer_external.go",
                        "k8s-fw-<lb>",
                        "Service ports from loadBalancerSourceRanges (our values: client_cidrs and Cloud NAT's addresses)",
                    ),
                ),
            )
        )
    result.append(
        TrafficRule(
            "k8s-nodes-in-gke-node-health-checks",
            Role.KUBERNETES_NODES,
            Direction.INGRESS,
            (KUBE_PROXY_HEALTH,),
            CustomPeer("gke-l4-health-checks", GKE_L4_HEALTH_CHECK_RANGES),
            "kube-proxy health checks of the GKE load balancer",
            f"{SECTION} (node health checks)",
            False,
            (
                RuleSource(
                    platform,
                    f"{CPG} providers/gce/gce_healthchecks.go, gce_loadbalancer_naming.go",
                    "k8s-<clusterid>-node-hc",
                    "TCP 10256 from the L4 health-check ranges",
                ),
            ),
        )
    )
    return tuple(result)
