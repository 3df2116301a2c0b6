"""Ports and protocols, and the named table of every port the hardening guide uses.

Everything else refers to these names (like terraform-aws-modules' ``rules.tf``), so a
port number is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from circleci_network.errors import ConfigurationError


class Protocol(StrEnum):
    TCP = "tcp"
    UDP = "udp"
    ALL = "all"  # every protocol and port: only the intra-Kubernetes rule uses it


@dataclass(frozen=True, order=True)
class Port:
    """A protocol and an inclusive port range (``ALL`` spans 0-65535 of every protocol)."""

    protocol: Protocol
    from_port: int
    to_port: int

    def __post_init__(self) -> None:
        if self.protocol is Protocol.ALL:
            if (self.from_port, self.to_port) != (0, 65535):
                raise ConfigurationError(
                    "Port",
                    f"protocol ALL covers 0-65535, got {self.from_port}-{self.to_port}",
                    "use Port.all_traffic()",
                )
            return
        for name, value in (("from_port", self.from_port), ("to_port", self.to_port)):
            if not 1 <= value <= 65535:
                raise ConfigurationError(
                    f"Port.{name}", f"{value} is outside 1-65535", "give a TCP/UDP port from 1 to 65535"
                )
        if self.from_port > self.to_port:
            raise ConfigurationError(
                "Port.from_port",
                f"range {self.from_port}-{self.to_port} runs backwards",
                "put the lower port first",
            )

    @staticmethod
    def tcp(port: int) -> Port:
        return Port(Protocol.TCP, port, port)

    @staticmethod
    def tcp_range(from_port: int, to_port: int) -> Port:
        return Port(Protocol.TCP, from_port, to_port)

    @staticmethod
    def udp(port: int) -> Port:
        return Port(Protocol.UDP, port, port)

    @staticmethod
    def udp_range(from_port: int, to_port: int) -> Port:
        return Port(Protocol.UDP, from_port, to_port)

    @staticmethod
    def all_traffic() -> Port:
        return Port(Protocol.ALL, 0, 65535)

    @property
    def is_single(self) -> bool:
        return self.from_port == self.to_port

    def covers(self, other: Port) -> bool:
        """True when every packet ``other`` admits is admitted by ``self``."""
        if self.protocol is Protocol.ALL:
            return True
        return self.protocol is other.protocol and self.from_port <= other.from_port and other.to_port <= self.to_port

    @property
    def label(self) -> str:
        """``tcp/4647``, ``tcp/30000-32767``, ``all``: used in IDs and reports."""
        if self.protocol is Protocol.ALL:
            return "all"
        span = str(self.from_port) if self.is_single else f"{self.from_port}-{self.to_port}"
        return f"{self.protocol.value}/{span}"

    @property
    def id_fragment(self) -> str:
        """The label in a form fit for logical IDs and cloud names (``tcp-4647``)."""
        return self.label.replace("/", "-")

    def __str__(self) -> str:
        return self.label


SSH = Port.tcp(22)
DNS_TCP = Port.tcp(53)
DNS_UDP = Port.udp(53)
HTTP = Port.tcp(80)
HTTPS = Port.tcp(443)
DOCKER_TLS = Port.tcp(2376)  # docker daemon on external VMs
VM_SERVICE = Port.tcp(3000)
NOMAD_RPC = Port.tcp(4647)
OUTPUT_PROCESSOR = Port.tcp(8585)
KUBERNETES_NODE_PORTS = Port.tcp_range(30000, 32767)
RERUN_WITH_SSH = Port.tcp_range(64535, 65535)
#: Rerun-with-SSH on external VMs since the final v3 page (2021-06-22) and in every v4.
VM_RERUN_WITH_SSH = Port.tcp(54782)
#: Nomad servers outside Kubernetes (Server 4.8+): HTTP 4646, RPC 4647, Serf 4648.
NOMAD_SERVER_PORTS = Port.tcp_range(4646, 4648)
ALL_TRAFFIC = Port.all_traffic()

#: Replies arrive on the initiator's ephemeral port. AWS recommends 1024-65535 for stateless
#: rules: NAT gateways and load balancers use that range, and every client OS picks inside it.
EPHEMERAL_TCP = Port.tcp_range(1024, 65535)
EPHEMERAL_UDP = Port.udp_range(1024, 65535)
RDP = Port.tcp(3389)  # never opened by the guide
#: Never reachable from the whole internet, not even as a reply port (CIS; checkov CKV_AWS_231/232).
CLOSED_TO_THE_WORLD: tuple[Port, ...] = (SSH, RDP)


def reply_ports(port: Port, *, from_the_world: bool = False) -> tuple[Port, ...]:
    """The ports replies to traffic on ``port`` arrive on, in order; ``from_the_world`` leaves out
    ``CLOSED_TO_THE_WORLD`` (a reply that would need one is dropped; the client retries)."""
    if port.protocol is Protocol.ALL:
        return (ALL_TRAFFIC,)
    ephemeral = EPHEMERAL_TCP if port.protocol is Protocol.TCP else EPHEMERAL_UDP
    ranges = [(ephemeral.from_port, ephemeral.to_port)]
    if from_the_world:
        for closed in CLOSED_TO_THE_WORLD:
            if closed.protocol is ephemeral.protocol:
                ranges = [
                    piece
                    for low, high in ranges
                    for piece in ((low, min(high, closed.from_port - 1)), (max(low, closed.to_port + 1), high))
                    if piece[0] <= piece[1]
                ]
    return tuple(Port(ephemeral.protocol, low, high) for low, high in ranges)


WELL_KNOWN_PORTS: dict[str, Port] = {
    "ssh-tcp": SSH,
    "dns-tcp": DNS_TCP,
    "dns-udp": DNS_UDP,
    "http-tcp": HTTP,
    "https-tcp": HTTPS,
    "docker-tls-tcp": DOCKER_TLS,
    "vm-service-tcp": VM_SERVICE,
    "nomad-rpc-tcp": NOMAD_RPC,
    "output-processor-tcp": OUTPUT_PROCESSOR,
    "kubernetes-node-ports-tcp": KUBERNETES_NODE_PORTS,
    "rerun-with-ssh-tcp": RERUN_WITH_SSH,
    "vm-rerun-with-ssh-tcp": VM_RERUN_WITH_SSH,
    "nomad-server-tcp": NOMAD_SERVER_PORTS,
    "all-all": ALL_TRAFFIC,
}
