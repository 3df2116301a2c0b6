"""The one error type users see for bad input, raised before any jsii call."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """Bad or contradictory input, found at synth time.

    The message always starts with the field at fault and ends with the fix.
    """

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")
