"""Static public addresses known only after apply (v4 with internet-facing users), placed from
the JSON: the NAT's addresses and circleci-proxy's, each at a stand-in address, and the path a
packet from a role behind NAT to the proxy's public address takes (source translation).

A rule naming ``${aws_nat_gateway.x.public_ip}/32`` cannot be placed by value before apply; the
audit gives every such address its own /32 in 240.0.0.0/4 (reserved, never a host) and reads
which one it is from the resources: the NAT gateways (or the EIPs they are allocated), and the
EIPs the chart's Service annotation ``eip-allocations`` names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from circleci_network.audit.facts import HELM_VALUES_LOCAL, MissingFact
from circleci_network.audit.space import AddressCell, AddressNames
from circleci_network.audit.terraform_json import Json, referenced, resources
from circleci_network.audit.views import Endpoint, Verdict
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.nat_translation import NatTranslation, PublicAddress
from circleci_network.model.roles import COMPUTE_ROLES, JOB_ROLES, Role

#: Where the audit puts addresses known only after apply (RFC 1112 "reserved for future use").
STAND_INS = IPv4Network("240.0.0.0/4")
_EIP_ALLOCATIONS = "service.beta.kubernetes.io/aws-load-balancer-eip-allocations"
_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
_EIP_REFERENCE = re.compile(r"aws_eip\.([^.,\s\]}]+)\.id")
ALL_IPV4 = "0.0.0.0/0"


@dataclass(frozen=True)
class PublicPlacement:
    """Stand-ins for the stack's static public addresses, and the NAT translation they imply."""

    stand_ins: dict[str, str] = field(default_factory=dict)
    """The address as the JSON writes it (``${...public_ip}/32``) -> its stand-in /32."""
    translation: NatTranslation | None = None
    """
    Which roles are reached at which stand-ins, from behind which NAT stand-ins (and, on GCP,
    whether the Helm values put the NAT addresses in ``loadBalancerSourceRanges``); ``None``: no
    public proxy. It goes into the policy (``facts.stack_policy``), which resolves the rows across NAT.
    """
    names: AddressNames = field(default_factory=AddressNames)
    """The resource behind each stand-in, named wherever a result is read instead of the stand-in."""

    def network(self, cidr: object) -> IPv4Network | None:
        """A rule's CIDR: a literal, or a placed stand-in; ``None`` for a reference we cannot place."""
        text = str(cidr)
        if text in self.stand_ins:
            return IPv4Network(self.stand_ins[text])
        if "${" in text:
            return None
        return IPv4Network(text)


def _stand_in(index: int, block: int) -> str:
    return str(IPv4Network(f"{STAND_INS[block * 256 + index + 1]}/32"))


def _names(named: dict[str, str]) -> AddressNames:
    """Stand-in CIDR -> the resource behind it, as ``AddressNames``."""
    return AddressNames({int(IPv4Network(cidr).network_address): name for cidr, name in named.items()})


def _behind_nat(stack: Json) -> frozenset[Role]:
    """Compute roles whose subnets' default route goes through a NAT gateway."""
    natted = {
        table
        for route in resources(stack, "aws_route").values()
        if route.get("destination_cidr_block") == ALL_IPV4
        and route.get("nat_gateway_id")
        and (table := referenced(route.get("route_table_id"), "aws_route_table", "id"))
    }
    subnets = resources(stack, "aws_subnet")
    roles: set[Role] = set()
    for association in resources(stack, "aws_route_table_association").values():
        table = referenced(association.get("route_table_id"), "aws_route_table", "id")
        subnet = subnets.get(referenced(association.get("subnet_id"), "aws_subnet", "id") or "")
        tier = ((subnet or {}).get("tags") or {}).get("circleci/tier")
        if table in natted and tier in {r.value for r in COMPUTE_ROLES}:
            roles.add(Role(tier))
    return frozenset(roles)


def _proxy_eips(stack: Json) -> list[str]:
    """The EIPs the chart's internet-facing Service is annotated with, in annotation order."""
    for key, values in (stack.get("locals") or {}).items():
        if HELM_VALUES_LOCAL not in key or not isinstance(values, dict):
            continue
        annotations = (values.get("nginx") or {}).get("annotations") or {}
        if annotations.get(_SCHEME) == "internet-facing":
            return _EIP_REFERENCE.findall(str(annotations.get(_EIP_ALLOCATIONS, "")))
    return []


def _require_nat(nat: list[PublicAddress], holds: str) -> None:
    """A public proxy with no NAT address to place: the NAT path cannot be modelled (and
    ``NatTranslation`` refuses it), so the audit says so instead of crashing."""
    if not nat:
        raise MissingFact(
            f"circleci-proxy has static public addresses, but the stack holds {holds}: "
            "cannot tell where Nomad clients' packets to it come from"
        )


def aws_public_placement(stack: Json) -> PublicPlacement:
    proxy_eips = _proxy_eips(stack)
    if not proxy_eips:
        return PublicPlacement()
    stand_ins: dict[str, str] = {}
    named: dict[str, str] = {}
    nat: list[PublicAddress] = []
    for index, (name, gateway) in enumerate(sorted(resources(stack, "aws_nat_gateway").items())):
        address = _stand_in(index, 0)
        stand_ins[f"${{aws_nat_gateway.{name}.public_ip}}/32"] = address
        # The gateway, not its EIP: rules name the gateway's address, and given EIPs have no resource.
        named[address] = f"aws_nat_gateway.{name} (NAT public IP)"
        # The same address read through the EIP the gateway is allocated.
        if eip := referenced(gateway.get("allocation_id"), "aws_eip", "id"):
            stand_ins[f"${{aws_eip.{eip}.public_ip}}/32"] = address
        nat.append(PublicAddress(f"aws_nat_gateway.{name}", address))
    proxy: list[PublicAddress] = []
    eips = resources(stack, "aws_eip")
    for index, name in enumerate(proxy_eips):
        if name not in eips:
            continue  # an EIP of another stack: its address stays unplaced
        address = _stand_in(index, 1)
        stand_ins[f"${{aws_eip.{name}.public_ip}}/32"] = address
        named[address] = f"aws_eip.{name} ({Role.PROXY_LB.value} public IP)"
        proxy.append(PublicAddress(f"aws_eip.{name}", address))
    _require_nat(nat, "no aws_nat_gateway")
    translation = NatTranslation(
        public_addresses={Role.PROXY_LB: tuple(proxy)}, behind_nat=_behind_nat(stack), nat_addresses=tuple(nat)
    )
    return PublicPlacement(stand_ins, translation, _names(named))


def _helm_nginx(stack: Json) -> Json:
    for key, values in (stack.get("locals") or {}).items():
        if HELM_VALUES_LOCAL in key and isinstance(values, dict):
            return dict(values.get("nginx") or {})
    return {}


def gcp_public_placement(stack: Json, name: str) -> PublicPlacement:
    """GCP v4 internet mode: circleci-proxy's reserved external address (``<name>-circleci-proxy``)
    and Cloud NAT's static addresses (reserved here, or read by data sources from given ones)."""
    proxy = [
        key
        for key, address in resources(stack, "google_compute_address").items()
        if address.get("name") == f"{name}-{Role.PROXY_LB.value}" and address.get("address_type") == "EXTERNAL"
    ]
    if not proxy:
        return PublicPlacement()
    given = {
        str(d.get("name")): key for key, d in ((stack.get("data") or {}).get("google_compute_address") or {}).items()
    }
    stand_ins: dict[str, str] = {}
    named: dict[str, str] = {}
    nat: list[PublicAddress] = []
    for router in resources(stack, "google_compute_router_nat").values():
        for entry in router.get("nat_ips") or []:
            if reserved := referenced(entry, "google_compute_address", "self_link"):
                resource = f"google_compute_address.{reserved}"
            elif (address_name := str(entry).rsplit("/", 1)[-1]) in given:
                resource = f"data.google_compute_address.{given[address_name]}"
            else:
                continue  # an address the stack cannot read back: rules naming it stay unplaced
            text = f"${{{resource}.address}}/32"
            stand_ins[text] = _stand_in(len(nat), 0)
            named[stand_ins[text]] = f"{resource} (Cloud NAT address)"
            nat.append(PublicAddress(text, stand_ins[text]))
    proxy_text = f"${{google_compute_address.{proxy[0]}.address}}/32"
    stand_ins[proxy_text] = _stand_in(0, 1)
    named[stand_ins[proxy_text]] = f"google_compute_address.{proxy[0]} ({Role.PROXY_LB.value} public IP)"
    _require_nat(nat, "no Cloud NAT address it can read back")
    ranges = {str(r) for r in _helm_nginx(stack).get("loadBalancerSourceRanges") or []}
    translation = NatTranslation(
        public_addresses={Role.PROXY_LB: (PublicAddress(proxy_text, stand_ins[proxy_text]),)},
        behind_nat=frozenset(JOB_ROLES),  # as the renderer: the nodes reach each other by identity
        nat_addresses=tuple(nat),
        receivers=frozenset({Role.KUBERNETES_NODES}),  # the passthrough proxy is transparent
        # GKE's k8s-fw rule admits the NAT addresses only where the values list every one of them.
        load_balancer_source_ranges=bool(nat) and all(a.label in ranges for a in nat),
    )
    return PublicPlacement(stand_ins, translation, _names(named))


def public_placement(stack: Json, intent: NetworkIntent) -> PublicPlacement:
    """The stack's static public addresses at their stand-ins: worked out once per audit, read by
    the policy (``facts.stack_policy``) and by the view of the stack."""
    return aws_public_placement(stack) if intent.cloud == "aws" else gcp_public_placement(stack, intent.name)


def _cell(cidr: str) -> AddressCell:
    network = IPv4Network(cidr)
    return AddressCell(int(network.network_address), int(network.broadcast_address))


@dataclass(frozen=True)
class NatPath:
    """How the audit sees a packet from a role behind NAT to a public role: it leaves for the
    public addresses and arrives from the NAT addresses. Every address must pass (any of them may
    be the one DNS or the route picks)."""

    public: dict[Role, list[AddressCell]]
    behind_nat: frozenset[Role]
    nat: list[AddressCell]

    @staticmethod
    def of(translation: NatTranslation | None) -> NatPath | None:
        if translation is None or not any(translation.public_addresses.values()):
            return None
        return NatPath(
            {role: [_cell(a.cidr) for a in addresses] for role, addresses in translation.public_addresses.items()},
            translation.behind_nat,
            [_cell(a.cidr) for a in translation.nat_addresses],
        )

    def destinations(self, source: Role, destination: Endpoint) -> list[Endpoint] | None:
        """Where ``source``'s packet to ``destination`` is addressed; ``None``: not translated."""
        if destination.role in self.public and source in self.behind_nat:
            return [Endpoint(None, c) for c in self.public[destination.role]]
        return None

    def sources(self, destination: Role, source: Endpoint) -> list[Endpoint] | None:
        """Where a packet from ``source`` to ``destination`` seems to come from; ``None``: not translated."""
        if destination in self.public and source.role in self.behind_nat:
            return [Endpoint(None, c) for c in self.nat]
        return None

    def networks(self, *, public: bool = True) -> list[IPv4Network]:
        """The stand-ins (``public=False``: the NAT's only, where the public ones are a role's range)."""
        cells = [c for cs in self.public.values() for c in cs] * public + self.nat
        return [n for c in cells for n in c.networks]


def every(verdicts: Iterable[Verdict]) -> Verdict:
    """Allowed when every translated address is allowed; the deciding resources of all."""
    found = list(verdicts)
    because = tuple(dict.fromkeys(b for v in found for b in v.because))
    return Verdict(bool(found) and all(v.allowed for v in found), because)
