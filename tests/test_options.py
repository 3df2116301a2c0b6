"""Bad input is refused with an error that names the field and the fix."""

from __future__ import annotations

import pytest

from circleci_network import ConfigurationError, ExtraEgressRule, HardeningOptions, Port, Role
from circleci_network.model.addressing import carve_subnets, parse_cidr


@pytest.mark.parametrize(
    ("kwargs", "field", "fix"),
    [
        ({"client_cidrs": ("10.0.0.0/33",)}, "HardeningOptions.client_cidrs[0]", "prefix length"),
        ({"client_cidrs": ("not-a-cidr",)}, "HardeningOptions.client_cidrs[0]", "CIDR"),
        ({"client_cidrs": ("10.0.0.1/16",)}, "HardeningOptions.client_cidrs[0]", '"10.0.0.0/16"'),
        ({"client_cidrs": "10.0.0.0/16"}, "HardeningOptions.client_cidrs", "wrap it in a list"),
        ({"client_cidrs": ()}, "HardeningOptions.client_cidrs", "at least one"),
        (
            {"ssh_administrator_cidrs": ("0.0.0.0/0",)},
            "HardeningOptions.ssh_administrator_cidrs[0]",
            "allow_ssh_administration_from_anywhere",
        ),
        ({"rerun_ssh_cidrs": ("10.0.0.0/8", "10.0.0.0/8")}, "HardeningOptions.rerun_ssh_cidrs[1]", "duplicate"),
        ({"dns_server_cidrs": ()}, "HardeningOptions.dns_server_cidrs", "None"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict[str, object], field: str, fix: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        HardeningOptions(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert fix in caught.value.fix


def test_ssh_from_anywhere_needs_the_explicit_flag() -> None:
    options = HardeningOptions(ssh_administrator_cidrs=("0.0.0.0/0",), allow_ssh_administration_from_anywhere=True)
    assert options.ssh_administrator_cidrs == ("0.0.0.0/0",)


def test_lists_are_accepted_and_frozen() -> None:
    options = HardeningOptions(client_cidrs=["203.0.113.0/24"])  # type: ignore[arg-type]
    assert options.client_cidrs == ("203.0.113.0/24",)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Port.tcp(0), "Port.from_port"),
        (lambda: Port.tcp(65536), "Port.from_port"),
        (lambda: Port.tcp_range(100, 70000), "Port.to_port"),
        (lambda: Port.tcp_range(200, 100), "Port.from_port"),
    ],
)
def test_ports_out_of_range_are_refused(make: object, field: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make()  # type: ignore[operator]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "Bad Name"}, "ExtraEgressRule('Bad Name').name"),
        ({"role": Role.FRONTEND_LB}, "ExtraEgressRule('cache').role"),
        ({"port": Port.all_traffic()}, "ExtraEgressRule('cache').port"),
        ({"cidrs": ()}, "ExtraEgressRule('cache').cidrs"),
        ({"purpose": " "}, "ExtraEgressRule('cache').purpose"),
    ],
)
def test_bad_extra_egress_is_refused(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "name": "cache",
        "role": Role.NOMAD_CLIENTS,
        "port": Port.tcp(8081),
        "cidrs": ("10.9.0.0/24",),
        "purpose": "cache",
    }
    with pytest.raises(ConfigurationError) as caught:
        ExtraEgressRule(**{**base, **kwargs})  # type: ignore[arg-type]
    assert caught.value.field == field


def test_port_coverage() -> None:
    assert Port.tcp_range(30000, 32767).covers(Port.tcp(30080))
    assert not Port.tcp(22).covers(Port.udp(22))
    assert Port.all_traffic().covers(Port.udp(53))


def test_carving_is_aligned_and_deterministic() -> None:
    vpc = parse_cidr("10.0.0.0/16", "x")
    blocks = carve_subnets(vpc, [24, 20, 20], "x")
    assert [str(b) for b in blocks] == ["10.0.32.0/24", "10.0.0.0/20", "10.0.16.0/20"]
    with pytest.raises(ConfigurationError, match="too small"):
        carve_subnets(parse_cidr("10.0.0.0/22", "x"), [23, 23, 24], "x")


@pytest.mark.parametrize("purpose", ["Team's cache", "Cache & mirror", "Caché", "cache\nmirror"])
def test_extra_egress_purpose_takes_only_what_aws_descriptions_take(purpose: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        ExtraEgressRule("cache", Role.NOMAD_CLIENTS, Port.tcp(8081), ("172.16.8.0/22",), purpose)
    assert error.value.field == "ExtraEgressRule('cache').purpose" and "AWS refuses" in error.value.problem


def test_extra_egress_purpose_with_every_allowed_punctuation() -> None:
    rule = ExtraEgressRule("cache", Role.NOMAD_CLIENTS, Port.tcp(8081), ("172.16.8.0/22",), "a-Z 0.9_:/()#,@[]+=;{}!$*")
    assert rule.purpose.startswith("a-Z")
