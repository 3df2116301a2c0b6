"""GCP v4: the Helm values the chart builds circleci-proxy from, against the policy.

GKE writes its own ``k8s-fw`` rule from ``nginx.loadBalancerSourceRanges``: every Service port
(80, 443, 4647, and 3000/8585 where routed) from those ranges. The audit expects that rule from
the recorded options (``controller_rules``), so values that say more than the options would open
on the real cluster what the audit never sees. The address and the internal annotation decide
where the load balancer lives. (AWS: ``structure`` checks the controller's annotations.)
"""

from __future__ import annotations

from ipaddress import IPv4Network

from circleci_network.audit.facts import HELM_VALUES_LOCAL
from circleci_network.audit.findings import Finding
from circleci_network.audit.public_addresses import PublicPlacement
from circleci_network.audit.terraform_json import Json, referenced, resources
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.resolve import ResolvedPolicy
from circleci_network.model.roles import OutsidePeer, Role

CHECK = "load-balancer-values"
INTERNAL_ANNOTATION = "networking.gke.io/load-balancer-type"


def gcp_chart_values(
    stack: Json, intent: NetworkIntent, policy: ResolvedPolicy, public: PublicPlacement
) -> list[Finding]:
    profile = intent.server_version.profile
    if intent.cloud != "gcp" or not profile.proxy_load_balancer or intent.topology is None:
        return []
    values = {k: v for k, v in (stack.get("locals") or {}).items() if HELM_VALUES_LOCAL in k}
    if not values:
        return [
            Finding(
                CHECK,
                f"local.{HELM_VALUES_LOCAL}",
                "is missing: nothing configures the circleci-proxy load balancer the cluster builds",
            )
        ]
    proxy = [
        key
        for key, address in resources(stack, "google_compute_address").items()
        if address.get("name") == f"{intent.name}-{Role.PROXY_LB.value}"
    ]
    internal = not intent.topology.internet_facing_load_balancers
    expected = {IPv4Network(c) for c in policy.peer_cidrs(OutsidePeer.CLIENTS)}
    translation = policy.addresses.nat_translation
    if translation is not None and translation.load_balancer_source_ranges:
        expected |= {IPv4Network(c) for c in policy.peer_cidrs(OutsidePeer.NAT_ADDRESSES)}
    findings: list[Finding] = []
    for key, value in sorted(values.items()):
        where = f"local.{key}"
        nginx = value.get("nginx") if isinstance(value, dict) else None
        nginx = nginx if isinstance(nginx, dict) else {}
        address = referenced(nginx.get("loadBalancerIp"), "google_compute_address", "address")
        if address is None or address not in proxy:
            findings.append(
                Finding(
                    CHECK,
                    where,
                    f"nginx.loadBalancerIp is {nginx.get('loadBalancerIp')!r}; it must be the reserved "
                    f"{intent.name}-{Role.PROXY_LB.value} address (a google_compute_address of the stack)",
                )
            )
        annotations = nginx.get("annotations")
        found = annotations.get(INTERNAL_ANNOTATION) if isinstance(annotations, dict) else None
        if (found == "Internal") != internal:
            want = "'Internal'" if internal else "absent"
            findings.append(
                Finding(
                    CHECK,
                    where,
                    f"nginx.annotations {INTERNAL_ANNOTATION} is {found!r}; it must be {want} "
                    f"with user access {intent.topology.user_access.value}",
                )
            )
        if profile.load_balancer_source_ranges:
            findings += _source_ranges(where, nginx.get("loadBalancerSourceRanges"), expected, public)
    return findings


def _source_ranges(where: str, given: object, expected: set[IPv4Network], public: PublicPlacement) -> list[Finding]:
    if not isinstance(given, list) or not given:
        # Without it GKE admits every Service port from 0.0.0.0/0.
        return [Finding(CHECK, where, f"nginx.loadBalancerSourceRanges is {given!r}; GKE would open 0.0.0.0/0")]
    findings = []
    placed: set[IPv4Network] = set()
    for entry in given:
        try:
            network = public.network(entry)
        except ValueError:
            network = None
        if network is None:
            findings.append(
                Finding(
                    CHECK, where, f"nginx.loadBalancerSourceRanges holds {entry!r}, an address the audit cannot place"
                )
            )
        else:
            placed.add(network)
    names = public.names
    wider = sorted(placed - expected)
    if wider:
        findings.append(
            Finding(
                CHECK,
                where,
                "nginx.loadBalancerSourceRanges admits "
                + ", ".join(names.listing(wider))
                + " beyond client_cidrs (and Cloud NAT's addresses): GKE opens every circleci-proxy port to them",
            )
        )
    missing = sorted(expected - placed)
    if missing:
        findings.append(
            Finding(
                CHECK,
                where,
                "nginx.loadBalancerSourceRanges leaves out "
                + ", ".join(names.listing(missing))
                + ": GKE would drop them, though the policy admits them",
            )
        )
    return findings
