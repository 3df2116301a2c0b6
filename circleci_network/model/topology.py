"""The installation shapes the guide allows ("Network Topology"), cloud-independent.

They change where things live and what has a public address, never which flows exist:
the rules stay the guide's, so the audit expects the same flows in every shape.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import StrEnum

from circleci_network.errors import ConfigurationError
from circleci_network.model.checks import checked_keywords, covers_everything, member, require_fields
from circleci_network.model.options import HardeningOptions


class UserAccess(StrEnum):
    INTERNET = "internet"
    """Frontend and traefik load balancers are internet-facing, in public subnets."""
    VPN = "vpn"
    """Users come over a VPN: no public IP anywhere but the NAT gateway's; every load balancer is internal."""


class JobPlacement(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"
    """
    Nomad clients and external VMs get public IPs so users can SSH into jobs (the guide's
    recommendation with a public frontend); rerun-with-SSH stays scoped to its CIDRs.
    """


class TopologyWarning(UserWarning):
    """A valid shape with a consequence the user should know about."""


@checked_keywords
@dataclass(frozen=True)
class Topology:
    user_access: UserAccess = UserAccess.INTERNET
    """
    ``UserAccess.INTERNET`` (default: internet-facing frontend and traefik) or ``UserAccess.VPN`` (every
    load balancer internal; ``client_cidrs`` must not cover 0.0.0.0/0); the enum or its value string.
    """
    job_placement: JobPlacement = JobPlacement.PRIVATE
    """
    ``JobPlacement.PRIVATE`` (default) or ``JobPlacement.PUBLIC`` (jobs get public
    IPs for SSH; refused with ``UserAccess.VPN``); the enum or its value string.
    """

    def __post_init__(self) -> None:
        require_fields(self)
        object.__setattr__(self, "user_access", member(UserAccess, self.user_access, "Topology.user_access"))
        object.__setattr__(self, "job_placement", member(JobPlacement, self.job_placement, "Topology.job_placement"))
        if self.user_access is UserAccess.VPN and self.job_placement is JobPlacement.PUBLIC:
            raise ConfigurationError(
                "Topology.job_placement",
                "public job subnets give jobs public IPs, which VPN mode rules out",
                "use JobPlacement.PRIVATE with UserAccess.VPN (users SSH into jobs over the VPN), "
                "or UserAccess.INTERNET to keep public job subnets",
            )

    @property
    def internet_facing_load_balancers(self) -> bool:
        return self.user_access is UserAccess.INTERNET

    @property
    def public_job_instances(self) -> bool:
        return self.job_placement is JobPlacement.PUBLIC

    def check(self, hardening: HardeningOptions, where: str) -> None:
        """Refuses options that contradict the shape; warns about consequences."""
        if self.user_access is UserAccess.VPN:
            if covers_everything(hardening.client_cidrs):
                raise ConfigurationError(
                    f"{where}.hardening.client_cidrs",
                    "covers 0.0.0.0/0, but in VPN mode users come from the VPN",
                    "list your VPN CIDRs as client_cidrs",
                )
            if hardening.rerun_ssh_cidrs:
                warnings.warn(
                    f"{where}: in VPN mode rerun-with-SSH works only from inside the VPN "
                    f"(rerun_ssh_cidrs={list(hardening.rerun_ssh_cidrs)} must be routable over it)",
                    TopologyWarning,
                    stacklevel=3,
                )
        if self.public_job_instances and not hardening.rerun_ssh_cidrs:
            warnings.warn(
                f"{where}: public job subnets without rerun_ssh_cidrs give jobs public IPs nobody may use; "
                "set rerun_ssh_cidrs or keep JobPlacement.PRIVATE",
                TopologyWarning,
                stacklevel=3,
            )
