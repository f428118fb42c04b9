"""Alarm scaffolding: templates/pipeline.yaml's alarms put through PutMetricAlarm with their
declared properties (dimensions given), and ALB datapoints put on the emulator clock."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pipekit.cfn.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "pipeline.yaml"
FIVE_XX, UNHEALTHY = "Target5xxAlarm", "UnhealthyTargetsAlarm"


def dimensions(load_balancer: str, target_group: str) -> list[dict[str, str]]:
    return [
        {"Name": "LoadBalancer", "Value": load_balancer},
        {"Name": "TargetGroup", "Value": target_group},
    ]


def template_alarms(
    cw: Any, dims: list[dict[str, str]], names: tuple[str, ...] = (FIVE_XX, UNHEALTHY)
) -> None:
    """Create the named alarms (logical ids of the template, used as alarm names) as declared."""
    resources = load_template(TEMPLATE)["Resources"]
    for name in names:
        props = copy.deepcopy(resources[name]["Properties"])
        props.pop("AlarmDescription", None)  # a Sub of the stack's name
        if "Dimensions" in props:
            props["Dimensions"] = dims
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                query["MetricStat"]["Metric"]["Dimensions"] = dims
        cw.put_metric_alarm(AlarmName=name, **props)


def put_datum(cw: Any, metric: str, dims: list[dict[str, str]], value: float) -> None:
    """One AWS/ApplicationELB datapoint, stamped with the emulator clock."""
    from pipekit.emulator import clock

    cw.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": metric, "Dimensions": dims, "Value": value, "Timestamp": clock.now()}
        ],
    )
