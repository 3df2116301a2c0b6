"""The synth-time validation: on by default, fails synth on drift from the guide, can be turned off."""

from __future__ import annotations

from collections.abc import Callable

import cdktf
import pytest
from cdktf import App, TerraformStack

from circleci_network.model.options import HardeningOptions
from circleci_network.model.roles import Role


def _aws_stack(validate: bool = True, hardening: HardeningOptions | None = None) -> tuple[TerraformStack, object]:
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from circleci_network.aws import AwsNetworkProps, CircleciAwsNetwork, VpcProps

    stack = TerraformStack(App(), "validated")
    AwsProvider(stack, "aws", region="eu-west-1")
    network = CircleciAwsNetwork(
        stack,
        "network",
        props=AwsNetworkProps(
            vpc=VpcProps(availability_zones=("eu-west-1a", "eu-west-1b")),
            hardening=hardening or HardeningOptions(),
            validate_against_spec=validate,
        ),
    )
    return stack, network


def _hand_made_ssh(stack: TerraformStack, network: object) -> None:
    from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

    groups = network.security_groups.groups  # type: ignore[attr-defined]
    VpcSecurityGroupIngressRule(
        stack,
        "hand-made-ssh",
        security_group_id=groups[Role.NOMAD_CLIENTS].id,
        ip_protocol="tcp",
        from_port=22,
        to_port=22,
        cidr_ipv4="0.0.0.0/0",
    )


def _fails_validation(stack: TerraformStack) -> str:
    with pytest.raises(Exception, match="Validation failed") as caught:
        cdktf.Testing.synth(stack, True)
    return str(caught.value)


def test_our_network_passes_its_own_validation() -> None:
    stack, _ = _aws_stack(hardening=HardeningOptions(ssh_administrator_cidrs=("198.51.100.0/24",)))
    cdktf.Testing.synth(stack, True)


def test_a_hand_made_rule_fails_synth_and_is_named() -> None:
    stack, network = _aws_stack()
    _hand_made_ssh(stack, network)
    message = _fails_validation(stack)
    assert "does not match the CircleCI hardening guide" in message
    assert "aws_vpc_security_group_ingress_rule.hand-made-ssh" in message
    assert "validate_against_spec=False" in message


def test_an_escape_hatch_override_that_widens_a_rule_fails_synth() -> None:
    stack, network = _aws_stack()
    rules = [c for c in network.security_groups.node.find_all() if "4647" in c.node.id]  # type: ignore[attr-defined]
    assert rules, "the nomad 4647 rules exist"
    for rule in rules:
        rule.add_override("to_port", 4650)
    assert "tcp/4648-4650" in _fails_validation(stack)


def test_validation_can_be_turned_off() -> None:
    stack, network = _aws_stack(validate=False)
    _hand_made_ssh(stack, network)
    cdktf.Testing.synth(stack, True)


def test_gcp_hand_made_allow_rule_fails_synth() -> None:
    from cdktf_cdktf_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallAllow
    from cdktf_cdktf_provider_google.provider import GoogleProvider

    from circleci_network.gcp import CircleciGcpNetwork, GcpNetworkProps

    stack = TerraformStack(App(), "validated-gcp")
    GoogleProvider(stack, "google", project="acme-validation", region="europe-west1")
    network = CircleciGcpNetwork(
        stack, "network", props=GcpNetworkProps(project="acme-validation", region="europe-west1")
    )
    tag: Callable[[Role], str] = lambda role: network.identities.tags[role]  # noqa: E731
    ComputeFirewall(
        stack,
        "nomad-to-nomad",
        name="nomad-to-nomad",
        network=network.vpc.network_id,
        direction="INGRESS",
        priority=900,
        source_tags=[tag(Role.NOMAD_CLIENTS)],
        target_tags=[tag(Role.NOMAD_CLIENTS)],
        allow=[ComputeFirewallAllow(protocol="tcp", ports=["4647"])],
    )
    message = _fails_validation(stack)
    assert "google_compute_firewall.nomad-to-nomad" in message
