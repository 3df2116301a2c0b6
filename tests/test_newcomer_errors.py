"""What a newcomer trips over answers with what to do: a wrong folder, a wrong policy path, a
partial NodePort map, a load balancer role where a compute role belongs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from circleci_network.__main__ import main
from circleci_network.audit import audit_stack
from circleci_network.audit.policy import POLICY_FILE, policy_text
from circleci_network.aws import DEFAULT_NODE_PORTS, AwsNetworkProps, VpcProps, write_synth_files
from circleci_network.errors import ConfigurationError
from circleci_network.model.intent import NetworkIntent
from circleci_network.model.roles import Role
from tests.stack_edits import record, synth_out

Synth = dict[str, Any]
ZONES = ("eu-west-1a", "eu-west-1b")


def _out(tmp_path: Path, stack: Synth) -> Path:
    out = synth_out(tmp_path, {"platform": stack})
    (out / "manifest.json").write_text("{}")
    return out


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


def test_audit_paths(tmp_path: Path, aws_reference: Synth, capsys: pytest.CaptureFixture[str]) -> None:
    out = _out(tmp_path, aws_reference)
    assert "no such file or folder" in _error(capsys, ["audit", str(tmp_path / "nowhere")])
    assert f"give {out}" in _error(capsys, ["audit", str(tmp_path)])
    stack_file = out / "stacks" / "platform" / "cdk.tf.json"
    said = _error(capsys, ["audit", str(out), "--policy", str(stack_file)])
    assert "a synthesized stack, not a policy" in said
    committed = tmp_path / "policy" / "platform"
    committed.mkdir(parents=True)
    said = _error(capsys, ["audit", str(out), "--policy", str(tmp_path / "policy")])
    assert "write_synth_files(app.outdir)" in said and str(committed / POLICY_FILE) in said
    (committed / POLICY_FILE).write_text(policy_text(NetworkIntent.from_json(record(aws_reference))))
    assert "itself, or the folder above it" in _error(capsys, ["audit", str(out), "--policy", str(committed)])
    assert main(["audit", str(out), "--policy", str(tmp_path / "policy"), "--no-report"]) == 0


def test_the_summary_says_what_fails(aws_reference: Synth) -> None:
    stack = copy.deepcopy(aws_reference)
    record(stack)["options"]["client_cidrs"] = ["203.0.113.0/24"]
    policy = json.loads(policy_text(NetworkIntent.from_json(record(aws_reference))))
    head = audit_stack(stack, "platform", policy=policy).summary().splitlines()[0]
    assert head.startswith("platform (aws): FAILS: ") and "flow difference" in head
    assert "1 option differing from the policy" in head


def test_write_synth_files_wants_the_app_outdir(tmp_path: Path) -> None:
    for wrong, says in [(tmp_path / "missing", "no manifest.json"), (object(), "is not a folder")]:
        with pytest.raises(ConfigurationError, match=says) as error:
            write_synth_files(wrong)  # type: ignore[arg-type]
        assert error.value.field == "write_synth_files(outdir)" and "app.outdir" in error.value.fix


def test_node_ports_override_one_listener_and_keep_the_rest() -> None:
    vpc = VpcProps(availability_zones=ZONES)
    props = AwsNetworkProps(vpc=vpc, node_ports={("frontend-external", 443): 30444})  # type: ignore[dict-item]
    assert props.node_ports == {**DEFAULT_NODE_PORTS, (Role.FRONTEND_LB, 443): 30444}
    with pytest.raises(ConfigurationError) as error:
        AwsNetworkProps(vpc=vpc, node_ports={"frontend-external": {443: 30443}})  # type: ignore[dict-item]
    assert error.value.field.startswith("AwsNetworkProps.node_ports[") and "(Role.FRONTEND_LB, 443)" in error.value.fix
    with pytest.raises(ConfigurationError, match="also used by"):
        AwsNetworkProps(vpc=vpc, node_ports={(Role.FRONTEND_LB, 443): 30080})
    with pytest.raises(ConfigurationError, match="is not a mapping"):
        AwsNetworkProps(vpc=vpc, node_ports=[30080])  # type: ignore[arg-type]


def test_subnet_ids_of_a_load_balancer_role() -> None:
    from cdktf import TerraformStack, Testing

    from circleci_network.aws import CircleciAwsNetwork

    network = CircleciAwsNetwork(
        TerraformStack(Testing.app(), "s"), "n", props=AwsNetworkProps(vpc=VpcProps(availability_zones=ZONES))
    )
    assert len(network.subnet_ids(Role.NOMAD_CLIENTS)) == 2
    with pytest.raises(ConfigurationError, match="not a compute role"):
        network.subnet_ids(Role.FRONTEND_LB)
