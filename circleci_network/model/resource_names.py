"""Names the renderers give resources that the audit also reads to tell ours from a team's
(the audit imports no renderer): kept here, in the core, so both read the same names."""

from __future__ import annotations

from collections.abc import Mapping

from circleci_network.model.roles import Role

#: AWS load balancer names are ``{prefix}-{short}``, target groups ``{prefix}-{short}-{port}``
#: (AWS caps both at 32 characters, so the role names are shortened).
LOAD_BALANCER_SHORT_NAMES: Mapping[Role, str] = {
    Role.FRONTEND_LB: "frontend",
    Role.TRAEFIK_LB: "traefik",
    Role.VM_SERVICE_LB: "vm-service",
    Role.NOMAD_LB: "nomad",
    Role.OUTPUT_PROCESSOR_LB: "output-proc",
}


def gcp_subnet_name(prefix: str, region: str) -> str:
    """The one GCP subnet of a network of ours: ``<prefix>-<region>``."""
    return f"{prefix}-{region}"
