"""Checkov findings on our stacks that we accept, each for a stated reason, listed once.

``write_checkov_baselines(outdir)`` turns this list into checkov ``--baseline`` files beside
the synthesized stacks, so a user's scan passes for exactly these reasons and fails for
anything new. Inline skip comments do nothing in ``.tf.json``; a baseline is per resource.

Resources are selected by what the library writes into them (the ``circleci/rule``,
``circleci/role`` and ``circleci/tier`` tags, or a GCP firewall's construct id, which is its
rule id), never by logical IDs, which depend on where the user puts the construct.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from circleci_network.audit.stack_files import STACK_FILE, synthesized_stacks
from circleci_network.model.options import HardeningOptions
from circleci_network.model.ports import HTTP, SSH
from circleci_network.model.resolve import Cloud, resolve_policy
from circleci_network.model.roles import (
    COMPUTE_ROLES,
    INTERNET_FACING_LOAD_BALANCERS,
    JOB_ROLES,
    LOAD_BALANCERS,
    OutsidePeer,
    Role,
)
from circleci_network.model.rules import Direction, SpecSection

#: checkov's own name for a baseline file (``checkov --create-baseline`` writes it).
BASELINE_FILE = ".checkov.baseline"


class Basis(StrEnum):
    """Why a failed check is accepted."""

    SPEC_REQUIRED = "spec-required"  # the guide asks for exactly the flow the check flags
    FALSE_POSITIVE = "false-positive"  # the check misreads what we render
    OUTSIDE_THE_NETWORK = "outside-the-network"  # the fix belongs to resources the network does not create
    NOT_APPLICABLE = "not-applicable"  # the control cannot act on the resource as the guide shapes it


@dataclass(frozen=True)
class ResourceSelector:
    """Resources of one type, picked by the rule ids, roles or subnet tiers the library stamped on them."""

    resource_type: str
    rule_ids: tuple[str, ...] = ()
    roles: tuple[Role, ...] = ()
    tiers: tuple[str, ...] = ()  # AWS ``circleci/tier`` (SubnetTier values)
    where: tuple[tuple[str, object], ...] = ()
    """
    Only while the resource has these values (a list attribute: contains them),
    so that an option that removes the finding also removes its baseline entry.
    """
    acl_tier_from_itself: str | None = None
    """
    Network ACL entries (which take no tags): the tier of the ACL they belong
    to, and whose ``cidr_block`` lies inside that same tier's subnets.
    """
    unattached: bool = False
    """
    Only while nothing in the stack but its own rules names the resource (a security group no
    instance, launch template or cluster of the stack carries): needs ``logical_id``.
    """

    def matches(
        self,
        resource_type: str,
        body: Mapping[str, Any],
        stack: Mapping[str, Any] | None = None,
        logical_id: str | None = None,
    ) -> bool:
        if resource_type != self.resource_type or not all(_has(body, k, v) for k, v in self.where):
            return False
        if self.unattached and (logical_id is None or _attached(resource_type, logical_id, stack or {})):
            return False
        acl_tier = self.acl_tier_from_itself
        if acl_tier is not None:
            resources = (stack or {}).get("resource") or {}
            return _acl_tier(body, resources) == acl_tier and _inside_tier(body.get("cidr_block"), acl_tier, resources)
        tags = body.get("tags") or {}
        rule_id = tags.get("circleci/rule") if isinstance(tags, Mapping) else None
        if rule_id is None and resource_type == "google_compute_firewall":
            rule_id = _construct_id(body)  # firewalls take no labels; the construct id is the rule id
        if rule_id is not None and rule_id in self.rule_ids:
            return True
        if not isinstance(tags, Mapping):
            return False
        role, tier = tags.get("circleci/role"), tags.get("circleci/tier")
        return (role is not None and role in {r.value for r in self.roles}) or (tier is not None and tier in self.tiers)


@dataclass(frozen=True)
class AcceptedScannerFinding:
    check_id: str
    selector: ResourceSelector
    basis: Basis
    spec_section: str  # heading of the guide the reason comes from
    justification: str

    @property
    def is_graph_check(self) -> bool:
        """checkov keys graph checks (CKV2_*) ``<type>.<name>``, others ``resource.<name>``."""
        return self.check_id.startswith("CKV2_")

    def baseline_resource(self, resource_type: str, logical_id: str) -> str:
        return f"{resource_type}.{logical_id}" if self.is_graph_check else f"resource.{logical_id}"


def _http_from_clients() -> tuple[str, ...]:
    """Rules opening port 80 to the clients: the load balancers' rows, and the same rows on the
    nodes when the load balancers are transparent (GCP, where the port is kept; AWS renames them
    alike but delivers to the NodePorts), as the resolved policy names them."""
    plain = resolve_policy(HardeningOptions(), cloud=Cloud.AWS)
    transparent = resolve_policy(HardeningOptions(), cloud=Cloud.GCP)
    return tuple(
        dict.fromkeys(
            rule.rule_id
            for policy in (plain, transparent)
            for rule in policy.rules
            if rule.peer is OutsidePeer.CLIENTS and HTTP in rule.ports
        )
    )


def _ssh_from_roles() -> tuple[str, ...]:
    """Ingress on 22 whose source is one of our roles: rendered as a security group reference."""
    policy = resolve_policy(HardeningOptions(), cloud=Cloud.AWS)
    return tuple(
        rule.rule_id
        for rule in policy.rules
        if rule.direction is Direction.INGRESS and rule.peer_role is not None and SSH in rule.ports
    )


_HTTP_FROM_CLIENTS = _http_from_clients()
_SSH_FROM_ROLES = _ssh_from_roles()

_FROM_ANYWHERE_AWS: tuple[tuple[str, object], ...] = (("cidr_ipv4", "0.0.0.0/0"),)
_FROM_ANYWHERE_GCP: tuple[tuple[str, object], ...] = (("source_ranges", "0.0.0.0/0"),)

ACCEPTED_FINDINGS: tuple[AcceptedScannerFinding, ...] = (
    AcceptedScannerFinding(
        "CKV_AWS_260",
        ResourceSelector("aws_vpc_security_group_ingress_rule", rule_ids=_HTTP_FROM_CLIENTS, where=_FROM_ANYWHERE_AWS),
        Basis.SPEC_REQUIRED,
        SpecSection.LB_INGRESS.value,
        'The guide\'s table opens port 80 from "External" on frontend-external and *-server-traefik; '
        "HardeningOptions.client_cidrs narrows it, and then the check passes.",
    ),
    AcceptedScannerFinding(
        "CKV_GCP_106",
        ResourceSelector("google_compute_firewall", rule_ids=_HTTP_FROM_CLIENTS, where=_FROM_ANYWHERE_GCP),
        Basis.SPEC_REQUIRED,
        SpecSection.LB_INGRESS.value,
        'Port 80 from "External" for frontend-external and *-server-traefik; GCP passthrough load '
        "balancers are transparent, so the guide applies the row to the nodes.",
    ),
    AcceptedScannerFinding(
        "CKV2_AWS_20",
        ResourceSelector("aws_lb", roles=INTERNET_FACING_LOAD_BALANCERS),
        Basis.SPEC_REQUIRED,
        SpecSection.LB_INGRESS.value,
        "The guide lists port 80 on frontend-external and *-server-traefik. These are network load "
        "balancers: a TCP listener can only forward (redirects exist on ALBs), so port 80 reaches the "
        "service, which redirects to HTTPS itself.",
    ),
    AcceptedScannerFinding(
        "CKV_AWS_24",
        ResourceSelector(
            "aws_vpc_security_group_ingress_rule",
            rule_ids=_SSH_FROM_ROLES,
        ),
        Basis.FALSE_POSITIVE,
        SpecSection.VM_INGRESS.value,
        "The guide's rows open 22 on external VMs from K8s nodes and from Nomad clients. The source is "
        "their security group (referenced_security_group_id), not 0.0.0.0/0; checkov flags any such rule on 22.",
    ),
    AcceptedScannerFinding(
        "CKV2_AWS_5",
        ResourceSelector("aws_security_group", roles=COMPUTE_ROLES, unattached=True),
        Basis.OUTSIDE_THE_NETWORK,
        "Network Topology",
        "The guide's three instance types (Kubernetes nodes, Nomad clients, external VMs) are launched by "
        "EKS, the Nomad autoscaling group and the VM service, not by this network; they attach these groups "
        "(stack outputs security-group-id-*). In a configuration that also holds the instances (the EKS "
        "example's launch template carries the node group) the check passes, and the group is not accepted.",
    ),
    AcceptedScannerFinding(
        "CKV_AWS_130",
        ResourceSelector(
            "aws_subnet", tiers=tuple(role.value for role in JOB_ROLES), where=(("map_public_ip_on_launch", True),)
        ),
        Basis.SPEC_REQUIRED,
        "Network Topology",
        "Only when chosen (public job subnets): the guide recommends placing Nomad clients and VMs in a "
        "public subnet so users can SSH into jobs, scoped by the rerun-with-SSH rules. Other subnets never "
        "assign public addresses.",
    ),
    AcceptedScannerFinding(
        "CKV_AWS_352",
        ResourceSelector(
            "aws_network_acl_rule", where=(("egress", False), ("protocol", "-1")), acl_tier_from_itself="k8s-nodes"
        ),
        Basis.SPEC_REQUIRED,
        SpecSection.K8S_INTRA.value,
        '"It is fine to allow all traffic between K8s nodes." With network ACLs (stateless, opt-in) that rule '
        "needs its entry: all protocols from the K8s node subnets into their own ACL. All-ports entries from "
        "anywhere else still fail.",
    ),
    AcceptedScannerFinding(
        "CKV_AWS_91",
        ResourceSelector("aws_lb", roles=LOAD_BALANCERS),
        Basis.NOT_APPLICABLE,
        "Network Traffic",
        'The guide\'s load balancer rules are "TCP only": our NLBs have TCP listeners and TLS ends in the '
        "cluster. NLB access logs are written only for TLS listeners, so enabling them would log nothing; "
        "the VPC flow log (traffic ALL) records these connections.",
    ),
)


#: Resources that only add rules to a security group: naming it there attaches it to nothing.
_RULE_TYPES = frozenset(
    {"aws_security_group_rule", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"}
)


def _attached(resource_type: str, logical_id: str, stack: Mapping[str, Any]) -> bool:
    """Some resource of the stack, other than rules, names this one (as checkov's graph sees it)."""
    reference = f"${{{resource_type}.{logical_id}."
    for kind, resources in (stack.get("resource") or {}).items():
        if kind in _RULE_TYPES or kind == resource_type:
            continue
        if any(reference in json.dumps(body) for body in resources.values()):
            return True
    return False


def _has(body: Mapping[str, Any], attribute: str, value: object) -> bool:
    actual = body.get(attribute)
    return actual == value or (isinstance(actual, list) and value in actual)


def _tier_tag(body: Mapping[str, Any]) -> object:
    tags = body.get("tags")
    return tags.get("circleci/tier") if isinstance(tags, Mapping) else None


def _acl_tier(body: Mapping[str, Any], resources: Mapping[str, Any]) -> object:
    match = re.fullmatch(r"\$\{aws_network_acl\.([^.}]+)\.id\}", str(body.get("network_acl_id")))
    acl = (resources.get("aws_network_acl") or {}).get(match.group(1)) if match else None
    return _tier_tag(acl) if isinstance(acl, Mapping) else None


def _inside_tier(cidr: object, tier: str, resources: Mapping[str, Any]) -> bool:
    """Every address of ``cidr`` belongs to a subnet of ``tier`` (the library's subnets are disjoint)."""
    try:
        network = ipaddress.IPv4Network(str(cidr))
        subnets = [
            ipaddress.IPv4Network(str(s.get("cidr_block")))
            for s in (resources.get("aws_subnet") or {}).values()
            if _tier_tag(s) == tier
        ]
    except ValueError:
        return False
    if any(network.subnet_of(s) for s in subnets):
        return True
    return sum(s.num_addresses for s in subnets if s.subnet_of(network)) == network.num_addresses


def _construct_id(body: Mapping[str, Any]) -> str | None:
    meta = body.get("//")
    path = meta.get("metadata", {}).get("path") if isinstance(meta, Mapping) else None
    return path.rsplit("/", 1)[-1] if isinstance(path, str) else None


def accepted_for_stack(
    stack: Mapping[str, Any], findings: Iterable[AcceptedScannerFinding] = ACCEPTED_FINDINGS
) -> dict[str, list[str]]:
    """checkov resource key -> accepted check ids, for the resources this stack holds."""
    accepted: dict[str, set[str]] = {}
    for resource_type, resources in (stack.get("resource") or {}).items():
        for logical_id, body in resources.items():
            for finding in findings:
                if finding.selector.matches(resource_type, body, stack, logical_id):
                    key = finding.baseline_resource(resource_type, logical_id)
                    accepted.setdefault(key, set()).add(finding.check_id)
    return {key: sorted(ids) for key, ids in sorted(accepted.items())}


def _baseline(files: Mapping[str, dict[str, list[str]]]) -> dict[str, Any]:
    """checkov's ``--baseline`` format (``checkov.common.output.baseline.Baseline.to_dict``)."""
    return {
        "failed_checks": [
            {
                "file": file,
                "findings": [{"resource": resource, "check_ids": ids} for resource, ids in accepted.items()],
            }
            for file, accepted in sorted(files.items())
            if accepted
        ]
    }


def write_checkov_baselines(outdir: str | Path) -> list[Path]:
    """Write ``.checkov.baseline`` in every stack folder of a cdktf output directory, and one for
    the whole directory. Use with ``checkov -d <folder> --baseline <folder>/.checkov.baseline``."""
    root = Path(outdir)
    everything: dict[str, dict[str, list[str]]] = {}
    written: list[Path] = []
    for stack_file in synthesized_stacks(root):
        accepted = accepted_for_stack(json.loads(stack_file.read_text()))
        everything[f"/{stack_file.relative_to(root).as_posix()}"] = accepted
        written.append(_write(stack_file.parent / BASELINE_FILE, _baseline({f"/{STACK_FILE}": accepted})))
    written.append(_write(root / BASELINE_FILE, _baseline(everything)))
    return written


def _write(path: Path, content: dict[str, Any]) -> Path:
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path
