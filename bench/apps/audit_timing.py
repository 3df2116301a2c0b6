"""The audit's CPU time per stack, as synth-time validation runs it (``with_notes=False``).

``python -m bench.apps.audit_timing`` synthesizes the reference stacks, AWS stacks with network
ACLs (the reference network, and the costliest shapes: public job subnets with transparent load
balancers, and the EKS example) in one process, then times ``audit_stack`` on each (CPU time, best of 7: the
machine is shared, and wall time would measure the neighbours). Prints one MARKER line.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from bench.apps.phases import MARKER


def main() -> None:
    from circleci_network.tooling.provider_loading import load_provider_javascript_lazily

    load_provider_javascript_lazily()
    from cdktf import App, TerraformStack, Testing

    from circleci_network import HardeningOptions, JobPlacement, Topology
    from circleci_network.audit import audit_stack
    from circleci_network.aws import AwsNetworkProps, VpcProps
    from circleci_network.stacks.aws import AwsStackProps, CircleciAwsStack
    from stacks.eks_example import EksExampleStack, eks_example_props
    from stacks.reference import add_reference_stacks, reference_aws_props

    app = App()
    add_reference_stacks(app)
    props = reference_aws_props()
    CircleciAwsStack(app, "circleci-aws-nacl", props=replace(props, network=replace(props.network, network_acls=True)))
    public_jobs = AwsNetworkProps(
        vpc=VpcProps(availability_zones=props.network.vpc.availability_zones, cidr_block="10.42.0.0/18"),
        hardening=HardeningOptions(rerun_ssh_cidrs=("192.0.2.0/28",), transparent_load_balancers=True),
        topology=Topology(job_placement=JobPlacement.PUBLIC),
        network_acls=True,
    )
    CircleciAwsStack(app, "circleci-aws-nacl-public-jobs", props=AwsStackProps(region=props.region, network=public_jobs))
    EksExampleStack(app, "aws-eks-nacl", props=eks_example_props(network_acls=True))
    stacks = {
        child.node.id: json.loads(Testing.synth(child))
        for child in app.node.children
        if isinstance(child, TerraformStack)
    }
    seconds: dict[str, float] = {}
    for name, stack in stacks.items():
        audit_stack(stack, name, with_notes=False)  # warm imports and caches
        times = []
        for _ in range(7):
            start = time.process_time()
            audit_stack(stack, name, with_notes=False)
            times.append(time.process_time() - start)
        seconds[name] = round(min(times), 4)
    print(MARKER + json.dumps({"audit_cpu_seconds": seconds}))


if __name__ == "__main__":
    main()
