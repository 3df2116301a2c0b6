"""The reference configuration synthesized by ``main.py`` (and ``cdktf synth``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cdktf import App

if TYPE_CHECKING:  # each cloud's module loads its provider
    from circleci_network.stacks.aws import AwsStackProps
    from circleci_network.stacks.gcp import GcpStackProps

#: Which clouds ``main.py`` synthesizes; set CIRCLECI_NETWORK_CLOUDS=aws to skip loading Google.
CLOUDS_VARIABLE = "CIRCLECI_NETWORK_CLOUDS"
ALL_CLOUDS = ("aws", "gcp")


def clouds_from_environment() -> tuple[str, ...]:
    raw = os.environ.get(CLOUDS_VARIABLE, ",".join(ALL_CLOUDS))
    clouds = tuple(c.strip() for c in raw.split(",") if c.strip())
    unknown = [c for c in clouds if c not in ALL_CLOUDS]
    if unknown or not clouds:
        raise SystemExit(f"{CLOUDS_VARIABLE}={raw!r}: use a comma-separated subset of {', '.join(ALL_CLOUDS)}")
    return clouds


def reference_aws_props() -> AwsStackProps:
    from circleci_network.aws import AwsNetworkProps, VpcProps
    from circleci_network.stacks.aws import AwsStackProps

    return AwsStackProps(
        region="us-east-1",
        network=AwsNetworkProps(vpc=VpcProps(availability_zones=("us-east-1a", "us-east-1b", "us-east-1c"))),
    )


def reference_gcp_props() -> GcpStackProps:
    from circleci_network.gcp import GcpNetworkProps
    from circleci_network.stacks.gcp import GcpStackProps

    return GcpStackProps(network=GcpNetworkProps(project="acme-circleci", region="us-central1"))


def add_reference_stacks(app: App, clouds: Iterable[str] = ALL_CLOUDS) -> None:
    """Each cloud's module is imported only when asked for: its provider costs ~3 s to load."""
    clouds = tuple(clouds)
    if "aws" in clouds:
        from circleci_network.stacks.aws import CircleciAwsStack

        CircleciAwsStack(app, "circleci-aws", props=reference_aws_props())
    if "gcp" in clouds:
        from circleci_network.stacks.gcp import CircleciGcpStack

        CircleciGcpStack(app, "circleci-gcp", props=reference_gcp_props())
