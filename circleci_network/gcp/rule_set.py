"""The rules GCP renders: one place, read by the firewall and by the name-limit table."""

from __future__ import annotations

from circleci_network.options import HardeningOptions
from circleci_network.platform_rules import PlatformOptions, gcp_platform_rules
from circleci_network.rules import TrafficRule, active_rules
from circleci_network.server_versions import ServerVersion


def gcp_rules(
    options: HardeningOptions,
    version: ServerVersion | None = None,
    platform: PlatformOptions | None = None,
    *,
    nat_source_ranges: bool = False,
) -> tuple[TrafficRule, ...]:
    """GCP's passthrough load balancers are transparent: their rules apply to the nodes. Under
    v4's values GKE adds its own rules for the chart's Service; we render the same ones, and
    with a platform its platform rules (``circleci_network.platform_rules``)."""
    return active_rules(
        options,
        transparent_load_balancers=True,
        server_version=version,
        platform_rules=gcp_platform_rules(version, platform, nat_source_ranges=nat_source_ranges),
    )
