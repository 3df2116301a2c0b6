"""What a Server v3 admin enters in the KOTS admin console, as a Markdown sheet.

Server v3 was configured in the KOTS admin console (``kubectl kots install circleci-server``),
not with Helm values. KOTS item keys are not published (read yours with ``kubectl kots get
config``), so this writes no ``ConfigValues`` manifest: each row is a field as the console
labels it and the value to enter (server-v4-hardening.md, section (e)).

Each v3 network records its rows as the Terraform local ``circleci-kots-settings``; at synth,
:func:`write_kots_settings` writes ``circleci-kots-settings.md`` beside the stack; after
``terraform apply``, ``terraform output -json kots_settings`` gives the values filled in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdktf import TerraformLocal
from constructs import Construct

from circleci_network.audit.stack_files import synthesized_stacks

KOTS_SETTINGS_LOCAL = "circleci-kots-settings"
SHEET_FILE = "circleci-kots-settings.md"
#: Where the field names come from (CircleCI docs @096aaaf).
KOTS_SOURCES = (
    "archived/_cci2/server-3-install-build-services.adoc",
    "archived/_cci2/server-3-operator-vm-service.adoc",
    "archived/_cci2/server-3-operator-load-balancers.adoc",
)


@dataclass(frozen=True)
class KotsField:
    section: str  # the admin console's section
    field: str  # the field as the console labels it
    value: Any  # a literal, or a Terraform reference known after apply
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section, "field": self.field, "value": self.value, "note": self.note}


class KotsSettings(Construct):
    """The sheet's rows as a Terraform local."""

    def __init__(
        self, scope: Construct, id: str, *, fields: Sequence[KotsField], facts: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(scope, id)
        self.fields = tuple(fields)
        #: Network facts no console field takes: a Terraform output.
        self.facts = facts
        self.local = TerraformLocal(self, KOTS_SETTINGS_LOCAL, [f.to_json() for f in self.fields])


def markdown(stack: str, rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        f"# KOTS settings for the network of stack {stack}",
        "",
        "Enter these in the CircleCI Server v3 admin console (`kubectl kots admin-console`, "
        "http://localhost:8800 > Config). Values written as `${...}` are known after `terraform apply`: "
        "read them with `terraform output -json kots_settings`. KOTS item keys are not published, so "
        "this sheet names the fields as the console labels them (check yours with `kubectl kots get config`).",
        "",
        "| section | field | value | note |",
        "|---|---|---|---|",
    ]
    for row in rows:
        value = row["value"]
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else json.dumps(value).strip('"')
        lines.append(f"| {row['section']} | {row['field']} | `{text}` | {row.get('note', '')} |")
    lines += ["", "Field names: CircleCI docs @096aaaf " + ", ".join(f"`{s}`" for s in KOTS_SOURCES) + ".", ""]
    return "\n".join(lines)


def write_kots_settings(outdir: Path | str = "cdktf.out") -> list[Path]:
    """Writes the sheet beside every synthesized stack that holds a v3 network of ours."""
    written = []
    for stack_file in synthesized_stacks(outdir):
        for key, rows in json.loads(stack_file.read_text()).get("locals", {}).items():
            if KOTS_SETTINGS_LOCAL in key:
                target = stack_file.parent / SHEET_FILE
                target.write_text(markdown(stack_file.parent.name, rows))
                written.append(target)
    return written
