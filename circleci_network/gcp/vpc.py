"""One custom-mode network and one regional subnet (GCP: no custom subnetting for
CircleCI Server), Private Google Access, flow logs, Cloud NAT and a tag-scoped internet route."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktf import Fn
from cdktf_cdktf_provider_google.compute_address import ComputeAddress
from cdktf_cdktf_provider_google.compute_network import ComputeNetwork
from cdktf_cdktf_provider_google.compute_route import ComputeRoute
from cdktf_cdktf_provider_google.compute_router import ComputeRouter
from cdktf_cdktf_provider_google.compute_router_nat import (
    ComputeRouterNat,
    ComputeRouterNatLogConfig,
    ComputeRouterNatSubnetwork,
)
from cdktf_cdktf_provider_google.compute_subnetwork import (
    ComputeSubnetwork,
    ComputeSubnetworkLogConfig,
    ComputeSubnetworkSecondaryIpRange,
)
from cdktf_cdktf_provider_google.data_google_compute_address import DataGoogleComputeAddress
from constructs import Construct

from circleci_network.errors import ConfigurationError
from circleci_network.gcp.naming import check_prefix_lengths, nat_address_name
from circleci_network.gcp.settings import (
    CloudNat,
    FlowLogInterval,
    GcpAddressing,
    check_labels,
    check_name,
    check_project,
    check_region,
    check_taken_ranges,
)
from circleci_network.model.addressing import ALL_IPV4
from circleci_network.model.checks import checked_keywords, member, require_fields
from circleci_network.model.resource_names import gcp_subnet_name


@checked_keywords
@dataclass(frozen=True)
class GcpVpcProps:
    project: str
    """GCP project ID: 6-30 lowercase letters, digits and '-', starting with a letter."""
    region: str
    """GCP region of the subnet, router and NAT, such as ``us-central1`` (not a zone)."""
    internet_route_tags: Sequence[str]
    """Instances that may use the internet route (and so Cloud NAT): the role tags."""
    name: str = "circleci"
    """
    Prefix of the network, subnet (``<name>-<region>``), route, router and NAT names; each must fit GCP's 63 characters.
    """
    addressing: GcpAddressing = field(default_factory=GcpAddressing)
    """The subnet and GKE's secondary ranges to create."""
    flow_log_sampling: float = 1.0
    """Share of flows sampled into subnet flow logs (CIS GCP 3.8: 1.0, every flow)."""
    flow_log_interval: FlowLogInterval = FlowLogInterval.INTERVAL_5_SEC
    """How long flows aggregate into one log entry; longer means fewer entries."""
    nat: CloudNat = field(default_factory=CloudNat)
    """Cloud NAT sizing and static addresses."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels on every resource we create that takes labels (the addresses)."""
    existing_network: str | None = None
    """
    Add our subnet, route and NAT to this network (its self link or ``projects/<p>/global/networks/<n>``) instead of
    creating one. Routes the network already has (such as a default internet route) stay as they are: check them.
    """
    existing_network_taken_cidrs: tuple[str, ...] | None = None
    """
    With ``existing_network``: the ranges already used in it (its subnets' primary and
    secondary ranges, peerings); required, ``()`` if none. Ours must not overlap them.
    """

    def __post_init__(self) -> None:
        require_fields(self)
        check_project(self.project, "GcpVpcProps.project")
        check_region(self.region, "GcpVpcProps.region")
        check_name(self.name, "GcpVpcProps.name")
        if not isinstance(self.nat, CloudNat):
            raise ConfigurationError("GcpVpcProps.nat", f"{self.nat!r} is not a CloudNat", "use CloudNat(...)")
        check_prefix_lengths(
            self.name, "GcpVpcProps.name", {"vpc"}, region=self.region, nat_address_count=self.nat.address_count
        )
        object.__setattr__(self, "internet_route_tags", tuple(self.internet_route_tags))
        for i, tag in enumerate(self.internet_route_tags):
            check_name(tag, f"GcpVpcProps.internet_route_tags[{i}]")
        sampling = self.flow_log_sampling
        if isinstance(sampling, bool) or not isinstance(sampling, (int, float)) or not 0 < sampling <= 1:
            raise ConfigurationError(
                "GcpVpcProps.flow_log_sampling",
                f"{sampling!r} is not a share in (0, 1]",
                "use 1.0 (every flow, CIS GCP 3.8) or e.g. 0.5 to halve the log volume",
            )
        interval = member(FlowLogInterval, self.flow_log_interval, "GcpVpcProps.flow_log_interval")
        object.__setattr__(self, "flow_log_interval", interval)
        object.__setattr__(self, "labels", check_labels(self.labels, "GcpVpcProps.labels"))
        if self.existing_network is not None and not _NETWORK_ID.search(self.existing_network):
            raise ConfigurationError(
                "GcpVpcProps.existing_network",
                f"{self.existing_network!r} does not name a network",
                'give "projects/<project>/global/networks/<name>" or the network\'s self link',
            )
        taken = check_taken_ranges(
            self.addressing, self.existing_network, self.existing_network_taken_cidrs, "GcpVpcProps"
        )
        object.__setattr__(self, "existing_network_taken_cidrs", taken)


_NETWORK_ID = re.compile(
    r"(^|/)projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/global/networks/[a-z]([-a-z0-9]*[a-z0-9])?$|^\$\{"
)

_ADDRESS_PARTS = r"projects/([^/]+)/regions/([^/]+)/addresses/([^/]+)$"


def _address_parts(reference: str) -> tuple[str, str, str]:
    """Project, region and name of a regional address path or self link (a reference: at apply)."""
    if "${" in reference:
        parts = Fn.regex(_ADDRESS_PARTS, reference)
        return str(Fn.element(parts, 0)), str(Fn.element(parts, 1)), str(Fn.element(parts, 2))
    found = re.search(_ADDRESS_PARTS, reference)
    assert found is not None  # CloudNat checked the form
    return found.group(1), found.group(2), found.group(3)


class CircleciGcpVpc(Construct):
    def __init__(self, scope: Construct, id: str, *, props: GcpVpcProps) -> None:
        super().__init__(scope, id)
        self.props = props
        name, a = props.name, props.addressing
        self.network: ComputeNetwork | None = None
        if props.existing_network is None:
            self.network = ComputeNetwork(
                self,
                "network",
                name=name,
                project=props.project,
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
                delete_default_routes_on_create=True,  # we add the one internet route, scoped to role tags
                description="CircleCI Server network (circleci-network)",
            )
            self.network_id: str = self.network.id
            self.network_name: str = self.network.name
            self.network_self_link: str = self.network.self_link
        else:
            self.network_id = props.existing_network
            # A reference is resolved at apply: Terraform's basename takes the name from the ID or self link.
            token = "${" in props.existing_network
            self.network_name = (
                Fn.basename(props.existing_network) if token else props.existing_network.rsplit("/", 1)[-1]
            )
            self.network_self_link = props.existing_network
        #: GKE's ip_allocation_policy names these secondary ranges.
        self.pods_range_name = f"{name}-pods"
        self.services_range_name = f"{name}-services"
        self.subnet = ComputeSubnetwork(
            self,
            "subnet",
            name=gcp_subnet_name(name, props.region),
            project=props.project,
            region=props.region,
            network=self.network_id,
            ip_cidr_range=a.subnet_cidr,
            private_ip_google_access=True,
            secondary_ip_range=[
                ComputeSubnetworkSecondaryIpRange(range_name=self.pods_range_name, ip_cidr_range=a.pods_cidr),
                ComputeSubnetworkSecondaryIpRange(range_name=self.services_range_name, ip_cidr_range=a.services_cidr),
            ],
            log_config=ComputeSubnetworkLogConfig(
                aggregation_interval=props.flow_log_interval.value,
                flow_sampling=props.flow_log_sampling,
                metadata="INCLUDE_ALL_METADATA",
            ),
            description="All CircleCI Server roles; isolated by firewall targets",
        )
        self.internet_route = ComputeRoute(
            self,
            "internet-route",
            name=f"{name}-internet-via-nat",
            project=props.project,
            network=self.network_id,
            dest_range=ALL_IPV4,
            next_hop_gateway="default-internet-gateway",
            priority=1000,
            tags=list(props.internet_route_tags),
            description="Internet (through Cloud NAT) only for CircleCI role instances",
        )
        self.router = ComputeRouter(
            self, "router", name=f"{name}-router", project=props.project, region=props.region, network=self.network_id
        )
        nat = props.nat
        self.nat_addresses: list[ComputeAddress] = [
            ComputeAddress(
                self,
                f"nat-address-{index}",
                name=nat_address_name(name, index),
                project=props.project,
                region=props.region,
                address_type="EXTERNAL",
                network_tier="PREMIUM",
                labels=dict(props.labels) or None,
                description="Cloud NAT egress address of CircleCI Server: allowlist it at the VCS",
            )
            for index in range(nat.address_count)
        ]
        #: The NAT's static IPs, to allowlist at the VCS: reserved here, or read from the given addresses.
        self.nat_ips: list[str] = [address.address for address in self.nat_addresses] or [
            DataGoogleComputeAddress(
                self, f"given-nat-address-{index}", project=project, region=region, name=name
            ).address
            for index, (project, region, name) in enumerate(_address_parts(a) for a in nat.addresses)
        ]
        nat_ip_links = [address.self_link for address in self.nat_addresses] or list(nat.addresses)
        self.nat = ComputeRouterNat(
            self,
            "nat",
            name=f"{name}-nat",
            project=props.project,
            region=props.region,
            router=self.router.name,
            nat_ip_allocate_option="MANUAL_ONLY" if nat.manual_addresses else "AUTO_ONLY",
            nat_ips=nat_ip_links or None,
            min_ports_per_vm=nat.min_ports_per_vm,
            enable_dynamic_port_allocation=nat.dynamic_port_allocation or None,
            # GCP refuses dynamic allocation with endpoint-independent mapping.
            enable_endpoint_independent_mapping=False if nat.dynamic_port_allocation else None,
            max_ports_per_vm=nat.max_ports_per_vm,
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetwork=[ComputeRouterNatSubnetwork(name=self.subnet.id, source_ip_ranges_to_nat=["ALL_IP_RANGES"])],
            log_config=ComputeRouterNatLogConfig(enable=True, filter="ERRORS_ONLY"),
        )
