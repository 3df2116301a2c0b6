"""The rules GCP renders: one place, read by the firewall and by the name-limit table."""

from __future__ import annotations

from circleci_network.controller_rules import gke_service_rules
from circleci_network.options import HardeningOptions
from circleci_network.rules import TrafficRule, active_rules
from circleci_network.server_versions import ServerVersion


def gcp_rules(options: HardeningOptions, version: ServerVersion | None = None) -> tuple[TrafficRule, ...]:
    """GCP's passthrough load balancers are transparent: their rules apply to the nodes. Under
    v4's values GKE adds its own rules for the chart's Service; we render the same ones."""
    platform = gke_service_rules(version) if version is not None else ()
    return active_rules(options, transparent_load_balancers=True, server_version=version, platform_rules=platform)
