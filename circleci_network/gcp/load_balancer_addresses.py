"""Reserved addresses for the load balancers: internal ones in the shared subnet (Nomad
clients' egress names them), external ones for the frontend and traefik."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cdktf_cdktf_provider_google.compute_address import ComputeAddress
from constructs import Construct

from circleci_network.gcp.naming import check_prefix_lengths
from circleci_network.gcp.settings import GcpAddressing, check_labels, check_name, check_project, check_region
from circleci_network.model.checks import checked_keywords, require_fields
from circleci_network.model.roles import INTERNAL_LOAD_BALANCERS, INTERNET_FACING_LOAD_BALANCERS, Role
from circleci_network.model.server_versions import ServerVersion


def fixed_addresses(addressing: GcpAddressing, version: ServerVersion) -> dict[Role, str]:
    """The internal addresses we fix (egress rules must name them): v3's internal load
    balancers; on v4 circleci-proxy when internal (VPN), at the subnet's base + 10."""
    if version.profile.proxy_load_balancer:
        return {Role.PROXY_LB: str(addressing.subnet.network_address + 10)}
    return addressing.load_balancer_addresses()


@checked_keywords
@dataclass(frozen=True)
class LoadBalancerAddressProps:
    project: str
    """GCP project ID: 6-30 lowercase letters, digits and '-', starting with a letter."""
    region: str
    """GCP region of the addresses, such as ``us-central1`` (not a zone)."""
    subnetwork_id: str
    """The subnet the internal addresses are reserved in: its ID or self link."""
    addressing: GcpAddressing
    """
    Where the fixed internal addresses come from (``internal_load_balancer_addresses``; v4: the subnet's base + 10).
    """
    name: str = "circleci"
    """
    Prefix of the address names (``<name>-<role>``): lowercase letters, digits
    and '-', starting with a letter; each must fit GCP's 63 characters.
    """
    internet_facing: bool = True
    """``False`` (VPN mode) reserves internal addresses for frontend and traefik too."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """
    Labels on every address: GCP's rules (at most 64; keys start with
    a lowercase letter; lowercase letters, digits, '_' and '-').
    """
    server_version: ServerVersion = field(default_factory=ServerVersion)
    """v4: one address, circleci-proxy's (``nginx.loadBalancerIp``)."""

    def __post_init__(self) -> None:
        require_fields(self)
        object.__setattr__(self, "labels", check_labels(self.labels, "LoadBalancerAddressProps.labels"))
        check_project(self.project, "LoadBalancerAddressProps.project")
        check_region(self.region, "LoadBalancerAddressProps.region")
        check_name(self.name, "LoadBalancerAddressProps.name")
        check_prefix_lengths(
            self.name, "LoadBalancerAddressProps.name", {"addresses"}, server_version=self.server_version
        )


class LoadBalancerAddresses(Construct):
    def __init__(self, scope: Construct, id: str, *, props: LoadBalancerAddressProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.addresses: dict[Role, ComputeAddress] = {}
        fixed = fixed_addresses(props.addressing, props.server_version)
        if props.server_version.profile.proxy_load_balancer:
            # v4: internal at its fixed address in VPN mode (Nomad clients' egress names it).
            self._user_facing(Role.PROXY_LB, "(nginx.loadBalancerIp)", fixed[Role.PROXY_LB])
            return
        for role in INTERNAL_LOAD_BALANCERS:
            self._address(role, "(internal)", internal=True, address=fixed[role])
        for role in INTERNET_FACING_LOAD_BALANCERS:
            if role not in props.server_version.load_balancers:
                continue  # frontend-external: gone from the final v3 page
            self._user_facing(role, "", None)

    def _user_facing(self, role: Role, note: str, internal_address: str | None) -> None:
        """External in internet mode, internal (at ``internal_address`` if given) in VPN mode."""
        internal = not self.props.internet_facing
        self._address(role, note, internal=internal, address=internal_address if internal else None)

    def _address(self, role: Role, note: str, *, internal: bool, address: str | None) -> None:
        props = self.props
        self.addresses[role] = ComputeAddress(
            self,
            role.value,
            name=f"{props.name}-{role.value}",
            project=props.project,
            region=props.region,
            address_type="INTERNAL" if internal else "EXTERNAL",
            network_tier=None if internal else "PREMIUM",
            subnetwork=props.subnetwork_id if internal else None,
            address=address,
            labels=dict(props.labels) or None,
            description=" ".join(part for part in (f"CircleCI Server {role.display_name}", note) if part),
        )
