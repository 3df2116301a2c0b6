"""Facts the clouds publish, needed by both the renderers and the audit (which imports no
renderer): kept here, in the core, so both read the same values."""

from __future__ import annotations

from ipaddress import IPv4Network

#: Where Google's L4 (internal and external passthrough) load balancer health checks come from:
#: [CPG] kubernetes/cloud-provider-gcp gce_loadbalancer.go (L7 probes use the first two only).
GOOGLE_HEALTH_CHECK_RANGES: tuple[str, ...] = ("35.191.0.0/16", "130.211.0.0/22", "209.85.152.0/22", "209.85.204.0/22")
#: GCP's metadata server, which is also the network's DNS resolver; always reachable.
METADATA_SERVER_CIDR = "169.254.169.254/32"


def aws_dns_resolver_address(vpc_cidr: str | IPv4Network) -> str:
    """The Amazon-provided DNS server: the VPC's base address plus two."""
    return str(IPv4Network(vpc_cidr).network_address + 2)
