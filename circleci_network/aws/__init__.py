"""AWS rendering of the hardening rules: VPC, security groups, load balancers.

Importing this package loads only the AWS provider modules it uses (see
``circleci_network.tooling.provider_loading``); it never loads the Google provider.
"""

from circleci_network.tooling.provider_loading import load_provider_package_lazily

load_provider_package_lazily("cdktf_cdktf_provider_aws")

from circleci_network.aws.load_balancers import (  # noqa: E402
    DEFAULT_NODE_PORTS,
    CircleciLoadBalancers,
    LoadBalancerProps,
    NodePortAssignment,
)
from circleci_network.aws.network import AwsNetworkProps, CircleciAwsNetwork  # noqa: E402
from circleci_network.aws.network_acls import CircleciNetworkAcls, NetworkAclProps  # noqa: E402
from circleci_network.aws.security_groups import CircleciSecurityGroups, SecurityGroupProps  # noqa: E402
from circleci_network.aws.vpc import CircleciVpc, ExistingVpc, NatGateways, SubnetTier, VpcProps  # noqa: E402
from circleci_network.model.accepted_findings import AcceptedFinding  # noqa: E402
from circleci_network.model.vpc_endpoints import VpcEndpoints  # noqa: E402  (AWS-only, defined in the core)
from circleci_network.tooling.synth_files import write_synth_files  # noqa: E402

__all__ = [
    "DEFAULT_NODE_PORTS",
    "AcceptedFinding",
    "AwsNetworkProps",
    "CircleciAwsNetwork",
    "CircleciLoadBalancers",
    "CircleciNetworkAcls",
    "CircleciSecurityGroups",
    "CircleciVpc",
    "ExistingVpc",
    "LoadBalancerProps",
    "NatGateways",
    "NetworkAclProps",
    "NodePortAssignment",
    "SecurityGroupProps",
    "SubnetTier",
    "VpcEndpoints",
    "VpcProps",
    "write_synth_files",
]
