"""Every public props and options class answers a misspelt, missing or surplus argument with a
``ConfigurationError`` naming the field and the fix, never Python's bare ``TypeError``."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import pytest

from circleci_network.errors import ConfigurationError
from tests.test_field_docs import PACKAGE, _checked, _classes


def _public_config_classes() -> list[type[Any]]:
    found = []
    for path, node, _ in _classes():
        if _checked(node):
            module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
            found.append(getattr(importlib.import_module(module), node.name))
    return found


CLASSES = _public_config_classes()


def test_the_walk_reaches_the_public_api() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {"AwsNetworkProps", "GcpNetworkProps", "HardeningOptions", "VpcProps", "AcceptedFinding"} <= names
    assert len(CLASSES) >= 25


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_a_misspelt_keyword_names_the_closest_field(cls: type[Any]) -> None:
    field = next(f.name for f in dataclasses.fields(cls) if f.init)
    with pytest.raises(ConfigurationError) as error:
        cls(**{field + "s": None})
    assert error.value.field == f"{cls.__name__}.{field}s"
    assert f'did you mean "{field}"?' in error.value.fix


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_missing_and_surplus_arguments(cls: type[Any]) -> None:
    fields = [f for f in dataclasses.fields(cls) if f.init]
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if required:
        with pytest.raises(ConfigurationError) as error:
            cls()
        assert error.value.field == f"{cls.__name__}.{required[0]}" and "is required" in error.value.problem
    with pytest.raises(ConfigurationError, match="by position") as error:
        cls(*([None] * (len(fields) + 1)))
    assert error.value.field == cls.__name__


def test_the_readme_cases() -> None:
    from circleci_network import HardeningOptions
    from circleci_network.aws import VpcProps

    with pytest.raises(ConfigurationError, match='did you mean "rerun_ssh_cidrs"'):
        HardeningOptions(rerun_ssh_cidr=("203.0.113.0/24",))  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match='did you mean "availability_zones"'):
        VpcProps(availability_zone=("eu-west-1a", "eu-west-1b"))  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="given twice"):
        HardeningOptions(("0.0.0.0/0",), client_cidrs=("0.0.0.0/0",))  # type: ignore[misc]
