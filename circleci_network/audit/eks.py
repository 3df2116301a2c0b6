"""EKS's cluster security group, as the audit adds it when the user says the nodes carry it [EKS-SG].

EKS makes ``eks-cluster-sg-<cluster>-<id>`` itself and puts it on the control plane's ENIs, and
on a managed node group's nodes when its launch template names no security groups [EKS-LT].
The synthesized JSON never holds it; with ``eks_cluster_security_group_on_nodes`` the audit
evaluates the JSON together with its rules: all traffic from itself, all egress to 0.0.0.0/0.
Its members are then the nodes and the control plane, so each gains those rules.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from circleci_network.audit.space import PortSpec
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.roles import Role

if TYPE_CHECKING:
    from circleci_network.audit.aws_view import Grant

CLUSTER_GROUP = "EKS's cluster security group eks-cluster-sg-<cluster>-<id> (platform, attached to the nodes)"
EVERYWHERE = IPv4Network("0.0.0.0/0")


def implicit_grants(intent: NetworkIntent, present: set[Role]) -> list[Grant]:
    """The cluster group's rules on each of its members we build a group for (none unless declared)."""
    from circleci_network.audit.aws_view import Grant  # aws_view imports this module

    if not (intent.platform.is_eks and intent.platform.eks_cluster_security_group_on_nodes):
        return []
    members = [r for r in (Role.KUBERNETES_NODES, Role.EKS_CONTROL_PLANE) if r in present]
    every = PortSpec("all")
    grants = [Grant(role, "egress", every, None, EVERYWHERE, CLUSTER_GROUP) for role in members]
    grants += [Grant(role, "ingress", every, peer, None, CLUSTER_GROUP) for role in members for peer in members]
    return grants
