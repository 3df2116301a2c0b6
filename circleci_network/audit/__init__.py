"""Proves a synthesized network opens exactly the guide's flows: reads Terraform JSON (ours
or a user's), computes the effective flows per cloud, compares them with the model.

Pure Python: importing it loads neither cdktf nor a provider.
"""

from circleci_network.audit.audit import (
    AuditError,
    StackAudit,
    Unreadable,
    assert_matches_spec,
    audit_files,
    audit_path,
    audit_stack,
)
from circleci_network.audit.engine import Difference
from circleci_network.audit.findings import Finding, Widening

__all__ = [
    "AuditError",
    "Difference",
    "Finding",
    "StackAudit",
    "Unreadable",
    "Widening",
    "assert_matches_spec",
    "audit_files",
    "audit_path",
    "audit_stack",
]
