"""Run one command as a fresh process and sample its whole process tree from /proc.

Peak memory is the largest *sum* of RSS over the tree seen at one sample (python + the node
jsii child), which ``ru_maxrss`` cannot give: it reports one process at a time. Shared pages
count once per process, so the sum is an upper bound. CPU time is split per executable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class ProcessSample:
    name: str
    rss_bytes: int
    cpu_seconds: float


@dataclass
class RunResult:
    command: list[str]
    returncode: int
    wall_seconds: float
    #: Largest tree-wide RSS sum seen at one sample.
    peak_tree_rss_bytes: int
    #: user+sys of the tree from wait4 (includes reaped children) or the samples, whichever is larger.
    cpu_seconds: float
    #: Last sampled CPU seconds and peak RSS, summed per executable name ("python", "node").
    cpu_by_name: dict[str, float] = field(default_factory=dict)
    peak_rss_by_name: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    stdout: str = ""
    stderr: str = ""


def _read_stat(pid: int) -> tuple[str, int, float] | None:
    """(comm, ppid, cpu seconds) of a live process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may hold spaces; fields after it are space-separated.
    open_, close = raw.index("("), raw.rindex(")")
    rest = raw[close + 2 :].split()
    return raw[open_ + 1 : close], int(rest[1]), (int(rest[11]) + int(rest[12])) / _TICK


def _read_rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _name(comm: str) -> str:
    # "python3.11" and "python" are one bucket; node's comm is "node", and node 22+ renames its
    # main thread "MainThread" (for good on node 24).
    if comm == "MainThread":
        return "node"
    return "python" if comm.startswith("python") else comm


def sample_tree(root: int) -> dict[int, ProcessSample]:
    """Every live descendant of ``root`` (and root), found by scanning /proc for parent links."""
    parents: dict[int, tuple[str, int, float]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in parents.items():
        children.setdefault(ppid, []).append(pid)
    tree: dict[int, ProcessSample] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in parents:
            comm, _, cpu = parents[pid]
            tree[pid] = ProcessSample(_name(comm), _read_rss(pid), cpu)
            todo.extend(children.get(pid, ()))
    return tree


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    interval: float = 0.05,
    timeout: float | None = None,
) -> RunResult:
    """Start ``command``, sample its tree every ``interval`` s until it exits, reap it with wait4."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        # Own session: a timeout kills the whole group, node child included.
        process = subprocess.Popen(
            list(command), env=dict(env), cwd=cwd, stdout=out, stderr=err, start_new_session=True
        )
        done = threading.Event()
        peak = 0
        samples = 0
        last: dict[int, ProcessSample] = {}
        peak_by_name: dict[str, int] = {}

        def sampler() -> None:
            nonlocal peak, samples
            while not done.is_set():
                tree = sample_tree(process.pid)
                if tree:
                    samples += 1
                    last.update(tree)
                    peak = max(peak, sum(p.rss_bytes for p in tree.values()))
                    per_name: dict[str, int] = {}
                    for p in tree.values():
                        per_name[p.name] = per_name.get(p.name, 0) + p.rss_bytes
                    for name, rss in per_name.items():
                        peak_by_name[name] = max(peak_by_name.get(name, 0), rss)
                done.wait(interval)

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        # wait4 here gives the exact end time and the CPU of the child and its reaped children.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        thread.join()
        if timer:
            timer.cancel()
        kill()  # a node child left behind by a crash
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    cpu_by_name: dict[str, float] = {}
    for p in last.values():
        cpu_by_name[p.name] = cpu_by_name.get(p.name, 0.0) + p.cpu_seconds
    return RunResult(
        command=list(command),
        returncode=process.returncode,
        wall_seconds=wall,
        peak_tree_rss_bytes=peak,
        cpu_seconds=max(usage.ru_utime + usage.ru_stime, sum(cpu_by_name.values())),
        cpu_by_name={k: round(v, 3) for k, v in cpu_by_name.items()},
        peak_rss_by_name=peak_by_name,
        samples=samples,
        stdout=stdout,
        stderr=stderr,
    )
