"""Reads an AWS stack's security groups (every way Terraform can write a rule) and subnets;
its network ACLs, when it has any, filter on top (``aws_nacl``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from circleci_network.audit.aws_nacl import NetworkAcls
from circleci_network.audit.eks import implicit_grants
from circleci_network.audit.engine import Cells, Difference, PortFilter
from circleci_network.audit.expected import ExpectedView
from circleci_network.audit.facts import HELM_VALUES_LOCAL, chart_load_balancer_subnets, load_balancer_subnets
from circleci_network.audit.public_addresses import STAND_INS, NatPath, PublicPlacement, every
from circleci_network.audit.space import AddressCell, AddressNames, PortCell, PortIndex, PortSpec, spans
from circleci_network.audit.terraform_json import Json, address, as_list, boolean, referenced, resources
from circleci_network.audit.views import DENIED, AddressBook, Endpoint, NetworkView, Verdict
from circleci_network.audit.vpc_endpoints import NamedGrant, interface_endpoint_ranges, prefix_list_peer
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.resolve import ResolvedPolicy
from circleci_network.model.roles import COMPUTE_ROLES, OutsidePeer, Role


@dataclass(frozen=True)
class Grant:
    role: Role
    direction: str  # "ingress" / "egress"
    spec: PortSpec
    peer_role: Role | None
    peer_network: IPv4Network | None
    resource: str
    peer_span: tuple[int, int] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "peer_span", spans([self.peer_network])[0] if self.peer_network else None)


def _spec(protocol: object, from_port: object, to_port: object) -> PortSpec:
    p = str(protocol).lower()
    if p in ("-1", "all"):
        return PortSpec("all")
    if p in ("tcp", "6", "udp", "17"):
        name = "tcp" if p in ("tcp", "6") else "udp"
        low = int(from_port) if from_port is not None else 0  # type: ignore[call-overload]
        high = int(to_port) if to_port is not None else 65535  # type: ignore[call-overload]
        return PortSpec(name, max(low, 1), high)
    return PortSpec("other")


#: The stand-in block (``public_addresses.STAND_INS``) of load balancers outside the stack.
ELSEWHERE_BLOCK = 3


class AwsView:
    def __init__(self, stack: Json, intent: NetworkIntent, policy: ResolvedPolicy, public: PublicPlacement) -> None:
        """``public``: the stack's static public addresses at the stand-ins ``policy`` was resolved with."""
        self.intent = intent
        self.policy = policy
        self.public = public
        self.grants: list[Grant] = []
        # Built on first use (grants are read in __init__): per role's identity and direction.
        self._ports: dict[tuple[int, str], PortIndex[Grant]] = {}
        self._spans: dict[tuple[int, str], tuple[tuple[int, int, int], ...]] = {}
        self._unmodelled: list[str] = []
        #: Rules to peers known by name only (S3's prefix list): checked apart (``vpc_endpoints``).
        self.named_grants: list[NamedGrant] = []
        self.groups: dict[str, Role | None] = {}
        #: Roles in the stack the audit cannot place: the resource and why (``unplaced_roles``).
        self.unplaced: dict[Role, tuple[str, str]] = {}
        for name, group in resources(stack, "aws_security_group").items():
            tag = (group.get("tags") or {}).get("circleci/role")
            self.groups[name] = Role(tag) if tag in {r.value for r in Role} else None
        self.book = self._address_book(stack)
        self._read_rules(stack)
        # EKS's own group on the nodes, when declared (it is made by EKS, after our apply).
        present = {r for r in self.groups.values() if r is not None}
        if intent.platform.eks_cluster_security_group_id is not None:
            present.add(Role.EKS_CONTROL_PLANE)
        self.grants += implicit_grants(intent, present)
        self.acls = NetworkAcls(stack, self.book)

    def _address_book(self, stack: Json) -> AddressBook:
        subnets = resources(stack, "aws_subnet")
        book = AddressBook()
        for role in COMPUTE_ROLES:
            book.ranges[role] = [
                IPv4Network(s["cidr_block"])
                for s in subnets.values()
                if (s.get("tags") or {}).get("circleci/tier") == role.value
            ]
        for lb_name, lb in resources(stack, "aws_lb").items():
            tag = (lb.get("tags") or {}).get("circleci/role")
            if tag not in {r.value for r in Role}:
                continue
            role = Role(tag)
            values = load_balancer_subnets(lb)
            refs = [referenced(s, "aws_subnet", "id") for s in values]
            # Placed by every subnet it names, or not at all: a subnet the audit cannot read (a data
            # source, an ID, a function) could put it anywhere, so the role is unplaced (audit.py fails it).
            unread = [str(v) for v, r in zip(values, refs, strict=True) if r not in subnets]
            if unread or not values:
                why = f"is placed by {', '.join(unread)}, no aws_subnet of the stack" if unread else "names no subnets"
                self.unplaced[role] = (address("aws_lb", lb_name), f"{role.value} {why}")
                book.ranges.pop(role, None)
            elif role not in self.unplaced:
                book.ranges.setdefault(role, []).extend(IPv4Network(subnets[r]["cidr_block"]) for r in refs if r)
            if not lb.get("security_groups"):
                book.transparent.add(role)
        for group, subnet_names in chart_load_balancer_subnets(stack).items():
            chart_role = self.groups.get(group)
            if chart_role is not None and chart_role.is_load_balancer and chart_role not in book.ranges:
                if all(n in subnets for n in subnet_names) and chart_role not in self.unplaced:
                    book.ranges[chart_role] = [IPv4Network(subnets[n]["cidr_block"]) for n in subnet_names]
                else:
                    missing = ", ".join(f"aws_subnet.{n}" for n in subnet_names if n not in subnets)
                    self.unplaced[chart_role] = (
                        f"local.{HELM_VALUES_LOCAL}",
                        f"{chart_role.value} is placed by {missing}, no aws_subnet of the stack",
                    )
        if self.intent.platform.is_eks and Role.KUBERNETES_NODES in book.ranges:
            # EKS puts the control plane's ENIs in the cluster subnets [EKS-NET]: ours are the node subnets
            # (placed even when our group is missing, so its rows then show as missing), unless a
            # cluster in the stack names others (the network ACLs of those subnets then decide).
            cluster = [
                IPv4Network(subnets[n]["cidr_block"])
                for eks in resources(stack, "aws_eks_cluster").values()
                for config in as_list(eks.get("vpc_config"))
                for s in as_list(config.get("subnet_ids"))
                if (n := referenced(s, "aws_subnet", "id")) in subnets
            ]
            book.ranges[Role.EKS_CONTROL_PLANE] = cluster or list(book.ranges[Role.KUBERNETES_NODES])
        if Role.VPC_ENDPOINTS in self.groups.values():
            # The interface endpoints' ENIs carry the group: it lives where they sit.
            book.ranges[Role.VPC_ENDPOINTS] = interface_endpoint_ranges(stack)
        book.carve_out = [
            IPv4Network(c) for c in self.policy.peer_cidrs(OutsidePeer.DNS_RESOLVER) if IPv4Network(c).prefixlen == 32
        ]
        book.ranges = {r: n for r, n in book.ranges.items() if n}
        book.nat = NatPath.of(self.policy.addresses.nat_translation)
        book.names = self.public.names
        ours = {r.value for r in Role}
        if not any(
            (lb.get("tags") or {}).get("circleci/role") in ours for lb in resources(stack, "aws_lb").values()
        ) and not any(HELM_VALUES_LOCAL in k for k in stack.get("locals") or {}):
            self._elsewhere(book)
        # Stand-ins cut the address space even when no rule names them any more (a removed rule).
        book.carve_out += book.nat.networks() if book.nat else []
        return book

    def unplaced_roles(self) -> dict[Role, tuple[str, str]]:
        """Roles the stack holds (a group tagged with it, a load balancer) that the audit cannot place:
        the resource and why. Their rules would show on neither side, so each one fails the audit."""
        found = dict(self.unplaced)
        for name, role in sorted(self.groups.items()):
            if role is not None and role not in found and not self.book.ranges.get(role):
                found[role] = (
                    address("aws_security_group", name),
                    f"carries role {role.value}, but the stack places no {role.value} the audit can read "
                    "(no subnet, load balancer or Helm values annotation of it)",
                )
        return found

    def _elsewhere(self, book: AddressBook) -> None:
        """Security groups alone (the stack holds no load balancer of ours): each load balancer role with a
        group here sits where the record's ``role_subnet_cidrs`` say, else at a stand-in address of
        its own (240.0.0.0/4, never a host), so what its group opens is still audited."""
        roles = sorted({r for r in self.groups.values() if r is not None and r.is_load_balancer}, key=list(Role).index)
        names = dict(book.names.names)
        for role in roles:
            recorded = self.intent.inputs.role_cidrs.get(role)
            if recorded:
                book.ranges[role] = [IPv4Network(c) for c in recorded]
                continue
            stand_in = STAND_INS[ELSEWHERE_BLOCK * 256 + list(Role).index(role) + 1]
            book.ranges[role] = [IPv4Network(f"{stand_in}/32")]
            names[int(stand_in)] = f"{role.value} (a load balancer outside the stack)"
        book.names = AddressNames(names, book.names.roles_own)

    def _owner(self, value: object, resource: str, direction: object) -> Role | None:
        """The role of the group a rule resource is on. A group of the stack without a role tag, or the
        default group, is another check's finding (``security-group-role``, ``default-security-group``):
        None. Any other owner the audit cannot resolve (a data source, an ID, a function, a local, the
        VPC's default group by attribute) could be one of ours after apply: UNMODELLED, and None."""
        name = referenced(value, "aws_security_group", "id")
        if name is not None and name in self.groups:
            return self.groups[name]
        if value is not None and value == self.intent.platform.eks_cluster_security_group_id:
            return Role.EKS_CONTROL_PLANE
        if referenced(value, "aws_default_security_group", "id") is not None:
            return None
        self._unmodelled.append(
            f"{resource}: {direction} rule on security group {value!r}, which the audit cannot resolve "
            "to a security group of the stack"
        )
        return None

    def _group_role(self, value: object, resource: str) -> Role | None:
        name = referenced(value, "aws_security_group", "id")
        if name is None and value is not None and value == self.intent.platform.eks_cluster_security_group_id:
            return Role.EKS_CONTROL_PLANE  # the user's existing control-plane group, recorded by ID
        return self.groups.get(name) if name else None

    def _add(
        self,
        role: Role,
        direction: str,
        spec: PortSpec,
        resource: str,
        *,
        group: object = None,
        cidr: object = None,
        other: str | None = None,
    ) -> None:
        if other:
            self._unmodelled.append(f"{resource}: {direction} {other} on {role.value}")
            return
        if group is not None:
            peer = self._group_role(group, resource)
            if peer is None:
                self._unmodelled.append(
                    f"{resource}: {direction} with security group {group}, which is no circleci role"
                )
                return
            self.grants.append(Grant(role, direction, spec, peer, None, resource))
        if cidr is not None:
            network = self.public.network(cidr)
            if network is None:
                self._unmodelled.append(f"{resource}: {direction} with {cidr}, an address the audit cannot place")
                return
            self.grants.append(Grant(role, direction, spec, None, network, resource))

    def _read_rules(self, stack: Json) -> None:
        for direction in ("ingress", "egress"):
            kind = f"aws_vpc_security_group_{direction}_rule"
            for name, rule in resources(stack, kind).items():
                role = self._owner(rule.get("security_group_id"), address(kind, name), direction)
                if role is None:
                    continue
                spec = _spec(rule.get("ip_protocol"), rule.get("from_port"), rule.get("to_port"))
                named = prefix_list_peer(stack, rule.get("prefix_list_id"))
                if named is not None:
                    self.named_grants.append(NamedGrant(role, direction, spec, named, address(kind, name)))
                    continue
                other = (
                    "to an IPv6 range"
                    if rule.get("cidr_ipv6")
                    else "with a prefix list"
                    if rule.get("prefix_list_id")
                    else None
                )
                self._add(
                    role,
                    direction,
                    spec,
                    address(kind, name),
                    group=rule.get("referenced_security_group_id"),
                    cidr=rule.get("cidr_ipv4"),
                    other=other,
                )
        for name, rule in resources(stack, "aws_security_group_rule").items():
            role = self._owner(
                rule.get("security_group_id"), address("aws_security_group_rule", name), rule.get("type")
            )
            if role is None:
                continue
            self._legacy(
                role,
                str(rule.get("type")),
                rule,
                address("aws_security_group_rule", name),
                rule.get("source_security_group_id"),
            )
        for name, group in resources(stack, "aws_security_group").items():
            role = self.groups.get(name)
            if role is None:
                continue
            for direction in ("ingress", "egress"):
                for block in as_list(group.get(direction)):
                    peers = as_list(block.get("security_groups"))
                    self._legacy(
                        role, direction, block, address("aws_security_group", name), peers[0] if peers else None
                    )
                    for extra in peers[1:]:
                        self._legacy(
                            role, direction, {**block, "cidr_blocks": []}, address("aws_security_group", name), extra
                        )

    def _legacy(self, role: Role, direction: str, rule: Json, resource: str, group: object) -> None:
        spec = _spec(rule.get("protocol"), rule.get("from_port"), rule.get("to_port"))
        if boolean(rule, "self", resource):
            self.grants.append(Grant(role, direction, spec, role, None, resource))
        if group is not None:
            self._add(role, direction, spec, resource, group=group)
        for cidr in as_list(rule.get("cidr_blocks")):
            self._add(role, direction, spec, resource, cidr=cidr)
        if rule.get("ipv6_cidr_blocks") or rule.get("prefix_list_ids"):
            self._add(role, direction, spec, resource, other="to IPv6 ranges or prefix lists")

    def port_specs(self) -> list[PortSpec]:
        return [g.spec for g in self.grants] + self.acls.port_specs()

    def networks(self) -> list[IPv4Network]:
        return [g.peer_network for g in self.grants if g.peer_network is not None] + self.acls.networks()

    def unmodelled(self) -> list[str]:
        return list(self._unmodelled) + self.acls.unmodelled

    # Network ACLs (engine.StatelessFilters): on top of the security groups.

    def filters_stateless(self) -> bool:
        return self.acls.present

    def stateless_blockers(
        self, source: Endpoint, destination: Endpoint, port: PortCell, cells: Cells
    ) -> tuple[str, ...]:
        return self.acls.blockers(source, destination, port, cells)

    def stateless_ports(self, source: Endpoint, destination: Endpoint, protocol: str, cells: Cells) -> PortFilter:
        return self.acls.passable(source, destination, protocol, cells)

    def stateless_differences(self, expected: NetworkView, cells: Cells) -> list[Difference]:
        """ACLs broader than the model needs; the expected side stays the model."""
        if not isinstance(expected, ExpectedView):
            raise TypeError("network ACLs are compared with the model (ExpectedView)")
        return self.acls.differences(expected, cells)

    def _on_port(self, role: Role, direction: str, port: PortCell) -> tuple[tuple[Grant, ...], tuple[int, ...]]:
        """``role``'s ``direction`` grants that match ``port``, and their places among that side's grants."""
        # Asked for every address cell: index the grants by role and direction once.
        return self._index(role, direction).lookup(port)

    def _index(self, role: Role, direction: str) -> PortIndex[Grant]:
        key = (id(role), direction)
        index = self._ports.get(key)
        if index is None:
            index = self._ports[key] = PortIndex(
                (g, (g.spec,)) for g in self.grants if g.role is role and g.direction == direction
            )
        return index

    def _grants(self, role: Role, direction: str, port: PortCell) -> tuple[Grant, ...]:
        return self._on_port(role, direction, port)[0]

    def _decide(self, role: Role, direction: str, other: Endpoint, port: PortCell) -> Verdict:
        low, high, peer = other.cell.low, other.cell.high, other.role
        found = [
            g.resource
            for g in self._on_port(role, direction, port)[0]
            if (g.peer_role is not None and g.peer_role is peer)
            or ((span := g.peer_span) is not None and span[0] <= low and high <= span[1])
        ]
        return Verdict(True, tuple(dict.fromkeys(found))) if found else DENIED

    def egress(self, source: Role, destination: Endpoint, port: PortCell) -> Verdict:
        if self.book.nat and (public := self.book.nat.destinations(source, destination)) is not None:
            return every(self._decide(source, "egress", d, port) for d in public)
        return self._decide(source, "egress", destination, port)

    def port_class(self, role: Role, direction: str, port: PortCell) -> tuple[int, ...]:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        return self._on_port(role, direction, port)[1]

    def port_classes(self, role: Role, direction: str, ports: Sequence[PortCell]) -> list[tuple[int, ...]]:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        return [places for _, places in self._index(role, direction).lookup_all(ports)]

    def address_class(self, role: Role, direction: str, cell: AddressCell) -> tuple[int, ...]:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        key = (id(role), direction)
        side = self._spans.get(key)
        if side is None:
            side = self._spans[key] = tuple(
                (i, *g.peer_span)
                for i, g in enumerate(self.grants)
                if g.role is role and g.direction == direction and g.peer_span is not None
            )
        low, high = cell.low, cell.high
        return tuple(i for i, first, last in side if first <= low and high <= last)

    def closed(self, role: Role, direction: str, port: PortCell) -> bool:
        if direction == "ingress" and role in self.book.transparent:
            role = Role.KUBERNETES_NODES
        return not self._on_port(role, direction, port)[1]

    def ingress(self, destination: Role, source: Endpoint, port: PortCell) -> Verdict:
        translated = self.book.nat.sources(destination, source) if self.book.nat else None
        if destination in self.book.transparent:
            destination = Role.KUBERNETES_NODES
        if translated is not None:
            return every(self._decide(destination, "ingress", s, port) for s in translated)
        return self._decide(destination, "ingress", source, port)
