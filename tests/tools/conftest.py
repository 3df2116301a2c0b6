"""Fixtures for the real-tool checks (`make verify`): a fresh synth and a moto_server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tools.tooling import PROJECT, TIMINGS, project_venv_executable, run, timed, tool_env

STACKS = ("circleci-aws", "circleci-gcp")


@pytest.fixture(scope="session")
def synth_outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python main.py`` into a fresh directory: exactly what users run (baselines included)."""
    outdir = tmp_path_factory.mktemp("python-synth") / "cdktf.out"
    with timed("python main.py (synth)"):
        run([sys.executable, "main.py"], cwd=PROJECT, env=tool_env(CDKTF_OUTDIR=str(outdir)), timeout=300)
    for stack in STACKS:
        assert (outdir / "stacks" / stack / "cdk.tf.json").is_file(), f"main.py wrote no {stack} stack in {outdir}"
    return outdir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    pytest.fail(f"moto_server did not answer on {url} within {timeout} s:\n{log.read_text()[-3000:]}", pytrace=False)


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto_server of our own on 127.0.0.1, stopped however the tests end."""
    binary = project_venv_executable("moto_server")
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("real-tool step timings")
        for step, seconds in TIMINGS:
            terminalreporter.write_line(f"{seconds:7.1f} s  {step}")
