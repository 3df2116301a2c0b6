"""circleci-network: CircleCI Server v3 hardening rules as typed Python, rendered by cdktf.

Importing this package is cheap: it loads no cdktf provider. ``circleci_network.aws`` and
``circleci_network.gcp`` load only the provider modules they use, and from here on any
import of a provider package or of cdktf takes the fast path (``provider_loading``).
"""

#: The release; pyproject.toml reads it from here (one source of truth). See CHANGELOG.md.
__version__ = "0.2.0.dev0"

from circleci_network.errors import ConfigurationError
from circleci_network.model.accepted_findings import AcceptedFinding
from circleci_network.model.options import ExtraEgressRule, HardeningOptions
from circleci_network.model.platform_rules import GoogleApiAccess, Platform, PlatformOptions, TrafficPolicy
from circleci_network.model.ports import WELL_KNOWN_PORTS, Port, Protocol
from circleci_network.model.roles import COMPUTE_ROLES, LOAD_BALANCERS, OutsidePeer, Role
from circleci_network.model.rules import (
    SPEC_RULES,
    CustomPeer,
    Direction,
    RuleSource,
    SourceKind,
    SpecSection,
    TrafficRule,
    active_rules,
)
from circleci_network.model.server_versions import ServerVersion, ServerVersionId
from circleci_network.model.topology import JobPlacement, Topology, TopologyWarning, UserAccess
from circleci_network.model.vpc_endpoints import VpcEndpoints
from circleci_network.tooling.provider_loading import install_import_hook

install_import_hook()  # none of the imports above loads cdktf; the user's next imports may

__all__ = [
    "COMPUTE_ROLES",
    "LOAD_BALANCERS",
    "SPEC_RULES",
    "WELL_KNOWN_PORTS",
    "AcceptedFinding",
    "ConfigurationError",
    "CustomPeer",
    "Direction",
    "ExtraEgressRule",
    "GoogleApiAccess",
    "HardeningOptions",
    "JobPlacement",
    "OutsidePeer",
    "Platform",
    "PlatformOptions",
    "Port",
    "Protocol",
    "Role",
    "RuleSource",
    "ServerVersion",
    "ServerVersionId",
    "SourceKind",
    "SpecSection",
    "Topology",
    "TopologyWarning",
    "TrafficPolicy",
    "TrafficRule",
    "UserAccess",
    "VpcEndpoints",
    "__version__",
    "active_rules",
]
