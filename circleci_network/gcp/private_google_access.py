"""Private Google Access through private.googleapis.com or restricted.googleapis.com: the
route and DNS that make Google APIs (and image registries) reachable when egress is locked
to a proxy. The firewall egress (TCP 443 to the range) is a platform rule in
``circleci_network.model.platform_rules``; this module only routes and resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network

from cdktf_cdktf_provider_google.compute_route import ComputeRoute
from cdktf_cdktf_provider_google.dns_managed_zone import (
    DnsManagedZone,
    DnsManagedZonePrivateVisibilityConfig,
    DnsManagedZonePrivateVisibilityConfigNetworks,
)
from cdktf_cdktf_provider_google.dns_record_set import DnsRecordSet
from constructs import Construct

from circleci_network.gcp.naming import GOOGLE_API_ZONES, google_api_route_name, google_api_zone_name
from circleci_network.model.checks import checked_keywords
from circleci_network.model.platform_rules import GoogleApiAccess, PlatformOptions

#: Zones whose names must resolve to the chosen range (``naming.GOOGLE_API_ZONES``).
ZONES = GOOGLE_API_ZONES


@checked_keywords
@dataclass(frozen=True)
class PrivateGoogleAccessProps:
    project: str
    """GCP project of the route and the private DNS zones."""
    network_id: str
    """The network the route and DNS zones attach to: its ID or self link."""
    name: str
    """Prefix of the route (``<name>-<access>-googleapis``) and DNS zone (``<name>-<domain, dots as '-'>``) names."""
    platform: PlatformOptions
    """
    Its ``google_api_access`` (not ``NONE``: only then is this
    built) chooses the range the route and DNS records point at.
    """


class PrivateGoogleAccess(Construct):
    def __init__(self, scope: Construct, id: str, *, props: PrivateGoogleAccessProps) -> None:
        super().__init__(scope, id)
        access = props.platform.google_api_access
        cidr = props.platform.google_api_cidr
        assert cidr is not None and access is not GoogleApiAccess.NONE, "only built with google_api_access set"
        addresses = [str(a) for a in IPv4Network(cidr)]
        # No tags: the range is Google's API front end only, and a GKE node pool made without
        # our role tag must still reach it (the internet route is scoped to role tags).
        self.route = ComputeRoute(
            self,
            "route",
            name=google_api_route_name(props.name, access),
            project=props.project,
            network=props.network_id,
            dest_range=cidr,
            next_hop_gateway="default-internet-gateway",
            priority=1000,
            description=f"Platform (GKE): {access.value}.googleapis.com for Private Google Access, every instance",
        )
        self.zones: dict[str, DnsManagedZone] = {}
        for domain in ZONES:
            label = domain.replace(".", "-")
            zone = DnsManagedZone(
                self,
                f"zone-{label}",
                name=google_api_zone_name(props.name, domain),
                project=props.project,
                dns_name=f"{domain}.",
                visibility="private",
                private_visibility_config=DnsManagedZonePrivateVisibilityConfig(
                    networks=[DnsManagedZonePrivateVisibilityConfigNetworks(network_url=props.network_id)]
                ),
                description=f"{domain} to {access.value}.googleapis.com ({cidr}) for Private Google Access",
            )
            self.zones[domain] = zone
            apex = f"{access.value}.googleapis.com." if domain == "googleapis.com" else f"{domain}."
            DnsRecordSet(
                self,
                f"a-{label}",
                project=props.project,
                managed_zone=zone.name,
                name=apex,
                type="A",
                ttl=300,
                rrdatas=addresses,
            )
            DnsRecordSet(
                self,
                f"cname-{label}",
                project=props.project,
                managed_zone=zone.name,
                name=f"*.{domain}.",
                type="CNAME",
                ttl=300,
                rrdatas=[apex],
            )
