"""Opt-in shapes of the reference stack, the EKS example and the GKE stacks, that checkov must
also pass with the library's baselines. Run as ``python -m tests.tools.variants OUTDIR`` (a process of its own: jsii)."""

from __future__ import annotations

import sys
import warnings
from dataclasses import replace

from circleci_network.tooling.provider_loading import load_provider_javascript_lazily

#: The managed-cluster stacks checkov scans beside the reference stacks (tests/tools/test_checkov.py).
EKS_EXAMPLE = "aws-eks-example"
EKS_NACL_EXAMPLE = "aws-eks-nacl"
GKE_STACKS = ("gcp-gke-private", "gcp-gke-public-tags", "gcp-gke-v4.3-vpn")
MANAGED_CLUSTER_STACKS = (EKS_EXAMPLE, EKS_NACL_EXAMPLE, *GKE_STACKS)


def main(outdir: str) -> None:
    load_provider_javascript_lazily()
    from cdktf import App

    from circleci_network.model.topology import TopologyWarning
    from circleci_network.stacks.aws import CircleciAwsStack
    from circleci_network.tooling.scanner_findings import write_checkov_baselines
    from stacks.eks_example import EksExampleStack, eks_example_props
    from stacks.reference import reference_aws_props
    from tests.gke_stacks import build_gke_stacks

    app = App(outdir=outdir)
    reference = reference_aws_props()
    CircleciAwsStack(
        app,
        "circleci-aws-network-acls",
        props=replace(reference, network=replace(reference.network, network_acls=True)),
    )
    EksExampleStack(app, EKS_EXAMPLE)
    EksExampleStack(app, EKS_NACL_EXAMPLE, props=eks_example_props(network_acls=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TopologyWarning)  # VPN-only rerun-with-SSH, said on purpose
        gke = build_gke_stacks(app)
    assert set(GKE_STACKS) <= set(gke), gke
    app.synth()
    write_checkov_baselines(app.outdir)


if __name__ == "__main__":
    main(sys.argv[1])
