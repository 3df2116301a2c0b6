"""``make bench`` / ``python -m bench``: every scenario in fresh processes, in one run, then the report.

Repetitions are interleaved (rep 1 of every scenario, then rep 2, ...) so that a burst of other
load on this shared 2-core machine spreads over the scenarios instead of skewing one of them.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.apps.phases import MARKER
from bench.report import write_reports
from bench.sampler import RunResult, run_measured
from circleci_network.tooling.provider_loading import (
    EAGER_JAVASCRIPT_VARIABLE,
    IMPORT_HOOK_VARIABLE,
    LAZY_INDEX_PRELOAD,
)

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
TARGETS = {
    "plain_over_ours_both": 4.0,  # at least
    "seconds_per_added_stack": 0.2,  # below
    "peak_bytes_at_50": 1.5e9,  # below
    "pytest_seconds": 90.0,  # below
    "audit_cpu_seconds": 0.05,  # below, per stack (issue 11)
}


@dataclass
class Scenario:
    key: str
    label: str
    group: str  # floor | plain | ours | scale | scale-eager
    args: list[str]
    stacks: int
    env: dict[str, str] = field(default_factory=dict)
    environments: int = 0  # per cloud, scale rows only
    repeat: int | None = None  # None: the run's --repeat


@dataclass
class Run:
    wall_seconds: float
    cpu_seconds: float
    cpu_by_name: dict[str, float]
    peak_tree_rss_bytes: int
    peak_rss_by_name: dict[str, int]
    phases: dict[str, float]
    stacks_written: int
    returncode: int
    error: str = ""


#: Our app runs as cdktf.json and `make synth` run it: `python -O`, without jsii's per-call
#: runtime type checks (our props are validated by our own code; tests run without -O).
OURS = {"PYTHONOPTIMIZE": "1"}


def _lazy(env: dict[str, str] | None = None) -> dict[str, str]:
    return {**OURS, **(env or {})}


def _eager(env: dict[str, str] | None = None) -> dict[str, str]:
    return {**OURS, **(env or {}), EAGER_JAVASCRIPT_VARIABLE: "1"}


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    found = [Scenario("floor", "floor: `import cdktf` + empty stack", "floor", ["-m", "bench.apps.floor"], 1)]
    if args.plain:
        found.append(
            Scenario("plain-both", "plain way, AWS + Google, one VPC each", "plain", ["-m", "bench.apps.plain"], 2)
        )
        if args.plain_per_cloud:
            for cloud in ("aws", "gcp"):
                found.append(
                    Scenario(
                        f"plain-{cloud}",
                        f"plain way, {cloud.upper()} only",
                        "plain",
                        ["-m", "bench.apps.plain", cloud],
                        1,
                    )
                )
    for clouds, name, stacks in (("aws", "AWS", 1), ("gcp", "GCP", 1), ("aws,gcp", "both", 2)):
        suffix = "both" if "," in clouds else clouds
        cloud_env = {"CIRCLECI_NETWORK_CLOUDS": clouds}
        found.append(
            Scenario(
                f"ours-{suffix}-eager",
                f"ours (main.py), {name}, provider JS eager",
                "ours",
                ["main.py"],
                stacks,
                _eager(cloud_env),
            )
        )
        found.append(
            Scenario(
                f"ours-{suffix}-lazy",
                f"ours (main.py), {name}, provider JS lazy",
                "ours",
                ["-m", "bench.apps.reference"],
                stacks,
                _lazy(cloud_env),
            )
        )
    if args.readme_order:
        found.extend(readme_order_scenarios())
    for n in args.scale:
        found.append(
            Scenario(
                f"scale-{n}",
                f"ours, {n} environment(s) per cloud, lazy JS",
                "scale",
                ["-m", "bench.apps.scale", "aws,gcp", str(n), "--lazy-js"],
                2 * n,
                _lazy(),
                environments=n,
            )
        )
    if args.scale_eager_check:
        n = max(args.scale)
        found.append(
            Scenario(
                f"scale-{n}-eager",
                f"ours, {n} environments per cloud, eager JS",
                "scale-eager",
                ["-m", "bench.apps.scale", "aws,gcp", str(n)],
                2 * n,
                _eager(),
                environments=n,
                repeat=1,  # a memory check: one run is enough and saves ~45 s
            )
        )
    return found


def readme_order_scenarios() -> list[Scenario]:
    """The README's example per cloud, run as users run it (no ``-O``), in both import orders."""
    found = []
    for cloud in ("aws", "gcp"):
        app = ["-m", "bench.apps.readme", cloud]
        name = cloud.upper()
        found += [
            Scenario(
                f"readme-{cloud}", f"README example, {name}, README order (installed: startup hook)", "readme", app, 1
            ),
            Scenario(
                f"readme-{cloud}-library-first",
                f"README example, {name}, library imported first (no startup hook)",
                "readme",
                [*app, "--library-first"],
                1,
            ),
            Scenario(
                f"readme-{cloud}-no-hook",
                f"README example, {name}, README order without the hook (editable install or hook off)",
                "readme",
                [*app, "--no-startup-hook"],
                1,
                repeat=1,  # ~20 s and ~1 GB a run: one shows it
            ),
        ]
    return found


def base_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = node_major()
    env["CHECKPOINT_DISABLE"] = "1"
    env.pop(EAGER_JAVASCRIPT_VARIABLE, None)
    env.pop(IMPORT_HOOK_VARIABLE, None)
    env.pop("CIRCLECI_NETWORK_CLOUDS", None)
    env.pop("PYTHONOPTIMIZE", None)  # only our app runs with -O (see OURS)
    # An inherited preload would make the "eager" rows lazy.
    options = env.get("NODE_OPTIONS", "").replace(f'--require "{LAZY_INDEX_PRELOAD}"', "").strip()
    if options:
        env["NODE_OPTIONS"] = options
    else:
        env.pop("NODE_OPTIONS", None)
    return env


def node_major() -> str:
    version = _command_output(["node", "--version"]).lstrip("v")
    return version.split(".")[0] if version else ""


def _command_output(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=30).stdout.strip()
    except OSError:
        return ""


def run_scenario(scenario: Scenario, env: dict[str, str], interval: float, timeout: float) -> Run:
    outdir = Path(tempfile.mkdtemp(prefix=f"bench-{scenario.key}-"))
    try:
        result: RunResult = run_measured(
            [PYTHON, *scenario.args],
            env={**env, **scenario.env, "CDKTF_OUTDIR": str(outdir)},
            cwd=ROOT,
            interval=interval,
            timeout=timeout,
        )
        written = len(list(outdir.glob("stacks/*/cdk.tf.json")))
    finally:
        shutil.rmtree(outdir, ignore_errors=True)
    phases: dict[str, float] = {}
    for line in result.stdout.splitlines():
        if line.startswith(MARKER):
            phases = json.loads(line[len(MARKER) :])
    error = ""
    if result.returncode != 0 or written != scenario.stacks:
        error = f"exit {result.returncode}, {written}/{scenario.stacks} stacks: {result.stderr.strip()[-600:]}"
    return Run(
        wall_seconds=round(result.wall_seconds, 3),
        cpu_seconds=round(result.cpu_seconds, 3),
        cpu_by_name=result.cpu_by_name,
        peak_tree_rss_bytes=result.peak_tree_rss_bytes,
        peak_rss_by_name=result.peak_rss_by_name,
        phases=phases,
        stacks_written=written,
        returncode=result.returncode,
        error=error,
    )


def summarize(scenario: Scenario, runs: list[Run]) -> dict[str, Any]:
    good = [r for r in runs if not r.error] or runs
    walls = [r.wall_seconds for r in good]
    names = sorted({n for r in good for n in r.cpu_by_name})
    phase_names = list(dict.fromkeys(p for r in good for p in r.phases))
    return {
        **{k: v for k, v in asdict(scenario).items() if k not in ("env", "repeat")},
        "env": scenario.env,
        "ok": all(not r.error for r in runs),
        "median_wall_seconds": round(statistics.median(walls), 3),
        "min_wall_seconds": min(walls),
        "max_wall_seconds": max(walls),
        "median_cpu_seconds": round(statistics.median(r.cpu_seconds for r in good), 3),
        "median_cpu_by_name": {n: round(statistics.median(r.cpu_by_name.get(n, 0.0) for r in good), 3) for n in names},
        "median_phases": {p: round(statistics.median(r.phases.get(p, 0.0) for r in good), 3) for p in phase_names},
        "max_peak_tree_rss_bytes": max(r.peak_tree_rss_bytes for r in good),
        "max_peak_rss_by_name": {
            n: max(r.peak_rss_by_name.get(n, 0) for r in good)
            for n in sorted({n for r in good for n in r.peak_rss_by_name})
        },
        "runs": [asdict(r) for r in runs],
    }


def run_pytest(env: dict[str, str], interval: float, timeout: float) -> dict[str, Any]:
    command = [PYTHON, "-m", "pytest", "-m", "not tools", "-q", "-p", "no:cacheprovider"]
    result = run_measured(command, env=env, cwd=ROOT, interval=interval, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    summary = next((line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), "")
    return {
        "command": "pytest -m 'not tools'",
        "wall_seconds": round(result.wall_seconds, 2),
        "cpu_seconds": round(result.cpu_seconds, 2),
        "peak_tree_rss_bytes": result.peak_tree_rss_bytes,
        "returncode": result.returncode,
        "timed_out": result.returncode < 0 and result.wall_seconds >= timeout,
        "summary": summary,
    }


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (slope, intercept); slope 0 for fewer than two distinct x."""
    xs = [x for x, _ in points]
    if len(set(xs)) < 2:
        return 0.0, statistics.mean(y for _, y in points) if points else 0.0
    mx, my = statistics.mean(xs), statistics.mean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope, my - slope * mx


def run_audit_timing(env: dict[str, str], timeout: float) -> dict[str, float]:
    """The audit's CPU seconds per stack (bench/apps/audit_timing.py: best of 7, in one process)."""
    done = subprocess.run(
        [PYTHON, "-m", "bench.apps.audit_timing"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return dict(json.loads(line[len(MARKER) :])["audit_cpu_seconds"])
    raise RuntimeError(f"audit timing: exit {done.returncode}: {done.stderr.strip()[-600:]}")


def derive(
    results: dict[str, dict[str, Any]], pytest: dict[str, Any] | None, audit: dict[str, float] | None = None
) -> dict[str, Any]:
    def median(key: str) -> float | None:
        row = results.get(key)
        return row["median_wall_seconds"] if row else None

    derived: dict[str, Any] = {}
    plain, floor = median("plain-both"), median("floor")
    for mode in ("eager", "lazy"):
        ours = median(f"ours-both-{mode}")
        if plain and ours:
            derived[f"plain_over_ours_both_{mode}"] = round(plain / ours, 2)
            cpu = results[f"ours-both-{mode}"]["median_cpu_seconds"]
            if cpu:
                derived[f"plain_over_ours_both_{mode}_cpu"] = round(
                    results["plain-both"]["median_cpu_seconds"] / cpu, 2
                )
        if ours and floor:
            derived[f"ours_both_{mode}_over_floor"] = round(ours / floor, 2)
    scale = sorted((r for r in results.values() if r["group"] == "scale"), key=lambda r: r["stacks"])
    if len(scale) >= 2:
        slope, intercept = fit_line([(r["stacks"], r["median_wall_seconds"]) for r in scale])
        derived["seconds_per_added_stack"] = round(slope, 4)
        derived["fit_intercept_seconds"] = round(intercept, 3)
        # Where the per-stack time goes, from the apps' own clocks and the per-process CPU.
        for phase in ("build_aws", "build_gcp", "synth"):
            per = phase.split("_")[-1] if phase != "synth" else "stack"
            pts = [
                (r["environments"] if phase != "synth" else r["stacks"], r["median_phases"].get(phase, 0.0))
                for r in scale
            ]
            derived[f"seconds_per_added_{per}_{phase}"] = round(fit_line(pts)[0], 4)
        for name in ("python", "node"):
            pts = [(r["stacks"], r["median_cpu_by_name"].get(name, 0.0)) for r in scale]
            derived[f"cpu_seconds_per_added_stack_{name}"] = round(fit_line(pts)[0], 4)
        derived["peak_bytes_largest_scale"] = scale[-1]["max_peak_tree_rss_bytes"]
        derived["largest_scale_environments"] = scale[-1]["environments"]
    for cloud in ("aws", "gcp"):
        first = median(f"readme-{cloud}-library-first")
        for key, suffix in ((f"readme-{cloud}", ""), (f"readme-{cloud}-no-hook", "_no_hook")):
            readme = median(key)
            if readme and first:
                derived[f"readme{suffix}_over_library_first_{cloud}"] = round(readme / first, 2)
    eager = [r for r in results.values() if r["group"] == "scale-eager"]
    if eager:
        derived["peak_bytes_largest_scale_eager"] = eager[0]["max_peak_tree_rss_bytes"]
    targets: dict[str, dict[str, Any]] = {}
    if "plain_over_ours_both_eager" in derived:
        for mode in ("eager", "lazy"):
            value = derived.get(f"plain_over_ours_both_{mode}")
            if value is not None:
                goal = TARGETS["plain_over_ours_both"]
                targets[f"plain_over_ours_both_{mode}"] = {"value": value, "target": f">= {goal}", "met": value >= goal}
    if "seconds_per_added_stack" in derived:
        value = derived["seconds_per_added_stack"]
        goal = TARGETS["seconds_per_added_stack"]
        targets["seconds_per_added_stack"] = {"value": value, "target": f"< {goal}", "met": value < goal}
        for key in ("peak_bytes_largest_scale", "peak_bytes_largest_scale_eager"):
            if key in derived and derived["largest_scale_environments"] >= 50:
                value = derived[key]
                targets[key] = {"value": value, "target": "< 1.5 GB", "met": value < TARGETS["peak_bytes_at_50"]}
    if pytest is not None:
        value = pytest["wall_seconds"]
        goal = TARGETS["pytest_seconds"]
        targets["pytest_seconds"] = {
            "value": value,
            "target": f"< {goal}",
            "met": value < goal and pytest["returncode"] == 0,
        }
    for stack, value in (audit or {}).items():
        goal = TARGETS["audit_cpu_seconds"]
        targets[f"audit_cpu_seconds:{stack}"] = {"value": value, "target": f"< {goal}", "met": value < goal}
    derived["targets"] = targets
    return derived


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return ""

    status = _command_output(["git", "-C", str(ROOT), "status", "--porcelain"])
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": model or platform.processor(),
        "cores": os.cpu_count(),
        "ram_bytes": total_kb * 1024,
        "os": platform.platform(),
        "python": platform.python_version(),
        "node": _command_output(["node", "--version"]),
        "packages": {
            p: version(p)
            for p in ("cdktf", "constructs", "jsii", "cdktf-cdktf-provider-aws", "cdktf-cdktf-provider-google")
        },
        "git_commit": _command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(status),
        "load_average_start": os.getloadavg(),
        "python_dont_write_bytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median is reported (3)")
    parser.add_argument("--scale", default="1,10,50", help="environments per cloud (1,10,50)")
    parser.add_argument("--no-plain", dest="plain", action="store_false", help="skip the plain way (~45 s a run)")
    parser.add_argument("--plain-per-cloud", action="store_true", help="also the plain way per cloud")
    parser.add_argument("--no-scale-eager-check", dest="scale_eager_check", action="store_false")
    parser.add_argument(
        "--no-readme-order", dest="readme_order", action="store_false", help="skip the README example rows (~40 s)"
    )
    parser.add_argument("--no-pytest", dest="pytest", action="store_false", help="skip timing the test suite")
    parser.add_argument("--pytest-timeout", type=float, default=420.0, help="seconds (420)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per scenario run (300)")
    parser.add_argument("--interval", type=float, default=0.05, help="memory sampling interval, seconds (0.05)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the untimed warm-up run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where results.json etc. go (bench/)")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="README with bench markers")
    parser.add_argument("--no-readme", dest="update_readme", action="store_false")
    parser.add_argument("--only", default="", help="comma-separated scenario keys (debugging)")
    args = parser.parse_args(argv)
    args.scale = [int(n) for n in args.scale.split(",") if n.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = base_environment()
    chosen = scenarios(args)
    if args.only:
        keys = set(args.only.split(","))
        chosen = [s for s in chosen if s.key in keys]
    info = machine()
    print(f"bench: {len(chosen)} scenarios x {args.repeat} on {info['cpu_model']} ({info['cores']} cores)", flush=True)
    started = time.perf_counter()
    if args.warmup:
        # Untimed: fills the page cache and jsii's package cache for both providers.
        run_scenario(
            Scenario("warmup", "warm-up", "warmup", ["main.py"], 2, _eager()), env, args.interval, args.timeout
        )
    runs: dict[str, list[Run]] = {s.key: [] for s in chosen}
    for rep in range(args.repeat):
        for scenario in chosen:
            if rep >= (scenario.repeat or args.repeat):
                continue
            run = run_scenario(scenario, env, args.interval, args.timeout)
            runs[scenario.key].append(run)
            status = "FAILED " + run.error[:200] if run.error else ""
            print(
                f"  [{rep + 1}/{args.repeat}] {scenario.key:<28} {run.wall_seconds:7.2f} s"
                f"  {run.peak_tree_rss_bytes / 2**20:6.0f} MiB {status}",
                flush=True,
            )
    results = {s.key: summarize(s, runs[s.key]) for s in chosen if runs[s.key]}
    pytest = None
    if args.pytest:
        print("  pytest -m 'not tools' ...", flush=True)
        pytest = run_pytest(env, args.interval, args.pytest_timeout)
        print(f"  pytest {pytest['wall_seconds']:.1f} s: {pytest['summary'] or pytest['returncode']}", flush=True)
    print("  audit per stack ...", flush=True)
    audit = run_audit_timing(env, args.timeout)
    print(f"  audit CPU seconds per stack: {audit}", flush=True)
    info["load_average_end"] = os.getloadavg()
    info["bench_seconds"] = round(time.perf_counter() - started, 1)
    document = {
        "machine": info,
        "config": {
            "repeat": args.repeat,
            "scale_environments_per_cloud": args.scale,
            "sampling_interval_seconds": args.interval,
        },
        "scenarios": results,
        "pytest": pytest,
        "audit_cpu_seconds": audit,
        "derived": derive(results, pytest, audit),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    written = write_reports(document, args.out, args.readme if args.update_readme else None)
    for path in written:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    failed = [k for k, r in results.items() if not r["ok"]]
    if failed:
        print(f"bench: failed scenarios: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
