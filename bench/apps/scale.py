"""Our reference stacks, N environments per cloud, each a stack with its own id, names and CIDR.

``python -m bench.apps.scale aws,gcp 10`` builds 10 AWS and 10 GCP stacks and synthesizes them.
"""

from __future__ import annotations

import argparse

from bench.apps.phases import Phases


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("clouds", help="aws, gcp or aws,gcp")
    parser.add_argument("environments", type=int, help="stacks per cloud")
    parser.add_argument("--no-validation", action="store_true", help="validate_against_spec=False (profiling)")
    parser.add_argument("--lazy-js", action="store_true", help="load_provider_javascript_lazily() first")
    args = parser.parse_args()
    if args.lazy_js:
        from circleci_network.tooling.provider_loading import load_provider_javascript_lazily

        if not load_provider_javascript_lazily():
            parser.error("the lazy provider JavaScript preload could not be set up")
    clouds = tuple(args.clouds.split(","))
    validate = not args.no_validation
    phases = Phases()
    from cdktf import App

    phases.mark("import_cdktf")
    app = App()
    if "aws" in clouds:
        from circleci_network.aws import AwsNetworkProps, VpcProps
        from circleci_network.stacks.aws import AwsStackProps, CircleciAwsStack

        phases.mark("import_aws")
        for i in range(args.environments):
            CircleciAwsStack(
                app,
                f"circleci-aws-e{i:02d}",
                props=AwsStackProps(
                    region="us-east-1",
                    environment=f"e{i:02d}",
                    network=AwsNetworkProps(
                        vpc=VpcProps(
                            availability_zones=("us-east-1a", "us-east-1b", "us-east-1c"),
                            cidr_block=f"10.{i}.0.0/16",
                            name=f"ci-e{i:02d}",
                        ),
                        validate_against_spec=validate,
                    ),
                ),
            )
        phases.mark("build_aws")
    if "gcp" in clouds:
        from circleci_network.gcp import GcpNetworkProps
        from circleci_network.stacks.gcp import CircleciGcpStack, GcpStackProps

        phases.mark("import_gcp")
        for i in range(args.environments):
            CircleciGcpStack(
                app,
                f"circleci-gcp-e{i:02d}",
                props=GcpStackProps(
                    environment=f"e{i:02d}",
                    network=GcpNetworkProps(
                        project="acme-circleci",
                        region="us-central1",
                        name=f"ci-e{i:02d}",
                        validate_against_spec=validate,
                    ),
                ),
            )
        phases.mark("build_gcp")
    app.synth()
    phases.mark("synth")
    phases.emit()


if __name__ == "__main__":
    main()
