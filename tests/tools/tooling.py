"""Finding and running the external tools; a missing tool fails the test with what to install."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run `make verify`, which installs it (see the Makefile's verify block)"

#: (step, seconds), printed at the end of the run by conftest.pytest_terminal_summary.
TIMINGS: list[tuple[str, float]] = []


@contextmanager
def timed(step: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        TIMINGS.append((step, time.monotonic() - start))


def require_file(path: Path, what: str, hint: str = INSTALL_HINT) -> Path:
    if not path.exists():
        pytest.fail(f"{what} not found at {path}: {hint}", pytrace=False)
    return path


def require_executable(name: str, override_variable: str | None, default: Path | None, hint: str) -> Path:
    """From ``$override_variable``, else ``default``, else PATH; fail (never skip) when absent."""
    given = os.environ.get(override_variable) if override_variable else None
    candidates = [Path(given)] if given else ([default] if default is not None else [])
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    if not candidates:
        found = shutil.which(name)
        if found:
            return Path(found)
    where = ", ".join(str(c) for c in candidates) or "PATH"
    pytest.fail(f"{name} not found ({where}): {hint}", pytrace=False)


def project_venv_executable(name: str) -> Path:
    """A console script of the project's venv (the one running pytest)."""
    return require_executable(
        name,
        None,
        Path(sys.executable).parent / name,
        "install the dev dependencies: `make test` or `pip install -e '.[dev]'`",
    )


def run(
    command: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    ok_codes: tuple[int, ...] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run a tool; on an unexpected exit code fail with the tail of its output."""
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode not in ok_codes:
        pytest.fail(
            f"`{' '.join(str(c) for c in command)}` exited {result.returncode} in {cwd}\n"
            f"--- stdout (tail) ---\n{result.stdout[-6000:]}\n--- stderr (tail) ---\n{result.stderr[-6000:]}",
            pytrace=False,
        )
    return result


def tool_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=env.get("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"),
        CHECKPOINT_DISABLE="1",
        CIRCLECI_NETWORK_CLOUDS="aws,gcp",  # every reference stack, whatever the caller's shell says
    )
    env.update(extra)
    return env


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())
