"""Contradictory shapes are refused, environments get their own stacks and state, and the
Helm values file matches the network it came from."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from cdktf import App
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from circleci_network import ConfigurationError, HardeningOptions
from circleci_network.model.topology import JobPlacement, Topology, TopologyWarning, UserAccess
from circleci_network.tooling.helm_values import VALUES_FILE, to_yaml, write_helm_values
from stacks.reference import reference_aws_props, reference_gcp_props

Synth = dict[str, Any]


def test_vpn_mode_with_public_job_subnets_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Topology(user_access=UserAccess.VPN, job_placement=JobPlacement.PUBLIC)
    assert caught.value.field == "Topology.job_placement" and "JobPlacement.PRIVATE" in caught.value.fix


def test_vpn_mode_needs_vpn_client_cidrs() -> None:
    from circleci_network.aws import AwsNetworkProps

    with pytest.raises(ConfigurationError) as caught:
        AwsNetworkProps(vpc=reference_aws_props().network.vpc, topology=Topology(user_access=UserAccess.VPN))
    assert caught.value.field == "AwsNetworkProps.hardening.client_cidrs"


def test_vpn_mode_warns_that_rerun_with_ssh_needs_the_vpn() -> None:
    from circleci_network.gcp import GcpNetworkProps

    with pytest.warns(TopologyWarning, match="only from inside the VPN"):
        GcpNetworkProps(
            project="acme-circleci",
            region="us-central1",
            hardening=HardeningOptions(client_cidrs=("10.200.0.0/16",)),
            topology=Topology(user_access=UserAccess.VPN),
        )


def test_public_job_subnets_on_the_vpc_alone_contradict_a_private_topology() -> None:
    from circleci_network.aws import AwsNetworkProps

    vpc = replace(reference_aws_props().network.vpc, public_job_subnets=True)
    with pytest.raises(ConfigurationError) as caught:
        AwsNetworkProps(vpc=vpc)
    assert caught.value.field == "AwsNetworkProps.vpc.public_job_subnets"


def test_unknown_topology_value_names_the_choices() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Topology(user_access="vpn-ish")  # type: ignore[arg-type]
    assert "UserAccess.VPN" in caught.value.fix


def test_bad_existing_vpc_id_is_refused() -> None:
    from circleci_network.aws import ExistingVpc

    with pytest.raises(ConfigurationError) as caught:
        ExistingVpc(vpc_id="my-vpc", cidr_block="10.0.0.0/16", internet_gateway_id="igw-1")
    assert caught.value.field == "ExistingVpc.vpc_id"


def _environments() -> list[Any]:
    from circleci_network.stacks.environments import Environment

    aws, gcp = reference_aws_props(), reference_gcp_props()
    return [
        Environment(
            name=name,
            aws=replace(aws, network=replace(aws.network, vpc=replace(aws.network.vpc, name=f"circleci-{name}"))),
            gcp=replace(gcp, network=replace(gcp.network, name=f"circleci-{name}")),
        )
        for name in ("dev", "stage", "prod")
    ]


def test_each_environment_is_its_own_stack_with_its_own_state(snapshot: SnapshotAssertion) -> None:
    from cdktf import Testing

    from circleci_network.audit import assert_matches_spec
    from circleci_network.stacks.environments import SharedState, add_environments

    stacks = add_environments(
        App(), _environments(), state=SharedState(s3_bucket="acme-tf", s3_region="us-east-1", gcs_bucket="acme-tf")
    )
    assert sorted(stacks) == sorted(f"circleci-{c}-{e}" for c in ("aws", "gcp") for e in ("dev", "stage", "prod"))
    keys = set()
    backends = {}
    for name, stack in stacks.items():
        synth = json.loads(Testing.synth(stack))
        backends[name] = backend = synth["terraform"]["backend"]
        keys.add(json.dumps(backend, sort_keys=True))
        assert name.rsplit("-", 1)[1] in json.dumps(backend)
        assert_matches_spec(synth, name)
    assert len(keys) == 6
    assert backends == snapshot(extension_class=JSONSnapshotExtension)


def test_two_environments_sharing_a_state_key_are_refused() -> None:
    from circleci_network.stacks.aws import S3StateBackend
    from circleci_network.stacks.environments import add_environments

    envs = _environments()[:2]
    backend = S3StateBackend(bucket="acme-tf", key="circleci.tfstate", region="us-east-1")
    envs = [replace(e, aws=replace(e.aws, backend=backend)) for e in envs]
    with pytest.raises(ConfigurationError) as caught:
        add_environments(App(), envs)
    assert caught.value.field == "environments[1].aws.backend.key"


def test_two_gcp_environments_with_the_same_names_in_one_project_are_refused() -> None:
    from circleci_network.stacks.environments import Environment, add_environments

    gcp = reference_gcp_props()
    with pytest.raises(ConfigurationError) as caught:
        add_environments(App(), [Environment(name="dev", gcp=gcp), Environment(name="prod", gcp=gcp)])
    assert caught.value.field == "environments[1].gcp.network.name"


@pytest.mark.parametrize("stack", ["circleci-aws", "circleci-gcp"])
def test_helm_values_file_is_the_networks_values(
    reference_stacks: dict[str, Synth], stack: str, tmp_path: Path
) -> None:
    folder = tmp_path / "stacks" / stack
    folder.mkdir(parents=True)
    (folder / "cdk.tf.json").write_text(json.dumps(reference_stacks[stack]))
    (written,) = write_helm_values(tmp_path)
    assert written == folder / VALUES_FILE
    values = yaml.safe_load(written.read_text())
    (local,) = [v for k, v in reference_stacks[stack]["locals"].items() if "helm-values" in k]
    assert values == local
    assert values["circleci_network"]["cloud"] == stack.split("-")[1]
    assert "yamlencode(local." in json.dumps(reference_stacks[stack]["output"]["helm-values"])


def test_yaml_emitter_round_trips_awkward_scalars() -> None:
    data = {"a": ["yes", "no", "on", "1", "x: y", "", "${aws_lb.x.dns_name}"], "b": {}, "c": [], "d": None, "e": 3}
    assert yaml.safe_load(to_yaml(data)) == data
