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
from circleci_network.model.checks import checked_keywords

if TYPE_CHECKING:  # each cloud's module loads its provider: imported only when used
    from circleci_network.stacks.aws import AwsStackProps
    from circleci_network.stacks.gcp import GcpStackProps

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
#: The environment of a stack built alone; its names carry no environment suffix.
DEFAULT_ENVIRONMENT = "reference"


def environment_name_prefix(name: str, environment: str) -> str:
    """The prefix of an environment's account-global AWS names: ``circleci`` in ``dev`` ->
    ``circleci-dev``. A name that already ends with the environment is kept (``circleci-dev``
    in ``dev``), and so is the default environment's, so deployed names do not change."""
    if environment == DEFAULT_ENVIRONMENT or name == environment or name.endswith(f"-{environment}"):
        return name
    return f"{name}-{environment}"


@checked_keywords
@dataclass(frozen=True)
class SharedState:
    """One bucket per cloud for every environment; each stack's key is
    ``<key_prefix>/<environment>/<cloud>``. A stack's own ``backend`` wins."""

    s3_bucket: str | None = None
    """S3 bucket for every AWS environment's state; ``None``: AWS stacks keep their own ``backend``."""
    s3_region: str | None = None
    """The S3 bucket's region; ``None``: each AWS stack's own region."""
    gcs_bucket: str | None = None
    """GCS bucket for every GCP environment's state; ``None``: GCP stacks keep their own ``backend``."""
    key_prefix: str = "circleci-network"
    """First part of each state key: ``<key_prefix>/<environment>/<cloud>``."""


@checked_keywords
@dataclass(frozen=True)
class Environment:
    name: str
    """1-15 lowercase letters, digits and '-', starting with a letter: in stack IDs (``circleci-aws-<name>``) and state keys."""
    aws: AwsStackProps | None = None
    """This environment's AWS stack, or ``None`` for none."""
    gcp: GcpStackProps | None = None
    """This environment's GCP stack, or ``None`` for none."""


def stack_id(cloud: str, environment: str) -> str:
    return f"circleci-{cloud}-{environment}"


def add_environments(
    scope: Construct, environments: Sequence[Environment], *, state: SharedState | None = None
) -> dict[str, TerraformStack]:
    """Adds every environment's stacks to ``scope`` (an ``App``); returns them by stack ID."""
    resolved = _check(environments, state)
    stacks: dict[str, TerraformStack] = {}
    keys: dict[tuple[str, str], str] = {}
    for index, (env, aws, gcp) in enumerate(resolved):
        if aws is not None:
            from circleci_network.stacks.aws import CircleciAwsStack, S3StateBackend

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
        if gcp is not None:
            from circleci_network.stacks.gcp import CircleciGcpStack, GcsStateBackend

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


@dataclass(frozen=True)
class _NameClaim:
    environment: str
    scope: str | None  # the AWS account or GCP project; None: unknown, may be anyone's


def _claim_name(
    claims: dict[tuple[str, str], list[_NameClaim]],
    key: tuple[str, str],
    claim: _NameClaim,
    field_name: str,
    scope_kind: str,
) -> None:
    """Account-global (AWS) and project-wide (GCP) names: two environments in the same account or
    project need their own name prefixes."""
    for other in claims.setdefault(key, []):
        if other.scope is None or claim.scope is None or other.scope == claim.scope:
            where = (
                f"{scope_kind} {claim.scope or other.scope!r}" if claim.scope or other.scope else f"one {scope_kind}"
            )
            raise ConfigurationError(
                field_name,
                f"{key[1]!r} is used by {other.environment} in {where}: resource names would collide",
                f'give each environment its own name, e.g. name="circleci-{claim.environment}"'
                + (", or give each its account_id" if key[0] == "aws" else ""),
            )
    claims[key].append(claim)


def _check(
    environments: Sequence[Environment], state: SharedState | None
) -> list[tuple[Environment, AwsStackProps | None, GcpStackProps | None]]:
    """Validates the list and returns each environment's props with its environment applied."""
    if isinstance(environments, Environment) or not environments:
        raise ConfigurationError("environments", "is empty or not a list", "pass a list of Environment(...)")
    seen: dict[str, int] = {}
    claims: dict[tuple[str, str], list[_NameClaim]] = {}
    resolved: list[tuple[Environment, AwsStackProps | None, GcpStackProps | None]] = []
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
        aws = None if env.aws is None else replace(env.aws, environment=env.name)
        gcp = None if env.gcp is None else replace(env.gcp, environment=env.name)
        if aws is not None:
            # The prefix of IAM role, log group and NLB names; an unknown account may be any other's.
            claim = _NameClaim(env.name, aws.account_id)
            _claim_name(claims, ("aws", aws.network.vpc.name), claim, f"{where}.aws.network.vpc.name", "AWS account")
        if gcp is not None:
            claim = _NameClaim(env.name, gcp.network.project)
            _claim_name(claims, ("gcp", gcp.network.name), claim, f"{where}.gcp.network.name", "project")
        resolved.append((env, aws, gcp))
    if state is not None and state.s3_bucket is None and state.gcs_bucket is None:
        raise ConfigurationError("state", "names no bucket", "set s3_bucket, gcs_bucket or both, or pass state=None")
    return resolved
