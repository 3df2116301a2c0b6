"""Audit synthesized stacks: effective flows of the JSON against the model for its options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network
from pathlib import Path

from circleci_network.audit.accepted import Accepted, apply_acceptances
from circleci_network.audit.aws_view import AwsView
from circleci_network.audit.chart_values import gcp_chart_values
from circleci_network.audit.engine import (
    Difference,
    Flows,
    Verdicts,
    blocked_by,
    compare,
    cut,
    effective_flows,
    half_flows,
    stateless_filters,
)
from circleci_network.audit.errors import AuditError as AuditError  # re-exported: its home before errors.py
from circleci_network.audit.expected import ExpectedView
from circleci_network.audit.facts import MissingFact, stack_policy
from circleci_network.audit.findings import Finding, Widening
from circleci_network.audit.gcp_view import GcpView
from circleci_network.audit.inputs import input_findings
from circleci_network.audit.listeners import load_balancer_findings
from circleci_network.audit.platform import PlatformMismatch, with_platform
from circleci_network.audit.policy import policy_findings, widenings
from circleci_network.audit.public_addresses import public_placement
from circleci_network.audit.readable import check_readable, module_notes
from circleci_network.audit.space import AddressNames
from circleci_network.audit.stack_files import read_beside, stack_files, stack_name
from circleci_network.audit.structure import check_structure
from circleci_network.audit.terraform_json import OUR_TAGS, DuplicateKey, Json, loads
from circleci_network.audit.unread import unread_findings
from circleci_network.audit.views import NetworkView
from circleci_network.audit.vpc_endpoints import check_named_peers, structure_findings
from circleci_network.errors import ConfigurationError
from circleci_network.model.intent import INTENT_LOCAL, IntentFormatError, NetworkIntent
from circleci_network.model.platform_rules import Platform
from circleci_network.model.roles import COMPUTE_ROLES


@dataclass
class StackAudit:
    stack: str
    intent: NetworkIntent
    flows: Flows
    expected: Flows
    differences: list[Difference]
    unmodelled: list[str]
    """Grants the audit cannot place: each one fails the audit."""
    inherent: list[Difference]
    """What the cloud's rendering opens beyond the pure model (informational)."""
    findings: list[Finding] = field(default_factory=list)
    """Structural checks and policy options that failed (``structure``, ``policy``)."""
    accepted: list[Accepted] = field(default_factory=list)
    """Findings about the team's own resources that its ``accepted_findings`` cover, with their reasons."""
    notes: list[str] = field(default_factory=list)
    """What could not be checked, and why (informational)."""
    widenings: list[Widening] = field(default_factory=list)
    """Options beyond the guide's minimum, listed for review when no policy is given."""
    names: AddressNames = field(default_factory=AddressNames)
    """The resources behind the stand-in addresses in ``flows``: how the report names them."""

    @property
    def ok(self) -> bool:
        return not self.differences and not self.unmodelled and not self.findings

    @property
    def failing(self) -> str:
        """What fails, counted: the flows against the guide, grants it cannot place, checks, the policy."""
        policy = sum(f.check == "policy" for f in self.findings)
        counts = [
            (len(self.differences), "flow difference", "flow differences"),
            (len(self.unmodelled), "unmodelled grant", "unmodelled grants"),
            (len(self.findings) - policy, "finding", "findings"),
            (policy, "option differing from the policy", "options differing from the policy"),
        ]
        return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)

    def summary(self) -> str:
        lines = [f"{self.stack} ({self.intent.cloud}): {'OK' if self.ok else 'FAILS: ' + self.failing}"]
        lines += [f"  {d}" for d in self.differences]
        lines += [f"  UNMODELLED: {u}" for u in self.unmodelled]
        lines += [f"  FINDING {f}" for f in self.findings]
        lines += [f"  ACCEPTED {a}" for a in self.accepted]
        lines += [f"  {w.label} {w}" for w in self.widenings]
        lines += [f"  NOT CHECKED: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Unreadable:
    """A stack the audit could not read; the others are still audited."""

    stack: str
    file: Path
    error: str


RECORD = "the circleci-network record"


def read_intent(value: object, name: str = "stack", what: str = RECORD) -> NetworkIntent:
    """A record (or a policy, which holds the same JSON) as a ``NetworkIntent``, or an AuditError."""
    try:
        if not isinstance(value, dict):
            raise TypeError(f"{type(value).__name__} where an object is expected")
        return NetworkIntent.from_json(value)
    except IntentFormatError as error:
        if what == RECORD:
            raise AuditError(f"{name}: {error}") from None
        raise AuditError(f"{name}: {what} is malformed ({error})") from None
    except (KeyError, TypeError, ValueError, AttributeError, ConfigurationError) as error:
        raise AuditError(f"{name}: {what} is malformed ({error})") from None


def intents(stack: Json, name: str = "stack") -> list[NetworkIntent]:
    found = stack.get("locals", {})
    if not isinstance(found, dict):
        raise AuditError(f"{name}: locals: a {type(found).__name__} where Terraform JSON has an object")
    return [read_intent(value, name) for key, value in found.items() if INTENT_LOCAL in key]


#: What the constructs that write the record render (``CircleciSecurityGroups``, ``CircleciFirewall``);
#: a VPC, load balancers or identities alone write none (the pieces are usable apart).
_RULE_KINDS = ("aws_security_group", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")


def ours_without_record(stack: Json) -> str | None:
    """A security group or rule of ours (a ``circleci/role`` or ``circleci/rule`` tag), or a
    firewall rule of ours (the guide's row or the baseline deny in its description), in a stack
    whose record is gone; None if it holds none."""
    every = stack.get("resource")
    if not isinstance(every, dict):
        return None
    for kind in (*_RULE_KINDS, "google_compute_firewall"):
        named = every.get(kind)
        if not isinstance(named, dict):
            continue
        for name, resource in named.items():
            if not isinstance(resource, dict):
                continue
            tags = resource.get("tags")
            if isinstance(tags, dict) and (tag := next((t for t in tags if t in OUR_TAGS), None)):
                return f"{kind}.{name} (tagged {tag})"
            description = str(resource.get("description", ""))
            if kind == "google_compute_firewall" and ("; spec: " in description or description.startswith("Baseline:")):
                return f"{kind}.{name} (a circleci-network firewall rule)"
    return None


def audit_stack(
    stack: Json,
    name: str = "stack",
    *,
    with_notes: bool = True,
    policy: Json | None = None,
    platform: Platform | None = None,
) -> StackAudit:
    """``with_notes=False`` skips the informational ``inherent`` pass (synth-time validation).
    With ``policy`` (a ``circleci-network-policy.json``) the recorded options must equal it.
    ``platform`` audits as if the stack were built for it (default: the platform it records)."""
    found = intents(stack, name)
    try:
        check_readable(stack)
    except AuditError as error:
        raise AuditError(f"{name}: {error}") from None
    if len(found) != 1:
        raise AuditError(
            f"{name}: found {len(found)} circleci-network intents; the audit reads exactly one network per stack"
        )
    try:
        intent = with_platform(found[0], platform)
    except PlatformMismatch as error:
        raise AuditError(f"{name}: {error}") from error
    try:
        public = public_placement(stack, intent)
        resolved = stack_policy(stack, intent, public)
    except MissingFact as error:
        raise AuditError(f"{name}: {error}") from None
    actual: NetworkView = (
        AwsView(stack, intent, resolved, public) if intent.cloud == "aws" else GcpView(stack, intent, resolved, public)
    )
    for role, cidrs in intent.inputs.role_cidrs.items():
        if role in COMPUTE_ROLES and not actual.book.ranges.get(role):
            actual.book.ranges[role] = [IPv4Network(c) for c in cidrs]
    unplaced = [role.value for role in COMPUTE_ROLES if not actual.book.ranges.get(role)]
    if unplaced:
        raise AuditError(
            f"{name}: cannot tell where {', '.join(unplaced)} live: the stack has no subnets of theirs; "
            "give SecurityGroupProps.role_subnet_cidrs when the subnets are managed elsewhere"
        )
    # A role the stack holds but the audit cannot place would drop out of both sides: it fails instead.
    held = actual.unplaced_roles() if isinstance(actual, AwsView | GcpView) else {}
    placement = [Finding("role-placement", where, problem) for where, problem in held.values()]
    rendered = ExpectedView(intent, resolved, actual.book)
    pure = ExpectedView(intent, resolved, actual.book, as_rendered=False)
    cells = cut([actual, rendered, pure], actual.book)
    # Each view's verdicts are kept for the passes below: they ask the same questions.
    asked, model = Verdicts(actual, cells), Verdicts(rendered, cells)
    flows = effective_flows(asked)
    expected = effective_flows(model)
    # Stand-ins read as their resources in every text below; outside addresses read around the roles' own.
    names = replace(actual.book.names, roles_own=tuple((c.low, c.high) for cs in cells.parties.values() for c in cs))
    differences = compare(flows, expected, lambda key: blocked_by(asked, key), names)
    flagged = {(d.source, d.destination) for d in differences}
    for d in compare(half_flows(asked), half_flows(model)):
        # A one-sided difference matters only where no flow difference already names the pair.
        end = d.destination.split(" (")[0]
        if (d.source, end) not in flagged and (end, d.source) not in flagged:
            differences.append(d)
    if (filters := stateless_filters(actual)) is not None:
        differences += filters.stateless_differences(rendered, cells)
    findings, notes = check_structure(stack, intent)
    notes += module_notes(stack)
    findings += placement
    findings += input_findings(stack, intent)  # the record's inputs and outside peers, against the JSON
    findings += gcp_chart_values(stack, intent, resolved, public)
    findings += load_balancer_findings(stack, intent) + unread_findings(stack)  # listeners' NodePorts; unread kinds
    unmodelled = actual.unmodelled()
    if isinstance(actual, AwsView):  # S3's prefix list: matched by name, role and port
        named_unmodelled, named_findings, named_notes = check_named_peers(
            actual.named_grants, tuple(r.rule for r in rendered.rules)
        )
        unmodelled += named_unmodelled
        findings += named_findings + structure_findings(stack, intent)
        notes += named_notes
    findings, accepted = apply_acceptances(stack, intent, findings)
    if policy is not None:
        findings += policy_findings(intent, policy)
    return StackAudit(
        stack=name,
        intent=intent,
        flows=flows,
        expected=expected,
        differences=differences,
        unmodelled=unmodelled,
        inherent=[
            d for d in compare(expected, effective_flows(Verdicts(pure, cells)), names=names) if d.kind == "extra"
        ]
        if with_notes
        else [],
        findings=findings,
        accepted=accepted,
        notes=notes,
        widenings=widenings(intent) if policy is None else [],
        names=names,
    )


def read_json(file: Path) -> object:
    """A file's JSON, or an AuditError naming the file (one line, no traceback)."""
    try:
        return loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise AuditError(f"{file}: cannot read it ({error.strerror or error})") from None
    except DuplicateKey as error:
        raise AuditError(
            f"{file}: key {error} appears twice in one object; Terraform reads both, the audit would read "
            "only the last: write each key once"
        ) from None
    except RecursionError:
        raise AuditError(f"{file}: nested deeper than the audit can read; flatten the deepest value") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        raise AuditError(f"{file}: not valid JSON ({error})") from None


def read_stack(file: Path) -> Json:
    """The stack's JSON, or an AuditError naming the file (one line, no traceback)."""
    loaded = read_json(file)
    if not isinstance(loaded, dict):
        raise AuditError(f"{file}: not a Terraform JSON object")
    return loaded


def audit_files(
    path: Path, policies: Callable[[str], Json | None] | None = None, *, platform: Platform | None = None
) -> list[StackAudit | Unreadable]:
    """Every stack under ``path`` holding a network of ours; one that fails does not stop the others.
    ``policies(stack name)`` gives the policy to hold each stack to (or None)."""
    files = stack_files(path)
    if not files:
        raise AuditError(
            f"{path}: no synthesized stacks (expected stacks/*/cdk.tf.json); run `cdktf synth` (or `python main.py`) first"
        )
    results: list[StackAudit | Unreadable] = []
    for file in files:
        name = stack_name(file)
        if beside := read_beside(file, given=path.is_file()):
            results.append(Unreadable(name, beside[0], _read_beside(beside, file)))
            continue
        try:
            stack = read_stack(file)
            if not intents(stack, name):
                if (ours := ours_without_record(stack)) is not None:
                    raise AuditError(
                        f"{name}: no circleci-network record (the {INTENT_LOCAL} local), yet it holds our "
                        f"resources, e.g. {ours}; synthesize the stack again (never delete the record)"
                    )
                continue
            results.append(audit_stack(stack, name, policy=policies(name) if policies else None, platform=platform))
        except AuditError as error:
            results.append(Unreadable(name, file, _naming_file(str(error), name, file)))
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as error:
            # Last resort for a shape the readers did not expect: one line, never a traceback.
            problem = f"{type(error).__name__}: {error}"
            results.append(Unreadable(name, file, f"{file}: cannot audit it, an unexpected value ({problem})"))
    return results


def _read_beside(beside: list[Path], file: Path) -> str:
    them = "it" if len(beside) == 1 else "them"
    return (
        f"{', '.join(map(str, beside))}: Terraform reads {them} with {file} as one configuration, but the audit "
        f"reads only {file.name}; move {them} out of the stack folder, or build {them} in the stack"
    )


def _naming_file(error: str, name: str, file: Path) -> str:
    """``<stack>: problem`` -> ``<file>: problem``: the CLI's one line names the file."""
    if error.split(": ", 1)[0].endswith(".json"):  # names its file already (the stack's, or a policy's)
        return error
    return f"{file}: {error.removeprefix(f'{name}: ')}"


def audit_path(path: Path, platform: Platform | None = None) -> list[StackAudit]:
    """Like ``audit_files``, raising on the first stack that cannot be read."""
    results = []
    for result in audit_files(path, platform=platform):
        if isinstance(result, Unreadable):
            raise AuditError(result.error)
        results.append(result)
    return results


def assert_matches_spec(stack: Json | str | Path, name: str = "stack") -> StackAudit:
    """For users' own tests: fails with every missing and extra flow, and the resources behind it.

    ``stack`` is the synthesized stack as a dict, as JSON text (``Testing.synth(stack)``) or as
    the path of its ``cdk.tf.json``.
    """
    if isinstance(stack, str) and stack.lstrip().startswith("{"):
        loaded: Json = _stack_text(stack)
    elif isinstance(stack, (str, Path)):
        loaded = _stack_text(Path(stack).read_text(encoding="utf-8"))  # a missing file: FileNotFoundError
    else:
        loaded = stack
    result = audit_stack(loaded, name)
    if not result.ok:
        raise AssertionError(result.summary())
    return result


def _stack_text(text: str) -> Json:
    """JSON text read as ``read_stack`` reads a file (a duplicate key is refused)."""
    try:
        loaded = loads(text)
    except DuplicateKey as error:
        raise AuditError(f"key {error} appears twice in one object; Terraform reads both") from None
    if not isinstance(loaded, dict):
        raise AuditError("not a Terraform JSON object")
    return loaded
