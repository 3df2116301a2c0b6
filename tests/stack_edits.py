"""Helpers for tests that edit a synthesized stack and audit the copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from circleci_network.audit import audit_stack
from circleci_network.audit.findings import Finding
from circleci_network.model.intent import INTENT_LOCAL

Synth = dict[str, Any]


def record(stack: Synth) -> Synth:
    """The stack's circleci-network record (the intent local), to edit in place."""
    (found,) = [v for k, v in stack["locals"].items() if INTENT_LOCAL in k]
    return found


def failing_findings(stack: Synth, check: str) -> list[Finding]:
    """The audit's findings of ``check``; the audit must fail."""
    result = audit_stack(stack)
    assert not result.ok
    return [f for f in result.findings if f.check == check]


def synth_out(tmp_path: Path, stacks: dict[str, Synth | str]) -> Path:
    """A ``cdktf.out`` under ``tmp_path`` holding each stack (a dict, or JSON text as written)."""
    out = tmp_path / "cdktf.out"
    for name, content in stacks.items():
        folder = out / "stacks" / name
        folder.mkdir(parents=True)
        (folder / "cdk.tf.json").write_text(content if isinstance(content, str) else json.dumps(content))
    return out
