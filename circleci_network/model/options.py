"""The user's choices that shape the rules, cloud-independent and validated up front."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from circleci_network.errors import ConfigurationError
from circleci_network.model.addressing import ALL_IPV4, cidr_tuple
from circleci_network.model.checks import checked_keywords, covers_everything, member, outside_errors, require_fields
from circleci_network.model.ports import Port, Protocol
from circleci_network.model.roles import JOB_ROLES, OutsidePeer, Role

#: Who may have extra egress: the guide's job roles, and the nodes (beyond the guide: external datastores).
EXTRA_EGRESS_ROLES: tuple[Role, ...] = (*JOB_ROLES, Role.KUBERNETES_NODES)

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,22}[a-z0-9]$")


@checked_keywords
@dataclass(frozen=True)
class ExtraEgressRule:
    """An egress rule a workload needs beyond the minimum. The guide names extra egress for
    Nomad clients and external VMs; the Kubernetes nodes (e.g. to your own PostgreSQL) go
    beyond it and the audit says so. The audit counts the rule as allowed."""

    name: str
    """
    2-24 lowercase letters, digits and '-', starting with a letter
    and not ending with '-'; part of resource IDs, so keep it stable.
    """
    role: Role
    """
    ``Role.NOMAD_CLIENTS``, ``Role.EXTERNAL_VMS`` or ``Role.KUBERNETES_NODES`` (the enum
    or its value string). The guide names extra egress for the job roles only; the nodes'
    (your external datastores) is beyond the guide, and the audit lists it as such.
    """
    port: Port
    """
    A TCP or UDP ``Port`` (``Port.tcp(8081)``, ``Port.tcp_range(...)``, ``Port.udp(...)``); all-traffic is refused.
    """
    cidrs: tuple[str, ...]
    """
    Destination CIDRs, at least one, no duplicates; may lie inside
    the network, not in the subnets (AWS) or ranges (GCP) we create.
    """
    purpose: str
    """Why the workload needs it (not empty); it becomes the rule's description."""

    def __post_init__(self) -> None:
        require_fields(self)
        where = f"ExtraEgressRule({self.name!r})"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(
                f"{where}.name",
                "must be 2-24 characters of lowercase letters, digits and '-'",
                'use a short stable name such as "artifactory"; it becomes part of resource IDs',
            )
        object.__setattr__(self, "role", member(Role, self.role, f"{where}.role"))
        if self.role not in EXTRA_EGRESS_ROLES:
            raise ConfigurationError(
                f"{where}.role",
                f"{self.role!r} cannot have extra egress",
                "use Role.NOMAD_CLIENTS or Role.EXTERNAL_VMS (the guide's job roles), "
                "or Role.KUBERNETES_NODES for your own datastores (beyond the guide)",
            )
        if self.port.protocol is Protocol.ALL:
            raise ConfigurationError(
                f"{where}.port", "all-traffic egress is not allowed", "name the TCP or UDP port(s) the workload needs"
            )
        object.__setattr__(self, "cidrs", cidr_tuple(self.cidrs, f"{where}.cidrs"))
        if not self.cidrs:
            raise ConfigurationError(f"{where}.cidrs", "is empty", "list the destination CIDRs")
        if not isinstance(self.purpose, str) or not self.purpose.strip():
            raise ConfigurationError(
                f"{where}.purpose", "is empty", "say why the workload needs it; it becomes the rule's description"
            )
        refused = sorted({c for c in self.purpose if not _DESCRIPTION_CHARACTER.match(c)})
        if refused:
            raise ConfigurationError(
                f"{where}.purpose",
                f"holds {''.join(refused)!r}, which AWS refuses in security group rule descriptions",
                "use letters, digits, spaces and ._-:/()#,@[]+=;{}!$* only",
            )


#: What AWS takes in a security group rule's description (the strictest cloud; no "&" on group
#: references): a purpose with an apostrophe would fail ``terraform apply``, not synth.
_DESCRIPTION_CHARACTER = re.compile(r"[A-Za-z0-9 ._\-:/()#,@\[\]+=;{}!$*]")


def _tuple(values: Iterable[str] | None, name: str) -> tuple[str, ...] | None:
    return None if values is None else cidr_tuple(values, f"HardeningOptions.{name}")


@checked_keywords
@dataclass(frozen=True)
class HardeningOptions:
    """Who counts as "External" for each rule of the guide, and what is opened on request.

    Every default is the guide's minimum; nothing here can widen a rule beyond the guide
    without saying so (``allow_ssh_administration_from_anywhere``).
    """

    client_cidrs: tuple[str, ...] = (ALL_IPV4,)
    """Sources allowed to reach the frontend and traefik load balancers on 80/443."""
    external_cidrs: tuple[str, ...] = (ALL_IPV4,)
    """Destinations of the 80/443 egress rules: all IPv4, or your egress proxy."""
    vcs_cidrs: tuple[str, ...] | None = None
    """Destinations of SSH (22) to the VCS; ``None`` means the 80/443 destinations."""
    rerun_ssh_cidrs: tuple[str, ...] = (ALL_IPV4,)
    """Sources allowed to use rerun-with-SSH (64535-65535); empty turns the rule off."""
    ssh_administrator_cidrs: tuple[str, ...] = ()
    """Sources allowed to SSH (22) to the instances; empty (the default) opens nothing."""
    allow_ssh_administration_from_anywhere: bool = False
    """Must be set to accept 0.0.0.0/0 in ``ssh_administrator_cidrs``."""
    dns_server_cidrs: tuple[str, ...] | None = None
    """DNS servers; ``None`` means the cloud's resolver inside the network."""
    transparent_load_balancers: bool = False
    """
    Load balancers that are not a layer of their own: their ingress rules move to the
    Kubernetes nodes (always so on GCP, whose passthrough load balancers are transparent).
    """
    extra_egress: tuple[ExtraEgressRule, ...] = field(default=())
    """
    Egress beyond the minimum: for Nomad clients and external VMs (the guide's), or for
    the Kubernetes nodes to your own datastores (beyond the guide; the audit says so).
    """
    internal_proxy_cidrs: tuple[str, ...] = ()
    """
    An egress proxy inside your network: the 80/443 (and, without ``vcs_cidrs``, VCS
    SSH) destinations, in place of ``external_cidrs``. Unlike the outside peers' CIDRs,
    these may lie inside the VPC or subnet; empty (the default) means no internal proxy.
    """

    def __post_init__(self) -> None:
        require_fields(self)
        for name in (
            "client_cidrs",
            "external_cidrs",
            "rerun_ssh_cidrs",
            "ssh_administrator_cidrs",
            "internal_proxy_cidrs",
        ):
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
        if covers_everything(self.ssh_administrator_cidrs) and not self.allow_ssh_administration_from_anywhere:
            given = self.ssh_administrator_cidrs
            where = f"[{given.index(ALL_IPV4)}]" if ALL_IPV4 in given else ""
            raise ConfigurationError(
                f"HardeningOptions.ssh_administrator_cidrs{where}",
                f"{', '.join(given)} together cover 0.0.0.0/0: SSH (22) on every instance to the whole internet"
                if not where
                else "0.0.0.0/0 opens SSH (22) on every instance to the whole internet",
                "list your office or VPN CIDRs instead, or set allow_ssh_administration_from_anywhere=True if you really mean it",
            )
        if self.vcs_cidrs is not None and not self.vcs_cidrs:
            raise ConfigurationError(
                "HardeningOptions.vcs_cidrs",
                "is empty: jobs and Kubernetes nodes could not reach the VCS over SSH (22)",
                "leave it None to use the 80/443 destinations (external_cidrs or internal_proxy_cidrs), "
                "or list your VCS's SSH ranges",
            )
        if self.internal_proxy_cidrs:
            if self.external_cidrs != (ALL_IPV4,):
                raise ConfigurationError(
                    "HardeningOptions.internal_proxy_cidrs",
                    f"is set together with external_cidrs={list(self.external_cidrs)}: both name the 80/443 destinations",
                    "use internal_proxy_cidrs for a proxy inside your network, external_cidrs for one outside it; not both",
                )
            if ALL_IPV4 in self.internal_proxy_cidrs:
                raise ConfigurationError(
                    "HardeningOptions.internal_proxy_cidrs",
                    "0.0.0.0/0 is not a proxy",
                    "give the proxy's addresses (e.g. its /32s), or leave it empty for direct egress",
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

    @property
    def egress_cidrs(self) -> tuple[str, ...]:
        """Where 80/443 egress goes: the internal proxy when there is one, else ``external_cidrs``."""
        return self.internal_proxy_cidrs or self.external_cidrs

    def peer_cidrs(self, peer: OutsidePeer, cloud_defaults: Mapping[OutsidePeer, tuple[str, ...]]) -> tuple[str, ...]:
        """The CIDRs ``peer`` stands for: the options', else the cloud's (DNS resolver, health checks)."""
        given = self.cidrs_for(peer)
        return given if given is not None else tuple(cloud_defaults.get(peer, ()))

    def cidrs_for(self, peer: OutsidePeer) -> tuple[str, ...] | None:
        """The CIDRs an outside peer stands for; ``None`` when the cloud decides."""
        if peer is OutsidePeer.CLIENTS:
            return self.client_cidrs
        if peer is OutsidePeer.INTERNET:
            return self.egress_cidrs
        if peer is OutsidePeer.VCS:
            return self.egress_cidrs if self.vcs_cidrs is None else self.vcs_cidrs
        if peer is OutsidePeer.RERUN_SSH_CLIENTS:
            return self.rerun_ssh_cidrs
        if peer is OutsidePeer.SSH_ADMINISTRATORS:
            return self.ssh_administrator_cidrs
        if peer is OutsidePeer.DNS_RESOLVER:
            return self.dns_server_cidrs
        return None  # health checks, public and NAT addresses: the cloud's own


#: Why each outside peer must stay outside, and what to do instead.
_OUTSIDE_FIX = {
    "client_cidrs": "users inside the network reach the load balancers without this rule; list your VPN or "
    "office ranges",
    "external_cidrs": "for an egress proxy inside the network set internal_proxy_cidrs instead",
    "vcs_cidrs": "list your VCS's SSH ranges; for a proxy inside the network leave vcs_cidrs None and set "
    "internal_proxy_cidrs",
    "rerun_ssh_cidrs": "list the ranges your users SSH from (your VPN or office)",
    "ssh_administrator_cidrs": "list your administrators' VPN or office ranges",
}


def outside_peer_errors(
    options: HardeningOptions,
    inside: Sequence[tuple[str, IPv4Network]],
    where: str,
    *,
    ours: Sequence[tuple[str, IPv4Network]] | None = None,
) -> Iterator[ConfigurationError]:
    """An error for every outside peer's CIDR overlapping ``inside`` (the VPC, or GCP's subnet and
    secondary ranges), naming the field, both ranges and the fix. Extra egress destinations may
    be inside the network (an internal Artifactory) but not in ``ours``, the subnets we create
    (default ``inside``): that would open the rule to our own instances.
    ``internal_proxy_cidrs`` is exempt: it is the internal peer for a proxy inside."""
    for name, fix in _OUTSIDE_FIX.items():
        cidrs = getattr(options, name)
        if cidrs is not None:
            yield from outside_errors(f"{where}.{name}", cidrs, inside, fix)
    for rule in options.extra_egress:
        yield from outside_errors(
            f"{where}.extra_egress[{rule.name!r}].cidrs",
            rule.cidrs,
            inside if ours is None else ours,
            "an extra egress destination must not be one of our own subnets; give the server's own address",
        )


def check_outside_peers(
    options: HardeningOptions,
    inside: Sequence[tuple[str, IPv4Network]],
    where: str,
    *,
    ours: Sequence[tuple[str, IPv4Network]] | None = None,
) -> None:
    """Refuse the first outside peer's CIDR overlapping the network (``outside_peer_errors``)."""
    for error in outside_peer_errors(options, inside, where, ours=ours):
        raise error


def options_to_json(options: HardeningOptions) -> dict[str, object]:
    """The options as plain JSON, recorded in the synthesized stack for the audit."""
    data: dict[str, object] = {
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
    if options.internal_proxy_cidrs:  # only when used: stacks without one keep their record unchanged
        data["internal_proxy_cidrs"] = list(options.internal_proxy_cidrs)
    return data


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
        internal_proxy_cidrs=cidrs("internal_proxy_cidrs") or (),
    )
