"""The accepted-findings list and the baseline writer, without checkov (runs in `make test`).
That checkov agrees with them is tests/tools/test_checkov.py's job."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from circleci_network.model.roles import OutsidePeer, Role
from circleci_network.model.rules import SPEC_RULES
from circleci_network.tooling.scanner_findings import (
    ACCEPTED_FINDINGS,
    BASELINE_FILE,
    AcceptedScannerFinding,
    Basis,
    ResourceSelector,
    accepted_for_stack,
    write_checkov_baselines,
)
from tests.tools.tooling import PROJECT

SPEC = PROJECT / "spec" / "circleci-server-v3-hardening.md"


def test_every_acceptance_names_a_heading_of_the_spec_and_says_why() -> None:
    headings = {m.group(1).split(" (")[0] for m in re.finditer(r"^#+ (.+)$", SPEC.read_text(), re.MULTILINE)}
    for finding in ACCEPTED_FINDINGS:
        assert finding.spec_section.split(" / ")[0] in headings, finding
        assert len(finding.justification) > 40 and re.fullmatch(r"CKV2?_[A-Z]+_\d+", finding.check_id)
        selector = finding.selector
        chosen = selector.rule_ids or selector.roles or selector.tiers or selector.acl_tier_from_itself
        assert chosen, f"{finding.check_id} selects nothing"


def test_rule_ids_named_by_acceptances_exist_in_the_rule_model() -> None:
    known = {r.rule_id for r in SPEC_RULES} | {f"k8s-nodes-in-via-{r.rule_id}" for r in SPEC_RULES}
    for finding in ACCEPTED_FINDINGS:
        assert set(finding.selector.rule_ids) <= known, finding


def test_only_the_spec_demands_flows_that_scanners_call_open_to_the_world() -> None:
    """A spec-required acceptance must point at rules the guide opens to "External"."""
    external = {r.rule_id for r in SPEC_RULES if r.peer is OutsidePeer.CLIENTS}
    for finding in ACCEPTED_FINDINGS:
        if finding.basis is Basis.SPEC_REQUIRED and finding.selector.rule_ids:
            assert {i.removeprefix("k8s-nodes-in-via-") for i in finding.selector.rule_ids} <= external


def _stack() -> dict[str, Any]:
    return {
        "resource": {
            "aws_vpc_security_group_ingress_rule": {
                "web_80_ABC": {"tags": {"circleci/rule": "frontend-external-in-http"}, "cidr_ipv4": "0.0.0.0/0"},
                "web_80_office": {"tags": {"circleci/rule": "frontend-external-in-http"}, "cidr_ipv4": "192.0.2.0/24"},
                "web_443_DEF": {"tags": {"circleci/rule": "frontend-external-in-https"}},
            },
            "aws_security_group": {
                "nodes_123": {"tags": {"circleci/role": "k8s-nodes"}},
                "lb_456": {"tags": {"circleci/role": "frontend-external"}},
            },
            "aws_lb": {"front_789": {"tags": {"circleci/role": "frontend-external"}}},
            "aws_subnet": {
                "jobs_a": {"tags": {"circleci/tier": "nomad-clients"}, "map_public_ip_on_launch": True},
                "jobs_b": {"tags": {"circleci/tier": "nomad-clients"}, "map_public_ip_on_launch": False},
                "lbs_a": {"tags": {"circleci/tier": "public"}},
            },
            "google_compute_firewall": {
                "fw_1": {
                    "//": {"metadata": {"path": "s/net/firewall/k8s-nodes-in-via-server-traefik-in-http"}},
                    "source_ranges": ["192.0.2.0/24", "0.0.0.0/0"],
                },
                "fw_3": {
                    "//": {"metadata": {"path": "s/net/firewall/k8s-nodes-in-via-frontend-external-in-http"}},
                    "source_ranges": ["192.0.2.0/24"],
                },
                "fw_2": {"//": {"metadata": {"path": "s/net/firewall/k8s-nodes-in-via-server-traefik-in-https"}}},
            },
        }
    }


def test_selectors_pick_resources_by_the_tags_and_ids_the_library_writes() -> None:
    assert accepted_for_stack(_stack()) == {
        "aws_lb.front_789": ["CKV2_AWS_20"],
        "aws_security_group.nodes_123": ["CKV2_AWS_5"],
        "resource.front_789": ["CKV_AWS_91"],
        "resource.fw_1": ["CKV_GCP_106"],
        "resource.jobs_a": ["CKV_AWS_130"],
        "resource.web_80_ABC": ["CKV_AWS_260"],
    }


def test_a_selector_never_matches_another_resource_type() -> None:
    selector = ResourceSelector("aws_lb", roles=(Role.NOMAD_LB,))
    assert selector.matches("aws_lb", {"tags": {"circleci/role": "nomad"}})
    assert not selector.matches("aws_lb_target_group", {"tags": {"circleci/role": "nomad"}})
    assert not selector.matches("aws_lb", {"tags": {"circleci/role": "vm-service"}})
    finding = AcceptedScannerFinding("CKV_X_1", selector, Basis.NOT_APPLICABLE, "Network Traffic", "x" * 50)
    assert accepted_for_stack({"resource": {"aws_lb": {"a": {"tags": {}}}}}, [finding]) == {}


def test_baselines_are_written_per_stack_and_for_the_whole_output(tmp_path: Path) -> None:
    for name, stack in (("one", _stack()), ("empty", {"resource": {}})):
        (tmp_path / "stacks" / name).mkdir(parents=True)
        (tmp_path / "stacks" / name / "cdk.tf.json").write_text(json.dumps(stack))
    written = write_checkov_baselines(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        BASELINE_FILE,
        f"stacks/empty/{BASELINE_FILE}",
        f"stacks/one/{BASELINE_FILE}",
    ]
    one = json.loads((tmp_path / "stacks" / "one" / BASELINE_FILE).read_text())
    (entry,) = one["failed_checks"]
    assert entry["file"] == "/cdk.tf.json"
    assert {f["resource"]: f["check_ids"] for f in entry["findings"]} == accepted_for_stack(_stack())
    assert json.loads((tmp_path / "stacks" / "empty" / BASELINE_FILE).read_text()) == {"failed_checks": []}
    whole = json.loads((tmp_path / BASELINE_FILE).read_text())
    assert [e["file"] for e in whole["failed_checks"]] == ["/stacks/one/cdk.tf.json"]


def test_network_acl_entries_are_accepted_only_from_their_own_tier() -> None:
    def entry(acl: str, cidr: str, *, egress: bool = False, protocol: str = "-1") -> dict[str, Any]:
        return {
            "network_acl_id": f"${{aws_network_acl.{acl}.id}}",
            "cidr_block": cidr,
            "egress": egress,
            "protocol": protocol,
        }

    stack = {
        "resource": {
            "aws_subnet": {
                "k_a": {"cidr_block": "10.0.0.0/20", "tags": {"circleci/tier": "k8s-nodes"}},
                "k_b": {"cidr_block": "10.0.16.0/20", "tags": {"circleci/tier": "k8s-nodes"}},
                "n_a": {"cidr_block": "10.0.32.0/20", "tags": {"circleci/tier": "nomad-clients"}},
            },
            "aws_network_acl": {
                "k8s": {"tags": {"circleci/tier": "k8s-nodes"}},
                "nomad": {"tags": {"circleci/tier": "nomad-clients"}},
            },
            "aws_network_acl_rule": {
                "intra": entry("k8s", "10.0.0.0/19"),  # both K8s subnets, aggregated
                "one_zone": entry("k8s", "10.0.16.0/20"),
                "too_wide": entry("k8s", "10.0.0.0/18"),
                "from_nomad": entry("k8s", "10.0.32.0/20"),
                "anywhere": entry("k8s", "0.0.0.0/0"),
                "outbound": entry("k8s", "10.0.0.0/19", egress=True),
                "tcp_only": entry("k8s", "10.0.0.0/19", protocol="6"),
                "other_acl": entry("nomad", "10.0.32.0/20"),
            },
        }
    }
    accepted = accepted_for_stack(stack)
    assert accepted == {"resource.intra": ["CKV_AWS_352"], "resource.one_zone": ["CKV_AWS_352"]}


def test_a_security_group_is_accepted_as_unattached_only_while_nothing_carries_it() -> None:
    """CKV2_AWS_5: the EKS example's launch template carries the node group (checkov passes it),
    so only the groups nothing but their own rules names stay accepted."""
    nodes, jobs = "${aws_security_group.nodes_1.id}", "${aws_security_group.jobs_2.id}"
    stack: dict[str, Any] = {
        "resource": {
            "aws_security_group": {
                "nodes_1": {"tags": {"circleci/role": "k8s-nodes"}},
                "jobs_2": {"tags": {"circleci/role": "nomad-clients"}},
            },
            "aws_vpc_security_group_ingress_rule": {
                "r": {"security_group_id": jobs, "referenced_security_group_id": nodes, "tags": {}}
            },
        }
    }
    assert accepted_for_stack(stack) == {
        "aws_security_group.jobs_2": ["CKV2_AWS_5"],
        "aws_security_group.nodes_1": ["CKV2_AWS_5"],
    }
    stack["resource"]["aws_launch_template"] = {"lt": {"vpc_security_group_ids": [nodes]}}
    assert accepted_for_stack(stack) == {"aws_security_group.jobs_2": ["CKV2_AWS_5"]}
    selector = ResourceSelector("aws_security_group", roles=(Role.NOMAD_CLIENTS,), unattached=True)
    assert not selector.matches("aws_security_group", {"tags": {"circleci/role": "nomad-clients"}}, stack)
