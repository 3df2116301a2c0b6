"""GCP addressing, names and facts, validated in pure Python before any synth."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network

from circleci_network.errors import ConfigurationError
from circleci_network.model.addressing import check_disjoint, cidr_tuple, parse_address, parse_cidr
from circleci_network.model.checks import checked_keywords, member, require_fields

# Moved to the core (the audit reads them too); re-exported for existing imports.
from circleci_network.model.cloud_facts import GOOGLE_HEALTH_CHECK_RANGES as GOOGLE_HEALTH_CHECK_RANGES
from circleci_network.model.cloud_facts import METADATA_SERVER_CIDR as METADATA_SERVER_CIDR
from circleci_network.model.roles import INTERNAL_LOAD_BALANCERS, Role

#: GCP's limit for firewall, network, subnet, router and address names.
NAME_LIMIT = 63
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
#: Google Cloud's geographies, the first part of every region name (``europe-west1``).
_GEOGRAPHIES = ("africa", "asia", "australia", "europe", "me", "northamerica", "southamerica", "us")
_REGION = re.compile(rf"^(?:{'|'.join(_GEOGRAPHIES)})-[a-z]+[0-9]+$")
#: GCP label keys and values (ASCII subset): keys start with a letter; values may be empty.
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
LABELS_LIMIT = 64


class FlowLogInterval(StrEnum):
    """How long subnet flow logs aggregate before writing an entry (GCP's values)."""

    INTERVAL_5_SEC = "INTERVAL_5_SEC"
    INTERVAL_30_SEC = "INTERVAL_30_SEC"
    INTERVAL_1_MIN = "INTERVAL_1_MIN"
    INTERVAL_5_MIN = "INTERVAL_5_MIN"
    INTERVAL_10_MIN = "INTERVAL_10_MIN"
    INTERVAL_15_MIN = "INTERVAL_15_MIN"


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


def check_labels(labels: Mapping[str, str], field_name: str) -> dict[str, str]:
    """GCP's label rules, checked here so a bad label is our error, not the API's at apply."""
    if not isinstance(labels, Mapping):
        raise ConfigurationError(field_name, f"{labels!r} is not a mapping", 'give a dict, e.g. {"team": "platform"}')
    if len(labels) > LABELS_LIMIT:
        raise ConfigurationError(
            field_name, f"has {len(labels)} labels, over GCP's {LABELS_LIMIT}", "keep at most 64 labels"
        )
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise ConfigurationError(
                f"{field_name}[{key!r}]",
                "is not a GCP label key",
                "use 1-63 lowercase letters, digits, '_' or '-', starting with a letter",
            )
        if not isinstance(value, str) or not _LABEL_VALUE.match(value):
            raise ConfigurationError(
                f"{field_name}[{key!r}]",
                f"{value!r} is not a GCP label value",
                "use at most 63 lowercase letters, digits, '_' or '-'",
            )
    return dict(labels)


@checked_keywords
@dataclass(frozen=True)
class GcpAddressing:
    """The one regional subnet all roles share, GKE's secondary ranges, and the internal
    load balancer addresses (needed as literal egress destinations)."""

    subnet_cidr: str = "10.0.0.0/20"
    """The one regional subnet every role shares: a /24 or larger, not overlapping the pod or service range."""
    pods_cidr: str = "10.16.0.0/14"
    """GKE's secondary range for pods; must not overlap the subnet or the service range."""
    services_cidr: str = "10.20.0.0/20"
    """GKE's secondary range for Services; must not overlap the subnet or the pod range."""
    internal_load_balancer_addresses: Mapping[Role, str] = field(default_factory=dict)
    """
    Fixed IPs of the vm-service, nomad and output-processor load balancers, each a usable subnet
    address (not the first or last two), none shared; default: the subnet's base + 10, 11, 12.
    """

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


_ADDRESS_ID = re.compile(
    r"(^|/)projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/regions/[a-z0-9-]+/addresses/[a-z]([-a-z0-9]*[a-z0-9])?$|^\$\{"
)
#: Ports of one NAT address available to VMs (65536 minus the 1024 well-known ports).
PORTS_PER_NAT_ADDRESS = 64512


def _power_of_two(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high and not value & (value - 1)


@checked_keywords
@dataclass(frozen=True)
class CloudNat:
    """Cloud NAT sizing and addresses. Default: Google's (64 ports per VM, automatic addresses)."""

    min_ports_per_vm: int | None = None
    """
    Ports each VM gets at least: a power of two (2-65536; 32-32768 with dynamic
    allocation). ``None``: Google's default (64, or 32 with dynamic allocation).
    """
    dynamic_port_allocation: bool = False
    """Let busy VMs take more ports, up to ``max_ports_per_vm`` (Google's default 65536)."""
    max_ports_per_vm: int | None = None
    """
    With ``dynamic_port_allocation`` only: a power of two from 64 to
    65536, above ``min_ports_per_vm``; ``None``: Google's default (65536).
    """
    address_count: int = 0
    """
    Reserve this many external addresses for NAT (MANUAL_ONLY): stable
    egress IPs to allowlist at the VCS. Each gives 64512 ports.
    """
    addresses: tuple[str, ...] = ()
    """
    Existing NAT addresses instead of ``address_count`` (not both):
    ``projects/<p>/regions/<r>/addresses/<n>``, self links or references.
    """

    def __post_init__(self) -> None:
        where = "CloudNat"
        if not isinstance(self.dynamic_port_allocation, bool):
            raise ConfigurationError(
                f"{where}.dynamic_port_allocation",
                f"{self.dynamic_port_allocation!r} is not a bool",
                "use True or False",
            )
        low, high = (32, 32768) if self.dynamic_port_allocation else (2, 65536)
        if self.min_ports_per_vm is not None and not _power_of_two(self.min_ports_per_vm, low, high):
            raise ConfigurationError(
                f"{where}.min_ports_per_vm",
                f"{self.min_ports_per_vm!r} is not a power of two from {low} to {high}",
                "use e.g. 64, 128, 1024 or 4096",
            )
        if self.max_ports_per_vm is not None:
            if not self.dynamic_port_allocation:
                raise ConfigurationError(
                    f"{where}.max_ports_per_vm",
                    "applies only with dynamic port allocation",
                    "set dynamic_port_allocation=True or leave max_ports_per_vm unset",
                )
            if not _power_of_two(self.max_ports_per_vm, 64, 65536):
                raise ConfigurationError(
                    f"{where}.max_ports_per_vm",
                    f"{self.max_ports_per_vm!r} is not a power of two from 64 to 65536",
                    "use e.g. 4096 or 65536",
                )
            if self.max_ports_per_vm <= (self.min_ports_per_vm or 32):
                raise ConfigurationError(
                    f"{where}.max_ports_per_vm",
                    f"{self.max_ports_per_vm} is not above min_ports_per_vm ({self.min_ports_per_vm or 32})",
                    "give a larger maximum or a smaller minimum",
                )
        count = self.address_count
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ConfigurationError(
                f"{where}.address_count", f"{count!r} is not a whole number of addresses", "use 0 (automatic) or more"
            )
        if isinstance(self.addresses, str):
            raise ConfigurationError(
                f"{where}.addresses", f"got the string {self.addresses!r}, not a list", "wrap it in a tuple"
            )
        object.__setattr__(self, "addresses", tuple(self.addresses))
        if count and self.addresses:
            raise ConfigurationError(
                f"{where}.address_count",
                "is set together with addresses",
                "either reserve new addresses (address_count) or give existing ones (addresses)",
            )
        for i, address in enumerate(self.addresses):
            if not isinstance(address, str) or not _ADDRESS_ID.search(address):
                raise ConfigurationError(
                    f"{where}.addresses[{i}]",
                    f"{address!r} does not name a regional address",
                    'give "projects/<project>/regions/<region>/addresses/<name>" or the address\'s self link',
                )
        if len(set(self.addresses)) != len(self.addresses):
            raise ConfigurationError(f"{where}.addresses", "lists an address twice", "list each address once")

    @property
    def manual_addresses(self) -> bool:
        """Static NAT addresses (MANUAL_ONLY): reserved here or given."""
        return bool(self.address_count or self.addresses)
