"""PutMetricData in-process, for the emulator's own producers (local mode's load-balancer loop
runs in the emulator's process): stored exactly as moto's API path stores it (timestamps naive
UTC, so GetMetricStatistics/GetMetricData can compare them), stamped with the emulator clock
when a datum has no Timestamp."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pipekit.emulator import clock


def put_metric_data(account_id: str, region: str, namespace: str, data: list[dict[str, Any]]):
    """Store PutMetricData-shaped `data` (MetricData entries) under `namespace`."""
    from moto.cloudwatch.models import cloudwatch_backends

    stored = []
    for datum in data:
        when = datum.get("Timestamp") or clock.now()
        if isinstance(when, datetime) and when.tzinfo is not None:
            when = when.astimezone(UTC).replace(tzinfo=None)
        stored.append({**datum, "Timestamp": when})
    cloudwatch_backends[account_id][region].put_metric_data(namespace, stored)
