"""The node that jsii runs on here is the project's own, a release jsii supports: no end-of-life banner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.tooling import PROJECT

pytestmark = pytest.mark.tools

SUPPORTED_MAJORS = (22, 24)  # jsii 1.142 supports 22 to 2027-04-30 and 24 to 2028-04-30
HINT = "run through make, which installs node 24 into .tools/node and puts it first on PATH"


def test_node_on_path_is_the_projects_supported_node() -> None:
    found = shutil.which("node")
    assert found is not None, HINT
    assert Path(found).resolve().is_relative_to(PROJECT / ".tools" / "node"), f"{found}: {HINT}"
    major = subprocess.run([found, "-p", "process.versions.node"], capture_output=True, text=True, check=True)
    assert int(major.stdout.split(".")[0]) in SUPPORTED_MAJORS, f"node {major.stdout.strip()}: {HINT}"


def test_jsii_prints_no_end_of_life_banner() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSII_SILENCE_WARNING")}
    done = subprocess.run(
        [sys.executable, "-c", "import cdktf"],  # loading the assembly starts jsii's node
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "end-of-life" not in done.stderr and "not supported" not in done.stderr, done.stderr
