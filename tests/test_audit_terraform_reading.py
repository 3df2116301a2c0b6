"""The audit reads the JSON as Terraform does, or refuses it (exit 2, one line naming the file):
numbers and nesting Python cannot take, duplicate keys, other files Terraform reads with the stack,
count/for_each/dynamic on the kinds the audit reads, modules (NOT CHECKED), string booleans."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from circleci_network.__main__ import main
from circleci_network.audit import audit as audit_module
from circleci_network.audit import audit_stack
from circleci_network.audit.audit import AuditError, Unreadable, assert_matches_spec, audit_files
from circleci_network.audit.readable import READ_KINDS
from circleci_network.audit.stack_files import stack_files
from circleci_network.audit.terraform_json import DuplicateKey, boolean, loads
from circleci_network.audit.unread import unread_kind
from tests.stack_edits import synth_out

Synth = dict[str, Any]
AUDIT = Path(__file__).parent.parent / "circleci_network" / "audit"


def _one_error_line(capsys: pytest.CaptureFixture[str], out: Path) -> str:
    printed = capsys.readouterr()
    (line,) = printed.err.splitlines()
    assert "Traceback" not in printed.err
    assert "circleci-gcp (gcp): OK" in printed.out  # the other stack is still audited
    return line


def _first(stack: Synth, kind: str, role: str | None = None) -> tuple[str, Synth]:
    return next(
        (name, body)
        for name, body in stack["resource"][kind].items()
        if role is None or (body.get("tags") or {}).get("circleci/role") == role
    )


# -- review item 12: values and nesting Python's reader cannot take ----------------------------------


def test_an_infinite_port_is_one_line_and_the_other_stacks_are_audited(
    tmp_path: Path, aws_reference: Synth, gcp_reference: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = copy.deepcopy(aws_reference)
    name, rule = _first(stack, "aws_vpc_security_group_ingress_rule")
    rule["to_port"] = 424242
    text = json.dumps(stack).replace('"to_port": 424242', '"to_port": 1e400')  # valid JSON; Python: inf
    out = synth_out(tmp_path, {"a-inf": text, "circleci-gcp": gcp_reference})
    assert main(["audit", str(out), "--no-report"]) == 2
    line = _one_error_line(capsys, out)
    assert line.startswith(f"audit: {out / 'stacks' / 'a-inf' / 'cdk.tf.json'}: ")
    assert f"aws_vpc_security_group_ingress_rule.{name}.to_port: inf is not a whole number" in line


@pytest.mark.parametrize("value", [22.5, float("nan")])
def test_a_port_that_is_no_whole_number_is_refused(aws_reference: Synth, value: float) -> None:
    stack = copy.deepcopy(aws_reference)
    name, rule = _first(stack, "aws_vpc_security_group_ingress_rule")
    rule["from_port"] = value
    with pytest.raises(AuditError, match=rf"{re.escape(name)}\.from_port: .* is not a whole number"):
        audit_stack(stack)


def test_nan_and_infinity_literals_are_no_json(tmp_path: Path, aws_reference: Synth, gcp_reference: Synth,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    text = json.dumps(aws_reference).replace('"locals": {', '"locals": {"x": Infinity, ', 1)
    out = synth_out(tmp_path, {"a-constant": text, "circleci-gcp": gcp_reference})
    assert main(["audit", str(out), "--no-report"]) == 2
    assert "not valid JSON (Infinity is not JSON)" in _one_error_line(capsys, out)


def test_json_nested_deeper_than_python_reads_is_one_line(
    tmp_path: Path, aws_reference: Synth, gcp_reference: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    """``terraform validate`` takes it; Python's reader raises RecursionError."""
    deep = "[" * 100_000 + "]" * 100_000
    text = json.dumps(aws_reference).replace(
        '"locals": {', f'"output": {{"deep": {{"value": {deep}}}}}, "locals": {{', 1
    )
    out = synth_out(tmp_path, {"a-deep": text, "circleci-gcp": gcp_reference})
    assert main(["audit", str(out), "--no-report"]) == 2
    line = _one_error_line(capsys, out)
    assert (
        line
        == f"audit: {out / 'stacks' / 'a-deep' / 'cdk.tf.json'}: nested deeper than the audit can read; flatten the deepest value"
    )


@pytest.mark.parametrize("error", [OverflowError("int too large"), RecursionError("maximum recursion depth")])
def test_the_last_resort_covers_overflow_and_recursion(
    tmp_path: Path, aws_reference: Synth, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def raises(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(audit_module, "audit_stack", raises)
    out = synth_out(tmp_path, {"circleci-aws": aws_reference})
    (result,) = audit_files(out)
    assert isinstance(result, Unreadable)
    assert f"cannot audit it, an unexpected value ({type(error).__name__}" in result.error


# -- review item 4: read what Terraform reads ----------------------------------------------------------


def test_a_duplicate_key_is_refused_naming_where(
    tmp_path: Path, aws_reference: Synth, gcp_reference: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    """Terraform creates the resources of both copies; Python's reader keeps the last."""
    world = {"w": {"security_group_id": "x", "ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"}}
    text = json.dumps(aws_reference)
    kind = '"aws_vpc_security_group_ingress_rule": '
    text = text.replace(kind, kind + json.dumps(world) + ", " + kind, 1)
    out = synth_out(tmp_path, {"a-dup": text, "circleci-gcp": gcp_reference})
    assert main(["audit", str(out), "--no-report"]) == 2
    line = _one_error_line(capsys, out)
    assert "key resource.aws_vpc_security_group_ingress_rule appears twice in one object; Terraform reads both" in line


def test_duplicate_keys_anywhere() -> None:
    with pytest.raises(DuplicateKey, match=r"^resource$"):
        loads('{"resource": {}, "locals": {}, "resource": {}}')
    with pytest.raises(DuplicateKey, match=r"^resource\.k\.n\.ingress\[1\]\.to_port$"):
        loads('{"resource": {"k": {"n": {"ingress": [{}, {"to_port": 1, "to_port": 2}]}}}}')
    assert loads('{"a": {"b": [1, {"c": null}]}}') == {"a": {"b": [1, {"c": None}]}}


def test_assert_matches_spec_reads_text_as_the_cli_does(aws_reference: Synth) -> None:
    text = json.dumps(aws_reference)
    assert assert_matches_spec(text).ok
    with pytest.raises(AuditError, match="key resource appears twice"):
        assert_matches_spec(text.replace('"resource": {', '"resource": {}, "resource": {', 1))


_SSH = {
    "resource": {
        "aws_vpc_security_group_ingress_rule": {
            "ssh": {"security_group_id": "sg-1", "ip_protocol": "tcp", "from_port": 22, "to_port": 22}
        }
    }
}


@pytest.mark.parametrize(
    ("extra", "content"),
    [
        ("extra.tf.json", json.dumps(_SSH)),
        ("extra.tf", 'resource "aws_vpc_security_group_ingress_rule" "ssh" {}\n'),
        ("cdk_override.tf.json", json.dumps(_SSH)),
        ("override.tf.json", json.dumps(_SSH)),
        ("main_override.tf", "\n"),
        ("extra.tofu.json", json.dumps(_SSH)),
    ],
)
def test_files_terraform_reads_beside_the_stack_are_refused(
    tmp_path: Path,
    aws_reference: Synth,
    gcp_reference: Synth,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    content: str,
) -> None:
    out = synth_out(tmp_path, {"circleci-aws": aws_reference, "circleci-gcp": gcp_reference})
    folder = out / "stacks" / "circleci-aws"
    (folder / extra).write_text(content)
    for given in (out, folder, folder / "cdk.tf.json"):
        assert main(["audit", str(given), "--no-report"]) == 2
        printed = capsys.readouterr()
        (line,) = printed.err.splitlines()
        assert line == (
            f"audit: {folder / extra}: Terraform reads it with {folder / 'cdk.tf.json'} as one configuration, "
            "but the audit reads only cdk.tf.json; move it out of the stack folder, or build it in the stack"
        )
        if given == out:
            assert "circleci-gcp (gcp): OK" in printed.out


def test_what_terraform_does_not_read_stays_beside_the_stack(tmp_path: Path, aws_reference: Synth) -> None:
    out = synth_out(tmp_path, {"circleci-aws": aws_reference})
    folder = out / "stacks" / "circleci-aws"
    for ignored in (".terraform.lock.hcl", ".hidden.tf", "extra.tf~", "#extra.tf#", "circleci-helm-values.yaml"):
        (folder / ignored).write_text("x")
    (folder / ".terraform").mkdir()
    (folder / ".terraform" / "m.tf").write_text("x")
    (folder / "plan.tf").mkdir()  # a folder, not a file
    for given in (out, folder, folder / "cdk.tf.json"):
        assert main(["audit", str(given), "--no-report"]) == 0
    assert stack_files(folder) == [folder / "cdk.tf.json"]  # a stack folder's stack is its cdk.tf.json


def test_a_single_file_by_another_name_is_a_stack_apart(tmp_path: Path, aws_reference: Synth) -> None:
    """``audit reference.tf.json`` beside other JSON (as tests write them): that file alone."""
    (tmp_path / "reference.tf.json").write_text(json.dumps(aws_reference))
    (tmp_path / "other.tf.json").write_text("{}")
    assert main(["audit", str(tmp_path / "reference.tf.json"), "--no-report"]) == 0
    assert main(["audit", str(tmp_path), "--no-report"]) == 2  # as a folder, Terraform reads both together


def test_a_module_is_not_checked_and_said_so(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    group, _ = _first(stack, "aws_security_group", "nomad-clients")
    stack["module"] = {
        "ssh": {
            "source": "terraform-aws-modules/security-group/aws",
            "create_sg": False,
            "security_group_id": f"${{aws_security_group.{group}.id}}",
            "ingress_cidr_blocks": ["0.0.0.0/0"],
            "ingress_rules": ["ssh-tcp"],
        },
        "eks": {"source": "terraform-aws-modules/eks/aws"},
    }
    result = audit_stack(stack)
    assert result.ok  # users put EKS modules in their stacks: not a failure
    assert "module.ssh: not read; what it creates and changes is not audited" in result.notes
    assert "module.eks: not read; what it creates and changes is not audited" in result.notes
    assert "NOT CHECKED: module.ssh: not read" in result.summary()
    assert not any("module." in n for n in audit_stack(aws_reference).notes)
    stack["module"] = []
    with pytest.raises(AuditError, match="module: a list where Terraform JSON has an object of modules"):
        audit_stack(stack)


# -- review item 2: count, for_each and dynamic --------------------------------------------------------


def _aws_cases() -> list[tuple[str, str | None, str, Any]]:
    return [
        ("aws_default_security_group", None, "count", 0),
        ("aws_flow_log", None, "count", 0),
        ("aws_security_group", "nomad-clients", "for_each", {}),
        ("aws_vpc_security_group_ingress_rule", None, "count", 1),
        ("aws_lb", None, "for_each", {"a": 1}),
        ("aws_subnet", None, "count", 2),
        ("aws_route", None, "count", 0),
        ("aws_nat_gateway", None, "count", 0),
    ]


@pytest.mark.parametrize(("kind", "role", "meta", "value"), _aws_cases())
def test_count_and_for_each_on_a_kind_the_audit_reads_are_refused(
    aws_reference: Synth, kind: str, role: str | None, meta: str, value: Any
) -> None:
    stack = copy.deepcopy(aws_reference)
    name, body = _first(stack, kind, role)
    body[meta] = value
    with pytest.raises(AuditError) as raised:
        audit_stack(stack, "s")
    assert str(raised.value) == (
        f"s: {kind}.{name}: {meta}: the audit reads each resource as written, not what count, for_each or "
        "dynamic blocks make of it; build one resource per construct"
    )


def test_gcp_count_and_dynamic_are_refused(gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, deny = next((n, b) for n, b in stack["resource"]["google_compute_firewall"].items() if "deny" in b)
    deny["count"] = 0
    with pytest.raises(AuditError, match=rf"google_compute_firewall\.{re.escape(name)}: count: "):
        audit_stack(stack)
    stack = copy.deepcopy(gcp_reference)
    stack["resource"]["google_compute_firewall"]["evil"] = {
        "name": "evil",
        "network": deny["network"],
        "direction": "INGRESS",
        "priority": 1,
        "source_ranges": ["0.0.0.0/0"],
        "dynamic": {"allow": {"for_each": "${[1]}", "content": {"protocol": "tcp", "ports": ["22"]}}},
    }
    with pytest.raises(AuditError, match=r"google_compute_firewall\.evil: dynamic: "):
        audit_stack(stack)


def test_a_dynamic_block_inside_a_block_is_refused(aws_reference: Synth, gcp_reference: Synth) -> None:
    stack = copy.deepcopy(gcp_reference)
    name, subnet = _first(stack, "google_compute_subnetwork")
    subnet["secondary_ip_range"] = [*subnet.get("secondary_ip_range", []), {"dynamic": {"x": {"content": {}}}}]
    with pytest.raises(AuditError, match=rf"{re.escape(name)}\.secondary_ip_range: dynamic: "):
        audit_stack(stack)
    stack = copy.deepcopy(aws_reference)
    name, group = _first(stack, "aws_security_group", "nomad-clients")
    group["dynamic"] = {"ingress": {"for_each": "${[1]}", "content": {"protocol": "tcp", "from_port": 22}}}
    with pytest.raises(AuditError, match=rf"aws_security_group\.{re.escape(name)}: dynamic: "):
        audit_stack(stack)


def test_other_kinds_keep_count_and_tags_may_say_dynamic(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    stack["resource"]["aws_db_instance"] = {
        "wiki": {"count": 2, "engine": "postgres", "dynamic": {"timeouts": {"content": {}}}},
    }
    _, group = _first(stack, "aws_security_group", "nomad-clients")
    group["tags"] = {**group["tags"], "dynamic": "yes"}  # an attribute map: a tag, not a block
    assert audit_stack(stack).ok


def test_read_kinds_name_every_kind_the_readers_read() -> None:
    """Each ``"aws_…"``/``"google_…"`` literal in the audit is a kind it reads, and READ_KINDS holds it."""
    literals = {
        kind for file in AUDIT.glob("*.py") for kind in re.findall(r"\"((?:aws|google)_[a-z0-9_]+)\"", file.read_text())
    }
    assert {k for k in literals - READ_KINDS if unread_kind(k) is None} == set()  # unread.py's fail whole
    assert {"aws_internet_gateway", "google_compute_router", "google_compute_route"} <= READ_KINDS


# -- review item 6: booleans as Terraform converts them ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "read"),
    [(True, True), (False, False), ("true", True), ("false", False), ("${true}", True), ("${false}", False),
     ("${ false }", False), ("1", True), ("0", False), (None, "default")],
)  # fmt: skip
def test_boolean_reads_what_terraform_converts(value: object, read: object) -> None:
    assert boolean({"f": value}, "f", "k.n") is (False if read == "default" else read)
    assert boolean({}, "f", "k.n", default=True) is True


@pytest.mark.parametrize("value", ["yes", "True", "FALSE", "${var.internal}", "", 1, 0, [], {}])
def test_boolean_refuses_anything_else(value: object) -> None:
    with pytest.raises(AuditError, match=r"^k\.n\.f: .* is not a boolean the audit reads; give true or false$"):
        boolean({"f": value}, "f", "k.n")


@pytest.mark.parametrize("value", ["false", "${false}", False])
def test_a_string_false_internal_is_internet_facing(aws_reference: Synth, value: object) -> None:
    stack = copy.deepcopy(aws_reference)
    name, lb = _first(stack, "aws_lb", "nomad")
    lb["internal"] = value
    result = audit_stack(stack)
    assert [f.resource for f in result.findings if f.check == "load-balancer-scheme"] == [f"aws_lb.{name}"]


@pytest.mark.parametrize("value", ["true", "${true}"])
def test_a_string_true_internal_is_internal(aws_reference: Synth, value: str) -> None:
    stack = copy.deepcopy(aws_reference)
    _, lb = _first(stack, "aws_lb", "nomad")
    lb["internal"] = value
    assert audit_stack(stack).ok


def test_an_unreadable_boolean_is_exit_2_naming_the_field(
    tmp_path: Path, aws_reference: Synth, gcp_reference: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = copy.deepcopy(aws_reference)
    name, lb = _first(stack, "aws_lb", "nomad")
    lb["internal"] = "${var.internal}"
    out = synth_out(tmp_path, {"a-lb": stack, "circleci-gcp": gcp_reference})
    assert main(["audit", str(out), "--no-report"]) == 2
    line = _one_error_line(capsys, out)
    assert line.endswith(
        f"aws_lb.{name}.internal: '${{var.internal}}' is not a boolean the audit reads; give true or false"
    )


def _world_ssh(gcp: Synth, disabled: object) -> Synth:
    stack = copy.deepcopy(gcp)
    network = next(iter(stack["resource"]["google_compute_firewall"].values()))["network"]
    stack["resource"]["google_compute_firewall"]["evil"] = {
        "name": "evil",
        "network": network,
        "direction": "INGRESS",
        "priority": 1,
        "source_ranges": ["0.0.0.0/0"],
        "allow": [{"protocol": "tcp", "ports": ["22"]}],
        "disabled": disabled,
    }
    return stack


@pytest.mark.parametrize("value", ["false", "${false}", False])
def test_a_string_false_disabled_firewall_rule_is_enforced(gcp_reference: Synth, value: object) -> None:
    result = audit_stack(_world_ssh(gcp_reference, value))
    assert any("google_compute_firewall.evil" in by for d in result.differences for by in d.because)


@pytest.mark.parametrize("value", ["true", "${true}"])
def test_a_string_true_disabled_firewall_rule_is_not(gcp_reference: Synth, value: str) -> None:
    assert audit_stack(_world_ssh(gcp_reference, value)).ok


def test_map_public_ip_and_endpoint_dns_read_as_terraform(aws_reference: Synth, aws_endpoints: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, subnet = next(
        (n, s) for n, s in stack["resource"]["aws_subnet"].items() if s["tags"].get("circleci/tier") == "nomad-clients"
    )
    subnet["map_public_ip_on_launch"] = "false"  # was a false positive: bool("false") is True
    assert audit_stack(stack).ok
    subnet["map_public_ip_on_launch"] = "${true}"
    assert [f.resource for f in audit_stack(stack).findings if f.check == "private-subnet"] == [f"aws_subnet.{name}"]
    stack = copy.deepcopy(aws_endpoints)
    dns = [e for e in stack["resource"]["aws_vpc_endpoint"].values() if e.get("private_dns_enabled") is True]
    assert dns
    for endpoint in dns:
        endpoint["private_dns_enabled"] = "true"
    assert audit_stack(stack).ok
    dns[0]["private_dns_enabled"] = "${false}"
    assert any(f.check == "vpc-endpoints" for f in audit_stack(stack).findings)


def test_network_acl_rule_direction_reads_as_terraform(reference_stacks: dict[str, Synth]) -> None:
    stack = copy.deepcopy(reference_stacks["circleci-aws-nacl"])
    rules = [r for r in stack["resource"]["aws_network_acl_rule"].values() if isinstance(r.get("egress"), bool)]
    assert rules
    for rule in rules:
        rule["egress"] = "${true}" if rule["egress"] else "false"  # bool("false") read an ingress rule as egress
    assert audit_stack(stack).ok
    rules[0]["egress"] = "no"
    with pytest.raises(AuditError, match=r"\.egress: 'no' is not a boolean"):
        audit_stack(stack)


# -- review item 13: a number Terraform converts from a string -------------------------------------------


def test_an_exponent_port_string_stays_exit_2_with_a_clear_line(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    name, rule = _first(stack, "aws_vpc_security_group_ingress_rule")
    rule["from_port"] = "6.4535e4"
    with pytest.raises(AuditError, match=rf"{re.escape(name)}\.from_port: '6.4535e4' is not a number the audit reads"):
        audit_stack(stack)
