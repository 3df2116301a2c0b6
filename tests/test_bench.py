"""The benchmark's own arithmetic and output; no timing is asserted."""

from __future__ import annotations

import subprocess
import sys
import xml.dom.minidom
from pathlib import Path
from typing import Any

from bench.report import END, START, replace_section, scenario_table, svg, targets_table
from bench.run import derive, fit_line
from bench.sampler import run_measured


def test_fit_line_recovers_slope_and_intercept() -> None:
    slope, intercept = fit_line([(2, 5.0), (20, 14.0), (100, 54.0)])
    assert abs(slope - 0.5) < 1e-9 and abs(intercept - 4.0) < 1e-9
    assert fit_line([(2, 3.0)]) == (0.0, 3.0)


def test_the_readme_section_between_the_markers_is_replaced() -> None:
    text = f"intro\n{START}\nold\n{END}\noutro\n"
    assert replace_section(text, "new") == f"intro\n{START}\nnew\n{END}\noutro\n"
    assert replace_section("no markers here", "new") is None


def _row(key: str, group: str, stacks: int, wall: float, environments: int = 0) -> dict[str, Any]:
    run = {"peak_tree_rss_bytes": 300 * 2**20, "wall_seconds": wall}
    return {
        "key": key,
        "label": key,
        "group": group,
        "stacks": stacks,
        "environments": environments,
        "ok": True,
        "median_wall_seconds": wall,
        "min_wall_seconds": wall,
        "max_wall_seconds": wall,
        "median_cpu_seconds": wall,
        "median_cpu_by_name": {"python": wall / 2, "node": wall / 2},
        "median_phases": {"build_aws": 0.2 * environments, "build_gcp": 0.1 * environments, "synth": 0.1 * stacks},
        "max_peak_tree_rss_bytes": 300 * 2**20,
        "max_peak_rss_by_name": {"node": 250 * 2**20},
        "runs": [run],
    }


def _document() -> dict[str, Any]:
    rows = [
        _row("floor", "floor", 1, 0.7),
        _row("plain-both", "plain", 2, 45.0),
        _row("ours-both-eager", "ours", 2, 7.0),
        _row("ours-both-lazy", "ours", 2, 2.3),
        *[_row(f"scale-{n}", "scale", 2 * n, 2.0 + 0.3 * 2 * n, n) for n in (1, 10, 50)],
    ]
    scenarios = {r["key"]: r for r in rows}
    pytest = {"wall_seconds": 60.0, "returncode": 0, "summary": "10 passed"}
    return {"scenarios": scenarios, "pytest": pytest, "derived": derive(scenarios, pytest), "config": {"repeat": 1}}


def test_derived_ratios_slopes_and_targets() -> None:
    derived = _document()["derived"]
    assert derived["plain_over_ours_both_eager"] == round(45 / 7, 2)
    assert derived["ours_both_lazy_over_floor"] == round(2.3 / 0.7, 2)
    assert abs(derived["seconds_per_added_stack"] - 0.3) < 1e-9
    targets = derived["targets"]
    assert targets["plain_over_ours_both_lazy"]["met"] is True
    assert targets["seconds_per_added_stack"]["met"] is False
    assert targets["peak_bytes_largest_scale"]["met"] is True
    assert targets["pytest_seconds"]["met"] is True


def test_tables_and_plot_render() -> None:
    document = _document()
    assert "**missed**" in targets_table(document)
    assert scenario_table(document).count("\n") == len(document["scenarios"]) + 1
    xml.dom.minidom.parseString(svg(document))  # well-formed


def test_the_sampler_sees_the_whole_process_tree(tmp_path: Path) -> None:
    # The parent starts a child that holds ~64 MB; the tree's peak must include it.
    child = "b = bytearray(64 * 2**20); import time; time.sleep(0.6)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    result = run_measured([sys.executable, "-c", parent], env={}, cwd=tmp_path, interval=0.02)
    assert result.returncode == 0
    assert result.peak_tree_rss_bytes > 64 * 2**20
    assert result.peak_rss_by_name.get("python", 0) > 64 * 2**20
    assert result.wall_seconds >= 0.6


def test_bench_help_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, check=True)
    assert "--repeat" in done.stdout


def test_the_readme_order_rows_get_their_ratios_to_the_library_first_order() -> None:
    from bench.report import readme_order_table

    rows = [
        _row("readme-aws", "readme", 1, 2.2),
        _row("readme-aws-library-first", "readme", 1, 2.0),
        _row("readme-aws-no-hook", "readme", 1, 20.0),
    ]
    scenarios = {r["key"]: r for r in rows}
    derived = derive(scenarios, None)
    assert derived["readme_over_library_first_aws"] == 1.1
    assert derived["readme_no_hook_over_library_first_aws"] == 10.0
    table = readme_order_table({"scenarios": scenarios, "derived": derived})
    assert "| AWS | 2.20 s, 300 MiB | 2.00 s, 300 MiB | 20.00 s, 300 MiB | 1.10x | 10.00x |" in table
    assert "GCP" not in table


def test_the_audit_time_per_stack_is_a_target_of_the_bench_not_an_assert() -> None:
    """Timings belong to ``make bench``: each stack's audit CPU time is a row, met or missed."""
    from bench.report import targets_table

    derived = derive({}, None, {"circleci-aws": 0.04, "circleci-aws-nacl": 0.136})
    assert derived["targets"]["audit_cpu_seconds:circleci-aws"]["met"] is True
    assert derived["targets"]["audit_cpu_seconds:circleci-aws-nacl"]["met"] is False
    table = targets_table({"derived": derived})
    assert "| audit CPU per stack, `circleci-aws-nacl` (s, best of 7) | 0.136 | < 0.05 | **missed** |" in table


def test_the_audit_timing_app_measures_every_stack() -> None:
    """One real run of the app the bench calls (one jsii start, ~5 s)."""

    from bench.run import base_environment, run_audit_timing

    seconds = run_audit_timing(base_environment(), 300)
    assert set(seconds) == {
        "circleci-aws",
        "circleci-gcp",
        "circleci-aws-nacl",
        "circleci-aws-nacl-public-jobs",
        "aws-eks-nacl",
    }
    assert all(0 < value < 5 for value in seconds.values())
