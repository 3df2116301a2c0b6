"""``python -m circleci_network audit [cdktf.out]``: exits 1 when a stack differs from the guide."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from circleci_network.audit.audit import AuditError, audit_path, stack_files
from circleci_network.audit.report import write_report
from circleci_network.platform_rules import Platform


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["rules"]:  # the rule table per server version (circleci_network.rules_report)
        from circleci_network.rules_report import main as rules_main

        return rules_main(arguments[1:])
    parser = argparse.ArgumentParser(prog="python -m circleci_network")
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="check synthesized stacks against the hardening guide")
    audit.add_argument(
        "path", nargs="?", default="cdktf.out", type=Path, help="cdktf.out, a stack folder or a .tf.json file"
    )
    audit.add_argument(
        "--no-report", action="store_true", help="do not write circleci-network-audit.md beside each stack"
    )
    audit.add_argument(
        "--platform",
        choices=[p.value for p in Platform],
        help="audit with the platform's own rules and rows (default: the platform the stack records)",
    )
    args = parser.parse_args(argv)
    try:
        results = audit_path(args.path, None if args.platform is None else Platform(args.platform))
        files = stack_files(args.path)
    except AuditError as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    if not results:
        print(
            f"audit: none of the {len(files)} stacks under {args.path} holds a circleci-network network",
            file=sys.stderr,
        )
        return 2
    for result in results:
        print(result.summary())
        if not args.no_report:
            folder = args.path / "stacks" / result.stack if (args.path / "stacks" / result.stack).is_dir() else None
            if folder is not None:
                print(f"  report: {write_report(result, folder)}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
