"""The metric-math expressions the emulator evaluates for alarms: `IF(<id> <op> <number>,
<id|number>, <id|number>)`, the form templates/pipeline.yaml's UnhealthyTargetsAlarm uses
(`IF(healthy > 0, unhealthy, 0)`). Anything else is refused with a ValidationError-style message
rather than guessed.

Semantics (CloudWatch user guide, "Using math expressions with CloudWatch metrics", the IF
function): `IF(condition, trueValue, falseValue)` is evaluated per timestamp of the condition's
time series; where the condition holds the result is trueValue, else falseValue; a scalar branch
is that number at every timestamp; a time-series branch with no datapoint at that timestamp
gives none there. The condition operators are the ones the guide lists: ==, !=, <=, >=, <, >.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping

Series = Mapping[float, float]  # period start (epoch seconds) -> value

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_TERM = r"(?:[a-z][A-Za-z0-9_]*|-?\d+(?:\.\d+)?)"
_IF = re.compile(
    rf"^\s*IF\s*\(\s*(?P<left>[a-z][A-Za-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    rf"(?P<right>-?\d+(?:\.\d+)?)\s*,\s*(?P<yes>{_TERM})\s*,\s*(?P<no>{_TERM})\s*\)\s*$"
)


class UnsupportedExpression(ValueError):
    """An expression this emulator does not evaluate (CloudWatch's ValidationError shape)."""

    code = "ValidationError"


def parse(expression: str) -> tuple[str, str, float, str, str]:
    """(left id, operator, number, true term, false term), or UnsupportedExpression."""
    found = _IF.match(expression or "")
    if found is None:
        raise UnsupportedExpression(
            f"The metric math expression '{expression}' is not supported by this emulator: "
            "it evaluates only IF(<id> <op> <number>, <id or number>, <id or number>) "
            "with <op> one of >, >=, <, <=, ==, !=."
        )
    return (
        found["left"],
        found["op"],
        float(found["right"]),
        found["yes"],
        found["no"],
    )


def ids_used(expression: str) -> set[str]:
    """The query ids the expression reads."""
    left, _, _, yes, no = parse(expression)
    return {t for t in (left, yes, no) if not _is_number(t)}


def evaluate(expression: str, series: Mapping[str, Series]) -> dict[float, float]:
    """The expression's time series from the queries' series (id -> {period start: value})."""
    left, op, number, yes, no = parse(expression)
    for term in (left, yes, no):
        if not _is_number(term) and term not in series:
            raise UnsupportedExpression(
                f"The metric math expression '{expression}' uses '{term}', which is not the "
                "Id of a query of this alarm."
            )
    out: dict[float, float] = {}
    for when, value in series[left].items():
        chosen = yes if _OPS[op](value, number) else no
        picked = _term_at(chosen, series, when)
        if picked is not None:
            out[when] = picked
    return out


def _term_at(term: str, series: Mapping[str, Series], when: float) -> float | None:
    return float(term) if _is_number(term) else series[term].get(when)


def _is_number(term: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(?:\.\d+)?", term))
