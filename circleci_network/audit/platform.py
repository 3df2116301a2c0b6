"""The platform an audit runs for: the one the stack records, or one named on the command line."""

from __future__ import annotations

from dataclasses import replace

from circleci_network.model.intent import NetworkIntent
from circleci_network.model.platform_rules import Platform


class PlatformMismatch(ValueError):
    pass


def with_platform(intent: NetworkIntent, platform: Platform | None) -> NetworkIntent:
    """``None`` keeps the recorded platform. Naming one audits the stack as if it ran there:
    its implicit rules are added and its platform rows are required (a stack built without
    them then shows what the platform would open or miss)."""
    if platform is None or intent.platform.platform is platform:
        return intent
    if platform is Platform.GKE and intent.cloud != "gcp":
        raise PlatformMismatch(f"platform {platform.value} needs a GCP stack, not {intent.cloud}")
    if platform is Platform.EKS and intent.cloud != "aws":
        raise PlatformMismatch(f"platform {platform.value} needs an AWS stack, not {intent.cloud}")
    return replace(intent, platform=replace(intent.platform, platform=platform))
