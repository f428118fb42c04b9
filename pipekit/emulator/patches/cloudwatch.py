"""CloudWatch's PutMetricAlarm as AWS answers it where moto differs: a new alarm starts in
INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"), and an update keeps the alarm's state
("When this operation creates an alarm, the alarm state is immediately set to INSUFFICIENT_DATA.
The alarm is then evaluated and its state is set appropriately. ... When you update an existing
alarm, its state is left unchanged, but the update completely overwrites the previous
configuration of the alarm": CloudWatch API reference, PutMetricAlarm). moto starts every alarm,
updated ones included, in OK. The state timestamps read the emulator clock. SetAlarmState
records its transition in the alarm's history, and DescribeAlarmHistory (which moto lacks) reads
it (AlarmName, HistoryItemType, StartDate, EndDate, ScanBy, MaxRecords; no paging). Evaluation
itself is pipekit.emulator.alarms."""

from __future__ import annotations

from typing import Any

from pipekit.emulator import clock

_STATE = ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp")


def patch() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    original = CloudWatchBackend.put_metric_alarm
    if getattr(original, "_pipekit", False):
        return

    def put_metric_alarm(self: Any, *args: Any, **kwargs: Any) -> Any:
        name = kwargs.get("name", args[0] if args else None)
        before = self.alarms.get(name)
        kept = {a: getattr(before, a) for a in _STATE} if before is not None else None
        history = getattr(before, "pipekit_history", None)
        alarm = original(self, *args, **kwargs)
        if kept is not None:
            for attr, value in kept.items():
                setattr(alarm, attr, value)
            if history is not None:
                alarm.pipekit_history = history
        else:
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_updated_timestamp = clock.utcnow_naive()
        alarm.configuration_updated_timestamp = clock.utcnow_naive()
        return alarm

    put_metric_alarm._pipekit = True  # type: ignore[attr-defined]
    CloudWatchBackend.put_metric_alarm = put_metric_alarm
    _patch_set_alarm_state(CloudWatchBackend)
    _patch_describe_alarm_history()


def _patch_set_alarm_state(backend_class: Any) -> None:
    from pipekit.emulator.alarms.tick import add_history

    original = backend_class.set_alarm_state

    def set_alarm_state(
        self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str
    ) -> None:
        alarm = self.alarms.get(alarm_name)
        old = (alarm.state_value, alarm.state_reason) if alarm is not None else None
        original(self, alarm_name, reason, reason_data, state_value)
        now = clock.now()
        alarm = self.alarms[alarm_name]
        alarm.state_updated_timestamp = now.replace(tzinfo=None)
        if old is not None and old[0] != alarm.state_value:
            add_history(alarm, old[0], old[1], now)

    backend_class.set_alarm_state = set_alarm_state


def _patch_describe_alarm_history() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    from pipekit.emulator.alarms.tick import history

    def describe_alarm_history(self: Any) -> Any:
        items = history(self.current_account, self.region, self._get_param("AlarmName"))
        kind = self._get_param("HistoryItemType")
        start, end = _when(self._get_param("StartDate")), _when(self._get_param("EndDate"))
        items = [
            i
            for i in items
            if (not kind or i["HistoryItemType"] == kind)
            and (start is None or i["Timestamp"] >= start)
            and (end is None or i["Timestamp"] <= end)
        ]
        if self._get_param("ScanBy") == "TimestampAscending":
            items.reverse()
        limit = self._get_param("MaxRecords")
        return ActionResult({"AlarmHistoryItems": items[: int(limit)] if limit else items})

    CloudWatchResponse.describe_alarm_history = describe_alarm_history


def _when(value: Any) -> Any:
    from datetime import UTC, datetime

    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
