"""The file the application side reads, per server version: one choice for both clouds.

``v3-seed`` keeps the legacy values fragment; v4 profiles get Helm values with the chart's
documented keys plus a network-facts output; ``v3`` gets the KOTS admin-console sheet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from constructs import Construct

from circleci_network.model.server_versions import ConfigFile, ServerVersion
from circleci_network.tooling.helm_values import HelmValues
from circleci_network.tooling.kots_settings import KotsField, KotsSettings
from circleci_network.tooling.outputs import Output

ApplicationConfig = HelmValues | KotsSettings


def application_config(
    scope: Construct,
    version: ServerVersion,
    *,
    helm_values: Callable[[], Mapping[str, Any]],
    network_facts: Callable[[], Mapping[str, Any]],
    kots_fields: Callable[[], Sequence[KotsField]],
) -> ApplicationConfig:
    """Builds only what ``version`` reads (each callable is a cloud's renderer of its part)."""
    config = version.profile.config_file
    if config is ConfigFile.LEGACY_VALUES:
        return HelmValues(scope, "helm-values", values=helm_values())
    if config is ConfigFile.HELM_VALUES:
        return HelmValues(scope, "helm-values", values=helm_values(), facts=network_facts())
    return KotsSettings(scope, "kots-settings", fields=kots_fields(), facts=network_facts())


def chart_nomad_values(version: ServerVersion) -> dict[str, Any]:
    """The chart's ``nomad`` keys the version's options decide (both clouds): Nomad servers outside
    Kubernetes (4.8+) need ``nomad.server.internal: false``; ``serverHostname`` is the user's."""
    if version.external_nomad_server_cidrs:
        return {"nomad": {"server": {"internal": False}}}
    return {}


def application_config_outputs(config: ApplicationConfig) -> dict[str, Output]:
    """The config and the network facts no chart reads, as outputs."""
    out: dict[str, Output] = {}
    if isinstance(config, HelmValues):
        out["helm_values"] = Output(config.yaml, "CircleCI Server Helm values: terraform output -raw helm_values")
    else:  # v3: the KOTS admin-console fields
        out["kots_settings"] = Output(
            config.local.expression, "CircleCI Server v3 KOTS fields: terraform output -json kots_settings"
        )
    if config.facts is not None:  # v3 and v4 profiles: what no chart reads
        out["network_facts"] = Output(dict(config.facts), "Network facts no CircleCI chart reads")
    return out
