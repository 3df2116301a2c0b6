"""The pytest plugin users get (pytest11 entry point) and ``assert_matches_spec``'s input forms."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from circleci_network.audit import assert_matches_spec

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "circleci_network.pytest_plugin"
Synth = dict[str, Any]


def _widened(stack: Synth) -> tuple[Synth, str]:
    """The stack with SSH from anywhere added to the Nomad clients' security group by hand."""
    widened = copy.deepcopy(stack)
    rules = widened["resource"]["aws_vpc_security_group_ingress_rule"]
    rule = next(r for r in rules.values() if r.get("to_port") == 4647)
    rules["by_hand"] = {**rule, "cidr_ipv4": "0.0.0.0/0", "from_port": 22, "to_port": 22}
    rules["by_hand"].pop("referenced_security_group_id", None)
    return widened, "by_hand"


def test_assert_matches_spec_takes_a_dict_json_text_or_a_path(aws_reference: Synth, tmp_path: Path) -> None:
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(aws_reference, indent=2))
    text = "\n  " + json.dumps(aws_reference, indent=2)  # as Testing.synth() returns it, leading space and all
    for form in (aws_reference, text, str(path), path):
        assert assert_matches_spec(form, "circleci-aws").ok


def test_each_form_is_audited_not_just_parsed(aws_reference: Synth, tmp_path: Path) -> None:
    widened, name = _widened(aws_reference)
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(widened))
    for form in (widened, json.dumps(widened), str(path), path):
        with pytest.raises(AssertionError, match=name):
            assert_matches_spec(form)


def test_a_missing_file_is_reported_as_one() -> None:
    with pytest.raises(FileNotFoundError):
        assert_matches_spec("cdktf.out/stacks/nope/cdk.tf.json")


def test_the_plugin_is_declared_as_a_pytest11_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # Named as its module, so `-p circleci_network.pytest_plugin` finds it already registered.
    assert project["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}


USER_TEST = """
import os
import sys

from cdktf import TerraformStack, Testing
from cdktf_cdktf_provider_aws.provider import AwsProvider
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from circleci_network.aws import AwsNetworkProps, CircleciAwsNetwork, VpcProps
from circleci_network.model.roles import Role


def platform(name):
    stack = TerraformStack(Testing.app(), name)
    AwsProvider(stack, "aws", region="eu-west-1")
    network = CircleciAwsNetwork(stack, "circleci", props=AwsNetworkProps(
        vpc=VpcProps(availability_zones=("eu-west-1a", "eu-west-1b"), cidr_block="10.40.0.0/16"),
    ))
    return stack, network


def test_the_plugin_came_before_cdktf_and_the_provider():
    assert "lazy_provider_index.js" in os.environ["NODE_OPTIONS"]
    loaded = [m for m in sys.modules if m.startswith("cdktf_cdktf_provider_aws.")]
    assert 0 < len(loaded) < 100, len(loaded)  # not the package's 2,216


def test_my_network_matches_the_guide(circleci_synth, circleci_assert_matches_spec):
    stack, network = platform("platform")
    synthesized = circleci_synth(stack)
    assert len(synthesized["resource"]["aws_subnet"]) == 8
    assert circleci_assert_matches_spec(stack).ok
    assert circleci_assert_matches_spec(Testing.synth(stack), "as-json-text").ok


def test_a_rule_added_by_hand_fails(circleci_assert_matches_spec):
    stack, network = platform("widened")
    VpcSecurityGroupIngressRule(
        stack, "ssh_from_anywhere", security_group_id=network.security_groups.group_ids[Role.NOMAD_CLIENTS],
        cidr_ipv4="0.0.0.0/0", ip_protocol="tcp", from_port=22, to_port=22,
    )
    circleci_assert_matches_spec(stack)


def test_circleci_synth_runs_the_synth_time_validation(circleci_synth):
    stack, network = platform("by-hand")
    VpcSecurityGroupIngressRule(
        stack, "ssh_for_snapshot", security_group_id=network.security_groups.group_ids[Role.NOMAD_CLIENTS],
        cidr_ipv4="0.0.0.0/0", ip_protocol="tcp", from_port=22, to_port=22,
    )
    circleci_synth(stack)
"""


def test_a_users_tests_with_only_the_plugins_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_platform=USER_TEST)
    # This checkout's package first; the shared venv's install may predate the entry point.
    pytester._monkeypatch.setenv("PYTHONPATH", str(ROOT))
    for variable in ("NODE_OPTIONS", "CIRCLECI_NETWORK_EAGER_PROVIDER_JS", "CIRCLECI_NETWORK_IMPORT_HOOK"):
        pytester._monkeypatch.delenv(variable, raising=False)
    result = pytester.runpytest_subprocess("-p", PLUGIN, "-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=2, failed=2, warnings=0)  # cdktf.s Testing is not taken for a test class
    result.stdout.fnmatch_lines(["*test_a_rule_added_by_hand_fails*", "*ssh_from_anywhere*"])
    # The plain synth fixture fails too: the network's validation names the hand-added rule.
    result.stdout.fnmatch_lines(["*test_circleci_synth_runs_the_synth_time_validation*", "*ssh_for_snapshot*"])
    result.stdout.fnmatch_lines(["circleci-network: provider packages imported bare, provider JavaScript lazy"])
