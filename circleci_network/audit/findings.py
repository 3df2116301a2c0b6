"""What the audit reports besides flow differences: a structural check or a policy option
that failed, naming the Terraform resource (or the recorded option) behind it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    check: str
    """The check that failed, e.g. "load-balancer-scheme", or "policy" for an option."""
    resource: str
    """The Terraform resource address (``aws_lb.x``), or ``option:<name>`` for policy findings."""
    problem: str

    def __str__(self) -> str:
        return f"{self.check}: {self.resource}: {self.problem}"


@dataclass(frozen=True)
class Widening:
    """An option beyond the guide's minimum: reported for review, not a failure."""

    option: str
    value: object
    why: str
    narrows: bool = False
    """The option departs from its default but admits less (every CIDR within the default's,
    e.g. clients from an office range instead of all IPv4): still listed, as a narrowing."""

    @property
    def label(self) -> str:
        return "NARROWING" if self.narrows else "WIDENING"

    def __str__(self) -> str:
        return f"{self.option} = {self.value!r}: {self.why}" + (" (narrower than the default)" if self.narrows else "")
