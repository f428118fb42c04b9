"""IAM policy evaluation: may this principal make this call on this resource, with this context?

The rules are AWS's, from the IAM user guide ("Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html, and
"IAM JSON policy elements: Condition operators",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
- an explicit Deny in any applicable policy wins; otherwise an Allow in an identity-based policy
  or in the resource's policy allows (same account); otherwise the call is implicitly denied;
- `Action`/`NotAction` match case-insensitively with `*` and `?`; `Resource`/`NotResource` match
  case-sensitively with the same wildcards;
- every condition operator in a statement must hold, and every key within an operator; several
  values for one key are ORed; a key missing from the request makes a condition false, except
  for the negated operators (`StringNotEquals`, `ArnNotLike`, ...) and `...IfExists`, for which a
  missing key makes it true; `Null` tests presence itself.

moto ships an evaluator (`moto.iam.access_control`), but it answers DENIED whenever a
statement's condition does not hold, Allow statements included, which turns a statement that
does not apply into an explicit deny; it also has no `NotResource` and matches actions
case-sensitively. Hence this one, which raises `UnsupportedPolicy` for any operator it does not
know rather than guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "allowed", "explicitDeny", "implicitDeny"

Context = Mapping[str, str | list[str]]


class UnsupportedPolicy(ValueError):
    """The policy uses an element or operator this evaluator does not model."""


def load_document(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """A policy document from its JSON (URL-encoded, as IAM's read APIs return it, or not)."""
    if isinstance(document, Mapping):
        return dict(document)
    text = document if document.lstrip().startswith("{") else unquote(document)
    return json.loads(text)


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    # only * and ?: IAM has no [...] classes, so fnmatch's translation would be wrong
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches_any(patterns: Iterable[str], value: str, *, ignore_case: bool) -> bool:
    return any(_wildcard(p, ignore_case=ignore_case).match(value) for p in patterns)


# --- Conditions ------------------------------------------------------------------------------


def _string_equals(want: str, have: str) -> bool:
    return want == have


def _string_equals_ignore_case(want: str, have: str) -> bool:
    return want.lower() == have.lower()


def _string_like(want: str, have: str) -> bool:
    return _wildcard(want, ignore_case=False).match(have) is not None


def _arn_like(want: str, have: str) -> bool:
    # ArnLike compares the six colon-separated parts, each with wildcards
    want_parts, have_parts = want.split(":", 5), have.split(":", 5)
    if len(want_parts) != 6 or len(have_parts) != 6:
        return False
    return all(_string_like(w, h) for w, h in zip(want_parts, have_parts, strict=True))


def _bool(want: str, have: str) -> bool:
    return want.lower() == have.lower()


def _numeric(compare: Any) -> Any:
    def check(want: str, have: str) -> bool:
        try:
            return bool(compare(float(have), float(want)))
        except ValueError:
            return False

    return check


# operator -> (how one wanted value matches one request value, negated)
OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_equals, False),
    "ArnNotEquals": (_string_equals, True),
    "ArnLike": (_arn_like, False),
    "ArnNotLike": (_arn_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
}


def _lookup(context: Context, key: str) -> list[str] | None:
    # condition keys are case-insensitive (the IAM user guide, "Condition element")
    for name, value in context.items():
        if name.lower() == key.lower():
            return _as_list(value)
    return None


def _condition_holds(operator: str, key: str, wanted: list[str], context: Context) -> bool:
    have = _lookup(context, key)
    if operator == "Null":
        # Null: "true" holds when the key is absent, "false" when it is present
        return any((have is None) == (w.lower() == "true") for w in wanted)
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base not in OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"condition operator {operator} is not modelled")
    match, negated = OPERATORS[base]
    if have is None:
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True  # vacuously true for an empty set (the user guide warns of this)
        return negated

    def one(value: str) -> bool:
        hit = any(match(w, value) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in have)
    return any(one(v) for v in have)


def _conditions_hold(conditions: Mapping[str, Any] | None, context: Context) -> bool:
    for operator, keys in (conditions or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, _as_list(wanted), context):
                return False
    return True


# --- Statements and policies ---------------------------------------------------------------


def _principal_matches(principal: Any, caller: str | None) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping) or caller is None:
        return False
    for kind, values in principal.items():
        for value in _as_list(values):
            if value == "*" or value == caller:
                return True
            # an account principal (arn:...:iam::123:root or 123) covers its roles
            if kind == "AWS" and (value.endswith(":root") or value.isdigit()):
                account = value.split(":")[4] if value.startswith("arn:") else value
                if caller.split(":")[4:5] == [account]:
                    return True
    return False


def statement_applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Context,
    caller: str | None = None,
) -> bool:
    """Whether the statement speaks of this request (whatever its Effect)."""
    unknown = set(statement) - {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "Principal",
    }
    if unknown:
        raise UnsupportedPolicy(f"policy element(s) {sorted(unknown)} are not modelled")
    if "Action" in statement:
        if not _matches_any(_as_list(statement["Action"]), action, ignore_case=True):
            return False
    elif "NotAction" in statement:
        if _matches_any(_as_list(statement["NotAction"]), action, ignore_case=True):
            return False
    else:
        return False
    if "Resource" in statement:
        if not _matches_any(_as_list(statement["Resource"]), resource, ignore_case=False):
            return False
    elif "NotResource" in statement and _matches_any(
        _as_list(statement["NotResource"]), resource, ignore_case=False
    ):
        return False
    if "Principal" in statement and not _principal_matches(statement["Principal"], caller):
        return False
    return _conditions_hold(statement.get("Condition"), context)


@dataclass
class Decision:
    """The answer, and the statements that decided it (for the error message and the tests)."""

    result: str
    matched: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.result == ALLOWED


def evaluate(
    identity_policies: Iterable[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Context | None = None,
    *,
    resource_policy: Mapping[str, Any] | None = None,
    caller: str | None = None,
) -> Decision:
    """Evaluate one request against the caller's identity-based policies and, when the resource
    has one, its resource-based policy (same account: an Allow in either suffices)."""
    context = context or {}
    allows: list[str] = []
    sources = [("identity", doc) for doc in identity_policies]
    if resource_policy:
        sources.append(("resource", resource_policy))
    for where, document in sources:
        for index, statement in enumerate(_statements(document)):
            if not statement_applies(
                statement, action, resource, context, caller if where == "resource" else None
            ):
                continue
            label = f"{where}:{statement.get('Sid') or index}"
            if statement.get("Effect") == "Deny":
                return Decision(EXPLICIT_DENY, [label])
            if statement.get("Effect") == "Allow":
                allows.append(label)
    return Decision(ALLOWED, allows) if allows else Decision(IMPLICIT_DENY)


def session_arn(role_arn: str, session: str) -> str:
    """The assumed-role session ARN of `role_arn`, `arn:<partition>:sts::<account>:assumed-role/
    <role name>/<session>`: the role's path is not part of it (IAM user guide, "IAM
    identifiers", role session ARNs)."""
    parts = role_arn.split(":", 5)
    if len(parts) < 6:
        return role_arn  # not a role ARN: nothing to assume, named as given
    name = parts[5].rsplit("/", 1)[-1]
    return f"arn:{parts[1]}:sts::{parts[4]}:assumed-role/{name}/{session}"


def request_context(role_arn: str, account_id: str) -> dict[str, str]:
    """The global condition keys of a role session's request (IAM user guide, "AWS global
    condition context keys"). aws:SecureTransport is true: services and AWS's CLI and SDKs call
    AWS over TLS (the emulator serves plain HTTP only because it listens on loopback)."""
    return {
        "aws:SecureTransport": "true",
        "aws:PrincipalAccount": account_id,
        "aws:PrincipalArn": role_arn,
    }


def access_denied_message(caller: str, action: str, resource: str, decision: Decision) -> str:
    """The wording of AWS's access-denied messages (IAM user guide, "Troubleshoot access denied
    error messages", https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html):
    "User: <arn> is not authorized to perform: <action> on resource: <arn> because no
    identity-based policy allows the <action> action", or "... with an explicit deny in a
    resource-based policy" / "... in an identity-based policy"."""
    base = f"User: {caller} is not authorized to perform: {action} on resource: {resource}"
    if decision.result == EXPLICIT_DENY:
        if decision.matched[0].startswith("resource"):
            return f"{base} with an explicit deny in a resource-based policy"
        return f"{base} with an explicit deny in an identity-based policy"
    return f"{base} because no identity-based policy allows the {action} action"


__all__ = [
    "ALLOWED",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "Decision",
    "UnsupportedPolicy",
    "access_denied_message",
    "evaluate",
    "load_document",
    "request_context",
    "session_arn",
    "statement_applies",
]
