"""One jsii runtime and one synthesized app per test session: each start costs seconds."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

Synth = dict[str, Any]


@pytest.fixture(scope="session")
def reference_stacks() -> dict[str, Synth]:
    from cdktf import App, TerraformStack, Testing

    from stacks.reference import add_reference_stacks

    app = App()
    add_reference_stacks(app)
    return {
        child.node.id: json.loads(Testing.synth(child))
        for child in app.node.children
        if isinstance(child, TerraformStack)
    }


@pytest.fixture(scope="session")
def aws_reference(reference_stacks: dict[str, Synth]) -> Synth:
    return reference_stacks["circleci-aws"]


@pytest.fixture(scope="session")
def gcp_reference(reference_stacks: dict[str, Synth]) -> Synth:
    return reference_stacks["circleci-gcp"]
