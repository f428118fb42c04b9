"""An alarm's state as CloudWatch computes it, as plain functions: an alarm in DescribeAlarms
(MetricAlarm) shape, the metric samples, the time -> `Evaluation` (state, reason, reason data),
or None where CloudWatch keeps the current state.

The rules, each from the CloudWatch user guide:
- "Evaluating an alarm" (AlarmThatSendsEmail.html#alarm-evaluation): Period is the length of
  time over which the Statistic (or ExtendedStatistic) aggregates the metric into one datapoint;
  EvaluationPeriods (N) is the number of most recent periods evaluated; DatapointsToAlarm (M,
  default N) is how many of them must breach for ALARM ("M out of N"); a datapoint breaches when
  `value <op> Threshold` holds for the ComparisonOperator.
- "Configuring how CloudWatch alarms treat missing data": TreatMissingData `missing` (default:
  the alarm does not consider missing datapoints; all missing -> INSUFFICIENT_DATA), `notBreaching`
  (missing counts as within the threshold), `breaching` (missing counts as breaching), `ignore`
  (the current state is kept when the datapoints are missing).
- A metric is its namespace, name and its whole set of dimensions ("Metrics concepts",
  Dimensions: a combination of dimensions is a separate metric).
- Metric-math alarms (`Metrics`): exactly one query has ReturnData true; its expression is
  evaluated over the MetricStat queries' series (mathexpr.py).

Periods start at multiples of the period since the epoch (CloudWatch aligns datapoints to the
period). The window is the N periods ending with the one holding `now`, so a datapoint counts as
soon as it is put (ALB metrics arrive once a minute, so on AWS the newest period is complete when
it is evaluated; locally the newest is partial and a burst of 5xx counts at once).

Periods may be scaled for local runs: every period is divided by `period_scale()`, the one
setting (environment variable PIPEKIT_ALARM_PERIOD_SCALE, default 1: AWS's periods).
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pipekit.emulator.alarms import mathexpr

SCALE_VARIABLE = "PIPEKIT_ALARM_PERIOD_SCALE"

# botocore cloudwatch ComparisonOperator (the threshold ones; the anomaly-band ones are refused)
_COMPARE: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")


class Sample(NamedTuple):
    """One PutMetricData entry: a value (values=(v,)) or a StatisticSet (values=())."""

    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    timestamp: float  # epoch seconds
    sum: float
    minimum: float
    maximum: float
    count: float
    values: tuple[float, ...]


class Evaluation(NamedTuple):
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    reason_data: dict[str, Any]


class UnsupportedAlarm(ValueError):
    """An alarm this emulator cannot evaluate (CloudWatch's ValidationError shape)."""

    code = "ValidationError"


def period_scale() -> float:
    """How much faster than AWS periods run (1 = AWS's periods)."""
    raw = os.environ.get(SCALE_VARIABLE, "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not (scale >= 1 and math.isfinite(scale)):
        raise ValueError(f"{SCALE_VARIABLE} must be a number >= 1 (got {raw!r})")
    return scale


def sample_of_value(namespace: str, name: str, dims: Mapping[str, str], when: float, value: float):
    """A Sample from a single value."""
    return Sample(
        namespace, name, frozenset(dims.items()), when, value, value, value, 1.0, (value,)
    )


def aggregate(stat: str, samples: list[Sample]) -> float | None:
    """Statistic (SampleCount, Average, Sum, Minimum, Maximum) or ExtendedStatistic pNN.N over
    the samples of one period; None when it has none."""
    if not samples:
        return None
    if stat == "Sum":
        return sum(s.sum for s in samples)
    if stat == "SampleCount":
        return sum(s.count for s in samples)
    if stat == "Average":
        count = sum(s.count for s in samples)
        return sum(s.sum for s in samples) / count if count else None
    if stat == "Minimum":
        return min(s.minimum for s in samples)
    if stat == "Maximum":
        return max(s.maximum for s in samples)
    if stat.startswith("p"):
        try:
            rank = float(stat[1:])
        except ValueError:
            rank = math.nan
        if not 0 <= rank <= 100:
            raise UnsupportedAlarm(f"The statistic '{stat}' is not supported by this emulator.")
        # percentiles need the raw values: a StatisticSet contributes none
        values = sorted(v for s in samples for v in s.values)
        if not values:
            return None
        index = max(0, math.ceil(rank / 100 * len(values)) - 1)  # nearest rank
        return values[index]
    raise UnsupportedAlarm(f"The statistic '{stat}' is not supported by this emulator.")


def series(
    samples: Iterable[Sample],
    metric: Mapping[str, Any],
    stat: str,
    period: float,
    starts: list[float],
) -> dict[float, float]:
    """{period start: value} for `metric` (Namespace, MetricName, Dimensions) over the periods
    starting at `starts` (each `period` seconds long); periods with no sample are absent."""
    dims = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])
    buckets: dict[float, list[Sample]] = {start: [] for start in starts}
    for s in samples:
        if (s.namespace, s.name, s.dimensions) != (
            metric.get("Namespace"),
            metric.get("MetricName"),
            dims,
        ):
            continue
        start = math.floor(s.timestamp / period) * period
        if start in buckets:
            buckets[start].append(s)
    out = {}
    for start, members in buckets.items():
        value = aggregate(stat, members)
        if value is not None:
            out[start] = value
    return out


def window(now: float, period: float, count: int) -> list[float]:
    """The starts of the `count` most recent periods, oldest first (the last holds `now`)."""
    current = math.floor(now / period) * period
    return [current - period * i for i in range(count - 1, -1, -1)]


def alarm_series(
    alarm: Mapping[str, Any], samples: Iterable[Sample], now: float, scale: float
) -> tuple[list[float], dict[float, float], float]:
    """(window starts, the alarm's datapoints in it, scaled period)."""
    count = int(alarm["EvaluationPeriods"])
    samples = list(samples)
    queries = alarm.get("Metrics") or []
    if not queries:
        period = int(alarm["Period"]) / scale
        starts = window(now, period, count)
        stat = alarm.get("ExtendedStatistic") or alarm.get("Statistic")
        if not stat:
            raise UnsupportedAlarm(f"Alarm {alarm.get('AlarmName')} has no statistic.")
        return starts, series(samples, alarm, stat, period, starts), period
    returned = [q for q in queries if q.get("ReturnData", True)]
    if len(returned) != 1:
        # PutMetricAlarm: "exactly one ... ReturnData set to true" (botocore MetricDataQuery)
        raise UnsupportedAlarm(
            f"Alarm {alarm.get('AlarmName')}: exactly one query of Metrics must have "
            "ReturnData true."
        )
    stats = [q for q in queries if q.get("MetricStat")]
    periods = {int(q["MetricStat"]["Period"]) for q in stats}
    if len(periods) != 1:
        raise UnsupportedAlarm(
            f"Alarm {alarm.get('AlarmName')}: this emulator evaluates metric-math alarms whose "
            "MetricStat queries share one Period."
        )
    period = periods.pop() / scale
    starts = window(now, period, count)
    by_id = {
        q["Id"]: series(samples, q["MetricStat"]["Metric"], q["MetricStat"]["Stat"], period, starts)
        for q in stats
    }
    target = returned[0]
    if target.get("MetricStat"):
        return starts, by_id[target["Id"]], period
    return starts, mathexpr.evaluate(target.get("Expression") or "", by_id), period


def evaluate(
    alarm: Mapping[str, Any], samples: Iterable[Sample], now: datetime, *, scale: float = 1.0
) -> Evaluation | None:
    """The state CloudWatch gives `alarm` at `now`; None: keep the current state (`ignore`
    with every datapoint missing)."""
    compare, words = _COMPARE.get(alarm.get("ComparisonOperator", ""), (None, ""))
    if compare is None:
        raise UnsupportedAlarm(
            f"The comparison operator '{alarm.get('ComparisonOperator')}' is not supported by "
            "this emulator (threshold alarms only)."
        )
    treat = alarm.get("TreatMissingData") or "missing"
    if treat not in TREAT_MISSING:
        raise UnsupportedAlarm(f"TreatMissingData '{treat}' is not one of {TREAT_MISSING}.")
    threshold = float(alarm["Threshold"])
    needed = int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"])
    starts, points, period = alarm_series(alarm, samples, now.timestamp(), scale)
    newest_first = [(start, points.get(start)) for start in reversed(starts)]
    present = [(start, value) for start, value in newest_first if value is not None]
    missing = len(newest_first) - len(present)
    breaching = [(s, v) for s, v in present if compare(v, threshold)]
    # breaching: each missing datapoint counts as breaching; notBreaching/missing: it does not
    breach_count = len(breaching) + (missing if treat == "breaching" else 0)
    data = _reason_data(alarm, now, period, present, threshold)
    if not present and treat == "ignore":
        return None
    if not present and treat == "missing":
        return Evaluation(
            "INSUFFICIENT_DATA",
            f"Insufficient Data: {_n(missing, 'datapoint')} {_was(missing)} unknown.",
            data,
        )
    previous = alarm.get("StateValue") or "INSUFFICIENT_DATA"
    state = "ALARM" if breach_count >= needed else "OK"
    if not present:  # notBreaching / breaching with nothing received
        label = "Breaching" if treat == "breaching" else "NonBreaching"
        reason = (
            f"Threshold Crossed: no datapoints were received for {_n(missing, 'period')} and "
            f"{_n(missing, 'missing datapoint')} {_was(missing)} treated as [{label}]."
        )
        return Evaluation(state, reason, data)
    shown = breaching if state == "ALARM" else present
    listed = ", ".join(f"{v} ({_stamp(s)})" for s, v in shown)
    if state == "ALARM" and len(newest_first) == 1:
        reason = (
            f"Threshold Crossed: 1 datapoint [{listed}] was {words} the threshold ({threshold})."
        )
    elif state == "ALARM":
        reason = (
            f"Threshold Crossed: {breach_count} out of the last {len(newest_first)} datapoints "
            f"[{listed}] were {words} the threshold ({threshold}) (minimum {needed} "
            f"{'datapoint' if needed == 1 else 'datapoints'} for {previous} -> ALARM transition)."
        )
    else:
        reason = (
            f"Threshold Crossed: {_n(len(present), 'datapoint')} [{listed}] "
            f"{_was(len(present))} not {words} the threshold ({threshold})."
        )
    return Evaluation(state, reason, data)


def _reason_data(
    alarm: Mapping[str, Any],
    now: datetime,
    period: float,
    present: list[tuple[float, float]],
    threshold: float,
) -> dict[str, Any]:
    """StateReasonData as CloudWatch writes it for a threshold crossing (its version 1.0 keys)."""
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "period": int(alarm.get("Period") or period),
        "recentDatapoints": [v for _, v in reversed(present)],
        "threshold": threshold,
        "evaluatedDatapoints": [{"timestamp": _iso(s), "value": v} for s, v in present],
    }
    if alarm.get("Statistic"):
        data["statistic"] = alarm["Statistic"]
    return data


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%m/%y %H:%M:%S")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"
