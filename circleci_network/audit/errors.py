"""The audit's one error type, apart so the JSON readers can raise it without importing the audit."""

from __future__ import annotations


class AuditError(ValueError):
    """The JSON cannot be audited (unreadable, no intent, an old record, several networks in one stack)."""
