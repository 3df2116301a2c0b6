"""Proves a synthesized network opens exactly the guide's flows: reads Terraform JSON (ours
or a user's), computes the effective flows per cloud, compares them with the model.

Pure Python: importing it loads neither cdktf nor a provider.
"""

from circleci_network.audit.audit import (
    AuditError,
    StackAudit,
    assert_matches_spec,
    audit_path,
    audit_stack,
)
from circleci_network.audit.engine import Difference

__all__ = ["AuditError", "Difference", "StackAudit", "assert_matches_spec", "audit_path", "audit_stack"]
