"""CloudWatch's PutMetricAlarm as AWS answers it where moto differs: a new alarm starts in
INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"), and an update keeps the alarm's state
("When this operation creates an alarm, the alarm state is immediately set to INSUFFICIENT_DATA.
The alarm is then evaluated and its state is set appropriately. ... When you update an existing
alarm, its state is left unchanged, but the update completely overwrites the previous
configuration of the alarm": CloudWatch API reference, PutMetricAlarm). moto starts every alarm,
updated ones included, in OK. The state timestamps read the emulator clock. Evaluation itself is
pipekit.emulator.alarms."""

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
