"""The audit as a reviewer reads it: a flow matrix in Markdown and a Mermaid diagram."""

from __future__ import annotations

from pathlib import Path

from circleci_network.audit.audit import StackAudit
from circleci_network.audit.engine import OUTSIDE, matrix
from circleci_network.model.roles import Role

REPORT_NAME = "circleci-network-audit.md"


def _cell(ports: list[str] | None) -> str:
    return "<br>".join(ports) if ports else "·"


def markdown(result: StackAudit) -> str:
    m = matrix(result.flows, result.names)
    parties = [
        r.value
        for r in Role
        if any(r.value in key for key in m.between) or any(r.value in key[:2] for key in m.outside)
    ]
    lines = [
        f"# {result.stack}: effective flows ({result.intent.cloud})",
        "",
        f"Audit: **{'matches the hardening guide' if result.ok else 'DIFFERS from the hardening guide'}** of "
        f"{result.intent.server_version.profile.title} ({result.intent.server_version.id.value}) "
        f"for the recorded options. Rows are sources, columns destinations; every port listed is open end to end "
        f"(the source may send it and the destination accepts it).",
        "",
        *(
            [
                f"Platform: **{result.intent.platform.platform.value}**. The platform's own implicit rules are "
                "evaluated with the stack's, and its platform rules (from the cloud's documentation, not the "
                "guide; marked `platform rule`) are required beside the guide's rows.",
                "",
            ]
            if result.intent.platform.platform is not None
            else []
        ),
        "| from \\ to | " + " | ".join(parties) + " |",
        "|---|" + "---|" * len(parties),
    ]
    for src in parties:
        lines.append(f"| **{src}** | " + " | ".join(_cell(m.between.get((src, dst))) for dst in parties) + " |")
    lines += ["", "## With the outside", "", "| from | to | addresses | ports |", "|---|---|---|---|"]
    for (src, dst, cidrs), ports in sorted(m.outside.items()):
        lines.append(f"| {src} | {dst} | {cidrs} | {', '.join(ports)} |")
    lines += ["", "## Why each flow is open", "", "| from | to | opened by |", "|---|---|---|"]
    for (src, dst), because in sorted(m.rules.items()):
        lines.append(f"| {src} | {dst} | {'<br>'.join(sorted(because))} |")
    if result.differences or result.unmodelled:
        lines += ["", "## Differences from the guide", ""]
        lines += [f"- {d}" for d in result.differences] + [f"- UNMODELLED: {u}" for u in result.unmodelled]
    if result.findings:
        lines += ["", "## Structural and policy findings", ""]
        lines += [f"- {f}" for f in result.findings]
    if result.accepted:
        lines += ["", "## Accepted findings (the team's own resources, with its reasons)", ""]
        lines += [f"- {a}" for a in result.accepted]
    if result.widenings:
        lines += ["", "## Options beyond the guide's minimum (review each)", ""]
        lines += [f"- {w}" for w in result.widenings]
    if result.notes:
        lines += ["", "## Not checked", ""]
        lines += [f"- {n}" for n in result.notes]
    if result.inherent:
        lines += ["", "## Opened by the cloud's rendering beyond the pure model (not failures)", ""]
        lines += [f"- {d}" for d in result.inherent]
    lines += ["", "## Diagram", "", "```mermaid", mermaid(result), "```", ""]
    return "\n".join(lines)


def mermaid(result: StackAudit) -> str:
    m = matrix(result.flows)
    lines = ["flowchart LR", f"  {OUTSIDE}((outside))"]
    for role in Role:
        if any(role.value in key for key in m.between) or any(role.value in key[:2] for key in m.outside):
            lines.append(f"  {role.name.lower()}[{role.display_name}]")
    node = {r.value: r.name.lower() for r in Role} | {OUTSIDE: OUTSIDE}
    edges: dict[tuple[str, str], list[str]] = {}
    for (src, dst), ports in m.between.items():
        edges[(src, dst)] = ports
    for (src, dst, _), ports in m.outside.items():
        edges.setdefault((src, dst), [])
        edges[(src, dst)] += [p for p in ports if p not in edges[(src, dst)]]
    for (src, dst), ports in sorted(edges.items()):
        label = ", ".join(ports[:6]) + (" …" if len(ports) > 6 else "")
        lines.append(f'  {node[src]} -->|"{label}"| {node[dst]}')
    return "\n".join(lines)


def write_report(result: StackAudit, directory: Path) -> Path:
    path = directory / REPORT_NAME
    path.write_text(markdown(result))
    return path
