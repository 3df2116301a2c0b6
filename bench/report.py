"""Markdown table, hand-written SVG plot and the README section, from ``results.json``'s document.

The SVG is written by hand: no plotting library is installed in the venv, and the plot is two
small line charts.
"""

from __future__ import annotations

import json
import math
import re
from html import escape
from pathlib import Path
from typing import Any

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PLOT = "time_vs_stacks.svg"
TABLE = "results.md"
MIB = 2**20


def _mib(value: float) -> str:
    return f"{value / MIB:,.0f}"


def _check(met: bool) -> str:
    return "met" if met else "**missed**"


def scenario_table(document: dict[str, Any]) -> str:
    rows = [
        "| scenario | stacks | wall s (median) | min-max s | CPU s (python / node) | peak tree RSS MiB (node) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in document["scenarios"].values():
        cpu = row["median_cpu_by_name"]
        split = f"{cpu.get('python', 0):.1f} / {cpu.get('node', 0):.1f}"
        node = row["max_peak_rss_by_name"].get("node", 0)
        label = row["label"] + ("" if row["ok"] else " (FAILED)")
        runs = len(row["runs"])
        rows.append(
            f"| {label} | {row['stacks']} | {row['median_wall_seconds']:.2f}"
            f"{'' if runs == document['config']['repeat'] else f' ({runs} run)'} "
            f"| {row['min_wall_seconds']:.2f}-{row['max_wall_seconds']:.2f} "
            f"| {row['median_cpu_seconds']:.1f} ({split}) | {_mib(row['max_peak_tree_rss_bytes'])} ({_mib(node)}) |"
        )
    return "\n".join(rows)


def targets_table(document: dict[str, Any]) -> str:
    derived = document["derived"]
    names = {
        "plain_over_ours_both_eager": "plain / ours, both clouds (provider JS eager, jsii default)",
        "plain_over_ours_both_lazy": "plain / ours, both clouds (provider JS lazy)",
        "seconds_per_added_stack": "time per added stack (s)",
        "peak_bytes_largest_scale": "peak memory, 50 environments per cloud (lazy JS)",
        "peak_bytes_largest_scale_eager": "peak memory, 50 environments per cloud (eager JS)",
        "pytest_seconds": "`pytest -m 'not tools'` wall time (s)",
    }
    rows = ["| target | measured | goal | |", "| --- | ---: | ---: | --- |"]
    for key, target in derived["targets"].items():
        value = target["value"]
        shown = f"{_mib(value)} MiB" if key.startswith("peak_bytes") else f"{value:g}"
        if key.startswith("plain_over"):
            shown += "x"
        if key.startswith("audit_cpu_seconds:"):
            name = f"audit CPU per stack, `{key.split(':', 1)[1]}` (s, best of 7)"
        else:
            name = names.get(key, key)
        rows.append(f"| {name} | {shown} | {target['target']} | {_check(target['met'])} |")
    return "\n".join(rows)


def readme_order_table(document: dict[str, Any]) -> str:
    """The README's example per cloud in each import order; ratios to the library-first order."""
    scenarios, derived = document["scenarios"], document["derived"]
    rows = [
        "| README example | README order, startup hook (installed) | library first | README order, no hook"
        " | README order / library first | no hook / library first |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cell(key: str) -> str:
        row = scenarios.get(key)
        if row is None:
            return "-"
        failed = "" if row["ok"] else " (FAILED)"
        return f"{row['median_wall_seconds']:.2f} s, {_mib(row['max_peak_tree_rss_bytes'])} MiB{failed}"

    def ratio(key: str) -> str:
        return f"{derived[key]:.2f}x" if key in derived else "-"

    for cloud in ("aws", "gcp"):
        if not any(key.startswith(f"readme-{cloud}") for key in scenarios):
            continue
        rows.append(
            f"| {cloud.upper()} | {cell(f'readme-{cloud}')} | {cell(f'readme-{cloud}-library-first')}"
            f" | {cell(f'readme-{cloud}-no-hook')} | {ratio(f'readme_over_library_first_{cloud}')}"
            f" | {ratio(f'readme_no_hook_over_library_first_{cloud}')} |"
        )
    return "\n".join(rows) if len(rows) > 2 else ""


def notes(document: dict[str, Any]) -> str:
    derived, machine = document["derived"], document["machine"]
    lines = []
    for mode in ("eager", "lazy"):
        if f"ours_both_{mode}_over_floor" in derived:
            lines.append(f"ours ({mode} JS) / floor, both clouds: {derived[f'ours_both_{mode}_over_floor']}x")
        if f"plain_over_ours_both_{mode}_cpu" in derived:
            lines.append(
                f"plain / ours ({mode} JS), both clouds, by CPU time (less sensitive to other load): "
                f"{derived[f'plain_over_ours_both_{mode}_cpu']}x"
            )
    if "seconds_per_added_stack" in derived:
        lines.append(
            "per added stack: "
            f"{derived['seconds_per_added_stack']} s wall; CPU python {derived['cpu_seconds_per_added_stack_python']} s, "
            f"node {derived['cpu_seconds_per_added_stack_node']} s; build per AWS stack "
            f"{derived['seconds_per_added_aws_build_aws']} s, per GCP stack {derived['seconds_per_added_gcp_build_gcp']} s, "
            f"synth (incl. validation) {derived['seconds_per_added_stack_synth']} s"
        )
    pytest = document.get("pytest")
    if pytest:
        lines.append(f"pytest: {pytest['summary'] or 'exit ' + str(pytest['returncode'])}")
    lines.append(
        f"{machine['date']}, {machine['cpu_model']}, {machine['cores']} cores, {machine['ram_bytes'] / 2**30:.0f} GiB, "
        f"Python {machine['python']}, node {machine['node']}, commit {machine['git_commit']}"
        f"{' (dirty tree)' if machine['git_dirty'] else ''}, load average "
        f"{machine['load_average_start'][0]:.1f} -> {machine['load_average_end'][0]:.1f}, "
        f"median of {document['config']['repeat']}, bench took {machine['bench_seconds']:.0f} s"
    )
    return "\n".join(f"- {line}" for line in lines)


def markdown(document: dict[str, Any], plot_link: str) -> str:
    readme = readme_order_table(document)
    return (
        f"{targets_table(document)}\n\n{scenario_table(document)}\n\n{readme + chr(10) * 2 if readme else ''}"
        f"{notes(document)}\n\n![time and memory vs stacks]({plot_link})"
    )


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _decimals(step: float) -> int:
    return 0 if step >= 1 else min(3, -math.floor(math.log10(step)))


def _polyline(points: list[tuple[float, float]], color: str, dashed: bool = False) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dash = ' stroke-dasharray="5,4"' if dashed else ""
    return f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'


def _panel(
    x0: float,
    title: str,
    unit: str,
    series: list[tuple[str, str, list[tuple[float, float, float, float]]]],
    levels: list[tuple[str, str, float]],
    xmax: float,
) -> list[str]:
    """One chart: series of (x, y, ymin, ymax) with error bars, plus labelled horizontal levels."""
    width, height, left, top, bottom = 420.0, 320.0, 55.0, 60.0, 45.0
    ys = [p[3] for _, _, pts in series for p in pts] + [v for _, _, v in levels]
    step = _nice_step(max(ys) * 1.08 / 4 if ys else 1.0)
    ymax = step * max(1, -(-max(ys or [1.0]) * 1.08 // step))
    plot_w, plot_h = width - left - 20, height - top - bottom

    def sx(x: float) -> float:
        return x0 + left + plot_w * x / xmax

    def sy(y: float) -> float:
        return top + plot_h * (1 - y / ymax)

    out = [
        f'<text x="{x0 + width / 2:.0f}" y="22" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{sx(0):.1f}" y1="{sy(0):.1f}" x2="{sx(xmax):.1f}" y2="{sy(0):.1f}" stroke="#333"/>',
        f'<line x1="{sx(0):.1f}" y1="{sy(0):.1f}" x2="{sx(0):.1f}" y2="{top:.1f}" stroke="#333"/>',
        f'<text x="{x0 + left + plot_w / 2:.0f}" y="{height - 8:.0f}" text-anchor="middle">environments per cloud (2 stacks each)</text>',
        f'<text x="{x0 + 14:.0f}" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 {x0 + 14:.0f} {top + plot_h / 2:.0f})">{escape(unit)}</text>',
    ]
    for i in range(round(ymax / step) + 1):
        value = step * i
        out.append(
            f'<text x="{sx(0) - 5:.1f}" y="{sy(value) + 4:.1f}" text-anchor="end">{value:,.{_decimals(step)}f}</text>'
        )
        out.append(
            f'<line x1="{sx(0):.1f}" y1="{sy(value):.1f}" x2="{sx(xmax):.1f}" y2="{sy(value):.1f}" stroke="#eee"/>'
        )
    xs = {p[0] for _, _, pts in series for p in pts} or {xmax}
    # 0 only where it does not collide with a small data tick.
    ticks = sorted(xs | ({0.0} if min(xs) > 0.08 * xmax else set()))
    for tick in ticks:
        out.append(f'<text x="{sx(tick):.1f}" y="{sy(0) + 16:.1f}" text-anchor="middle">{tick:g}</text>')
    for _, color, value in levels:
        out.append(_polyline([(sx(0), sy(value)), (sx(xmax), sy(value))], color, dashed=True))
    for n, (label, color, pts) in enumerate(series):
        if len(pts) > 1:
            out.append(_polyline([(sx(x), sy(y)) for x, y, _, _ in pts], color))
        for x, y, low, high in pts:
            out.append(
                f'<line x1="{sx(x):.1f}" y1="{sy(low):.1f}" x2="{sx(x):.1f}" y2="{sy(high):.1f}" stroke="{color}"/>'
            )
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}"/>')
        # Legend in the band under the title, clear of the data and the level lines.
        out.append(f'<text x="{x0 + left + 150 * n:.1f}" y="42" fill="{color}">&#9679; {escape(label)}</text>')
    for label, color, value in levels:
        # Last, with a white halo, so that a series crossing the label leaves it readable.
        out.append(
            f'<text x="{sx(xmax) - 4:.1f}" y="{sy(value) - 5:.1f}" text-anchor="end" fill="{color}" '
            f'stroke="white" stroke-width="3" paint-order="stroke">{escape(label)}</text>'
        )
    return out


def svg(document: dict[str, Any]) -> str:
    scenarios = document["scenarios"]
    scale = sorted((r for r in scenarios.values() if r["group"] == "scale"), key=lambda r: r["environments"])
    eager = [r for r in scenarios.values() if r["group"] == "scale-eager"]
    xmax = float(max([r["environments"] for r in scale + eager] or [1]))

    def timing(rows: list[dict[str, Any]]) -> list[tuple[float, float, float, float]]:
        return [
            (r["environments"], r["median_wall_seconds"], r["min_wall_seconds"], r["max_wall_seconds"]) for r in rows
        ]

    def memory(rows: list[dict[str, Any]]) -> list[tuple[float, float, float, float]]:
        points = []
        for r in rows:
            peaks = [run["peak_tree_rss_bytes"] / MIB for run in r["runs"]]
            points.append((r["environments"], max(peaks), min(peaks), max(peaks)))
        return points

    time_levels = [
        (f"{label} {scenarios[key]['median_wall_seconds']:.1f} s", color, scenarios[key]["median_wall_seconds"])
        for key, label, color in (
            ("plain-both", "plain way, 1 VPC per cloud:", "#c0392b"),
            ("floor", "floor:", "#7f8c8d"),
        )
        if key in scenarios
    ]
    memory_levels = [("1.5 GB target", "#c0392b", 1.5e9 / MIB)]
    if "plain-both" in scenarios:
        plain = scenarios["plain-both"]["max_peak_tree_rss_bytes"] / MIB
        memory_levels.append((f"plain way: {plain:,.0f} MiB", "#e67e22", plain))
    body = [
        *_panel(
            0,
            "Synth wall time (median, min-max)",
            "seconds",
            [("ours, lazy JS", "#2471a3", timing(scale)), ("ours, eager JS", "#8e44ad", timing(eager))],
            time_levels,
            xmax,
        ),
        *_panel(
            440,
            "Peak memory, python + node tree",
            "MiB",
            [("ours, lazy JS", "#2471a3", memory(scale)), ("ours, eager JS", "#8e44ad", memory(eager))],
            memory_levels,
            xmax,
        ),
    ]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="880" height="320" viewBox="0 0 880 320" '
        'font-family="sans-serif" font-size="12">\n<rect width="880" height="320" fill="white"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


def replace_section(text: str, content: str) -> str | None:
    """``text`` with everything between the bench markers replaced; None without both markers."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        return None
    return pattern.sub(lambda _: f"{START}\n{content}\n{END}", text, count=1)


def write_reports(document: dict[str, Any], out: Path, readme: Path | None) -> list[Path]:
    written = []
    plot = out / PLOT
    plot.write_text(svg(document))
    table = out / TABLE
    table.write_text(
        f"# Benchmark results\n\n{markdown(document, PLOT)}\n\nRaw figures: [results.json](results.json).\n"
    )
    written += [plot, table]
    if readme is not None:
        link = f"{out.name}/{PLOT}" if out.parent == readme.parent else str(plot)
        section = markdown(document, link) + f"\n\nRaw figures: [{out.name}/results.json]({out.name}/results.json)."
        current = readme.read_text() if readme.exists() else ""
        updated = replace_section(current, section)
        if updated is None:
            # No markers (yet): the section goes to the bench's own README.
            fallback = out / "README.md"
            updated = replace_section(fallback.read_text() if fallback.exists() else "", markdown(document, PLOT))
            if updated is not None:
                fallback.write_text(updated)
                written.append(fallback)
        elif updated != current:
            readme.write_text(updated)
            written.append(readme)
    return written


if __name__ == "__main__":
    # Re-render from an existing results.json without running anything.
    from bench.run import derive

    here = Path(__file__).resolve().parent
    document = json.loads((here / "results.json").read_text())
    document["derived"] = derive(document["scenarios"], document.get("pytest"))
    (here / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    for path in write_reports(document, here, here.parent / "README.md"):
        print(f"wrote {path}")
