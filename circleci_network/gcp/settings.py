"""GCP addressing, names and facts, validated in pure Python before any synth."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network

from circleci_network.addressing import check_disjoint, cidr_tuple, parse_address, parse_cidr
from circleci_network.checks import member, require_fields
from circleci_network.errors import ConfigurationError
from circleci_network.roles import INTERNAL_LOAD_BALANCERS, Role

#: Where Google's load balancer health checks come from.
GOOGLE_HEALTH_CHECK_RANGES: tuple[str, ...] = ("35.191.0.0/16", "130.211.0.0/22")
#: The metadata server, which is also the network's DNS resolver; always reachable.
METADATA_SERVER_CIDR = "169.254.169.254/32"
#: GCP's limit for firewall, network, subnet, router and address names.
NAME_LIMIT = 63
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
#: Google Cloud's geographies, the first part of every region name (``europe-west1``).
_GEOGRAPHIES = ("africa", "asia", "australia", "europe", "me", "northamerica", "southamerica", "us")
_REGION = re.compile(rf"^(?:{'|'.join(_GEOGRAPHIES)})-[a-z]+[0-9]+$")


class FirewallTargets(StrEnum):
    """How firewall rules pick instances; GCP cannot mix the two in one rule."""

    SERVICE_ACCOUNTS = "service-accounts"  # Google's recommendation: only IAM can change them
    NETWORK_TAGS = "network-tags"  # anyone with compute.instances.setTags can change them


def check_name(value: str, field_name: str, *, limit: int = NAME_LIMIT) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ConfigurationError(
            field_name,
            f"{value!r} is not a valid GCP name",
            "use lowercase letters, digits and '-', starting with a letter and not ending with '-'",
        )
    if len(value) > limit:
        raise ConfigurationError(
            field_name, f"{value!r} is {len(value)} characters, over GCP's {limit}", "use a shorter name prefix"
        )
    return value


def check_project(value: str, field_name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(field_name, "is missing", 'give the GCP project ID, e.g. "acme-circleci-prod"')
    if not _PROJECT.match(value):
        raise ConfigurationError(
            field_name,
            f"{value!r} is not a GCP project ID",
            "use 6-30 lowercase letters, digits and '-', starting with a letter",
        )
    return value


def check_region(value: str, field_name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(field_name, "is missing", 'give a region, e.g. "us-central1"')
    if not _REGION.match(value):
        raise ConfigurationError(
            field_name,
            f"{value!r} is not a GCP region",
            'use a region name such as "us-central1" or "europe-west1" (not a zone like "us-central1-a"); '
            f"regions start with one of {', '.join(g + '-' for g in _GEOGRAPHIES)}",
        )
    return value


@dataclass(frozen=True)
class GcpAddressing:
    """The one regional subnet all roles share, GKE's secondary ranges, and the internal
    load balancer addresses (needed as literal egress destinations)."""

    subnet_cidr: str = "10.0.0.0/20"
    pods_cidr: str = "10.16.0.0/14"
    services_cidr: str = "10.20.0.0/20"
    #: Default: the subnet's base address + 10, 11, 12.
    internal_load_balancer_addresses: Mapping[Role, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_fields(self)
        object.__setattr__(
            self,
            "internal_load_balancer_addresses",
            {
                member(Role, role, "GcpAddressing.internal_load_balancer_addresses"): address
                for role, address in self.internal_load_balancer_addresses.items()
            },
        )
        named = [
            ("GcpAddressing.subnet_cidr", parse_cidr(self.subnet_cidr, "GcpAddressing.subnet_cidr")),
            ("GcpAddressing.pods_cidr", parse_cidr(self.pods_cidr, "GcpAddressing.pods_cidr")),
            ("GcpAddressing.services_cidr", parse_cidr(self.services_cidr, "GcpAddressing.services_cidr")),
        ]
        check_disjoint(named)
        subnet = named[0][1]
        if subnet.prefixlen > 24:
            raise ConfigurationError(
                "GcpAddressing.subnet_cidr", f"{subnet} is smaller than a /24", "use a /24 or larger subnet"
            )
        unknown = [r for r in self.internal_load_balancer_addresses if r not in INTERNAL_LOAD_BALANCERS]
        if unknown:
            raise ConfigurationError(
                "GcpAddressing.internal_load_balancer_addresses",
                f"{unknown} are not internal load balancers",
                "give addresses only for Role.VM_SERVICE_LB, Role.NOMAD_LB and Role.OUTPUT_PROCESSOR_LB",
            )
        seen: dict[str, Role] = {}
        for role, address in self.load_balancer_addresses().items():
            where = f"GcpAddressing.internal_load_balancer_addresses[{role.value}]"
            ip = parse_address(address, where)
            usable_first, usable_last = subnet.network_address + 2, subnet.broadcast_address - 2
            if not usable_first <= ip <= usable_last:
                raise ConfigurationError(
                    where,
                    f"{ip} is not a usable address of {subnet} (GCP reserves the first two and last two)",
                    f"pick an address from {usable_first} to {usable_last}",
                )
            if address in seen:
                raise ConfigurationError(
                    where,
                    f"{address} is also given to {seen[address].value}",
                    "give each load balancer its own address",
                )
            seen[address] = role

    @property
    def subnet(self) -> IPv4Network:
        return IPv4Network(self.subnet_cidr)

    def load_balancer_addresses(self) -> dict[Role, str]:
        base = self.subnet.network_address
        return {
            role: self.internal_load_balancer_addresses.get(role, str(base + 10 + index))
            for index, role in enumerate(INTERNAL_LOAD_BALANCERS)
        }

    def ranges(self) -> list[tuple[str, IPv4Network]]:
        """Our ranges in the network, named by their field: the subnet, pods and services."""
        return [
            ("GcpAddressing.subnet_cidr", IPv4Network(self.subnet_cidr)),
            ("GcpAddressing.pods_cidr", IPv4Network(self.pods_cidr)),
            ("GcpAddressing.services_cidr", IPv4Network(self.services_cidr)),
        ]


def check_taken_ranges(
    addressing: GcpAddressing, existing_network: str | None, taken: tuple[str, ...] | None, where: str
) -> tuple[str, ...] | None:
    """With an existing network the ranges already used in it must be stated, and ours must
    not overlap them (GCP would refuse the subnet at apply). Returns ``taken`` normalised."""
    field_name = f"{where}.existing_network_taken_cidrs"
    if existing_network is None:
        if taken is not None:
            raise ConfigurationError(
                field_name, "is set without existing_network", "leave it None when we create the network"
            )
        return None
    if taken is None:
        raise ConfigurationError(
            field_name,
            f"is not stated, so our subnet, pod and service ranges could overlap ranges already used in "
            f"{existing_network} (terraform apply would fail)",
            "list every primary and secondary range of the network's subnets, and peered ranges, in this "
            "region and others (() if the network is empty)",
        )
    normalised = cidr_tuple(taken, field_name)
    ours = addressing.ranges()
    for index, cidr in enumerate(normalised):
        network = IPv4Network(cidr)
        for ours_field, ours_network in ours:
            if ours_network.overlaps(network):
                others = [n for _, n in ours if n != ours_network] + [IPv4Network(c) for c in normalised]
                free = _free_block(ours_network.prefixlen, others)
                suggestion = f' such as "{free}"' if free else ""
                raise ConfigurationError(
                    f"{where}.addressing.{ours_field.split('.')[-1]}",
                    f"{ours_network} overlaps {network}, already used in the existing network ({field_name}[{index}])",
                    f"give {ours_field} a free /{ours_network.prefixlen}{suggestion}",
                )
    return normalised


def _free_block(prefixlen: int, used: list[IPv4Network]) -> IPv4Network | None:
    for parent in (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16")):
        if prefixlen < parent.prefixlen:
            continue
        for block in parent.subnets(new_prefix=prefixlen):
            if not any(block.overlaps(u) for u in used):
                return block
    return None
