"""Where circleci's load balancers deliver: each listener to its own role's NodePort.

An NLB listener forwards to an instance target group, and the target group's ``port`` is the
port the nodes receive the traffic on. The flow audit takes that port as the truth (it is the
NodePort the node rules admit), so it cannot see a listener pointed at another service's
NodePort (internet:443 to vm-service's API) or, with transparent load balancers, at 22 or
10250 together with the matching node rule. This check binds them, from the JSON alone:

- every listener of a load balancer of ours (``circleci/role`` tag, or named by the Helm values
  local) listens on a port its role's rules admit (the guide's 80/443 frontend and traefik,
  3000 vm-service, 4647 nomad, 8585 output-processor), over TCP (or TLS);
- it forwards (default action, type ``forward``) to target groups of the stack only, each an
  ``instance`` target group whose port lies in the NodePort range 30000-32767, is no other
  (role, listener)'s NodePort, and equals the NodePort (and target group) the Helm values local
  (``circleci-helm-values``) declares for that role and listener (values that bind some listeners
  must bind each);
- no listener rule, and no target group attachment with a port of its own, reroutes them;
- a listener whose load balancer (or a target group the audit cannot resolve) is a finding:
  it may be one of ours.

Also here: an ``aws_lb`` whose security group is not enforced on PrivateLink traffic
(``enforce_security_group_inbound_rules_on_private_link_traffic`` = ``"off"``) lets every
endpoint of an endpoint service past its rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from circleci_network.audit.facts import HELM_VALUES_LOCAL
from circleci_network.audit.findings import Finding
from circleci_network.audit.terraform_json import Json, address, as_list, resources
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.ports import KUBERNETES_NODE_PORTS, Protocol
from circleci_network.model.roles import Role
from circleci_network.model.rules import load_balancer_ports

CHECK = "load-balancer-listeners"
#: Listener protocols that deliver TCP to the target group (our listeners are TCP).
_PROTOCOLS = frozenset({"TCP", "TLS"})
_PRIVATE_LINK = "enforce_security_group_inbound_rules_on_private_link_traffic"


def _reference(kind: str) -> re.Pattern[str]:
    """``${kind.name.arn}`` (or ``.id``, the same ARN for load balancers, target groups, listeners)."""
    return re.compile(rf"\$\{{\s*{kind}\.([^.}}\s]+)\.(?:arn|id)\s*\}}")


_LB, _TARGET_GROUP, _LISTENER = _reference("aws_lb"), _reference("aws_lb_target_group"), _reference("aws_lb_listener")
#: ``aws_lb.<name>.`` inside any expression (the values' ``${aws_lb.x.dns_name}``), not a data source's.
_LB_NAMED = re.compile(r"(?<![\w.])aws_lb\.([A-Za-z0-9_-]+)\.")


def _resolve(value: object, pattern: re.Pattern[str], known: dict[str, Json]) -> str | None:
    match = pattern.fullmatch(value) if isinstance(value, str) else None
    return match.group(1) if match and match.group(1) in known else None


def _port(value: object) -> int | None:
    """A port as Terraform would read it (a number, or a string of digits); None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _role(value: object) -> Role | None:
    return next((r for r in Role if r.is_load_balancer and r.value == value), None)


def _helm_balancers(stack: Json) -> Iterator[tuple[str, Role, Json]]:
    """(local, role, its entry) for each ``circleci_network.load_balancers.<role>`` of the Helm values locals."""
    found = stack.get("locals")
    for key, values in (found if isinstance(found, dict) else {}).items():
        if HELM_VALUES_LOCAL not in key or not isinstance(values, dict):
            continue
        network = values.get("circleci_network")
        balancers = network.get("load_balancers") if isinstance(network, dict) else None
        for role_name, balancer in balancers.items() if isinstance(balancers, dict) else ():
            if (role := _role(role_name)) is not None and isinstance(balancer, dict):
                yield key, role, balancer


def helm_listeners(stack: Json) -> dict[tuple[Role, int], list[tuple[str, object, object]]]:
    """What the Helm values locals declare per (load balancer role, listener port): (local, node_port,
    target_group_arn) for each local that declares it."""
    found: dict[tuple[Role, int], list[tuple[str, object, object]]] = {}
    for key, role, balancer in _helm_balancers(stack):
        listeners = balancer.get("listeners")
        for port, listener in listeners.items() if isinstance(listeners, dict) else ():
            if (listener_port := _port(port)) is not None and isinstance(listener, dict):
                found.setdefault((role, listener_port), []).append(
                    (key, listener.get("node_port"), listener.get("target_group_arn"))
                )
    return found


def helm_load_balancers(stack: Json) -> dict[str, Role]:
    """``aws_lb`` names the Helm values locals place under a role (``load_balancers.<role>``)."""
    named: dict[str, Role] = {}
    for _key, role, balancer in _helm_balancers(stack):
        for value in balancer.values():
            for name in _LB_NAMED.findall(value if isinstance(value, str) else ""):
                named[name] = role
    return named


def load_balancer_findings(stack: Json, intent: NetworkIntent) -> list[Finding]:
    """``load-balancer-listeners`` and the PrivateLink part of ``load-balancer-security-group`` (AWS)."""
    if intent.cloud != "aws":
        return []
    findings = _private_link(stack)
    balancers = resources(stack, "aws_lb")
    groups = resources(stack, "aws_lb_target_group")
    listeners = resources(stack, "aws_lb_listener")
    by_values = helm_load_balancers(stack)
    roles: dict[str, Role] = {}
    for name, balancer in balancers.items():
        tags = balancer.get("tags")
        tagged = _role(tags.get("circleci/role")) if isinstance(tags, dict) else None
        role = tagged or by_values.get(name)
        if role is not None:
            roles[name] = role
        if tagged is not None and name in by_values and by_values[name] is not tagged:
            findings.append(
                Finding(
                    CHECK,
                    address("aws_lb", name),
                    f"is tagged {tagged.value}, but the Helm values local binds it as {by_values[name].value}",
                )
            )
    rules = intent.server_version.rules()
    declared = helm_listeners(stack)
    # Every NodePort -> the (role, listener port)s the values bind to it, and those delivering to it.
    bound: dict[int, set[tuple[Role, int]]] = {}
    for listener_key, declarations in declared.items():
        for _local, node_port, _arn in declarations:
            if (value := _port(node_port)) is not None:
                bound.setdefault(value, set()).add(listener_key)
    delivered: dict[int, set[tuple[Role, int]]] = {}
    bound_groups = {
        group
        for declarations in declared.values()
        for *_, arn in declarations
        if (group := _resolve(arn, _TARGET_GROUP, groups))
    }
    checked: list[tuple[str, Role, int | None, list[tuple[str, int | None]]]] = []
    ours: set[str] = set()
    for name, listener in listeners.items():
        where = address("aws_lb_listener", name)
        lb = _resolve(listener.get("load_balancer_arn"), _LB, balancers)
        if lb is None:
            findings.append(
                Finding(
                    CHECK,
                    where,
                    f"its load balancer {listener.get('load_balancer_arn')!r} is no aws_lb of the stack the audit "
                    "can resolve (write ${aws_lb.<name>.arn}): it may be one of circleci's",
                )
            )
            continue
        role = roles.get(lb)
        if role is None:  # a load balancer of the team's (``load-balancer-role`` reports it)
            theirs = _targets(listener, groups, where, [])
            if taken := sorted({g for g, _ in theirs if _our_target_group(g, groups[g], bound_groups)}):
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"forwards from aws_lb.{lb}, no load balancer of circleci's, to circleci's "
                        f"{', '.join(address('aws_lb_target_group', g) for g in taken)}: "
                        "its NodePort belongs to circleci's own listener",
                    )
                )
            continue
        ours.add(name)
        port = _port(listener.get("port"))
        admitted = {p.from_port for p in load_balancer_ports(role, rules) if p.protocol is Protocol.TCP}
        if port not in admitted:
            allowed = ", ".join(str(p) for p in sorted(admitted)) or "none"
            findings.append(
                Finding(
                    CHECK,
                    where,
                    f"listens on {listener.get('port')!r}; {role.value}'s rules admit listener ports {allowed} only",
                )
            )
        protocol = listener.get("protocol", "TCP")
        if not isinstance(protocol, str) or protocol.upper() not in _PROTOCOLS:
            findings.append(Finding(CHECK, where, f"protocol {protocol!r}; circleci's listeners are TCP"))
        targets = _targets(listener, groups, where, findings)
        checked.append((where, role, port, targets))
        for _group, node_port in targets:
            if node_port is not None and port is not None:
                delivered.setdefault(node_port, set()).add((role, port))
    for where, role, port, targets in checked:
        for group, node_port in targets:
            target = address("aws_lb_target_group", group)
            if node_port is None or not KUBERNETES_NODE_PORTS.from_port <= node_port <= KUBERNETES_NODE_PORTS.to_port:
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"forwards to {target} on port {groups[group].get('port')!r}, outside the NodePort range "
                        f"{KUBERNETES_NODE_PORTS.from_port}-{KUBERNETES_NODE_PORTS.to_port}",
                    )
                )
                continue
            key = (role, port)
            # Another listener bound there by the values, or (unless the values bind this one there) delivering there.
            sharing = bound.get(node_port, set()) | (
                delivered.get(node_port, set()) if key not in bound.get(node_port, ()) else set()
            )
            others = sorted(f"{r.value}:{p}" for r, p in sharing - {key})
            if others:
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"forwards to {target} on NodePort {node_port}, which is {', '.join(others)}'s: "
                        "each listener delivers to a NodePort of its own",
                    )
                )
            if port is None:
                continue
            if declared and (role, port) not in declared:  # the values bind the others: this one is unbound
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"forwards to {target} on NodePort {node_port}, which the Helm values local does not bind "
                        f"to {role.value}:{port} (it binds {len(declared)} other listeners)",
                    )
                )
            for local, want, arn in declared.get((role, port), []):
                if _port(want) != node_port:
                    findings.append(
                        Finding(
                            CHECK,
                            where,
                            f"forwards to {target} on NodePort {node_port}; the Helm values local {local} binds "
                            f"{role.value}:{port} to NodePort {want!r}",
                        )
                    )
                if arn is not None and _resolve(arn, _TARGET_GROUP, groups) != group:
                    findings.append(
                        Finding(
                            CHECK,
                            where,
                            f"forwards to {target}; the Helm values local {local} binds {role.value}:{port} to {arn!r}",
                        )
                    )
    our_groups = {g for *_, targets in checked for g, _ in targets}
    our_groups |= {g for g, body in groups.items() if _our_target_group(g, body, bound_groups)}
    findings += _reroutes(stack, listeners, ours, our_groups)
    return findings


def _our_target_group(name: str, group: Json, bound: set[str]) -> bool:
    """Tagged with a load balancer role of ours, or bound by the Helm values."""
    tags = group.get("tags")
    return (isinstance(tags, dict) and _role(tags.get("circleci/role")) is not None) or name in bound


def _targets(
    listener: Json, groups: dict[str, Json], where: str, findings: list[Finding]
) -> list[tuple[str, int | None]]:
    """The target groups a listener of ours forwards to, with their ports (None: unreadable)."""
    found: list[tuple[str, int | None]] = []
    actions = as_list(listener.get("default_action"))
    if not actions:
        findings.append(Finding(CHECK, where, "has no default action the audit can read"))
    for action in actions:
        if not isinstance(action, dict) or action.get("type") != "forward":
            kind = action.get("type") if isinstance(action, dict) else action
            findings.append(Finding(CHECK, where, f"has a {kind!r} action; circleci's listeners only forward"))
            continue
        arns = [action["target_group_arn"]] if action.get("target_group_arn") is not None else []
        for forward in as_list(action.get("forward")):
            for group in as_list(forward.get("target_group") if isinstance(forward, dict) else None):
                arns.append(group.get("arn") if isinstance(group, dict) else group)
        if not arns:
            findings.append(Finding(CHECK, where, "forwards to no target group the audit can read"))
        for arn in arns:
            group = _resolve(arn, _TARGET_GROUP, groups)
            if group is None:
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"forwards to {arn!r}, no aws_lb_target_group of the stack the audit can resolve "
                        "(write ${aws_lb_target_group.<name>.arn}): the port it delivers to is unknown",
                    )
                )
                continue
            body = groups[group]
            target_type = body.get("target_type", "instance")
            if target_type != "instance":
                findings.append(
                    Finding(
                        CHECK,
                        where,
                        f"forwards to {address('aws_lb_target_group', group)} of target type {target_type!r}; "
                        "circleci's target groups deliver to the nodes' NodePorts (instance)",
                    )
                )
            found.append((group, _port(body.get("port"))))
    return found


def _reroutes(stack: Json, listeners: dict[str, Json], ours: set[str], our_groups: set[str]) -> list[Finding]:
    """Listener rules on our listeners, and attachments delivering to another port of our target groups."""
    findings = []
    for name, rule in resources(stack, "aws_lb_listener_rule").items():
        listener = _resolve(rule.get("listener_arn"), _LISTENER, listeners)
        if listener is None or listener in ours:
            findings.append(
                Finding(
                    CHECK,
                    address("aws_lb_listener_rule", name),
                    f"reroutes {'a listener of circleci' if listener else 'a listener the audit cannot resolve'} "
                    "(circleci's listeners forward by their default action only)",
                )
            )
    groups = resources(stack, "aws_lb_target_group")
    for name, attachment in resources(stack, "aws_lb_target_group_attachment").items():
        group = _resolve(attachment.get("target_group_arn"), _TARGET_GROUP, groups)
        if group is not None and group not in our_groups:
            continue
        port = attachment.get("port")
        if group is None or (port is not None and _port(port) != _port(groups[group].get("port"))):
            findings.append(
                Finding(
                    CHECK,
                    address("aws_lb_target_group_attachment", name),
                    f"registers a target on port {port!r} of "
                    f"{address('aws_lb_target_group', group) if group else 'a target group the audit cannot resolve'}"
                    ": circleci's target groups deliver to their own NodePort only",
                )
            )
    return findings


def _private_link(stack: Json) -> list[Finding]:
    findings = []
    for name, lb in resources(stack, "aws_lb").items():
        value = lb.get(_PRIVATE_LINK)
        if value is not None and value != "on":
            findings.append(
                Finding(
                    "load-balancer-security-group",
                    address("aws_lb", name),
                    f"{_PRIVATE_LINK} is {value!r}: traffic through PrivateLink endpoints would bypass its security "
                    'group; leave it unset ("on")',
                )
            )
    return findings
