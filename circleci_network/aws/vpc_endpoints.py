"""The VPC endpoints of ``VpcEndpoints``: an S3 gateway on the using roles' route tables, and
interface endpoints with private DNS behind the ``vpc-endpoints`` security group (its rules
are platform rules, rendered with the others by ``CircleciSecurityGroups``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from constructs import Construct

from circleci_network.errors import ConfigurationError
from circleci_network.model.checks import checked_keywords
from circleci_network.model.vpc_endpoints import VpcEndpoints, service_name


@checked_keywords
@dataclass(frozen=True)
class VpcEndpointProps:
    vpc_id: str
    """The VPC (``vpc-…`` or a reference)."""
    region: str
    """The VPC's region: endpoint services are named ``com.amazonaws.<region>.<service>``."""
    endpoints: VpcEndpoints
    """Which endpoints (turned on, list resolved)."""
    route_table_ids: tuple[str, ...]
    """The using roles' route tables: the S3 gateway adds its prefix-list route to each."""
    subnet_ids: tuple[str, ...]
    """One subnet per zone for the interface endpoints (AWS allows one per zone)."""
    name: str = "circleci"
    """Prefix of the Name tags."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every endpoint."""

    def __post_init__(self) -> None:
        if not self.endpoints.enabled:
            raise ConfigurationError(
                "VpcEndpointProps.endpoints", "is turned off", "build no CircleciVpcEndpoints without endpoints"
            )
        if self.endpoints.gateway_services and not self.route_table_ids:
            raise ConfigurationError(
                "VpcEndpointProps.route_table_ids", "is empty", "give the using roles' route tables for the S3 gateway"
            )
        if self.endpoints.interface_services and not self.subnet_ids:
            raise ConfigurationError(
                "VpcEndpointProps.subnet_ids", "is empty", "give one subnet per zone for the interface endpoints"
            )


def _id(service: str) -> str:
    return service.replace(".", "-")


class CircleciVpcEndpoints(Construct):
    """Built in two steps, because the groups' rules and the endpoints name each other: the
    gateway endpoints first (the nodes' S3 rule names their prefix list), then
    ``add_interface_endpoints`` with the endpoints' security group."""

    def __init__(self, scope: Construct, id: str, *, props: VpcEndpointProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.endpoints: dict[str, VpcEndpoint] = {}
        for service in props.endpoints.gateway_services:
            self.endpoints[service] = VpcEndpoint(
                self,
                _id(service),
                vpc_id=props.vpc_id,
                service_name=service_name(props.region, service),
                vpc_endpoint_type="Gateway",
                route_table_ids=list(props.route_table_ids),
                tags={**props.tags, "Name": f"{props.name}-{_id(service)}", "circleci/endpoint": service},
            )
        #: S3's prefix list (the gateway's destination): the using roles' egress names it.
        self.s3_prefix_list_id: str | None = self.endpoints["s3"].prefix_list_id if "s3" in self.endpoints else None

    def add_interface_endpoints(self, security_group_id: str) -> None:
        props = self.props
        for service in props.endpoints.interface_services:
            self.endpoints[service] = VpcEndpoint(
                self,
                _id(service),
                vpc_id=props.vpc_id,
                service_name=service_name(props.region, service),
                vpc_endpoint_type="Interface",
                subnet_ids=list(props.subnet_ids),
                security_group_ids=[security_group_id],
                private_dns_enabled=True,
                tags={**props.tags, "Name": f"{props.name}-{_id(service)}", "circleci/endpoint": service},
            )
