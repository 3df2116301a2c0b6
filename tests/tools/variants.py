"""Opt-in shapes of the reference stack that checkov must also pass with the library's
baselines. Run as ``python -m tests.tools.variants OUTDIR`` (a process of its own: jsii)."""

from __future__ import annotations

import sys
from dataclasses import replace

from circleci_network.provider_loading import load_provider_javascript_lazily


def main(outdir: str) -> None:
    load_provider_javascript_lazily()
    from cdktf import App

    from circleci_network.scanner_findings import write_checkov_baselines
    from circleci_network.stacks.aws import CircleciAwsStack
    from stacks.reference import reference_aws_props

    app = App(outdir=outdir)
    reference = reference_aws_props()
    CircleciAwsStack(
        app,
        "circleci-aws-network-acls",
        props=replace(reference, network=replace(reference.network, network_acls=True)),
    )
    app.synth()
    write_checkov_baselines(app.outdir)


if __name__ == "__main__":
    main(sys.argv[1])
