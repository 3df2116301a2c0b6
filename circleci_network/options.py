"""The user's choices that shape the rules, cloud-independent and validated up front."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from circleci_network.addressing import ALL_IPV4, cidr_tuple
from circleci_network.errors import ConfigurationError
from circleci_network.ports import Port, Protocol
from circleci_network.roles import JOB_ROLES, OutsidePeer, Role

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$")


@dataclass(frozen=True)
class ExtraEgressRule:
    """An egress rule a workload needs beyond the minimum (the guide allows these for
    Nomad clients and external VMs). The audit counts it as allowed."""

    name: str
    role: Role
    port: Port
    cidrs: tuple[str, ...]
    purpose: str

    def __post_init__(self) -> None:
        where = f"ExtraEgressRule({self.name!r})"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(
                f"{where}.name",
                "must be 2-24 characters of lowercase letters, digits and '-'",
                'use a short stable name such as "artifactory"; it becomes part of resource IDs',
            )
        if self.role not in JOB_ROLES:
            raise ConfigurationError(
                f"{where}.role",
                f"{self.role!r} is not a job role",
                "the guide allows extra egress only for Role.NOMAD_CLIENTS and Role.EXTERNAL_VMS",
            )
        if self.port.protocol is Protocol.ALL:
            raise ConfigurationError(
                f"{where}.port", "all-traffic egress is not allowed", "name the TCP or UDP port(s) the workload needs"
            )
        object.__setattr__(self, "cidrs", cidr_tuple(self.cidrs, f"{where}.cidrs"))
        if not self.cidrs:
            raise ConfigurationError(f"{where}.cidrs", "is empty", "list the destination CIDRs")
        if not self.purpose.strip():
            raise ConfigurationError(
                f"{where}.purpose", "is empty", "say why the workload needs it; it becomes the rule's description"
            )


def _tuple(values: Iterable[str] | None, name: str) -> tuple[str, ...] | None:
    return None if values is None else cidr_tuple(values, f"HardeningOptions.{name}")


@dataclass(frozen=True)
class HardeningOptions:
    """Who counts as "External" for each rule of the guide, and what is opened on request.

    Every default is the guide's minimum; nothing here can widen a rule beyond the guide
    without saying so (``allow_ssh_administration_from_anywhere``).
    """

    #: Sources allowed to reach the frontend and traefik load balancers on 80/443.
    client_cidrs: tuple[str, ...] = (ALL_IPV4,)
    #: Destinations of the 80/443 egress rules: all IPv4, or your egress proxy.
    external_cidrs: tuple[str, ...] = (ALL_IPV4,)
    #: Destinations of SSH (22) to the VCS; ``None`` means ``external_cidrs``.
    vcs_cidrs: tuple[str, ...] | None = None
    #: Sources allowed to use rerun-with-SSH (64535-65535); empty turns the rule off.
    rerun_ssh_cidrs: tuple[str, ...] = (ALL_IPV4,)
    #: Sources allowed to SSH (22) to the instances; empty (the default) opens nothing.
    ssh_administrator_cidrs: tuple[str, ...] = ()
    #: Must be set to accept 0.0.0.0/0 in ``ssh_administrator_cidrs``.
    allow_ssh_administration_from_anywhere: bool = False
    #: DNS servers; ``None`` means the cloud's resolver inside the network.
    dns_server_cidrs: tuple[str, ...] | None = None
    #: Load balancers that are not a layer of their own: their ingress rules move to the
    #: Kubernetes nodes (always so on GCP, whose passthrough load balancers are transparent).
    transparent_load_balancers: bool = False
    #: Egress beyond the minimum, for Nomad clients and external VMs.
    extra_egress: tuple[ExtraEgressRule, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("client_cidrs", "external_cidrs", "rerun_ssh_cidrs", "ssh_administrator_cidrs"):
            object.__setattr__(self, name, _tuple(getattr(self, name), name))
        for name in ("vcs_cidrs", "dns_server_cidrs"):
            object.__setattr__(self, name, _tuple(getattr(self, name), name))
        for name in ("client_cidrs", "external_cidrs"):
            if not getattr(self, name):
                raise ConfigurationError(
                    f"HardeningOptions.{name}",
                    "is empty",
                    f'give at least one CIDR (the default is ["{ALL_IPV4}"])',
                )
        if ALL_IPV4 in self.ssh_administrator_cidrs and not self.allow_ssh_administration_from_anywhere:
            index = self.ssh_administrator_cidrs.index(ALL_IPV4)
            raise ConfigurationError(
                f"HardeningOptions.ssh_administrator_cidrs[{index}]",
                "0.0.0.0/0 opens SSH (22) on every instance to the whole internet",
                "list your office or VPN CIDRs instead, or set allow_ssh_administration_from_anywhere=True if you really mean it",
            )
        if self.dns_server_cidrs is not None and not self.dns_server_cidrs:
            raise ConfigurationError(
                "HardeningOptions.dns_server_cidrs",
                "is empty: instances could not resolve names",
                "leave it None for the cloud's resolver, or list your DNS servers",
            )
        extra = tuple(self.extra_egress)
        names = [rule.name for rule in extra]
        for rule in extra:
            if not isinstance(rule, ExtraEgressRule):
                raise ConfigurationError(
                    "HardeningOptions.extra_egress",
                    f"{rule!r} is not an ExtraEgressRule",
                    "build each entry with ExtraEgressRule(...)",
                )
            if names.count(rule.name) > 1:
                raise ConfigurationError(
                    f"HardeningOptions.extra_egress[{rule.name!r}]",
                    "the name is used twice",
                    "give each extra rule its own name",
                )
        object.__setattr__(self, "extra_egress", extra)

    def peer_cidrs(self, peer: OutsidePeer, cloud_defaults: Mapping[OutsidePeer, tuple[str, ...]]) -> tuple[str, ...]:
        """The CIDRs ``peer`` stands for: the options', else the cloud's (DNS resolver, health checks)."""
        given = self.cidrs_for(peer)
        return given if given is not None else tuple(cloud_defaults.get(peer, ()))

    def cidrs_for(self, peer: OutsidePeer) -> tuple[str, ...] | None:
        """The CIDRs an outside peer stands for; ``None`` when the cloud decides."""
        if peer is OutsidePeer.CLIENTS:
            return self.client_cidrs
        if peer is OutsidePeer.INTERNET:
            return self.external_cidrs
        if peer is OutsidePeer.VCS:
            return self.external_cidrs if self.vcs_cidrs is None else self.vcs_cidrs
        if peer is OutsidePeer.RERUN_SSH_CLIENTS:
            return self.rerun_ssh_cidrs
        if peer is OutsidePeer.SSH_ADMINISTRATORS:
            return self.ssh_administrator_cidrs
        if peer is OutsidePeer.DNS_RESOLVER:
            return self.dns_server_cidrs
        return None  # LOAD_BALANCER_HEALTH_CHECKS: the cloud's own ranges


def options_to_json(options: HardeningOptions) -> dict[str, object]:
    """The options as plain JSON, recorded in the synthesized stack for the audit."""
    return {
        "client_cidrs": list(options.client_cidrs),
        "external_cidrs": list(options.external_cidrs),
        "vcs_cidrs": None if options.vcs_cidrs is None else list(options.vcs_cidrs),
        "rerun_ssh_cidrs": list(options.rerun_ssh_cidrs),
        "ssh_administrator_cidrs": list(options.ssh_administrator_cidrs),
        "allow_ssh_administration_from_anywhere": options.allow_ssh_administration_from_anywhere,
        "dns_server_cidrs": None if options.dns_server_cidrs is None else list(options.dns_server_cidrs),
        "transparent_load_balancers": options.transparent_load_balancers,
        "extra_egress": [
            {
                "name": rule.name,
                "role": rule.role.value,
                "port": {"protocol": rule.port.protocol.value, "from": rule.port.from_port, "to": rule.port.to_port},
                "cidrs": list(rule.cidrs),
                "purpose": rule.purpose,
            }
            for rule in options.extra_egress
        ],
    }


def options_from_json(data: dict[str, object]) -> HardeningOptions:
    def cidrs(key: str) -> tuple[str, ...] | None:
        value = data.get(key)
        return None if value is None else tuple(value)  # type: ignore[arg-type]

    extra = []
    for item in data.get("extra_egress") or []:  # type: ignore[attr-defined]
        port = item["port"]
        extra.append(
            ExtraEgressRule(
                name=item["name"],
                role=Role(item["role"]),
                port=Port(Protocol(port["protocol"]), port["from"], port["to"]),
                cidrs=tuple(item["cidrs"]),
                purpose=item["purpose"],
            )
        )
    return HardeningOptions(
        client_cidrs=cidrs("client_cidrs") or (),
        external_cidrs=cidrs("external_cidrs") or (),
        vcs_cidrs=cidrs("vcs_cidrs"),
        rerun_ssh_cidrs=cidrs("rerun_ssh_cidrs") or (),
        ssh_administrator_cidrs=cidrs("ssh_administrator_cidrs") or (),
        allow_ssh_administration_from_anywhere=bool(data.get("allow_ssh_administration_from_anywhere")),
        dns_server_cidrs=cidrs("dns_server_cidrs"),
        transparent_load_balancers=bool(data.get("transparent_load_balancers")),
        extra_egress=tuple(extra),
    )
