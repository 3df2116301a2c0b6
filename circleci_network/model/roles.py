"""The parties in the hardening guide: roles we build, and peers outside our network."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Something the library creates an identity for (a security group, a service account)."""

    KUBERNETES_NODES = "k8s-nodes"
    NOMAD_CLIENTS = "nomad-clients"
    EXTERNAL_VMS = "external-vms"
    FRONTEND_LB = "frontend-external"
    TRAEFIK_LB = "server-traefik"
    VM_SERVICE_LB = "vm-service"
    NOMAD_LB = "nomad"
    OUTPUT_PROCESSOR_LB = "output-processor"
    PROXY_LB = "circleci-proxy"
    """Server v4's one load balancer (the chart's nginx Service) in place of the four above."""
    EKS_CONTROL_PLANE = "eks-control-plane"
    """With ``Platform.EKS``: the group on the EKS control plane's ENIs (in the node subnets)."""
    VPC_ENDPOINTS = "vpc-endpoints"
    """With ``VpcEndpoints(enabled=True)``: the group on the AWS interface endpoints' ENIs."""

    @property
    def is_load_balancer(self) -> bool:
        return self in ALL_LOAD_BALANCERS

    @property
    def is_internal_load_balancer(self) -> bool:
        return self in INTERNAL_LOAD_BALANCERS

    @property
    def display_name(self) -> str:
        return _TITLES[self]


COMPUTE_ROLES: tuple[Role, ...] = (Role.KUBERNETES_NODES, Role.NOMAD_CLIENTS, Role.EXTERNAL_VMS)
JOB_ROLES: tuple[Role, ...] = (Role.NOMAD_CLIENTS, Role.EXTERNAL_VMS)
INTERNET_FACING_LOAD_BALANCERS: tuple[Role, ...] = (Role.FRONTEND_LB, Role.TRAEFIK_LB)
INTERNAL_LOAD_BALANCERS: tuple[Role, ...] = (
    Role.VM_SERVICE_LB,
    Role.NOMAD_LB,
    Role.OUTPUT_PROCESSOR_LB,
)
#: The v3 guide's load balancers (which ones a server version has: ``server_versions``).
LOAD_BALANCERS: tuple[Role, ...] = INTERNET_FACING_LOAD_BALANCERS + INTERNAL_LOAD_BALANCERS
#: Every load balancer role of every server version.
ALL_LOAD_BALANCERS: tuple[Role, ...] = (*LOAD_BALANCERS, Role.PROXY_LB)

_TITLES = {
    Role.KUBERNETES_NODES: "Kubernetes nodes",
    Role.NOMAD_CLIENTS: "Nomad clients",
    Role.EXTERNAL_VMS: "External VMs",
    Role.FRONTEND_LB: "frontend-external load balancer",
    Role.TRAEFIK_LB: "server-traefik load balancer",
    Role.VM_SERVICE_LB: "vm-service load balancer",
    Role.NOMAD_LB: "nomad load balancer",
    Role.OUTPUT_PROCESSOR_LB: "output-processor load balancer",
    Role.PROXY_LB: "circleci-proxy load balancer",
    Role.EKS_CONTROL_PLANE: "EKS control plane",
    Role.VPC_ENDPOINTS: "VPC interface endpoints",
}


class OutsidePeer(StrEnum):
    """A party outside the roles, reached by address ranges the options decide."""

    CLIENTS = "clients"  # users of the UI and API: "External" in the load balancer table
    INTERNET = "internet"  # "External" as a destination: all IPv4, or the egress proxy
    RERUN_SSH_CLIENTS = "rerun-ssh-clients"  # "External" for rerun-with-SSH
    SSH_ADMINISTRATORS = "ssh-administrators"
    VCS = "vcs"
    DNS_RESOLVER = "dns-resolver"
    LOAD_BALANCER_HEALTH_CHECKS = "lb-health-checks"  # a transparent load balancer's probes
    # v4 internet mode (``nat_translation``): the cloud's static addresses, never the options'.
    PROXY_PUBLIC_ADDRESSES = "circleci-proxy-public-addresses"  # the proxy as roles behind NAT reach it
    NAT_ADDRESSES = "nat-addresses"  # roles behind NAT as a public address sees them
    S3_PREFIX_LIST = "s3-prefix-list"  # AWS's managed prefix list of S3 (a gateway endpoint's destination)

    @property
    def display_name(self) -> str:
        return self.value.replace("-", " ")


Endpoint = Role | OutsidePeer
