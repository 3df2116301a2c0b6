"""An AWS stack's network ACLs, evaluated as AWS does: per subnet, stateless, the lowest rule
number first, an implicit deny last, and no filtering between addresses of one subnet.

A flow the security groups allow still needs, at every subnet boundary it crosses, the
sender's ACL to let it out and the receiver's to let it in, and both to pass the reply on the
initiator's ephemeral ports (``ports.reply_ports`` from the whole world: 1024-65535 without
3389). Two boundaries the model does not draw are read from the JSON: traffic to the outside
from a subnet whose route leads to a NAT gateway also crosses the NAT's subnet, and a network
load balancer's instance targets receive the client's own address on the NodePort.

The other direction, "no broader than needed": every address and port an ACL lets through
must be needed by a rule of the model for a role living behind it (the request or its reply),
by the NAT gateway's transit, or by a load balancer's hop to its targets. ACLs never change
which flows the model expects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from ipaddress import IPv4Network, collapse_addresses

from circleci_network.audit.engine import Cells, Difference
from circleci_network.audit.expected import ExpectedView, port_spec
from circleci_network.audit.space import (
    NO_NAMES,
    PROTOCOLS,
    AddressCell,
    AddressNames,
    PortCell,
    PortSpec,
    merge_port_cells,
    spans,
)
from circleci_network.audit.terraform_json import Json, address, as_list, boolean, referenced, resources
from circleci_network.audit.views import AddressBook, Endpoint
from circleci_network.model.ports import Port, Protocol, reply_ports
from circleci_network.model.resolve import ResolvedRule
from circleci_network.model.roles import OutsidePeer, Role
from circleci_network.model.rules import CustomPeer, Direction

#: Networks as (first, last) address numbers.
Spans = tuple[tuple[int, int], ...]

#: The targets of every load balancer (the model's node-port hop).
TARGETS = Role.KUBERNETES_NODES
OUTSIDE = "outside"


def _spec(protocol: object, from_port: object, to_port: object) -> PortSpec:
    p = str(protocol).lower()
    if p in ("-1", "all"):
        return PortSpec("all")
    if p in ("tcp", "6", "udp", "17"):
        low = int(from_port) if from_port is not None else 0  # type: ignore[call-overload]
        high = int(to_port) if to_port is not None else 65535  # type: ignore[call-overload]
        return PortSpec("tcp" if p in ("tcp", "6") else "udp", max(low, 1), high)
    return PortSpec("other")


def _port_range(spec: PortSpec) -> tuple[int, int]:
    return (0, 65535) if spec.protocol in ("all", "other") else (spec.low, spec.high)


@cache
def _required_replies(protocol: str) -> list[tuple[int, int]]:
    """Reply ports every ACL on the way must pass: the ephemeral range, less the ports never
    opened to the world (narrower peers may get them too; nothing needs them)."""
    if protocol == "other":
        return [(0, 0)]
    ports = reply_ports(Port(Protocol(protocol), 1, 1), from_the_world=True)
    return [(p.from_port, p.to_port) for p in ports]


@cache
def _reply_spec(protocol: str) -> PortSpec:
    """Everything a reply may use (for the breadth check)."""
    if protocol == "other":
        return PortSpec("other")
    (port,) = reply_ports(Port(Protocol(protocol), 1, 1))
    return PortSpec(protocol, port.from_port, port.to_port)


@dataclass(frozen=True)
class AclRule:
    number: int
    egress: bool
    allow: bool
    spec: PortSpec
    network: IPv4Network
    resource: str


@dataclass
class Acl:
    resource: str
    label: str
    rules: list[AclRule] = field(default_factory=list)


@dataclass(frozen=True)
class Listener:
    port: int
    target_port: int
    preserves_client: bool


_EVERY_PORT = [(0, 65535)]


def _covered(ranges: list[tuple[int, int]], low: int, high: int) -> bool:
    """Whether ``low``-``high`` lies within one of ``ranges`` (sorted, disjoint, not adjacent)."""
    for a, b in ranges:  # a loop, not any(): asked some 10,000 times per audit
        if a <= low and high <= b:
            return True
    return False


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with overlapping and adjacent ranges joined."""
    found: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if found and low <= found[-1][1] + 1:
            found[-1] = (found[-1][0], max(found[-1][1], high))
        else:
            found.append((low, high))
    return found


def _intersection(one: list[tuple[int, int]], other: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if one == _EVERY_PORT or other == _EVERY_PORT:  # the usual case: one side filters nothing
        return other if one == _EVERY_PORT else one
    return _merged([(max(a, c), min(b, d)) for a, b in one for c, d in other if max(a, c) <= min(b, d)])


@dataclass(frozen=True)
class _Passable:
    """The ports of one protocol that pass every ACL between two ends: the request's ports, and
    per load-balancer listener port whether the hop to its targets passes."""

    protocol: str
    forward: list[tuple[int, int]]
    listeners: tuple[tuple[int, bool], ...]

    def admits(self, port: PortCell) -> bool:
        low, high = (0, 0) if port.protocol == "other" else (port.low, port.high)
        return _covered(self.forward, low, high) and all(
            delivered for at, delivered in self.listeners if port.low <= at <= port.high
        )


class NetworkAcls:
    def __init__(self, stack: Json, book: AddressBook) -> None:
        self.book = book
        self.unmodelled: list[str] = []
        self.subnets: dict[str, IPv4Network] = {}
        self.tiers: dict[str, str] = {}
        for name, subnet in resources(stack, "aws_subnet").items():
            self.subnets[name] = IPv4Network(subnet["cidr_block"])
            self.tiers[name] = str((subnet.get("tags") or {}).get("circleci/tier", address("aws_subnet", name)))
        self.acls: dict[str, Acl] = {}
        self.subnet_acl: dict[str, Acl] = {}
        self._read_acls(stack)
        self.present = bool(self.acls)
        self.vpc = [IPv4Network(v["cidr_block"]) for v in resources(stack, "aws_vpc").values() if v.get("cidr_block")]
        self.vpc += [
            IPv4Network(a["cidr_block"])
            for a in resources(stack, "aws_vpc_ipv4_cidr_block_association").values()
            if a.get("cidr_block")
        ]
        if not self.vpc:  # an existing VPC: at least our subnets are local
            self.vpc = list(self.subnets.values())
        self.nat_routes = self._read_routes(stack)
        self.listeners = self._read_listeners(stack)
        self._decided: dict[tuple[str, bool, int, int, str, int, int], str | None] = {}
        self._applies: dict[tuple[str, bool, int, int, str], list[tuple[bool, int, int, str]]] = {}
        # Cells by their bounds: a tuple of ints hashes in C, a frozen dataclass in Python.
        self._subnet_of: dict[tuple[int, int], str | None] = {}
        # The pair-by-pair pass asks the same question for many addresses ACLs cannot tell
        # apart: answer it once per class of addresses (see _class_of).
        self._telling: list[IPv4Network] = list(
            dict.fromkeys(
                [r.network for a in self.acls.values() for r in a.rules]
                + self.vpc
                + [n for routes in self.nat_routes.values() for n, _ in routes]
            )
        )
        self._telling_ends = [(int(n.network_address), int(n.broadcast_address)) for n in self._telling]
        self._class: dict[tuple[int, int], int] = {}
        self._classes: dict[tuple[object, ...], int] = {}
        self._blocked: dict[tuple[object, ...], tuple[str, ...]] = {}
        self._passable: dict[tuple[object, ...], _Passable] = {}
        self._distinct: dict[tuple[object, ...], _Passable] = {}
        self._hops: dict[tuple[object, ...], list[tuple[int, int]]] = {}
        self._delivered: dict[tuple[object, ...], bool] = {}
        self._blocked_cells: Cells | None = None
        self._allows: dict[tuple[str, bool, int, str], list[tuple[int, int]]] = {}
        self._acl_class_of: dict[tuple[str, int, int], int] = {}
        self._acl_classes: dict[tuple[object, ...], int] = {}
        self._ends_of: dict[str, list[tuple[int, int, bool]]] = {}
        self._acls_class_of: dict[tuple[int, int], tuple[int, ...]] = {}

    # -- reading -----------------------------------------------------------------------------

    def _read_acls(self, stack: Json) -> None:
        for kind in ("aws_network_acl", "aws_default_network_acl"):
            for name, data in resources(stack, kind).items():
                resource = address(kind, name)
                label = str((data.get("tags") or {}).get("circleci/tier") or ("default" if "default" in kind else name))
                self.acls[resource] = Acl(resource, f"{label} network ACL")
                for egress, blocks in ((False, data.get("ingress")), (True, data.get("egress"))):
                    for block in as_list(blocks):
                        self._add_rule(self.acls[resource], egress, block, block.get("rule_no"), block.get("action"))
                for subnet in as_list(data.get("subnet_ids")):
                    self._associate(subnet, self.acls[resource])
        for name, rule in resources(stack, "aws_network_acl_rule").items():
            acl_name = referenced(rule.get("network_acl_id"), "aws_network_acl", "id")
            owner = self.acls.get(address("aws_network_acl", acl_name)) if acl_name else None
            if owner is None:
                self.unmodelled.append(f"aws_network_acl_rule.{name}: in a network ACL the stack does not hold")
                continue
            self._add_rule(
                owner,
                boolean(rule, "egress", address("aws_network_acl_rule", name)),
                rule,
                rule.get("rule_number"),
                rule.get("rule_action"),
                address("aws_network_acl_rule", name),
            )
        for link in resources(stack, "aws_network_acl_association").values():
            acl_name = referenced(link.get("network_acl_id"), "aws_network_acl", "id")
            linked = self.acls.get(address("aws_network_acl", acl_name)) if acl_name else None
            if linked is not None:
                self._associate(link.get("subnet_id"), linked)
        default = next((a for r, a in self.acls.items() if r.startswith("aws_default_network_acl.")), None)
        for subnet in self.subnets:
            if subnet not in self.subnet_acl and default is not None:
                self.subnet_acl[subnet] = default
        for each in self.acls.values():
            each.rules.sort(key=lambda r: (r.egress, r.number))

    def _associate(self, subnet: object, acl: Acl) -> None:
        name = referenced(subnet, "aws_subnet", "id")
        if name in self.subnets:
            self.subnet_acl[name] = acl

    def _add_rule(
        self, acl: Acl, egress: bool, rule: Json, number: object, action: object, resource: str | None = None
    ) -> None:
        if not rule.get("cidr_block"):
            return  # IPv6 rules never match IPv4 traffic
        self.acls[acl.resource].rules.append(
            AclRule(
                number=int(number),  # type: ignore[call-overload]
                egress=egress,
                allow=str(action).lower() == "allow",
                spec=_spec(rule.get("protocol"), rule.get("from_port"), rule.get("to_port")),
                network=IPv4Network(str(rule["cidr_block"])),
                resource=resource or acl.resource,
            )
        )

    def _read_routes(self, stack: Json) -> dict[str, list[tuple[IPv4Network, str | None]]]:
        """Per subnet: its routes to the outside, with the NAT gateway's subnet where one is the target."""
        nat_subnet = {
            name: referenced(nat.get("subnet_id"), "aws_subnet", "id")
            for name, nat in resources(stack, "aws_nat_gateway").items()
        }
        tables: dict[str, list[tuple[IPv4Network, str | None]]] = defaultdict(list)

        def add(table: str, route: Json) -> None:
            if route.get("destination_cidr_block"):
                nat = referenced(route.get("nat_gateway_id"), "aws_nat_gateway", "id")
                tables[table].append((IPv4Network(route["destination_cidr_block"]), nat_subnet.get(nat or "")))

        for name, table in resources(stack, "aws_route_table").items():
            for route in as_list(table.get("route")):
                add(name, route)
        for route in resources(stack, "aws_route").values():
            table_name = referenced(route.get("route_table_id"), "aws_route_table", "id")
            if table_name:
                add(table_name, route)
        routes: dict[str, list[tuple[IPv4Network, str | None]]] = {}
        for link in resources(stack, "aws_route_table_association").values():
            subnet = referenced(link.get("subnet_id"), "aws_subnet", "id")
            table_name = referenced(link.get("route_table_id"), "aws_route_table", "id")
            if subnet and table_name:
                routes[subnet] = sorted(tables[table_name], key=lambda r: -r[0].prefixlen)
        return routes

    def _read_listeners(self, stack: Json) -> dict[Role, list[Listener]]:
        roles = {
            name: Role(tag)
            for name, lb in resources(stack, "aws_lb").items()
            if (tag := (lb.get("tags") or {}).get("circleci/role")) in {r.value for r in Role}
        }
        groups = resources(stack, "aws_lb_target_group")
        found: dict[Role, list[Listener]] = defaultdict(list)
        for listener in resources(stack, "aws_lb_listener").values():
            lb = referenced(listener.get("load_balancer_arn"), "aws_lb", "arn")
            for action in as_list(listener.get("default_action")):
                group_name = referenced(action.get("target_group_arn"), "aws_lb_target_group", "arn")
                group = groups.get(group_name or "")
                if lb not in roles or group is None or group.get("port") is None or listener.get("port") is None:
                    continue  # the listeners check reports what cannot be read here
                # Instance targets keep the client's address unless told otherwise.
                instance = group.get("target_type", "instance") == "instance"
                keeps = boolean(group, "preserve_client_ip", f"aws_lb_target_group.{group_name}", instance)
                found[roles[lb]].append(Listener(int(listener["port"]), int(group["port"]), keeps))
        return dict(found)

    # -- evaluation --------------------------------------------------------------------------

    def networks(self) -> list[IPv4Network]:
        found = [rule.network for acl in self.acls.values() for rule in acl.rules]
        return found + list(self.subnets.values()) + self.vpc if self.present else []

    def port_specs(self) -> list[PortSpec]:
        if not self.present:
            return []
        specs = [rule.spec for acl in self.acls.values() for rule in acl.rules]
        specs += [PortSpec(p, low, high) for p in ("tcp", "udp") for low, high in _required_replies(p)]
        specs += [
            PortSpec("tcp", listener.target_port, listener.target_port)
            for ls in self.listeners.values()
            for listener in ls
        ]
        return specs

    def subnet_of(self, cell: AddressCell) -> str | None:
        ends = (cell.low, cell.high)
        if ends not in self._subnet_of:
            self._subnet_of[ends] = next((n for n, net in self.subnets.items() if cell.within(net)), None)
        return self._subnet_of[ends]

    def _who(self, cell: AddressCell) -> str:
        """The tier of a cell's subnet; an address no role holds (the VPC resolver) by itself."""
        if any(cell.within(n) for n in self.book.carve_out):
            return self.book.names.cell(cell)
        subnet = self.subnet_of(cell)
        return self.tiers[subnet] if subnet else OUTSIDE

    def decide(self, acl: Acl, egress: bool, cell: AddressCell, protocol: str, low: int, high: int) -> str | None:
        """``None`` when ``acl`` passes every port ``low``-``high`` of ``protocol`` to/from ``cell``;
        else what stops it: a deny rule, or the ACL itself (its implicit deny)."""
        key = (acl.resource, egress, cell.low, cell.high, protocol, low, high)
        if key not in self._decided:
            if _covered(self._allowed(acl, egress, cell, protocol), low, high):
                self._decided[key] = None
            else:  # which rule stops it: the first deny on the way, or the implicit one
                rules = self._applying(acl, egress, cell, protocol)
                self._decided[key] = self._first_match(rules, low, high, acl.resource)
        return self._decided[key]

    def _allowed(self, acl: Acl, egress: bool, cell: AddressCell, protocol: str) -> list[tuple[int, int]]:
        """The ports of ``protocol`` whose first matching rule in ``acl`` to/from ``cell`` allows
        them, as sorted disjoint ranges: a range passes when it lies within them. Depends on
        ``cell`` only through the rules of ``acl`` that apply to it (``_acl_class``)."""
        key = (acl.resource, egress, self._acl_class(acl, cell), protocol)
        found = self._allows.get(key)
        if found is None:
            remaining, allowed = [(0, 65535)], []
            for allow, lo, hi, _ in self._applying(acl, egress, cell, protocol):
                if not any(a <= hi and lo <= b for a, b in remaining):
                    continue
                if allow:
                    allowed += [(max(a, lo), min(b, hi)) for a, b in remaining if a <= hi and lo <= b]
                remaining = [
                    p for a, b in remaining for p in ((a, min(b, lo - 1)), (max(a, hi + 1), b)) if p[0] <= p[1]
                ]
            found = self._allows[key] = _merged(allowed)
        return found

    def _applying(self, acl: Acl, egress: bool, cell: AddressCell, protocol: str) -> list[tuple[bool, int, int, str]]:
        """The rules of ``acl`` that apply to ``protocol`` to/from ``cell``, lowest number first,
        as (allow, low port, high port, resource): worked out once per cell, not per port."""
        key = (acl.resource, egress, cell.low, cell.high, protocol)
        found = self._applies.get(key)
        if found is None:
            found = self._applies[key] = [
                (rule.allow, *_port_range(rule.spec), rule.resource)
                for rule in acl.rules
                if rule.egress is egress
                and rule.spec.protocol in ("all", protocol)
                # Cells are cut at every rule's network; a deny that touches one counts, to be safe.
                and (cell.within(rule.network) or (not rule.allow and cell.overlaps(rule.network)))
            ]
        return found

    @staticmethod
    def _first_match(rules: list[tuple[bool, int, int, str]], low: int, high: int, implicit: str) -> str | None:
        """``None`` when ``rules`` allow all of ``low``-``high``; else the deny rule that decides
        first, or ``implicit`` (the ACL's implicit deny)."""
        remaining = [(low, high)]
        for allow, lo, hi, resource in rules:
            if not any(a <= hi and lo <= b for a, b in remaining):
                continue
            if not allow:
                return resource
            remaining = [p for a, b in remaining for p in ((a, min(b, lo - 1)), (max(a, hi + 1), b)) if p[0] <= p[1]]
            if not remaining:
                return None
        return implicit

    def _check(
        self,
        subnet: str | None,
        egress: bool,
        cell: AddressCell,
        protocol: str,
        ranges: Iterable[tuple[int, int]],
        why: str,
    ) -> list[str]:
        acl = self.subnet_acl.get(subnet) if subnet else None
        if acl is None:
            return []
        failing = [(low, high, b) for low, high in ranges if (b := self.decide(acl, egress, cell, protocol, low, high))]
        if not failing:
            return []
        blocker = failing[0][2]
        ports = ", ".join(
            "other protocols" if protocol == "other" else PortCell(protocol, low, high).label
            for low, high, _ in failing
        )
        way = f"egress to {self._who(cell)}" if egress else f"ingress from {self._who(cell)}"
        reason = "no rule allows it" if blocker == acl.resource else f"denied in {acl.resource}"
        return [f"{blocker} ({acl.label}): {way} {ports}, {why}: {reason}"]

    def _crossing(
        self,
        sender: str | None,
        receiver: str | None,
        seen_as: AddressCell,
        target: AddressCell,
        port: PortCell,
        why: str,
    ) -> list[str]:
        """A packet leaves ``sender``'s subnet for ``target`` and enters ``receiver``'s as coming
        from ``seen_as``; the reply takes the same boundary back. One subnet: nothing to cross."""
        if sender is not None and sender == receiver:
            return []
        forward = [(0, 0)] if port.protocol == "other" else [(port.low, port.high)]
        replies = _required_replies(port.protocol)
        return (
            self._check(sender, True, target, port.protocol, forward, why)
            + self._check(receiver, False, seen_as, port.protocol, forward, why)
            + self._check(receiver, True, seen_as, port.protocol, replies, f"reply to {why}")
            + self._check(sender, False, target, port.protocol, replies, f"reply to {why}")
        )

    def nat_subnet(self, subnet: str, destination: AddressCell) -> str | None:
        if any(destination.within(v) for v in self.vpc):
            return None
        route = next((r for r in self.nat_routes.get(subnet, []) if destination.within(r[0])), None)
        return route[1] if route else None

    def _class_of(self, cell: AddressCell) -> int:
        """What the ACL pass can see of an address: its subnet, how it is named, and whether it
        lies within or touches each network an ACL rule, the VPC or a route names. Two cells of
        one class get the same answers from every ACL, route and message. Numbered, to keep
        the keys that hold it cheap to hash."""
        ends = (cell.low, cell.high)
        found = self._class.get(ends)
        if found is None:
            seen = (
                self.subnet_of(cell),
                self._who(cell),
                tuple(low <= cell.low and cell.high <= high for low, high in self._telling_ends),
                tuple(cell.low <= high and low <= cell.high for low, high in self._telling_ends),
            )
            found = self._class[ends] = self._classes.setdefault(seen, len(self._classes))
        return found

    def _acl_class(self, acl: Acl, cell: AddressCell) -> int:
        """A number per set of ``acl``'s rules that apply to ``cell`` (as ``_applying`` picks them,
        either direction, any protocol): coarser than ``_class_of``, and all ``acl`` sees of it."""
        key = (acl.resource, cell.low, cell.high)
        found = self._acl_class_of.get(key)
        if found is None:
            seen = (
                acl.resource,
                tuple(
                    i
                    for i, (low, high, allow) in enumerate(self._rule_ends(acl))
                    if (low <= cell.low and cell.high <= high) or (not allow and cell.low <= high and low <= cell.high)
                ),
            )
            found = self._acl_class_of[key] = self._acl_classes.setdefault(seen, len(self._acl_classes))
        return found

    def _rule_ends(self, acl: Acl) -> list[tuple[int, int, bool]]:
        found = self._ends_of.get(acl.resource)
        if found is None:
            found = self._ends_of[acl.resource] = [
                (int(r.network.network_address), int(r.network.broadcast_address), r.allow) for r in acl.rules
            ]
        return found

    def _acls_class(self, cell: AddressCell) -> tuple[int, ...]:
        """What every ACL sees of ``cell`` (``_acl_class`` of each)."""
        found = self._acls_class_of.get((cell.low, cell.high))
        if found is None:
            found = self._acls_class_of[(cell.low, cell.high)] = tuple(
                self._acl_class(a, cell) for a in self.acls.values()
            )
        return found

    def blockers(self, source: Endpoint, destination: Endpoint, port: PortCell, cells: Cells) -> tuple[str, ...]:
        """``_blockers``, once per class of source and destination address."""
        if not self.present:
            return ()
        if cells is not self._blocked_cells:  # the load balancers' targets come from ``cells``
            self._blocked, self._passable, self._delivered, self._blocked_cells = {}, {}, {}, cells
        key = (
            source.role is None,
            self._class_of(source.cell),
            destination.role,
            self._class_of(destination.cell),
            port.protocol,
            port.low,
            port.high,
        )
        found = self._blocked.get(key)
        if found is None:
            found = self._blocked[key] = self._blockers(source, destination, port, cells)
        return found

    def passes(self, source: Endpoint, destination: Endpoint, port: PortCell, cells: Cells) -> bool:
        """``not blockers(...)``."""
        return self.passable(source, destination, port.protocol, cells).admits(port)

    def passable(self, source: Endpoint, destination: Endpoint, protocol: str, cells: Cells) -> _Passable:
        """The ports of ``protocol`` that get past every ACL between the two ends, worked out once
        per class of source and destination address for all ports at once, as ranges."""
        if cells is not self._blocked_cells:  # as in ``blockers``
            self._blocked, self._passable, self._delivered, self._blocked_cells = {}, {}, {}, cells
        key = (
            source.role is None,
            self._class_of(source.cell),
            destination.role,
            self._class_of(destination.cell),
            protocol,
        )
        found = self._passable.get(key)
        if found is None:
            made = self._passing_ports(source, destination, protocol, cells)
            # Few distinct answers: one object each, so a flow's filters dedupe by identity.
            found = self._passable[key] = self._distinct.setdefault(
                (protocol, tuple(made.forward), made.listeners), made
            )
        return found

    def _passing_ports(self, source: Endpoint, destination: Endpoint, protocol: str, cells: Cells) -> _Passable:
        """What ``_blockers`` lets through for every port of ``protocol`` between the two ends."""
        if not self.present:
            return _Passable(protocol, [(0, 65535)], ())
        src = self.subnet_of(source.cell) if source.role is not None else None
        dst = self.subnet_of(destination.cell) if destination.role is not None else None
        nat = self.nat_subnet(src, destination.cell) if src is not None and destination.role is None else None
        hops = [(src, nat), (nat, None)] if nat is not None else [(src, dst)]
        forward = [(0, 65535)]
        for sender, receiver in hops:
            forward = _intersection(forward, self._hop(sender, receiver, source.cell, destination.cell, protocol))
        role = destination.role
        listeners = []
        for listener in self.listeners.get(role, []) if role is not None and protocol == "tcp" else []:
            seen_as = source.cell if listener.preserves_client else destination.cell
            listeners.append((listener.port, self._delivers(dst, seen_as, listener.target_port, cells)))
        return _Passable(protocol, forward, tuple(listeners))

    def _delivers(self, subnet: str | None, seen_as: AddressCell, node_port: int, cells: Cells) -> bool:
        """Whether a load balancer in ``subnet`` reaches every target on ``node_port`` as ``seen_as``."""
        key = (subnet, self._acls_class(seen_as), node_port)
        found = self._delivered.get(key)
        if found is None:
            found = self._delivered[key] = all(
                _covered(self._hop(subnet, self.subnet_of(target), seen_as, target, "tcp"), node_port, node_port)
                for target in cells.parties.get(TARGETS, [])
            )
        return found

    def _hop(
        self, sender: str | None, receiver: str | None, seen_as: AddressCell, target: AddressCell, protocol: str
    ) -> list[tuple[int, int]]:
        """The request ports ``_crossing`` passes from ``sender``'s subnet to ``receiver``'s: none
        when a reply cannot come back (the reply ports do not depend on the request's)."""
        # Only the two subnets' ACLs judge the hop (and whether it is one subnet): the ends count
        # by the rules of those ACLs that apply to them.
        sending = self.subnet_acl.get(sender) if sender else None
        receiving = self.subnet_acl.get(receiver) if receiver else None
        key = (
            sender is not None and sender == receiver,
            sending.resource if sending else None,
            receiving.resource if receiving else None,
            self._acl_class(receiving, seen_as) if receiving else None,
            self._acl_class(sending, target) if sending else None,
            protocol,
        )
        found = self._hops.get(key)
        if found is None:
            found = self._hops[key] = self._crossing_ports(sender, receiver, seen_as, target, protocol)
        return found

    def _crossing_ports(
        self, sender: str | None, receiver: str | None, seen_as: AddressCell, target: AddressCell, protocol: str
    ) -> list[tuple[int, int]]:
        everything = [(0, 65535)]
        if sender is not None and sender == receiver:
            return everything
        sending = self.subnet_acl.get(sender) if sender else None
        receiving = self.subnet_acl.get(receiver) if receiver else None
        replies = _required_replies(protocol)
        for acl, egress, cell in ((receiving, True, seen_as), (sending, False, target)):
            if acl is not None:
                allowed = self._allowed(acl, egress, cell, protocol)
                if not all(_covered(allowed, low, high) for low, high in replies):
                    return []
        found = everything
        for acl, egress, cell in ((sending, True, target), (receiving, False, seen_as)):
            if acl is not None:
                found = _intersection(found, self._allowed(acl, egress, cell, protocol))
        return found

    def _blockers(self, source: Endpoint, destination: Endpoint, port: PortCell, cells: Cells) -> tuple[str, ...]:
        src = self.subnet_of(source.cell) if source.role is not None else None
        dst = self.subnet_of(destination.cell) if destination.role is not None else None
        found: list[str] = []
        nat = self.nat_subnet(src, destination.cell) if src is not None and destination.role is None else None
        if nat is not None:
            found += self._crossing(src, nat, source.cell, destination.cell, port, "request via the NAT gateway")
            found += self._crossing(nat, None, source.cell, destination.cell, port, "request via the NAT gateway")
        else:
            found += self._crossing(src, dst, source.cell, destination.cell, port, "request")
        role = destination.role
        for listener in self.listeners.get(role, []) if role is not None and port.protocol == "tcp" else []:
            if not port.low <= listener.port <= port.high:
                continue
            node_port = PortCell("tcp", listener.target_port, listener.target_port)
            seen_as = source.cell if listener.preserves_client else destination.cell
            why = f"{role.value} forwarding to its targets on {listener.target_port}"  # type: ignore[union-attr]
            for target in cells.parties.get(TARGETS, []):
                found += self._crossing(dst, self.subnet_of(target), seen_as, target, node_port, why)
        return tuple(dict.fromkeys(found))

    # -- no broader than needed --------------------------------------------------------------

    def differences(self, expected: ExpectedView, cells: Cells) -> list[Difference]:
        if not self.present:
            return []
        needs = _Needs(self, expected, cells)
        every = list(dict.fromkeys([c for cs in cells.parties.values() for c in cs] + cells.outside))
        # Cells the needs and the ACLs cannot tell apart get the same answers: one question per
        # group, its answer shared by every cell of it.
        groups: dict[tuple[int, int], list[AddressCell]] = defaultdict(list)
        for cell in every:
            groups[(needs.class_of(cell), self._class_of(cell))].append(cell)
        grouped: Openings = defaultdict(list)
        # What an ACL passes depends on the few sets of its rules that apply (_acl_class): once
        # per set, for every port. Most groups need one of a few sets of ports: which ports each
        # set leaves open, once; and only where the ACL passes something.
        # Ports by their place in the cut: sets of numbers hash far faster than of PortCells.
        ports = cells.ports
        every_port = frozenset(range(len(ports)))
        passed: dict[tuple[str, bool, int], list[int]] = {}
        # The rules that allow a port: named only for the few ports no need accounts for.
        reasons: dict[tuple[str, bool, int, int], tuple[str, ...]] = {}
        open_ports: dict[frozenset[PortSpec], frozenset[int]] = {}
        matched: dict[PortSpec, frozenset[int]] = {}
        for acl in self.acls.values():
            for egress in (False, True):
                for members in groups.values():
                    cell = members[0]
                    key = (acl.resource, egress, self._acl_class(acl, cell))
                    if (passing := passed.get(key)) is None:
                        passing = passed[key] = self._passing(acl, egress, cell, ports)
                    if not passing:
                        continue
                    needed = needs.needed(acl, egress, cell)
                    if (unneeded := open_ports.get(needed)) is None:
                        hits = []
                        for spec in needed:
                            if (hit := matched.get(spec)) is None:
                                hit = matched[spec] = frozenset(i for i, p in enumerate(ports) if spec.matches(p))
                            hits.append(hit)
                        unneeded = open_ports[needed] = every_port.difference(*hits)
                    who = None
                    for i in passing:
                        if i in unneeded:
                            port = ports[i]
                            if (because := reasons.get((*key, i))) is None:
                                because = reasons[(*key, i)] = self._allowing(acl, egress, cell, port)
                            who = who or self._who(cell)
                            grouped[(acl.label, egress, who, because)] += [(c, port) for c in members]
        return extra_differences(grouped, self.book.names)

    def _passing(self, acl: Acl, egress: bool, cell: AddressCell, ports: list[PortCell]) -> list[int]:
        """The places in ``ports`` of those ``acl`` passes to/from ``cell`` (``_allowing`` names
        the rules). Depends on ``cell`` only through the rules of ``acl`` that apply to it (``_acl_class``)."""
        allowed = {protocol: self._allowed(acl, egress, cell, protocol) for protocol in PROTOCOLS}
        # As ``decide``, without a reason.
        return [
            i
            for i, port in enumerate(ports)
            if _covered(allowed[port.protocol], *((0, 0) if port.protocol == "other" else (port.low, port.high)))
        ]

    @staticmethod
    def _allowing(acl: Acl, egress: bool, cell: AddressCell, port: PortCell) -> tuple[str, ...]:
        """The rules of ``acl`` that allow ``port`` to/from ``cell``, in order."""
        return tuple(
            dict.fromkeys(
                r.resource
                for r in acl.rules
                if r.egress is egress and r.allow and cell.within(r.network) and r.spec.matches(port)
            )
        )


class _Needs:
    """What the model needs each ACL to pass, per direction and peer address."""

    def __init__(self, acls: NetworkAcls, expected: ExpectedView, cells: Cells) -> None:
        self.acls = acls
        self.expected = expected
        self.cells = cells
        # ACLs see subnets: an address in one (even the VPC resolver) stands for the roles living there.
        self.owners: dict[AddressCell, set[Role]] = defaultdict(set)
        self.living: dict[str, set[Role]] = defaultdict(set)
        for role, cs in cells.parties.items():
            for c in cs:
                self.owners[c].add(role)
                if (subnet := acls.subnet_of(c)) is not None:
                    self.living[subnet].add(role)
        for c in cells.outside:
            if (subnet := acls.subnet_of(c)) is not None:
                self.owners[c] |= self.living[subnet]
        # Each rule with its peer's ranges as address numbers (what the cells are compared with).
        self.rules: dict[tuple[Role, Direction], list[tuple[ResolvedRule, Spans]]] = defaultdict(list)
        self.transparent: dict[Role, list[tuple[ResolvedRule, Spans]]] = defaultdict(list)
        for rule in expected.rules:
            self.rules[(rule.role, rule.direction)].append((rule, spans(expected.rule_networks(rule))))
        # Transparent load balancers hold no rules but still pass, in their subnets, what the
        # guide's load balancer section says (their listener ports): the policy keeps those rows.
        for rule in expected.policy.load_balancer_rules:
            if rule.role in expected.book.transparent and rule.direction is Direction.INGRESS:
                self.transparent[rule.role].append((rule, spans(expected.rule_networks(rule))))
        self._of: dict[tuple[str, bool, int], list[PortSpec]] = {}
        self._needed: dict[tuple[str, bool, int], frozenset[PortSpec]] = {}
        # Asked for every cell of every ACL: these depend on far fewer things, work them out once.
        self._matched: dict[tuple[Role, Direction, int], list[ResolvedRule]] = {}
        # All _compute reads of a cell: its subnet, the roles owning it, and which of the
        # rules' networks hold it. Cells alike in these need the same ports (see class_of).
        self._telling = list(
            dict.fromkeys(
                span
                for side in (*self.rules.values(), *self.transparent.values())
                for _, ranges in side
                for span in ranges
            )
        )
        self._class: dict[tuple[int, int], int] = {}
        self._classes: dict[tuple[object, ...], int] = {}
        # Per rule (by id: rules compare field by field) its request and reply ports, once.
        self._request_specs: dict[int, list[PortSpec]] = {}
        self._reply_specs: dict[int, list[PortSpec]] = {}
        self._nat_of: dict[str, tuple[set[str], list[tuple[Role, set[int]]]]] = {}
        self._clients_of: dict[tuple[Role, int], set[int]] = {}
        self._beyond_of: dict[Role, list[ResolvedRule]] = {}
        self._occupied: dict[str, dict[Role, list[AddressCell]]] = {}
        # Each load balancer's listeners with the NodePort they forward to.
        self._hops = [
            (lb, listener, PortSpec("tcp", listener.target_port, listener.target_port))
            for lb, listeners in acls.listeners.items()
            for listener in listeners
        ]

    def _side(self, role: Role, direction: Direction) -> list[tuple[ResolvedRule, Spans]]:
        if direction is Direction.INGRESS and role in self.expected.book.transparent:
            # ...and, as the nodes behind them decide, what the nodes accept.
            return self.transparent[role] + self.rules[(Role.KUBERNETES_NODES, direction)]
        return self.rules[(role, direction)]

    def class_of(self, cell: AddressCell) -> int:
        """A number per class of cells ``of`` answers alike for (every ACL, both directions)."""
        found = self._class.get((cell.low, cell.high))
        if found is None:
            seen = (
                self.acls.subnet_of(cell),
                frozenset(self.owners.get(cell, ())),
                tuple(low <= cell.low and cell.high <= high for low, high in self._telling),
            )
            found = self._class[(cell.low, cell.high)] = self._classes.setdefault(seen, len(self._classes))
        return found

    def _matching(self, role: Role, direction: Direction, cell: AddressCell) -> list[ResolvedRule]:
        key = (role, direction, self.class_of(cell))
        found = self._matched.get(key)
        if found is None:
            found = self._matched[key] = self._match(role, direction, cell)
        return found

    def _match(self, role: Role, direction: Direction, cell: AddressCell) -> list[ResolvedRule]:
        found = []
        low, high = cell.low, cell.high
        for rule, ranges in self._side(role, direction):
            if isinstance(rule.peer, Role) and not ranges:
                if rule.peer in self.owners.get(cell, set()):
                    found.append(rule)
            elif any(first <= low and high <= last for first, last in ranges):
                found.append(rule)
        return found

    def _beyond(self, rule: ResolvedRule) -> bool:
        """An egress rule that may reach past the VPC (through a NAT gateway)."""
        if not isinstance(rule.peer, OutsidePeer | CustomPeer):
            return False
        return any(not any(n.subnet_of(v) for v in self.acls.vpc) for n in self.expected.rule_networks(rule))

    def _leaving(self, role: Role) -> list[ResolvedRule]:
        """``role``'s egress rules that may reach past the VPC."""
        if role not in self._beyond_of:
            self._beyond_of[role] = [r for r, _ in self._side(role, Direction.EGRESS) if self._beyond(r)]
        return self._beyond_of[role]

    def _occupants(self, acl: Acl) -> dict[Role, list[AddressCell]]:
        if acl.resource not in self._occupied:
            self._occupied[acl.resource] = self._occupy(acl)
        return self._occupied[acl.resource]

    def _occupy(self, acl: Acl) -> dict[Role, list[AddressCell]]:
        found: dict[Role, list[AddressCell]] = {}
        for role, cs in self.cells.parties.items():
            mine = [c for c in cs if (s := self.acls.subnet_of(c)) is not None and self.acls.subnet_acl.get(s) is acl]
            if mine:
                found[role] = mine
        return found

    def needed(self, acl: Acl, egress: bool, cell: AddressCell) -> frozenset[PortSpec]:
        """``of``, as a set."""
        key = (acl.resource, egress, self.class_of(cell))
        found = self._needed.get(key)
        if found is None:
            found = self._needed[key] = frozenset(self.of(acl, egress, cell))
        return found

    def of(self, acl: Acl, egress: bool, cell: AddressCell) -> list[PortSpec]:
        """The ports ``acl`` must pass to/from ``cell``; once per class of cells (``class_of``)."""
        key = (acl.resource, egress, self.class_of(cell))
        if key not in self._of:
            self._of[key] = self._compute(acl, egress, cell)
        return self._of[key]

    def _requests(self, rule: ResolvedRule) -> list[PortSpec]:
        found = self._request_specs.get(id(rule))
        if found is None:
            found = self._request_specs[id(rule)] = [port_spec(p) for p in rule.ports]
        return found

    def _replies(self, rule: ResolvedRule) -> list[PortSpec]:
        found = self._reply_specs.get(id(rule))
        if found is None:
            found = self._reply_specs[id(rule)] = [_reply_any(p) for p in rule.ports]
        return found

    def _nat_clients(self, acl: Acl) -> tuple[set[str], list[tuple[Role, set[int]]]]:
        """The subnets routed through a NAT gateway in ``acl``'s subnets, and the roles living in
        any of them with the ids of their rules that may reach past the VPC."""
        found = self._nat_of.get(acl.resource)
        if found is None:
            nat_subnets = {s for s, a in self.acls.subnet_acl.items() if a is acl}
            clients = {
                subnet
                for subnet, routes in self.acls.nat_routes.items()
                if any(nat in nat_subnets for _, nat in routes)
            }
            roles = list(dict.fromkeys(role for subnet in clients for role in self.living[subnet]))
            found = self._nat_of[acl.resource] = (
                clients,
                [(role, {id(r) for r in self._leaving(role)}) for role in roles],
            )
        return found

    def _clients(self, lb: Role, listener: Listener) -> set[int]:
        """The ids of ``lb``'s ingress rules that open ``listener``'s port."""
        key = (lb, listener.port)
        found = self._clients_of.get(key)
        if found is None:
            at = PortCell("tcp", listener.port, listener.port)
            found = self._clients_of[key] = {
                id(r) for r, _ in self._side(lb, Direction.INGRESS) if any(s.matches(at) for s in self._requests(r))
            }
        return found

    def _compute(self, acl: Acl, egress: bool, cell: AddressCell) -> list[PortSpec]:
        way, back = (Direction.EGRESS, Direction.INGRESS) if egress else (Direction.INGRESS, Direction.EGRESS)
        specs: list[PortSpec] = []
        occupants = self._occupants(acl)
        for role in occupants:
            for rule in self._matching(role, way, cell):  # the requests
                specs += self._requests(rule)
            for rule in self._matching(role, back, cell):  # the replies
                specs += self._replies(rule)
        # The NAT gateways in this ACL's subnets carry their clients' traffic to the outside.
        # (A set: what each client subnet adds once is as good as once per subnet.)
        clients, roles = self._nat_clients(acl)
        home = self.acls.subnet_of(cell)
        for role, beyond_ids in roles:
            leaving = [r for r in self._matching(role, Direction.EGRESS, cell) if id(r) in beyond_ids]
            specs += [s for r in leaving for s in (self._requests(r) if egress else self._replies(r))]
        if home in clients:
            for role in self.living[home]:
                specs += [s for r in self._leaving(role) for s in (self._replies(r) if egress else self._requests(r))]
        # Load balancers forward to their targets' NodePorts (with the client's address, or their own).
        owners = self.owners.get(cell, set())
        reply = _reply_spec("tcp")
        for lb, listener, node_port in self._hops:
            if TARGETS in occupants:
                if listener.preserves_client:
                    opening = self._clients(lb, listener)
                    sender = any(id(r) in opening for r in self._matching(lb, Direction.INGRESS, cell))
                else:
                    sender = lb in owners
                if sender:
                    specs.append(reply if egress else node_port)
            if lb in occupants and TARGETS in owners:
                specs.append(node_port if egress else reply)
        return specs


def _reply_any(port: Port) -> PortSpec:
    return PortSpec("all") if port.protocol is Protocol.ALL else _reply_spec(port.protocol.value)


#: ACL openings the model does not need, by ACL label, direction, other end and allowing rules.
Openings = dict[tuple[str, bool, str, tuple[str, ...]], list[tuple[AddressCell, PortCell]]]


def extra_differences(grouped: Openings, names: AddressNames = NO_NAMES) -> list[Difference]:
    """One "extra" difference per group of openings: its ports merged, outside addresses collapsed
    (stand-ins as the resources ``names`` gives)."""
    differences = []
    for (label, egress, who, because), found in sorted(grouped.items()):
        ports = merge_port_cells({port for _, port in found})
        outside = None
        if who == OUTSIDE:
            networks = [n for cell in sorted({c for c, _ in found}) for n in cell.networks]
            outside = ", ".join(names.listing(collapse_addresses(networks)))
        side = f"{label} (egress)" if egress else f"{label} (ingress)"
        source, destination = (side, who) if egress else (who, side)
        differences.append(Difference("extra", source, destination, tuple(ports), outside, because))
    return differences
