"""`python -m circleci_network rules`: a server version's table with sources, for reviewers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from circleci_network.__main__ import main
from circleci_network.model.server_versions import PROFILES, ServerVersionId

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("version", list(ServerVersionId), ids=str)
def test_json_lists_every_rule_and_port_with_its_source(
    version: ServerVersionId, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["rules", "--server-version", version.value, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["server_version"] == version.value
    expected = {(r.rule_id, p.label) for r in PROFILES[version].rules for p in r.ports}
    got = {
        (
            row["rule_id"],
            row["protocol"]
            if row["from_port"] is None
            else f"{row['protocol']}/{row['from_port']}"
            + ("" if row["from_port"] == row["to_port"] else f"-{row['to_port']}"),
        )
        for row in data["rules"]
    }
    assert got == expected
    for row in data["rules"]:
        assert {"role", "direction", "protocol", "from_port", "to_port", "peer", "sources"} <= set(row)
        assert row["sources"] and all(s["document"] for s in row["sources"])


def test_markdown_is_the_default_format_and_v3_seed_the_default_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Rules of server version v3-seed")
    assert "| role | direction | protocol | from_port | to_port | peer | purpose | source |" in out
    assert "| frontend-external | ingress | tcp | 80 | 80 | clients | Frontend API | guide: spec/" in out


def test_v4_3_offers_no_external_nomad_servers(capsys: pytest.CaptureFixture[str]) -> None:
    """CircleCI documents Nomad servers outside Kubernetes from 4.8 only."""
    assert main(["rules", "--server-version", "v4.3"]) == 0
    out = capsys.readouterr().out
    assert "## Opt-in rows" in out and "## Nomad servers outside Kubernetes" not in out
    assert "Server 4.3-4.7" in out


def test_v4_8_shows_its_opt_in_rows_apart(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--server-version", "v4.8"]) == 0
    out = capsys.readouterr().out
    table, opt_in = out.split("## Opt-in rows")
    opt_in, nomad_servers = opt_in.split("## Nomad servers outside Kubernetes")
    nomad_servers, gke = nomad_servers.split("## Platform rows on GCP")
    assert "| k8s-nodes | ingress | tcp | 10256 | 10256 | gke-l4-health-checks |" in gke
    assert "| circleci-proxy | ingress | tcp | 4647 | 4647 | clients |" in gke
    assert "| nomad-clients | egress | tcp | 4646 | 4648 | nomad-servers |" in nomad_servers
    assert "vendor terraform: [TF] CircleCI-Public/server-terraform@888333e" in nomad_servers
    assert "| circleci-proxy | ingress | tcp | 4647 | 4647 | nomad-clients |" in table
    assert "| 3000 |" not in table and "| circleci-proxy | ingress | tcp | 3000 | 3000 | nomad-clients |" in opt_in


def test_an_unknown_version_exits_2_and_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--server-version", "v5"]) == 2
    err = capsys.readouterr().err
    assert "'v5'" in err and "v3-seed, v3, v4.0, v4.3, v4.8" in err


def test_aws_platform_rows_show_the_eks_and_vpc_endpoint_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules"]) == 0
    aws = capsys.readouterr().out.split("## Platform rows on AWS")[1]
    assert (
        "| vpc-endpoints | ingress | tcp | 443 | 443 | k8s-nodes | Platform rule (AWS VPC endpoints, not a guide row)"
        in aws
    )
    assert "| k8s-nodes | egress | tcp | 443 | 443 | s3-prefix-list |" in aws
    assert "| k8s-nodes | ingress | tcp | 10250 | 10250 | eks-control-plane |" in aws
    assert "platform: AWS PrivateLink guide https://docs.aws.amazon.com/vpc/latest/privatelink/" in aws


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    # `python -m circleci_network rules | head -2`: the pipe closes before the table is written.
    process = subprocess.Popen(
        [sys.executable, "-m", "circleci_network", "rules", "--format", "json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141, stderr
    assert stderr == ""


def test_help_names_the_audit_path_default_and_the_rules_formats() -> None:
    def help_of(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "circleci_network", *args, "--help"], cwd=ROOT, capture_output=True, text=True
        )
        return " ".join(done.stdout.split())

    assert "default: cdktf.out" in help_of("audit")
    assert "markdown (default)" in help_of("rules")
