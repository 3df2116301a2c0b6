"""Reads a GCP stack's firewall rules and evaluates them as GCP does: lower priority number
wins, deny beats allow at equal priority, implied allow-all egress and deny-all ingress."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from circleci_network.audit.facts import gcp_load_balancer_addresses, gcp_subnetworks
from circleci_network.audit.gke import GKE_NODE_TAG, implicit_rules
from circleci_network.audit.public_addresses import NatPath, PublicPlacement, every
from circleci_network.audit.space import AddressCell, PortCell, PortSpec, spans
from circleci_network.audit.terraform_json import Json, address, as_list, boolean, referenced, resources
from circleci_network.audit.views import AddressBook, Endpoint, Verdict
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.resolve import ResolvedPolicy
from circleci_network.model.roles import COMPUTE_ROLES, INTERNAL_LOAD_BALANCERS, Role

IMPLIED_EGRESS = "implied allow-all egress (priority 65535)"
IMPLIED_INGRESS = "implied deny-all ingress (priority 65535)"
METADATA_SERVER = "metadata server (always reachable)"
EVERYWHERE = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class FirewallRule:
    resource: str
    direction: str  # "INGRESS" / "EGRESS"
    priority: int
    allow: bool
    specs: tuple[PortSpec, ...]
    targets: frozenset[Role] | None  # None: every instance in the network
    source_roles: frozenset[Role]
    source_ranges: tuple[IPv4Network, ...]
    destination_ranges: tuple[IPv4Network, ...]
    source_spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    destination_spans: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source_spans", spans(self.source_ranges))
        object.__setattr__(self, "destination_spans", spans(self.destination_ranges))


def _specs(blocks: list[Json]) -> tuple[PortSpec, ...]:
    specs: list[PortSpec] = []
    for block in blocks:
        protocol = str(block.get("protocol", "")).lower()
        if protocol == "all":
            specs.append(PortSpec("all"))
        elif protocol in ("tcp", "udp", "6", "17"):
            name = "tcp" if protocol in ("tcp", "6") else "udp"
            ports = as_list(block.get("ports"))
            if not ports:
                specs.append(PortSpec(name, 1, 65535))
            for text in ports:
                low, _, high = str(text).partition("-")
                specs.append(PortSpec(name, int(low), int(high or low)))
        else:
            specs.append(PortSpec("other"))
    return tuple(specs)


class GcpView:
    def __init__(self, stack: Json, intent: NetworkIntent, policy: ResolvedPolicy, public: PublicPlacement) -> None:
        """``public``: the stack's static public addresses at the stand-ins ``policy`` was resolved with."""
        self.intent = intent
        self.policy = policy
        self.public = public
        self._by_target: dict[tuple[Role, str, PortCell], list[FirewallRule]] = {}
        prefix = intent.name
        by_id = {f"{prefix}-{role.value}": role for role in Role}
        self.accounts: dict[str, Role] = {}
        self._stack_accounts = set(resources(stack, "google_service_account"))
        for name, account in resources(stack, "google_service_account").items():
            role = by_id.get(str(account.get("account_id")))
            if role is not None:
                self.accounts[name] = role
        self.tags = {tag: role for tag, role in by_id.items() if role in COMPUTE_ROLES}
        #: The resources naming each role the stack holds (its service account, its address).
        self._held: dict[Role, str] = {role: address("google_service_account", n) for n, role in self.accounts.items()}
        for name, resource in resources(stack, "google_compute_address").items():
            # The internal load balancers and circleci-proxy sit at their addresses; the external
            # passthrough ones (frontend, traefik) deliver to the nodes, which stand for them.
            if (role := by_id.get(str(resource.get("name")))) in (*INTERNAL_LOAD_BALANCERS, Role.PROXY_LB):
                self._held.setdefault(role, address("google_compute_address", name))
        self.book = self._address_book(stack)
        self._unmodelled: list[str] = []
        self.rules = [
            self._read(name, rule)
            for name, rule in resources(stack, "google_compute_firewall").items()
            if not boolean(rule, "disabled", address("google_compute_firewall", name))
        ]
        if intent.platform.is_gke:  # GKE's own rules on the node tag, made after our apply
            self.rules += implicit_rules(intent, self._subnet_ranges, self._pod_ranges)

    def _address_book(self, stack: Json) -> AddressBook:
        book = AddressBook(always_reachable=[IPv4Network(c) for c in self.policy.addresses.dns_resolver])
        vips = {role: IPv4Network(c) for role, c in gcp_load_balancer_addresses(stack, self.intent.name).items()}
        subnet_ranges: list[IPv4Network] = []
        pods: list[IPv4Network] = []
        for subnet in gcp_subnetworks(stack, self.intent).values():
            subnet_ranges.append(IPv4Network(subnet["ip_cidr_range"]))
            for secondary in as_list(subnet.get("secondary_ip_range")):
                if str(secondary.get("range_name", "")).endswith("-pods"):
                    pods.append(IPv4Network(secondary["ip_cidr_range"]))
        # The load balancer addresses inside the subnet are theirs: the engine gives an address to
        # the most specific range holding it.
        hosts = subnet_ranges
        self._subnet_ranges, self._pod_ranges = subnet_ranges, pods
        for role in COMPUTE_ROLES:
            book.ranges[role] = hosts + (pods if role is Role.KUBERNETES_NODES else [])
        for role, vip in vips.items():
            book.ranges[role] = [vip]
            book.transparent.add(role)
        translation = self.policy.addresses.nat_translation
        if translation is not None:  # v4 internet mode: the external proxy at its stand-in
            for role, addresses in translation.public_addresses.items():
                book.ranges[role] = [IPv4Network(a.cidr) for a in addresses]
                book.transparent.add(role)
        book.nat = NatPath.of(translation)
        book.names = self.public.names
        book.carve_out += book.nat.networks(public=False) if book.nat else []  # the proxy's is its range
        return book

    def _roles(self, accounts: list[object], tags: list[object], where: str = "") -> frozenset[Role]:
        """The roles named by service accounts and network tags. A service account of the stack that is
        not ours, or a literal email or tag that is not, names none; a value the audit cannot resolve (a
        data source, a function, a reference written otherwise) could name one of ours: UNMODELLED."""
        roles: set[Role] = set()
        for value in accounts:
            name = referenced(value, "google_service_account", "email")
            if name is not None and name in self.accounts:
                roles.add(self.accounts[name])
            elif name is not None and name in self._stack_accounts:
                continue  # a service account of the stack's that is none of ours
            elif isinstance(value, str) and "${" not in value and (m := re.match(r"^([^@]+)@", value)):
                role = {f"{self.intent.name}-{r.value}": r for r in COMPUTE_ROLES}.get(m.group(1))
                if role is not None:
                    roles.add(role)
            else:
                self._unmodelled.append(f"{where}service account {value!r}, which the audit cannot resolve")
        for tag in tags:
            if not isinstance(tag, str) or "${" in tag:
                self._unmodelled.append(f"{where}network tag {tag!r}, which the audit cannot resolve")
        roles |= {self.tags[t] for t in tags if isinstance(t, str) and t in self.tags}
        if self.intent.platform.is_gke and any(isinstance(t, str) and GKE_NODE_TAG.match(t) for t in tags):
            roles.add(Role.KUBERNETES_NODES)  # GKE's node tag
        return frozenset(roles)

    def _read(self, name: str, rule: Json) -> FirewallRule:
        allow = bool(rule.get("allow"))
        target_accounts, target_tags = as_list(rule.get("target_service_accounts")), as_list(rule.get("target_tags"))
        where = f"google_compute_firewall.{name}: "
        targets = (
            None
            if not (target_accounts or target_tags)
            else self._roles(target_accounts, target_tags, f"{where}target ")
        )
        direction = str(rule.get("direction", "INGRESS")).upper()
        source_accounts, source_tags = as_list(rule.get("source_service_accounts")), as_list(rule.get("source_tags"))
        source_ranges = self._networks(name, as_list(rule.get("source_ranges")))
        if direction == "INGRESS" and not (source_accounts or source_tags or source_ranges):
            source_ranges = (EVERYWHERE,)  # GCP's default source
        destination_ranges = self._networks(name, as_list(rule.get("destination_ranges"))) or (EVERYWHERE,)
        return FirewallRule(
            resource=address("google_compute_firewall", name),
            direction=direction,
            priority=int(rule.get("priority", 1000)),
            allow=allow,
            specs=_specs(as_list(rule.get("allow") if allow else rule.get("deny"))),
            targets=targets,
            source_roles=self._roles(source_accounts, source_tags, f"{where}source "),
            source_ranges=source_ranges,
            destination_ranges=destination_ranges,
        )

    def _networks(self, name: str, cidrs: list[object]) -> tuple[IPv4Network, ...]:
        """Literal ranges, and static addresses known after apply at their stand-ins."""
        found = []
        for cidr in cidrs:
            network = self.public.network(cidr)
            if network is None:
                self._unmodelled.append(f"google_compute_firewall.{name}: {cidr}, an address the audit cannot place")
            else:
                found.append(network)
        return tuple(found)

    def unplaced_roles(self) -> dict[Role, tuple[str, str]]:
        """Roles the stack holds (a service account, an address of theirs) with no range: each fails."""
        return {
            role: (where, f"names role {role.value}, but the audit cannot place it (no subnetwork or literal address)")
            for role, where in sorted(self._held.items())
            if not self.book.ranges.get(role)
        }

    def port_specs(self) -> list[PortSpec]:
        return [spec for rule in self.rules for spec in rule.specs]

    def networks(self) -> list[IPv4Network]:
        return [n for rule in self.rules for n in rule.source_ranges + rule.destination_ranges]

    def unmodelled(self) -> list[str]:
        return list(self._unmodelled)

    def _decide(self, candidates: list[FirewallRule], implied: Verdict) -> Verdict:
        if not candidates:
            return implied
        top = min(rule.priority for rule in candidates)
        winners = [rule for rule in candidates if rule.priority == top]
        denies = [rule.resource for rule in winners if not rule.allow]
        if denies:
            return Verdict(False, tuple(denies))
        return Verdict(True, tuple(rule.resource for rule in winners))

    def _targeting(self, role: Role, direction: str, port: PortCell) -> list[FirewallRule]:
        # Asked for every address cell: index the rules by target and port once.
        key = (role, direction, port)
        if key not in self._by_target:
            self._by_target[key] = [
                rule
                for rule in self.rules
                if rule.direction == direction
                and (rule.targets is None or role in rule.targets)
                and any(spec.matches(port) for spec in rule.specs)
            ]
        return self._by_target[key]

    def port_class(self, role: Role, direction: str, port: PortCell) -> tuple[int, ...]:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        return tuple(map(id, self._targeting(role, direction.upper(), port)))

    def port_classes(self, role: Role, direction: str, ports: Sequence[PortCell]) -> list[tuple[int, ...]]:
        return [self.port_class(role, direction, port) for port in ports]

    def address_class(self, role: Role, direction: str, cell: AddressCell) -> tuple[object, ...]:
        way = direction.upper()
        if way == "INGRESS" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        always = way == "EGRESS" and any(cell.within(n) for n in self.book.always_reachable)
        return (
            always,
            *(
                i
                for i, rule in enumerate(self.rules)
                if rule.direction == way
                and (rule.targets is None or role in rule.targets)
                and any(
                    low <= cell.low and cell.high <= high
                    for low, high in (rule.destination_spans if way == "EGRESS" else rule.source_spans)
                )
            ),
        )

    def closed(self, role: Role, direction: str, port: PortCell) -> bool:
        if direction == "ingress":
            if role in self.book.transparent:
                role = Role.KUBERNETES_NODES
            # The implied rule denies ingress: without an allow rule nothing comes in.
            return not any(rule.allow for rule in self._targeting(role, "INGRESS", port))
        # The implied rule allows egress: closed only under a deny of every address and no allow.
        rules = self._targeting(role, "EGRESS", port)
        return not any(rule.allow for rule in rules) and any(
            not rule.allow and any(n.prefixlen == 0 for n in rule.destination_ranges) for rule in rules
        )

    def egress(self, source: Role, destination: Endpoint, port: PortCell) -> Verdict:
        if self.book.nat and (public := self.book.nat.destinations(source, destination)) is not None:
            return every(self.egress(source, d, port) for d in public)
        if any(destination.cell.within(n) for n in self.book.always_reachable):
            return Verdict(True, (METADATA_SERVER,))
        low, high = destination.cell.low, destination.cell.high
        candidates = [
            rule
            for rule in self._targeting(source, "EGRESS", port)
            if any(first <= low and high <= last for first, last in rule.destination_spans)
        ]
        return self._decide(candidates, Verdict(True, (IMPLIED_EGRESS,)))

    def ingress(self, destination: Role, source: Endpoint, port: PortCell) -> Verdict:
        translated = self.book.nat.sources(destination, source) if self.book.nat else None
        if destination in self.book.transparent:
            destination = Role.KUBERNETES_NODES  # a passthrough load balancer delivers to the nodes
        if translated is not None:
            return every(self.ingress(destination, s, port) for s in translated)
        low, high = source.cell.low, source.cell.high
        candidates = [
            rule
            for rule in self._targeting(destination, "INGRESS", port)
            if (
                (source.role is not None and source.role in rule.source_roles)
                or any(first <= low and high <= last for first, last in rule.source_spans)
            )
        ]
        return self._decide(candidates, Verdict(False, (IMPLIED_INGRESS,)))
