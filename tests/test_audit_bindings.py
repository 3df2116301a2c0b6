"""The audit binds what it trusts (adversarial review 11, items 5, 7 and 9): each listener of ours
delivers to its own role's NodePort, resource kinds the audit does not read fail, and an
acceptance never covers circleci's own resources nor an attachment the audit cannot resolve."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from circleci_network.audit import audit_stack
from circleci_network.audit.listeners import load_balancer_findings
from circleci_network.audit.unread import UNREAD_KINDS, unread_findings, unread_kind
from circleci_network.errors import ConfigurationError
from circleci_network.model.accepted_findings import ACCEPTABLE_CHECKS, OWN_CHECKS, AcceptedFinding
from circleci_network.model.intent import NetworkIntent
from tests.stack_edits import failing_findings, record

Synth = dict[str, Any]
REASON = "the wiki's database; attached to its RDS instance only"


def _named(stack: Synth, kind: str, part: str) -> str:
    (name,) = [n for n in stack["resource"][kind] if part in n]
    return name


def _tagged(stack: Synth, kind: str, role: str) -> str:
    return next(n for n, r in stack["resource"][kind].items() if (r.get("tags") or {}).get("circleci/role") == role)


def _problems(stack: Synth, check: str) -> list[str]:
    return [f"{f.resource}: {f.problem}" for f in failing_findings(stack, check)]


# --- item 5: listener -> NodePort ---------------------------------------------------------------


def test_every_synthesized_stack_binds_its_listeners(
    shape_stacks: dict[str, Synth], eks_example: Synth, aws_v4_internet: Synth
) -> None:
    stacks = {**shape_stacks, "eks": eks_example, "aws-v4": aws_v4_internet}
    for name, stack in stacks.items():
        intent = NetworkIntent.from_json(record(stack))
        assert load_balancer_findings(stack, intent) == [], name
        assert unread_findings(stack) == [], name


def test_a_frontend_listener_on_vm_services_nodeport_fails(aws_reference: Synth) -> None:
    """internet:443 to the vm-service API: no rule changes (the node range covers 32000)."""
    stack = copy.deepcopy(aws_reference)
    stack["resource"]["aws_lb_target_group"][_named(stack, "aws_lb_target_group", "frontend-external-443")]["port"] = (
        32000
    )
    problems = _problems(stack, "load-balancer-listeners")
    assert any("frontend-external-listener-443" in p and "vm-service:3000's" in p for p in problems)
    assert any("binds frontend-external:443 to NodePort 30443" in p for p in problems)
    # vm-service's own listener is where the values bind it: not the intruder.
    assert not any("vm-service-listener" in p for p in problems)


def test_the_values_moved_along_still_fail(aws_reference: Synth) -> None:
    """Edit the target group and the Helm values together: the NodePort is still vm-service's."""
    stack = copy.deepcopy(aws_reference)
    stack["resource"]["aws_lb_target_group"][_named(stack, "aws_lb_target_group", "frontend-external-443")]["port"] = (
        32000
    )
    (values,) = [v for k, v in stack["locals"].items() if "circleci-helm-values" in k]
    values["circleci_network"]["load_balancers"]["frontend-external"]["listeners"]["443"]["node_port"] = 32000
    problems = _problems(stack, "load-balancer-listeners")
    assert any("frontend-external-listener-443" in p and "vm-service:3000's" in p for p in problems)
    assert any("vm-service-listener-3000" in p and "frontend-external:443's" in p for p in problems)


def test_a_new_frontend_listener_on_nomads_nodeport_fails(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    resource = stack["resource"]
    (vpc,) = resource["aws_vpc"]
    lb = _tagged(stack, "aws_lb", "frontend-external")
    del resource["aws_lb_listener"][_named(stack, "aws_lb_listener", "frontend-external-listener-80")]
    resource["aws_lb_target_group"]["rpc"] = {"port": 30647, "protocol": "TCP", "vpc_id": f"${{aws_vpc.{vpc}.id}}"}
    resource["aws_lb_listener"]["x"] = {
        "load_balancer_arn": f"${{aws_lb.{lb}.arn}}",
        "port": 80,
        "protocol": "TCP",
        "default_action": [{"type": "forward", "target_group_arn": "${aws_lb_target_group.rpc.arn}"}],
    }
    problems = _problems(stack, "load-balancer-listeners")
    assert any(p.startswith("aws_lb_listener.x:") and "nomad:4647's" in p for p in problems)
    assert any(p.startswith("aws_lb_listener.x:") and "to NodePort 30080" in p for p in problems)


@pytest.mark.parametrize(("port", "rule"), [(22, "in-http-"), (10250, "in-https-")])
def test_transparent_listeners_to_ssh_or_the_kubelet_fail(shape_stacks: dict[str, Synth], port: int, rule: str) -> None:
    """The target group and the node rule moved together: the flows agree, the binding does not."""
    stack = copy.deepcopy(shape_stacks["aws-transparent-lbs"])
    listener = "80" if rule == "in-http-" else "443"
    group = stack["resource"]["aws_lb_target_group"][
        _named(stack, "aws_lb_target_group", f"frontend-external-{listener}_")
    ]
    group["port"] = port
    group["tags"]["circleci/node-port"] = str(port)
    (node_rule,) = [
        r
        for n, r in stack["resource"]["aws_vpc_security_group_ingress_rule"].items()
        if f"k8s-nodes-in-via-frontend-external-{rule}" in n
    ]
    node_rule["from_port"] = node_rule["to_port"] = port
    problems = _problems(stack, "load-balancer-listeners")
    assert any(f"on port {port}, outside the NodePort range 30000-32767" in p for p in problems)


def _listener_edit(stack: Synth, edit: str) -> None:
    resource = stack["resource"]
    nomad = _named(stack, "aws_lb_listener", "nomad-listener-4647")
    group = _named(stack, "aws_lb_target_group", "nomad-4647")
    (vpc,) = resource["aws_vpc"]
    if edit == "port":
        resource["aws_lb_listener"][nomad]["port"] = 22
    elif edit == "protocol":
        resource["aws_lb_listener"][nomad]["protocol"] = "UDP"
    elif edit == "data-lb":
        resource["aws_lb_listener"][nomad]["load_balancer_arn"] = "${data.aws_lb.nomad.arn}"
    elif edit == "target-expression":
        action = resource["aws_lb_listener"][nomad]["default_action"][0]
        action["target_group_arn"] = f"${{one([aws_lb_target_group.{group}.arn])}}"
    elif edit == "weighted":
        resource["aws_lb_target_group"]["ssh"] = {"port": 22, "vpc_id": f"${{aws_vpc.{vpc}.id}}"}
        resource["aws_lb_listener"][nomad]["default_action"] = [
            {"type": "forward", "forward": {"target_group": [{"arn": "${aws_lb_target_group.ssh.arn}"}]}}
        ]
    elif edit == "ip-targets":
        resource["aws_lb_target_group"][group]["target_type"] = "ip"
    elif edit == "listener-rule":
        resource["aws_lb_listener_rule"] = {"r": {"listener_arn": f"${{aws_lb_listener.{nomad}.arn}}"}}
    elif edit == "attachment-port":
        resource["aws_lb_target_group_attachment"] = {
            "a": {"target_group_arn": f"${{aws_lb_target_group.{group}.arn}}", "target_id": "i-0abc", "port": 22}
        }
    elif edit == "unbound":  # the values' entry for nomad:4647 dropped, the target group moved to a free port
        (values,) = [v for k, v in stack["locals"].items() if "circleci-helm-values" in k]
        del values["circleci_network"]["load_balancers"]["nomad"]["listeners"]["4647"]
        resource["aws_lb_target_group"][group]["port"] = 32100
    elif edit == "untagged":  # the Helm values still name it as nomad's: its listener is checked as nomad's
        lb = _tagged(stack, "aws_lb", "nomad")
        del resource["aws_lb"][lb]["tags"]["circleci/role"]
        resource["aws_lb_listener"][nomad]["port"] = 22


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        ("port", "nomad's rules admit listener ports 4647 only"),
        ("protocol", "protocol 'UDP'"),
        ("data-lb", "no aws_lb of the stack the audit can resolve"),
        ("target-expression", "no aws_lb_target_group of the stack the audit can resolve"),
        ("weighted", "on port 22, outside the NodePort range"),
        ("ip-targets", "of target type 'ip'"),
        ("listener-rule", "reroutes a listener of circleci"),
        ("attachment-port", "registers a target on port 22"),
        ("unbound", "which the Helm values local does not bind to nomad:4647"),
        ("untagged", "nomad's rules admit listener ports 4647 only"),
    ],
)
def test_listener_edits_the_audit_cannot_vouch_for(aws_reference: Synth, edit: str, says: str) -> None:
    stack = copy.deepcopy(aws_reference)
    _listener_edit(stack, edit)
    assert any(says in p for p in _problems(stack, "load-balancer-listeners")), edit


def test_the_teams_own_load_balancer_keeps_its_own_listeners(aws_reference: Synth) -> None:
    """A listener of an ALB of the team's (accepted) is the team's business: any port, any target."""
    stack = copy.deepcopy(aws_reference)
    resource = stack["resource"]
    (vpc,) = resource["aws_vpc"]
    resource["aws_lb"]["docs"] = {"load_balancer_type": "application", "internal": True, "name": "docs"}
    resource["aws_lb_target_group"]["docs"] = {"port": 8080, "target_type": "ip", "vpc_id": f"${{aws_vpc.{vpc}.id}}"}
    resource["aws_lb_listener"]["docs"] = {
        "load_balancer_arn": "${aws_lb.docs.arn}",
        "port": 443,
        "protocol": "HTTPS",
        "default_action": [{"type": "forward", "target_group_arn": "${aws_lb_target_group.docs.arn}"}],
    }
    record(stack)["accepted_findings"] = [AcceptedFinding("load-balancer-role", "aws_lb.docs", REASON).to_json()]
    result = audit_stack(stack)
    assert result.ok, result.summary()
    # But not in front of circleci's NodePorts: those are our listeners' own.
    frontend = _named(stack, "aws_lb_target_group", "frontend-external-443")
    resource["aws_lb_listener"]["docs"]["default_action"][0]["target_group_arn"] = (
        f"${{aws_lb_target_group.{frontend}.arn}}"
    )
    (found,) = failing_findings(stack, "load-balancer-listeners")
    assert found.resource == "aws_lb_listener.docs" and "circleci's" in found.problem


# --- item 7: resource kinds the audit does not read ---------------------------------------------


@pytest.mark.parametrize(
    ("kind", "cloud"),
    [
        ("google_compute_network_firewall_policy_rule", "gcp"),
        ("google_compute_firewall_policy_association", "gcp"),
        ("google_compute_region_network_firewall_policy", "gcp"),
        ("google_compute_network_peering", "gcp"),
        ("aws_vpc_endpoint_service", "aws"),
        ("aws_vpc_endpoint_service_allowed_principal", "aws"),
        ("aws_network_interface_sg_attachment", "aws"),
        ("aws_vpc_peering_connection_accepter", "aws"),
        ("aws_ec2_transit_gateway_vpc_attachment", "aws"),
        ("aws_ec2_client_vpn_authorization_rule", "aws"),
        ("aws_vpn_gateway_attachment", "aws"),
        ("google_compute_vpn_tunnel", "gcp"),
        ("aws_networkfirewall_firewall", "aws"),
        ("aws_alb", "aws"),
        ("aws_alb_listener", "aws"),
    ],
)
def test_a_kind_the_audit_does_not_read_fails(
    aws_reference: Synth, gcp_reference: Synth, kind: str, cloud: str
) -> None:
    stack = copy.deepcopy(aws_reference if cloud == "aws" else gcp_reference)
    stack["resource"].setdefault(kind, {})["x"] = {"name": "x"}
    (found,) = failing_findings(stack, "unread-resource")
    assert found.resource == f"{kind}.x" and "opens network access the audit does not read" in found.problem


def test_the_kinds_the_audit_reads_are_not_in_the_list() -> None:
    for kind in (
        "aws_vpc_endpoint",
        "aws_lb",
        "aws_lb_listener",
        "aws_security_group",
        "google_compute_firewall",
        "google_compute_network",
    ):
        assert unread_kind(kind) is None, kind
    assert all(why for why in UNREAD_KINDS.values())


def test_unread_resources_and_listeners_cannot_be_accepted() -> None:
    for check in ("unread-resource", "load-balancer-listeners"):
        assert check in OWN_CHECKS and check not in ACCEPTABLE_CHECKS
        with pytest.raises(ConfigurationError, match="cannot be accepted"):
            AcceptedFinding(check, "aws_vpc_endpoint_service.share", REASON)


def test_a_gcp_network_firewall_policy_fails(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    (network,) = stack["resource"]["google_compute_network"]
    stack["resource"]["google_compute_network_firewall_policy"] = {"p": {"name": "p"}}
    stack["resource"]["google_compute_network_firewall_policy_rule"] = {
        "r": {
            "firewall_policy": "${google_compute_network_firewall_policy.p.name}",
            "priority": 1,
            "direction": "INGRESS",
            "action": "allow",
            "match": {"src_ip_ranges": ["0.0.0.0/0"], "layer4_configs": [{"ip_protocol": "all"}]},
        }
    }
    stack["resource"]["google_compute_network_firewall_policy_association"] = {
        "a": {
            "firewall_policy": "${google_compute_network_firewall_policy.p.id}",
            "attachment_target": f"${{google_compute_network.{network}.id}}",
        }
    }
    found = {f.resource for f in failing_findings(stack, "unread-resource")}
    assert found == {
        "google_compute_network_firewall_policy.p",
        "google_compute_network_firewall_policy_rule.r",
        "google_compute_network_firewall_policy_association.a",
    }


def test_nomad_published_over_private_link_fails(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    lb = _tagged(stack, "aws_lb", "nomad")
    stack["resource"]["aws_lb"][lb]["enforce_security_group_inbound_rules_on_private_link_traffic"] = "off"
    (found,) = failing_findings(stack, "load-balancer-security-group")
    assert found.resource == f"aws_lb.{lb}" and "bypass its security group" in found.problem
    stack["resource"]["aws_vpc_endpoint_service"] = {
        "share": {
            "acceptance_required": False,
            "network_load_balancer_arns": [f"${{aws_lb.{lb}.arn}}"],
            "allowed_principals": ["*"],
        }
    }
    (service,) = failing_findings(stack, "unread-resource")
    assert service.resource == "aws_vpc_endpoint_service.share"
    stack["resource"]["aws_lb"][lb]["enforce_security_group_inbound_rules_on_private_link_traffic"] = "on"
    assert not failing_findings(stack, "load-balancer-security-group")


# --- item 9: acceptances never wider than the team's own resource -------------------------------


def _with_wiki(aws_reference: Synth) -> Synth:
    stack = copy.deepcopy(aws_reference)
    (vpc,) = stack["resource"]["aws_vpc"]
    stack["resource"]["aws_security_group"]["wiki-db"] = {"name": "wiki-db", "vpc_id": f"${{aws_vpc.{vpc}.id}}"}
    record(stack)["accepted_findings"] = [
        AcceptedFinding("security-group-role", "aws_security_group.wiki-db", REASON).to_json()
    ]
    assert audit_stack(stack).ok
    return stack


def test_an_accepted_group_beside_ours_in_an_expression_fails(aws_reference: Synth) -> None:
    stack = _with_wiki(aws_reference)
    nodes = _tagged(stack, "aws_security_group", "k8s-nodes")
    stack["resource"]["aws_launch_template"] = {
        "nodes": {
            "vpc_security_group_ids": f"${{concat([aws_security_group.wiki-db.id], [aws_security_group.{nodes}.id])}}"
        }
    }
    (found,) = failing_findings(stack, "security-group-attachment")
    assert found.resource == "aws_launch_template.nodes" and nodes in found.problem


@pytest.mark.parametrize(
    "other",
    ["${data.aws_security_group.k8s.id}", "sg-0123456789abcdef0", "${var.node_group}", "${aws_security_group.gone.id}"],
)
def test_an_accepted_group_beside_a_group_the_audit_cannot_resolve_fails(aws_reference: Synth, other: str) -> None:
    stack = _with_wiki(aws_reference)
    stack["resource"]["aws_launch_template"] = {
        "nodes": {"vpc_security_group_ids": ["${aws_security_group.wiki-db.id}", other]}
    }
    (found,) = failing_findings(stack, "security-group-attachment")
    assert found.resource == "aws_launch_template.nodes" and "cannot resolve" in found.problem


def test_an_accepted_group_beside_another_of_the_teams_passes(aws_reference: Synth) -> None:
    stack = _with_wiki(aws_reference)
    (vpc,) = stack["resource"]["aws_vpc"]
    stack["resource"]["aws_security_group"]["wiki-app"] = {"name": "wiki-app", "vpc_id": f"${{aws_vpc.{vpc}.id}}"}
    record(stack)["accepted_findings"].append(
        AcceptedFinding("security-group-role", "aws_security_group.wiki-app", REASON).to_json()
    )
    stack["resource"]["aws_launch_template"] = {
        "wiki": {
            "vpc_security_group_ids": ["${aws_security_group.wiki-db.id}", "${aws_security_group.wiki-app.id}"],
            "depends_on": ["aws_security_group.wiki-db"],
        }
    }
    result = audit_stack(stack)
    assert result.ok, result.summary()


def test_an_accepted_group_on_a_network_interface_fails(aws_reference: Synth) -> None:
    stack = _with_wiki(aws_reference)
    stack["resource"]["aws_network_interface_sg_attachment"] = {
        "x": {
            "security_group_id": "${aws_security_group.wiki-db.id}",
            "network_interface_id": "${aws_instance.node.primary_network_interface_id}",
        }
    }
    (found,) = failing_findings(stack, "security-group-attachment")
    assert found.resource == "aws_network_interface_sg_attachment.x" and "network interface" in found.problem


def test_our_nomad_load_balancer_cannot_be_accepted(aws_reference: Synth) -> None:
    """Untagged, made internet-facing and accepted as the team's: it is still the one our listener,
    target group and Helm values point at."""
    stack = copy.deepcopy(aws_reference)
    lb = _tagged(stack, "aws_lb", "nomad")
    body = stack["resource"]["aws_lb"][lb]
    del body["tags"]["circleci/role"]
    body["internal"] = False
    body["subnets"] = [
        f"${{aws_subnet.{n}.id}}"
        for n, s in stack["resource"]["aws_subnet"].items()
        if s["tags"]["circleci/tier"] == "public"
    ]
    record(stack)["accepted_findings"] = [
        AcceptedFinding("load-balancer-role", f"aws_lb.{lb}", "our own tooling NLB, reviewed").to_json()
    ]
    result = audit_stack(stack)
    assert not result.ok and not result.accepted
    (refused,) = [f for f in result.findings if f.check == "accepted-finding"]
    assert refused.resource == f"aws_lb.{lb}" and "is circleci's own" in refused.problem
    assert "cannot be accepted" in refused.problem
    assert any(f.check == "load-balancer-role" for f in result.findings)  # the finding stays a failure


@pytest.mark.parametrize("how", ["listener", "name", "security-group"])
def test_each_sign_of_ours_refuses_a_load_balancer_acceptance(aws_reference: Synth, how: str) -> None:
    stack = copy.deepcopy(aws_reference)
    lb = _tagged(stack, "aws_lb", "nomad")
    body = stack["resource"]["aws_lb"][lb]
    del body["tags"]["circleci/role"]
    (values,) = [k for k in stack["locals"] if "circleci-helm-values" in k]
    del stack["locals"][values]  # only the sign under test is left
    if how != "name":
        body["name"] = "tools"
    if how != "security-group":
        body.pop("security_groups")
    if how != "listener":
        del stack["resource"]["aws_lb_listener"][_named(stack, "aws_lb_listener", "nomad-listener")]
    record(stack)["accepted_findings"] = [AcceptedFinding("load-balancer-role", f"aws_lb.{lb}", REASON).to_json()]
    problems = _problems(stack, "accepted-finding")
    assert any("is circleci's own" in p for p in problems), how


def test_a_group_our_rules_name_cannot_be_accepted(aws_reference: Synth) -> None:
    stack = _with_wiki(aws_reference)
    nomad = _tagged(stack, "aws_security_group", "nomad-clients")
    stack["resource"]["aws_vpc_security_group_ingress_rule"]["nomad_from_wiki"] = {
        "security_group_id": f"${{aws_security_group.{nomad}.id}}",
        "referenced_security_group_id": "${aws_security_group.wiki-db.id}",
        "ip_protocol": "tcp",
        "from_port": 4647,
        "to_port": 4647,
    }
    (refused,) = failing_findings(stack, "accepted-finding")
    assert refused.resource == "aws_security_group.wiki-db" and "a rule on circleci's group" in refused.problem


def test_a_group_with_our_name_cannot_be_accepted(aws_reference: Synth) -> None:
    stack = _with_wiki(aws_reference)
    stack["resource"]["aws_security_group"]["wiki-db"]["name"] = "circleci-nomad-clients"
    (refused,) = failing_findings(stack, "accepted-finding")
    assert "bears circleci's name" in refused.problem


def test_the_teams_rule_naming_our_group_keeps_its_acceptance(aws_reference: Synth) -> None:
    """The team's database admitting our nodes is the team's rule, not ours."""
    stack = _with_wiki(aws_reference)
    nodes = _tagged(stack, "aws_security_group", "k8s-nodes")
    stack["resource"]["aws_vpc_security_group_ingress_rule"]["wiki_from_nodes"] = {
        "security_group_id": "${aws_security_group.wiki-db.id}",
        "referenced_security_group_id": f"${{aws_security_group.{nodes}.id}}",
        "ip_protocol": "tcp",
        "from_port": 5432,
        "to_port": 5432,
    }
    result = audit_stack(stack)
    assert result.ok, result.summary()


def test_a_listener_without_a_port_is_a_finding_with_network_acls(reference_stacks: dict[str, Any]) -> None:
    """The ACL pass skips what it cannot read; the listeners check names it (no KeyError)."""
    stack = copy.deepcopy(reference_stacks["circleci-aws-nacl"])
    listener = next(iter(stack["resource"]["aws_lb_listener"].values()))
    del listener["port"]
    assert not audit_stack(stack).ok
