"""pytest plugin for users' own tests: the fast provider loading, and fixtures that synthesize a
stack and check it against the hardening guide.

Registered as the ``pytest11`` entry point ``circleci_network.pytest_plugin``: active in every
pytest run where circleci-network is installed. Without the entry point (an editable checkout, or
``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``) use ``pytest -p circleci_network.pytest_plugin``; turn it off
with ``-p no:circleci_network.pytest_plugin``. Importing it loads neither cdktf nor a provider.

    def test_network_matches_the_guide(circleci_assert_matches_spec):
        stack = TerraformStack(Testing.app(), "platform")
        ...
        circleci_assert_matches_spec(stack)
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from circleci_network.audit import StackAudit, assert_matches_spec
from circleci_network.tooling.provider_loading import (
    EAGER_JAVASCRIPT_VARIABLE,
    IMPORT_HOOK_VARIABLE,
    LazyProviderFinder,
    install_import_hook,
)

if TYPE_CHECKING:
    from cdktf import TerraformStack

# pytest imports plugins before conftest.py files and test modules, so before they import cdktf
# (whose node process reads the preload at start) or a provider package.
install_import_hook()

Synth = dict[str, Any]


class AssertMatchesSpec(Protocol):
    def __call__(self, stack: TerraformStack | Synth | str | Path, name: str | None = None) -> StackAudit: ...


def pytest_configure(config: pytest.Config) -> None:
    # `from cdktf import Testing` in a test module: a class named Test* that is not a test.
    config.addinivalue_line(
        "filterwarnings", "ignore:cannot collect test class 'Testing':pytest.PytestCollectionWarning"
    )


def pytest_report_header(config: pytest.Config) -> str:
    if not any(isinstance(finder, LazyProviderFinder) for finder in sys.meta_path):
        return f"circleci-network: provider loading as the packages do ({IMPORT_HOOK_VARIABLE}=0)"
    javascript = "eager" if os.environ.get(EAGER_JAVASCRIPT_VARIABLE) == "1" else "lazy"
    return f"circleci-network: provider packages imported bare, provider JavaScript {javascript}"


@pytest.fixture
def circleci_synth() -> Callable[[TerraformStack], Synth]:
    """``circleci_synth(stack)``: the stack's Terraform JSON as a dict (``cdktf.Testing.synth``),
    after the validations ``cdktf synth`` runs: a network whose stack opens flows beyond the guide
    (a rule added by hand) fails here as it would at synth."""

    def synth(stack: TerraformStack) -> Synth:
        from cdktf import Testing

        # Testing.synth skips validations unless asked: a snapshot test would pass a widened stack.
        synthesized: Synth = json.loads(Testing.synth(stack, run_validations=True))
        return synthesized

    return synth


@pytest.fixture
def circleci_assert_matches_spec(circleci_synth: Callable[[TerraformStack], Synth]) -> AssertMatchesSpec:
    """``circleci_assert_matches_spec(stack, name=None)``: fails with every flow the stack opens
    beyond the guide, or misses, and the Terraform resources behind it.

    ``stack`` is a ``TerraformStack`` (synthesized here) or what ``assert_matches_spec`` takes: the
    synthesized dict, its JSON text, or the path of its ``cdk.tf.json``. Returns the audit.
    """

    def check(stack: TerraformStack | Synth | str | Path, name: str | None = None) -> StackAudit:
        if isinstance(stack, (dict, str, Path)):
            return assert_matches_spec(stack, name or "stack")
        return assert_matches_spec(circleci_synth(stack), name or stack.node.id)

    return check
