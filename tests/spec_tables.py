"""Reads the guide's Markdown tables, independently of the library's rule table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SPEC = Path(__file__).resolve().parent.parent / "spec" / "circleci-server-v3-hardening.md"


@dataclass(frozen=True)
class SpecRow:
    section: str  # the ### heading
    part: str  # "Ingress" / "Egress" (the paragraph before the table)
    cells: dict[str, str]


def read_rows(path: Path = SPEC) -> list[SpecRow]:
    rows: list[SpecRow] = []
    section, part = "", ""
    header: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("### "):
            section, header = line[4:].strip(), None
        elif re.match(r"^(Ingress|Egress)\b", line):
            part = line.split()[0].rstrip(":")
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not set("".join(cells)) <= set("-: "):
                rows.append(SpecRow(section, part, dict(zip(header, cells, strict=False))))
        else:
            header = None
    return rows
