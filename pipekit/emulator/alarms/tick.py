"""One evaluation round over the emulated CloudWatch: every metric alarm of a backend evaluated
(evaluate.py) on the emulator clock, and a changed state written as CloudWatch writes it:
StateValue, StateReason, StateReasonData, StateUpdatedTimestamp, and an AlarmHistoryItem
(HistoryItemType StateUpdate, HistorySummary "Alarm updated from OK to ALARM", HistoryData with
oldState/newState: botocore cloudwatch AlarmHistoryItem; CloudWatch user guide, "Viewing alarm
history"). An unchanged state is left alone, timestamp included (CloudWatch records transitions).

Local mode's background loop calls `tick(account, region)` every few seconds; tests call it
directly. An alarm the emulator cannot evaluate keeps its state and is named in the result.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pipekit.emulator import clock
from pipekit.emulator.alarms import evaluate as ev
from pipekit.emulator.alarms.mathexpr import UnsupportedExpression

log = logging.getLogger("pipekit.emulator.alarms")

HISTORY_ATTRIBUTE = "pipekit_history"  # AlarmHistoryItem dicts, oldest first, on moto's Alarm


class TickResult(NamedTuple):
    changed: list[tuple[str, str, str]]  # (alarm name, old state, new state)
    refused: dict[str, str]  # alarm name -> why the emulator cannot evaluate it


def backend(account_id: str, region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account_id][region]


def tick(account_id: str, region: str, *, now: datetime | None = None) -> TickResult:
    """Evaluate every metric alarm of the account's region at `now` (the emulator clock)."""
    cw = backend(account_id, region)
    now = now or clock.now()
    scale = ev.period_scale()
    samples = [s for s in (_sample(d) for d in list(cw.metric_data)) if s is not None]
    changed: list[tuple[str, str, str]] = []
    refused: dict[str, str] = {}
    for alarm in list(cw.alarms.values()):
        if getattr(alarm, "rule", None):  # a composite alarm: not a metric alarm
            continue
        try:
            result = ev.evaluate(alarm_shape(alarm), samples, now, scale=scale)
        except (ev.UnsupportedAlarm, UnsupportedExpression) as exc:
            refused[alarm.name] = str(exc)
            continue
        if result is None or result.state == alarm.state_value:
            continue
        old = alarm.state_value
        record_state(alarm, result.state, result.reason, result.reason_data, now)
        changed.append((alarm.name, old, result.state))
        log.info("alarm %s: %s -> %s (%s)", alarm.name, old, result.state, result.reason)
    return TickResult(changed, refused)


def tick_all(*, now: datetime | None = None) -> list[dict[str, str]]:
    """`tick` over every account and region that has alarms: the transitions made."""
    from moto.cloudwatch.models import cloudwatch_backends

    changed = []
    for account_id, regions in list(cloudwatch_backends.items()):
        for region, cw in list(regions.items()):
            if not cw.alarms:
                continue
            for name, old, new in tick(account_id, region, now=now).changed:
                changed.append(
                    {"account": account_id, "region": region, "alarm": name, "from": old, "to": new}
                )
    return changed


def record_state(
    alarm: Any, state: str, reason: str, reason_data: dict[str, Any], now: datetime
) -> None:
    """Write a state transition on moto's Alarm, with its history item."""
    old_state, old_reason = alarm.state_value, alarm.state_reason
    alarm.update_state(reason, json.dumps(reason_data), state)
    alarm.state_updated_timestamp = now.astimezone(UTC).replace(tzinfo=None)  # moto: naive UTC
    add_history(alarm, old_state, old_reason, now)


def add_history(alarm: Any, old_state: str, old_reason: str, now: datetime) -> None:
    """The AlarmHistoryItem of the transition from (old_state, old_reason) to the alarm's state."""
    state, reason = alarm.state_value, alarm.state_reason
    try:
        reason_data = json.loads(alarm.state_reason_data or "{}")
    except ValueError:
        reason_data = {}
    history = getattr(alarm, HISTORY_ATTRIBUTE, None)
    if history is None:
        history = []
        setattr(alarm, HISTORY_ATTRIBUTE, history)
    history.append(
        {
            "AlarmName": alarm.name,
            "AlarmType": "MetricAlarm",
            "Timestamp": now,
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {old_state} to {state}",
            "HistoryData": json.dumps(
                {
                    "version": "1.0",
                    "oldState": {"stateValue": old_state, "stateReason": old_reason},
                    "newState": {
                        "stateValue": state,
                        "stateReason": reason,
                        "stateReasonData": reason_data,
                    },
                }
            ),
        }
    )


def history(account_id: str, region: str, name: str | None = None) -> list[dict[str, Any]]:
    """AlarmHistoryItems of one alarm or all, newest first (DescribeAlarmHistory's default
    ScanBy TimestampDescending)."""
    cw = backend(account_id, region)
    chosen = [cw.alarms[name]] if name in cw.alarms else [] if name else list(cw.alarms.values())
    items = [i for a in chosen for i in getattr(a, HISTORY_ATTRIBUTE, [])]
    return sorted(items, key=lambda i: i["Timestamp"], reverse=True)


def alarm_shape(alarm: Any) -> dict[str, Any]:
    """moto's Alarm in DescribeAlarms MetricAlarm shape (the keys evaluation reads)."""
    shape: dict[str, Any] = {
        "AlarmName": alarm.name,
        "Namespace": alarm.namespace,
        "MetricName": alarm.metric_name,
        "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions or []],
        "Statistic": alarm.statistic,
        "ExtendedStatistic": alarm.extended_statistic,
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm,
        "Threshold": alarm.threshold,
        "ComparisonOperator": alarm.comparison_operator,
        "TreatMissingData": alarm.treat_missing_data,
        "StateValue": alarm.state_value,
    }
    queries = []
    for q in alarm.metric_data_queries or []:
        query: dict[str, Any] = {"Id": q.id, "ReturnData": _bool(q.return_data)}
        if q.expression:
            query["Expression"] = q.expression
        if q.metric_stat is not None:
            m = q.metric_stat.metric
            query["MetricStat"] = {
                "Metric": {
                    "Namespace": m.namespace,
                    "MetricName": m.metric_name,
                    "Dimensions": [{"Name": d.name, "Value": d.value} for d in m.dimensions],
                },
                "Period": int(q.metric_stat.period),
                "Stat": q.metric_stat.stat,
            }
        queries.append(query)
    if queries:
        shape["Metrics"] = queries
    return shape


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() != "false"


def _sample(datum: Any) -> ev.Sample | None:
    when = _epoch(datum.timestamp)
    if when is None:
        return None
    dims = frozenset((d.name, d.value) for d in datum.dimensions)
    if hasattr(datum, "value"):
        v = float(datum.value)
        return ev.Sample(datum.namespace, datum.name, dims, when, v, v, v, 1.0, (v,))
    return ev.Sample(
        datum.namespace,
        datum.name,
        dims,
        when,
        float(datum.sum),
        float(datum.min),
        float(datum.max),
        float(datum.sample_count),
        (),
    )


def _epoch(value: Any) -> float | None:
    """moto keeps a datum's Timestamp as given (datetime, or the query string's text) or its own
    naive-UTC now."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
