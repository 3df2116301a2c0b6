"""A service account and a network tag per compute role: the firewall's targets."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf_cdktf_provider_google.service_account import ServiceAccount
from constructs import Construct

from circleci_network.gcp.naming import ACCOUNT_ID_LIMIT, check_prefix_lengths
from circleci_network.gcp.settings import check_name, check_project
from circleci_network.model.checks import checked_keywords, require_fields
from circleci_network.model.roles import COMPUTE_ROLES, Role

__all__ = ["ACCOUNT_ID_LIMIT", "RoleIdentities", "RoleIdentityProps", "role_tag"]


@checked_keywords
@dataclass(frozen=True)
class RoleIdentityProps:
    project: str
    """
    GCP project the service accounts are created in: 6-30 lowercase letters, digits and '-', starting with a letter.
    """
    name: str = "circleci"
    """Prefix of the service account IDs and network tags (``<name>-<role>``); each ID must fit GCP's 30 characters."""

    def __post_init__(self) -> None:
        require_fields(self)
        check_project(self.project, "RoleIdentityProps.project")
        check_name(self.name, "RoleIdentityProps.name")
        check_prefix_lengths(self.name, "RoleIdentityProps.name", {"identities"})


def role_tag(name: str, role: Role) -> str:
    return f"{name}-{role.value}"


class RoleIdentities(Construct):
    def __init__(self, scope: Construct, id: str, *, props: RoleIdentityProps) -> None:
        super().__init__(scope, id)
        self.props = props
        self.service_accounts: dict[Role, ServiceAccount] = {
            role: ServiceAccount(
                self,
                role.value,
                account_id=f"{props.name}-{role.value}",
                project=props.project,
                display_name=f"CircleCI Server {role.display_name}",
                description="Firewall identity for this role (circleci-network); attach to its instances",
            )
            for role in COMPUTE_ROLES
        }
        self.tags: dict[Role, str] = {role: role_tag(props.name, role) for role in COMPUTE_ROLES}

    def service_account_email(self, role: Role) -> str:
        return self.service_accounts[role].email
