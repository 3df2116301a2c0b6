"""The options a team intends, kept apart from the artifact: ``circleci-network-policy.json``.

After ``app.synth()``, ``write_synth_files(app.outdir)`` writes it beside each stack (the stack's
recorded inputs, canonical JSON); a team commits it, reviews its diff, and runs ``audit --policy`` in CI: the stack's record must then
equal the policy, option by option. Without a policy the audit lists every option beyond the
guide's minimum ("widenings") so a reviewer sees each one.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from circleci_network.audit.findings import Finding, Widening
from circleci_network.audit.stack_files import synthesized_stacks
from circleci_network.model.accepted_findings import ACCEPTABLE_CHECKS
from circleci_network.model.checks import covers_everything
from circleci_network.model.cloud_facts import aws_dns_resolver_address
from circleci_network.model.intent import INTENT_LOCAL, NetworkIntent
from circleci_network.model.options import HardeningOptions, options_to_json
from circleci_network.model.platform_rules import rules_for_platform
from circleci_network.model.rules import SpecSection, extra_egress_section, peer_name
from circleci_network.model.vpc_endpoints import endpoint_rules

POLICY_FILE = "circleci-network-policy.json"


def policy_json(intent: NetworkIntent) -> dict[str, Any]:
    return intent.to_json()


def policy_text(intent: NetworkIntent) -> str:
    """Canonical: sorted keys, two-space indent, one trailing newline (diffs stay small)."""
    return json.dumps(policy_json(intent), indent=2, sort_keys=True) + "\n"


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def policy_findings(intent: NetworkIntent, policy: dict[str, Any]) -> list[Finding]:
    """Each option (or other recorded input) whose stack value differs from the policy's."""
    recorded = policy_json(intent)
    findings = []
    for key in sorted(set(recorded) | set(policy)):
        have, want = recorded.get(key), policy.get(key)
        if isinstance(have, dict) and isinstance(want, dict) and key != "topology":
            pairs = [(f"{key}.{k}", have.get(k), want.get(k)) for k in sorted(set(have) | set(want))]
        else:
            pairs = [(key, have, want)]
        for name, stack_value, policy_value in pairs:
            if _canonical(stack_value) != _canonical(policy_value):
                findings.append(
                    Finding(
                        "policy",
                        f"option:{name}",
                        f"the stack records {_canonical(stack_value)}, the policy says {_canonical(policy_value)}",
                    )
                )
    return findings


def widenings(intent: NetworkIntent) -> list[Widening]:
    """Every option beyond the guide's minimum (its defaults), for a reviewer to see."""
    options = intent.options
    defaults = options_to_json(HardeningOptions())
    given = options_to_json(options)
    found: list[Widening] = []
    if options.ssh_administrator_cidrs:
        anywhere = covers_everything(options.ssh_administrator_cidrs)  # 0.0.0.0/1 + 128.0.0.0/1 too
        found.append(
            Widening(
                "options.ssh_administrator_cidrs",
                list(options.ssh_administrator_cidrs),
                "opens SSH (22) on every instance"
                + (" to the whole internet (allow_ssh_administration_from_anywhere)" if anywhere else ""),
            )
        )
    for rule in options.extra_egress:
        # The guide names extra egress for the job roles; the rule model marks what goes beyond it.
        whose = (
            " (the guide names extra egress for Nomad clients and VMs only; the Kubernetes nodes reach it)"
            if extra_egress_section(rule.role) is SpecSection.USER_NODE_EXTRA_EGRESS
            else ""
        )
        found.append(
            Widening(
                f"options.extra_egress[{rule.name}]",
                {"role": rule.role.value, "port": str(rule.port), "cidrs": list(rule.cidrs)},
                f"egress beyond the guide's minimum{whose}: {rule.purpose}",
            )
        )
    reasons = {
        "client_cidrs": "clients other than the default (all IPv4) reach the frontend and traefik",
        "rerun_ssh_cidrs": "rerun-with-SSH sources other than the default (all IPv4)",
        "external_cidrs": "egress destinations other than the default (all IPv4)",
        "vcs_cidrs": "VCS SSH destinations other than external_cidrs",
        "dns_server_cidrs": "DNS servers other than the cloud's resolver",
        "internal_proxy_cidrs": "80/443 (and VCS) egress goes to a proxy inside the network",
    }
    for key, why in reasons.items():
        if given.get(key) != defaults.get(key):
            # vcs_cidrs' default is external_cidrs; the others' is what HardeningOptions() holds.
            default = given.get("external_cidrs") if key == "vcs_cidrs" else defaults.get(key)
            value = given.get(key)
            narrows = value is not None and _within(value, default)
            found.append(Widening(f"options.{key}", value, why, narrows))
    found += _recorded_input_widenings(intent)
    if intent.cloud == "aws" and options.transparent_load_balancers:
        found.append(
            Widening(
                "options.transparent_load_balancers",
                True,
                "load balancers without security groups: the nodes admit clients on the NodePorts",
            )
        )
    if intent.topology is not None and intent.topology.public_job_instances:
        found.append(
            Widening("topology.job_placement", "public", "Nomad clients and external VMs get public IPs on launch")
        )
    for platform_rule in rules_for_platform(intent.platform):  # not guide rows: the platform needs them
        found.append(
            Widening(
                f"platform.{platform_rule.rule_id}",
                {"ports": [str(p) for p in platform_rule.ports], "peer": peer_name(platform_rule.peer)},
                f"platform rule, not a guide row ({platform_rule.sources[0].document})",
            )
        )
    for acceptance in intent.accepted_findings:  # each resource the audit does not read, and why
        found.append(
            Widening(
                f"accepted_findings[{acceptance.check} {acceptance.resource}]",
                acceptance.reason,
                f"accepted: {ACCEPTABLE_CHECKS[acceptance.check]}",
            )
        )
    if intent.vpc_endpoints.enabled:  # AWS APIs reached beside the proxy, whatever external_cidrs says
        found.append(
            Widening(
                "vpc_endpoints.services",
                list(intent.vpc_endpoints.service_list),
                "the using roles reach these AWS APIs on 443 inside the VPC, beside the 80/443 egress",
            )
        )
        for endpoint_rule in endpoint_rules(intent.vpc_endpoints):
            found.append(
                Widening(
                    f"vpc_endpoints.{endpoint_rule.rule_id}",
                    {"ports": [str(p) for p in endpoint_rule.ports], "peer": peer_name(endpoint_rule.peer)},
                    f"platform rule, not a guide row ({endpoint_rule.sources[0].document})",
                )
            )
    return found


def _within(cidrs: object, default: object) -> bool:
    """Every CIDR of ``cidrs`` lies within one of ``default``'s (both JSON lists of CIDRs)."""
    if not isinstance(cidrs, list) or not isinstance(default, list) or not default:
        return False
    bounds = [IPv4Network(str(d)) for d in default]
    return all(any(IPv4Network(str(c)).subnet_of(d) for d in bounds) for c in cidrs)


def _recorded_input_widenings(intent: NetworkIntent) -> list[Widening]:
    """Inputs only the record gives (the stack holds no VPC; a VPC it holds overrides them, and
    a contradiction is a finding): listed where they widen what the cloud's own facts would open."""
    resolver = intent.inputs.dns_resolver_cidrs
    if intent.cloud != "aws" or resolver is None:
        return []
    vpc = intent.inputs.vpc_cidr
    amazon = None if vpc is None else IPv4Network(f"{aws_dns_resolver_address(vpc)}/32")
    wide = [
        c for c in resolver if IPv4Network(c).num_addresses > 1 or (amazon is not None and IPv4Network(c) != amazon)
    ]
    if not wide:
        return []
    return [
        Widening(
            "inputs.dns_resolver_cidrs",
            list(resolver),
            f"DNS (53) goes to {', '.join(wide)}, "
            + ("not a single host" if amazon is None else f"not the VPC's resolver {amazon}")
            + " (the stack holds no VPC to check it against)",
        )
    ]


def write_policies(outdir: str | Path) -> list[Path]:
    """Writes ``circleci-network-policy.json`` beside every synthesized stack holding a network of ours."""
    written = []
    for stack_file in synthesized_stacks(outdir):
        records = [v for k, v in json.loads(stack_file.read_text()).get("locals", {}).items() if INTENT_LOCAL in k]
        if len(records) == 1:
            target = stack_file.parent / POLICY_FILE
            target.write_text(policy_text(NetworkIntent.from_json(records[0])))
            written.append(target)
    return written
