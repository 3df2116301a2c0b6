"""Several environments (dev, stage, prod) in one app: one stack per environment and cloud,
each with its own state key."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cdktf import TerraformStack
from constructs import Construct

from circleci_network.errors import ConfigurationError

if TYPE_CHECKING:  # each cloud's module loads its provider: imported only when used
    from stacks.aws import AwsStackProps
    from stacks.gcp import GcpStackProps

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")


@dataclass(frozen=True)
class SharedState:
    """One bucket per cloud for every environment; each stack's key is
    ``<key_prefix>/<environment>/<cloud>``. A stack's own ``backend`` wins."""

    s3_bucket: str | None = None
    s3_region: str | None = None
    gcs_bucket: str | None = None
    key_prefix: str = "circleci-network"


@dataclass(frozen=True)
class Environment:
    name: str
    aws: AwsStackProps | None = None
    gcp: GcpStackProps | None = None


def stack_id(cloud: str, environment: str) -> str:
    return f"circleci-{cloud}-{environment}"


def add_environments(
    scope: Construct, environments: Sequence[Environment], *, state: SharedState | None = None
) -> dict[str, TerraformStack]:
    """Adds every environment's stacks to ``scope`` (an ``App``); returns them by stack ID."""
    _check(environments, state)
    stacks: dict[str, TerraformStack] = {}
    keys: dict[tuple[str, str], str] = {}
    for index, env in enumerate(environments):
        if env.aws is not None:
            from stacks.aws import CircleciAwsStack, S3StateBackend

            aws = replace(env.aws, environment=env.name)
            if aws.backend is None and state is not None and state.s3_bucket is not None:
                aws = replace(
                    aws,
                    backend=S3StateBackend(
                        bucket=state.s3_bucket,
                        key=f"{state.key_prefix}/{env.name}/aws.tfstate",
                        region=state.s3_region or aws.region,
                    ),
                )
            if aws.backend is not None:
                _claim(keys, (aws.backend.bucket, aws.backend.key), f"environments[{index}].aws.backend.key")
            stacks[stack_id("aws", env.name)] = CircleciAwsStack(scope, stack_id("aws", env.name), props=aws)
        if env.gcp is not None:
            from stacks.gcp import CircleciGcpStack, GcsStateBackend

            gcp = replace(env.gcp, environment=env.name)
            if gcp.backend is None and state is not None and state.gcs_bucket is not None:
                gcp = replace(
                    gcp, backend=GcsStateBackend(bucket=state.gcs_bucket, prefix=f"{state.key_prefix}/{env.name}/gcp")
                )
            if gcp.backend is not None:
                _claim(keys, (gcp.backend.bucket, gcp.backend.prefix), f"environments[{index}].gcp.backend.prefix")
            stacks[stack_id("gcp", env.name)] = CircleciGcpStack(scope, stack_id("gcp", env.name), props=gcp)
    return stacks


def _claim(keys: dict[tuple[str, str], str], key: tuple[str, str], field_name: str) -> None:
    if key in keys:
        raise ConfigurationError(
            field_name,
            f"state {key[0]}/{key[1]} is also used by {keys[key]}: the two stacks would overwrite each other",
            "give each environment its own key, or leave backend unset and use SharedState",
        )
    keys[key] = field_name


def _check(environments: Sequence[Environment], state: SharedState | None) -> None:
    if isinstance(environments, Environment) or not environments:
        raise ConfigurationError("environments", "is empty or not a list", "pass a list of Environment(...)")
    seen: dict[str, int] = {}
    gcp_names: dict[tuple[str, str], str] = {}
    for index, env in enumerate(environments):
        where = f"environments[{index}]"
        if not _NAME.match(env.name):
            raise ConfigurationError(
                f"{where}.name", f"{env.name!r} is not a short environment name", 'use e.g. "dev", "stage" or "prod"'
            )
        if env.name in seen:
            raise ConfigurationError(
                f"{where}.name", f"{env.name!r} is also environments[{seen[env.name]}]", "rename one"
            )
        seen[env.name] = index
        if env.aws is None and env.gcp is None:
            raise ConfigurationError(where, "has neither aws nor gcp", "give AwsStackProps, GcpStackProps or both")
        if env.gcp is not None:
            # GCP names are unique per project: two environments there need their own prefixes.
            key = (env.gcp.network.project, env.gcp.network.name)
            if key in gcp_names:
                raise ConfigurationError(
                    f"{where}.gcp.network.name",
                    f"{key[1]!r} is used by {gcp_names[key]} in project {key[0]!r}: resource names would collide",
                    f'give each environment its own name, e.g. name="circleci-{env.name}"',
                )
            gcp_names[key] = env.name
    if state is not None and state.s3_bucket is None and state.gcs_bucket is None:
        raise ConfigurationError("state", "names no bucket", "set s3_bucket, gcs_bucket or both, or pass state=None")
