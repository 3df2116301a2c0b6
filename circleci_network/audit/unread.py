"""Resource types that open network access the audit does not read: each one is a finding.

The flow audit reads security groups, network ACLs, routes, load balancers and GCP VPC firewall
rules. The kinds below also decide who reaches what, but the audit does not model them, so a
stack holding one cannot be shown to match the guide. Our renderers build none of them. The
list is fixed and short on purpose: each kind is here because it admits traffic (or principals)
past the resources the audit reads. ``unread-resource`` cannot be accepted (fail closed): such a
resource belongs in a stack of its own, beside the network, where the audit does not vouch for it.
"""

from __future__ import annotations

from collections.abc import Mapping

from circleci_network.audit.findings import Finding
from circleci_network.audit.terraform_json import Json, address, all_resources

CHECK = "unread-resource"

#: Kind (or, ending in ``*``, every kind with that prefix) -> what it opens.
UNREAD_KINDS: Mapping[str, str] = {
    # GCP: firewall policies are enforced together with (and, by default, before) VPC firewall rules.
    "google_compute_firewall_policy*": "a hierarchical firewall policy: its rules apply beside the VPC firewall",
    "google_compute_network_firewall_policy*": "a network firewall policy: its rules apply beside the VPC firewall",
    "google_compute_region_network_firewall_policy*": "a regional network firewall policy: its rules apply beside "
    "the VPC firewall",
    "google_compute_network_peering*": "a network peering: another network's addresses reach ours",
    "google_compute_vpn_tunnel": "a VPN tunnel: another network's addresses reach ours",
    # AWS: other networks and accounts brought into the VPC, or our load balancers published to them.
    "aws_vpc_endpoint_service*": "a PrivateLink endpoint service: other accounts reach a load balancer through it",
    "aws_network_interface_sg_attachment": "attaches a security group to a network interface the audit cannot place",
    "aws_vpc_security_group_vpc_association": "makes a security group usable in another VPC, whose instances then "
    "carry it",
    "aws_vpc_peering_connection*": "a VPC peering: another VPC's addresses reach ours",
    "aws_ec2_transit_gateway_vpc_attachment*": "a transit gateway attachment: other networks reach the VPC",
    "aws_ec2_client_vpn_*": "a Client VPN endpoint: its clients reach the VPC",
    "aws_vpn_gateway*": "a virtual private gateway: a site-to-site VPN's networks reach the VPC",
    "aws_networkfirewall_*": "an AWS Network Firewall: its rule groups decide what passes its routes",
    "aws_globalaccelerator_endpoint_group": "a Global Accelerator endpoint group: the internet reaches its "
    "endpoints (internal load balancers, instances)",
    "aws_api_gateway_vpc_link": "an API Gateway VPC link: the internet reaches the load balancers it names",
    "aws_apigatewayv2_vpc_link": "an API Gateway VPC link: the internet reaches the VPC through it",
    # The aws_lb family's old names: the audit reads aws_lb, aws_lb_listener and aws_lb_target_group.
    "aws_alb": "a load balancer under aws_lb's old name, which the load balancer checks do not read",
    "aws_alb_*": "a load balancer part under aws_lb's old name, which the load balancer checks do not read",
}


def unread_kind(kind: str) -> str | None:
    """What ``kind`` opens, if it is one the audit does not read; else None."""
    for pattern, why in UNREAD_KINDS.items():
        if kind == pattern.rstrip("*_") or (pattern.endswith("*") and kind.startswith(pattern.rstrip("*"))):
            return why
    return None


def unread_findings(stack: Json) -> list[Finding]:
    """One ``unread-resource`` finding per resource of a kind in ``UNREAD_KINDS``."""
    return [
        Finding(
            CHECK,
            address(kind, name),
            f"opens network access the audit does not read ({why}); keep it out of the network's stack",
        )
        for kind, name, _resource in all_resources(stack)
        if (why := unread_kind(kind)) is not None
    ]
