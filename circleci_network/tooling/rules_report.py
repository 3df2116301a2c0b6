"""``python -m circleci_network rules [--server-version ID] [--format markdown|json]``: a server
version's rule table for security reviewers, every row with its source."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from circleci_network.model.controller_rules import gke_service_rules
from circleci_network.model.platform_rules import Platform, PlatformOptions, aws_platform_rules
from circleci_network.model.server_versions import (
    KNOWN_IDS,
    PROFILES,
    ServerVersion,
    ServerVersionId,
    external_nomad_server_rules,
    rows,
)
from circleci_network.model.vpc_endpoints import VpcEndpoints

COLUMNS = ("role", "direction", "protocol", "from_port", "to_port", "peer")


def report(version: ServerVersionId) -> dict[str, Any]:
    profile = PROFILES[version]
    return {
        "server_version": version.value,
        "title": profile.title,
        "releases": profile.releases,
        "document": profile.document,
        "config_file": profile.config_file.value,
        "rules": rows(profile.rules),
        #: Rows this version offers only on request (ServerVersion.proxy_job_ports).
        "opt_in": rows(profile.proxy_job_port_rules),
        #: Rows of ServerVersion.external_nomad_server_cidrs (peer: those CIDRs).
        "external_nomad_servers": rows(external_nomad_server_rules(())) if profile.external_nomad_servers else [],
        #: What GKE adds for the chart's Service under our values (we render it too).
        "gke_platform": rows(gke_service_rules(ServerVersion(version))),
        #: EKS's rows (default webhook ports) and the VPC endpoints' rows (default list and roles).
        "aws_platform": rows(aws_platform_rules(PlatformOptions(platform=Platform.EKS), VpcEndpoints(enabled=True))),
    }


def _cell(value: object) -> str:
    return "all" if value is None else str(value).replace("|", "\\|")


def _table(found: list[dict[str, Any]]) -> list[str]:
    lines = ["| " + " | ".join((*COLUMNS, "purpose", "source")) + " |", "|" + "---|" * (len(COLUMNS) + 2)]
    for row in found:
        sources = "<br>".join(
            f"{s['kind']}: {s['document']} / {s['section']} / {s['reference']}" for s in row["sources"]
        )
        cells = [_cell(row[c]) for c in COLUMNS] + [_cell(row["purpose"]), sources.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# Rules of server version {data['server_version']}: {data['title']} ({data['releases']})",
        "",
        f"Source: {data['document']}. Configuration written: {data['config_file']}.",
        "",
        *_table(data["rules"]),
    ]
    if data["opt_in"]:
        lines += ["", "## Opt-in rows (`ServerVersion(proxy_job_ports=True)`)", "", *_table(data["opt_in"])]
    if data["external_nomad_servers"]:
        lines += [
            "",
            "## Nomad servers outside Kubernetes (`ServerVersion(external_nomad_server_cidrs=...)`, Server 4.8+)",
            "",
            *_table(data["external_nomad_servers"]),
        ]
    if data["gke_platform"]:
        lines += ["", "## Platform rows on GCP (GKE adds them for the chart's Service; we render them too)", ""]
        lines += _table(data["gke_platform"])
    if data["aws_platform"]:
        lines += ["", "## Platform rows on AWS (`Platform.EKS`, `VpcEndpoints(enabled=True)`; not guide rows)", ""]
        lines += _table(data["aws_platform"])
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m circleci_network rules", description="print a server version's rule table with sources"
    )
    parser.add_argument("--server-version", default=ServerVersionId.V3_SEED.value, help=f"one of {KNOWN_IDS}")
    parser.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="markdown (default): the rule table with each row's source; json: the same for machines",
    )
    args = parser.parse_args(argv)
    try:
        version = ServerVersionId(args.server_version)
    except ValueError:
        print(f"rules: unknown server version {args.server_version!r}; known: {KNOWN_IDS}", file=sys.stderr)
        return 2
    data = report(version)
    print(
        json.dumps(data, indent=2) if args.format == "json" else markdown(data),
        end="\n" if args.format == "json" else "",
    )
    return 0
