"""AWS name rules, checked before synth so a bad name is our error, not the API's.

Every name the prefix reaches is listed once here (``names_from_prefix``), with AWS's limit;
each props class checks the prefix against the names its constructs build, and
``AwsNetworkProps`` against all of them, so the error names the field the user set.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from circleci_network.errors import ConfigurationError
from circleci_network.model.resource_names import LOAD_BALANCER_SHORT_NAMES
from circleci_network.model.roles import Role
from circleci_network.model.rules import load_balancer_ports
from circleci_network.model.server_versions import ServerVersion, terraform_load_balancers

_PREFIX = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$")

#: Load balancer names are ``{prefix}-{short}``, target groups ``{prefix}-{short}-{port}``.
SHORT_NAMES: Mapping[Role, str] = LOAD_BALANCER_SHORT_NAMES


@dataclass(frozen=True)
class NamedResource:
    kind: str  # which construct builds it: "vpc", "security-groups", "load-balancers"
    what: str
    name: str
    limit: int


def names_from_prefix(prefix: str, server_version: ServerVersion | None = None) -> list[NamedResource]:
    """Every AWS name built from the prefix whose length AWS limits: the load balancers and
    target groups are the version's (none on v4: the cluster builds circleci-proxy)."""
    version = server_version or ServerVersion()
    rules = version.rules()
    names = [
        NamedResource("vpc", "IAM role", f"{prefix}-flow-logs-delivery", 64),
        NamedResource("vpc", "CloudWatch log group", f"/{prefix}/vpc-flow-logs", 512),
    ]
    names += [NamedResource("security-groups", "security group", f"{prefix}-{role.value}", 255) for role in Role]
    for role in terraform_load_balancers(version):
        short = SHORT_NAMES[role]
        names.append(NamedResource("load-balancers", "load balancer", f"{prefix}-{short}", 32))
        names += [
            NamedResource("load-balancers", "target group", f"{prefix}-{short}-{port.from_port}", 32)
            for port in load_balancer_ports(role, rules)
        ]
    return names


def check_name_prefix(
    value: object, field: str, kinds: Collection[str], server_version: ServerVersion | None = None
) -> str:
    """``value`` is a valid prefix and every name of ``kinds`` built from it fits AWS's limit."""
    if not isinstance(value, str) or not _PREFIX.match(value):
        raise ConfigurationError(
            field,
            f"{value!r} is not a valid name prefix",
            "use lowercase letters, digits and '-', starting with a letter",
        )
    over = [n for n in names_from_prefix(value, server_version) if n.kind in kinds and len(n.name) > n.limit]
    if over:
        worst = max(over, key=lambda n: len(n.name) - n.limit)
        excess = len(worst.name) - worst.limit
        raise ConfigurationError(
            field,
            f"{value!r} makes the {worst.what} name {worst.name!r} {len(worst.name)} characters, "
            f"over AWS's {worst.limit}",
            f"shorten the prefix by {excess} character{'s' if excess > 1 else ''}, to at most {len(value) - excess}",
        )
    return value


#: AWS region names: ``us-east-1``, ``eu-west-2``, ``ap-southeast-1``, ``us-gov-west-1``,
#: ``cn-north-1``, ``il-central-1``, ``mx-central-1``.
_GEOGRAPHIES = ("af", "ap", "ca", "cn", "eu", "il", "me", "mx", "sa", "us")
_REGION = re.compile(
    rf"^(?:{'|'.join(_GEOGRAPHIES)})-(?:(?:gov|iso|isob|isof|isoe)-)?"
    r"(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-[0-9]+$"
)
#: A zone is its region plus a letter (``us-east-1a``); Local Zones add a suffix (``us-west-2-lax-1a``).
_ZONE = re.compile(r"^(?P<region>[a-z]+-(?:[a-z]+-)*[0-9]+)(?:[a-z]|-[a-z]+-[0-9]+[a-z])$")


def check_vpc_id(value: object, field: str) -> str:
    """A VPC ID (``vpc-…``) or a reference to one (a token, ``${…}``); never empty."""
    if not isinstance(value, str) or not (value.startswith("vpc-") or value.startswith("${")):
        raise ConfigurationError(
            field,
            f"{value!r} is not a VPC ID",
            'give the ID (e.g. "vpc-0123456789abcdef0") or a reference to it (CircleciVpc.vpc_id)',
        )
    return value


def check_region(value: object, field: str) -> str:
    if not isinstance(value, str) or not _REGION.match(value):
        raise ConfigurationError(
            field,
            f"{value!r} is not an AWS region",
            'use a region name such as "us-east-1", "eu-west-2" or "ap-southeast-1" (not a zone)',
        )
    return value


def zone_region(zone: object, field: str) -> str:
    """The region an availability zone belongs to; refuses what is not a zone of a real region."""
    match = _ZONE.match(zone) if isinstance(zone, str) else None
    if match is None or not _REGION.match(match["region"]):
        raise ConfigurationError(
            field,
            f"{zone!r} is not an availability zone name",
            'use zone names such as "us-east-1a" (zone IDs like "use1-az1" are not accepted)',
        )
    return match["region"]
