"""``python -m circleci_network audit [cdktf.out] [--policy FILE|DIR] [--format text|json]``.

Exit codes: 0 every stack matches, 1 findings (a flow, a structural check or a policy option),
2 usage error or an unreadable input (one line naming the file). Every stack is audited even
when one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from circleci_network.audit.audit import AuditError, StackAudit, Unreadable, audit_files, read_intent, read_json
from circleci_network.audit.policy import POLICY_FILE
from circleci_network.audit.report import write_report
from circleci_network.model.platform_rules import Platform

OK, FINDINGS, UNUSABLE = 0, 1, 2


def version() -> str:
    import circleci_network

    found = getattr(circleci_network, "__version__", None)
    if isinstance(found, str):
        return found
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("circleci-network")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors: keep it, one line
        self.exit(UNUSABLE, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="python -m circleci_network")
    top.add_argument("--version", action="version", version=f"circleci-network {version()}")
    commands = top.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="{audit,rules}", title="commands"
    )
    # Parsed by circleci_network.tooling.rules_report (see main); listed here for --help.
    commands.add_parser(
        "rules", help="print a server version's rule table with the source of every row", add_help=False
    )
    audit = commands.add_parser("audit", help="check synthesized stacks against the hardening guide")
    audit.add_argument(
        "path",
        nargs="?",
        default="cdktf.out",
        type=Path,
        help="cdktf.out, a stack folder or a .tf.json file (default: cdktf.out in the current folder)",
    )
    audit.add_argument(
        "--policy",
        type=Path,
        help=f"a {POLICY_FILE} every stack must match, or a folder with one per stack "
        f"(<folder>/stacks/<stack>/{POLICY_FILE} or <folder>/<stack>/{POLICY_FILE}, as synth writes them)",
    )
    audit.add_argument("--format", choices=("text", "json"), default="text", help="json: findings for machines")
    audit.add_argument(
        "--no-report", action="store_true", help="do not write circleci-network-audit.md beside each stack"
    )
    audit.add_argument(
        "--platform",
        choices=[p.value for p in Platform],
        help="audit with the platform's own rules and rows (default: the platform the stack records)",
    )
    return top


def read_policy(file: Path) -> dict[str, Any]:
    """A policy file, checked with the reader of the record it must equal (one line on error)."""
    loaded = read_json(file)
    if isinstance(loaded, dict) and ("resource" in loaded or "terraform" in loaded or "locals" in loaded):
        raise AuditError(
            f"{file}: a synthesized stack, not a policy: give the {POLICY_FILE} synth writes beside it, "
            "or the folder of committed policies"
        )
    read_intent(loaded, str(file), f"the policy (a {POLICY_FILE} as synth writes it)")
    assert isinstance(loaded, dict)  # read_intent refuses anything else
    return loaded


def policy_files(where: Path) -> dict[str, Path]:
    """The policies in a folder by stack: ``stacks/<stack>/`` (as synth writes them) or ``<stack>/``."""
    found = {file.parent.name: file for file in sorted(where.glob(f"*/{POLICY_FILE}"))}
    found |= {file.parent.name: file for file in sorted(where.glob(f"stacks/*/{POLICY_FILE}"))}
    return found


def policy_source(where: Path) -> Callable[[str], dict[str, Any]]:
    """The policy of each stack: one file for all, or a folder holding one per stack."""
    if where.is_file():
        single = read_policy(where)
        return lambda _stack: single
    if not where.is_dir():
        raise AuditError(f"{where}: no such policy file or folder")

    def per_stack(stack: str) -> dict[str, Any]:
        for candidate in (where / "stacks" / stack / POLICY_FILE, where / stack / POLICY_FILE):
            if candidate.is_file():
                return read_policy(candidate)
        if (where / POLICY_FILE).is_file():  # the folder of one stack's policy, not of all
            hint = f"give {where / POLICY_FILE} itself, or the folder above it"
        else:
            hint = (
                f"write it with write_synth_files(app.outdir) after app.synth() (make synth does), review it, "
                f"and commit it as {where / stack / POLICY_FILE}"
            )
        raise AuditError(
            f"{where}: no {POLICY_FILE} for stack {stack} (looked in stacks/{stack}/ and {stack}/); {hint}"
        )

    return per_stack


def as_json(results: list[StackAudit | Unreadable]) -> dict[str, Any]:
    stacks: list[dict[str, Any]] = []
    for result in results:
        if isinstance(result, Unreadable):
            stacks.append(
                {"stack": result.stack, "file": str(result.file), "status": "unreadable", "error": result.error}
            )
            continue
        findings: list[dict[str, Any]] = [
            {
                "kind": "flow",
                "check": f"flow-{d.kind}",
                "flow": f"{d.source} -> {d.destination}" + (f" ({d.outside})" if d.outside else ""),
                "ports": list(d.ports),
                # extra flows: the resources that open them; missing flows: the model's rules.
                "resources": [b for b in d.because if not b.startswith("rule ")],
                "rules": [b.removeprefix("rule ") for b in d.because if b.startswith("rule ")],
                "message": str(d),
            }
            for d in result.differences
        ]
        findings += [
            {"kind": "unmodelled", "check": "unmodelled", "resources": [u.split(":", 1)[0]], "message": u}
            for u in result.unmodelled
        ]
        findings += [
            {
                "kind": "policy" if f.check == "policy" else "structure",
                "check": f.check,
                "resources": [] if f.resource.startswith("option:") else [f.resource],
                **({"option": f.resource.removeprefix("option:")} if f.resource.startswith("option:") else {}),
                "message": f.problem,
            }
            for f in result.findings
        ]
        stacks.append(
            {
                "stack": result.stack,
                "cloud": result.intent.cloud,
                "status": "ok" if result.ok else "findings",
                "findings": findings,
                "widenings": [
                    {"option": w.option, "value": w.value, "why": w.why, "narrows": w.narrows} for w in result.widenings
                ],
                "accepted": [
                    {
                        "check": a.finding.check,
                        "resources": [a.finding.resource],
                        "message": a.finding.problem,
                        "reason": a.reason,
                    }
                    for a in result.accepted
                ],
                "not_checked": result.notes,
            }
        )
    return {"version": version(), "stacks": stacks}


def audit(args: argparse.Namespace) -> int:
    if not args.path.exists():
        print(f"audit: {args.path}: no such file or folder", file=sys.stderr)
        return UNUSABLE
    if args.path.is_dir() and (args.path / "cdktf.out").is_dir() and not (args.path / "stacks").is_dir():
        print(f"audit: {args.path}: holds cdktf.out; give {args.path / 'cdktf.out'}", file=sys.stderr)
        return UNUSABLE
    try:
        policies = policy_source(args.policy) if args.policy is not None else None
        platform = None if args.platform is None else Platform(args.platform)
        results = audit_files(args.path, policies, platform=platform)
    except AuditError as error:
        print(f"audit: {error}", file=sys.stderr)
        return UNUSABLE
    if not results:
        print(f"audit: no stack under {args.path} holds a circleci-network network", file=sys.stderr)
        return UNUSABLE
    if args.format == "json":
        print(json.dumps(as_json(results), indent=2))
    for result in results:
        if isinstance(result, Unreadable):
            print(f"audit: {result.error}", file=sys.stderr)
            continue
        if args.format == "text":
            print(result.summary())
        folder = args.path / "stacks" / result.stack
        if not args.no_report and folder.is_dir():
            path = write_report(result, folder)
            if args.format == "text":
                print(f"  report: {path}")
    unaudited = [
        f"audit: {file}: a policy for stack {stack}, but no stack {stack} under {args.path} holds a "
        "circleci-network network; remove the policy, or restore the stack"
        for stack, file in (
            policy_files(args.policy) if args.policy is not None and args.policy.is_dir() else {}
        ).items()
        if stack not in {r.stack for r in results}
    ]
    for line in unaudited:
        print(line, file=sys.stderr)
    if unaudited or any(isinstance(r, Unreadable) for r in results):
        return UNUSABLE
    return OK if all(isinstance(r, StackAudit) and r.ok for r in results) else FINDINGS


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["rules"]:  # the rule table per server version
        from circleci_network.tooling.rules_report import main as rules_main

        return rules_main(arguments[1:])
    args = parser().parse_args(arguments)
    if args.command == "audit":
        return audit(args)
    return UNUSABLE


if __name__ == "__main__":
    try:
        code = main()
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at shutdown
    except BrokenPipeError:
        # The reader stopped (`... | head -2`): end quietly, as a killed-by-SIGPIPE tool would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 128 + 13
    sys.exit(code)
