"""The plain way: providers imported as documented (full package ``__init__``), one VPC per cloud."""

from __future__ import annotations

import sys

from bench.apps.phases import Phases


def main(clouds: tuple[str, ...]) -> None:
    phases = Phases()
    from cdktf import App, TerraformStack

    phases.mark("import_cdktf")
    app = App()
    if "aws" in clouds:
        from cdktf_cdktf_provider_aws.provider import AwsProvider
        from cdktf_cdktf_provider_aws.vpc import Vpc

        phases.mark("import_aws")
        aws = TerraformStack(app, "plain-aws")
        AwsProvider(aws, "aws", region="us-east-1")
        Vpc(aws, "vpc", cidr_block="10.0.0.0/16")
    if "gcp" in clouds:
        from cdktf_cdktf_provider_google.compute_network import ComputeNetwork
        from cdktf_cdktf_provider_google.provider import GoogleProvider

        phases.mark("import_gcp")
        gcp = TerraformStack(app, "plain-gcp")
        GoogleProvider(gcp, "google", project="acme-circleci", region="us-central1")
        ComputeNetwork(gcp, "vpc", name="plain", auto_create_subnetworks=False)
    phases.mark("build")
    app.synth()
    phases.mark("synth")
    phases.emit()


if __name__ == "__main__":
    main(tuple(sys.argv[1].split(",")) if len(sys.argv) > 1 else ("aws", "gcp"))
