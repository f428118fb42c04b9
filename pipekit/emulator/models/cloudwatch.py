"""AWS::CloudWatch::Alarm, which moto has no CloudFormation model for: created with the backend's
put_metric_alarm, metric-math alarms (Metrics) included."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.convert import convert
from pipekit.emulator.models.base import Model, tags


class Alarm(Model, CloudFormationModel):
    NAME_PROPERTY = "AlarmName"
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @property
    def backend(self) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[self.account_id][self.region_name]

    def create(self) -> None:
        from moto.cloudwatch.models import MetricDataQuery, MetricStat

        request = convert("cloudwatch", "PutMetricAlarmInput", self.props)
        queries = [
            MetricDataQuery(
                query_id=q["Id"],
                label=q.get("Label", ""),
                period=q.get("Period"),
                return_data=q.get("ReturnData", True),
                expression=q.get("Expression"),
                metric_stat=MetricStat(**_metric_stat(q["MetricStat"]))
                if "MetricStat" in q
                else None,
            )
            for q in request.get("Metrics", [])
        ]
        self.backend.put_metric_alarm(
            name=self.name,
            namespace=request.get("Namespace"),
            metric_name=request.get("MetricName"),
            comparison_operator=request["ComparisonOperator"],
            evaluation_periods=request["EvaluationPeriods"],
            period=request.get("Period"),
            threshold=request.get("Threshold"),
            statistic=request.get("Statistic"),
            description=request.get("AlarmDescription"),
            dimensions=request.get("Dimensions", []),
            alarm_actions=request.get("AlarmActions", []),
            metric_data_queries=queries or None,
            datapoints_to_alarm=request.get("DatapointsToAlarm"),
            extended_statistic=request.get("ExtendedStatistic"),
            ok_actions=request.get("OKActions"),
            insufficient_data_actions=request.get("InsufficientDataActions"),
            unit=request.get("Unit"),
            actions_enabled=request.get("ActionsEnabled", True),
            treat_missing_data=request.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=request.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=request.get("ThresholdMetricId"),
            tags=tags(self.props, "Key", "Value"),
        )

    def update(self) -> None:
        self.create()  # put_metric_alarm replaces an alarm of the same name

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.delete_alarms([self.name])

    def attribute(self, name: str) -> Any:
        return self.backend.alarms[self.name].alarm_arn


def _metric_stat(stat: dict[str, Any]) -> dict[str, Any]:
    from moto.cloudwatch.models import Dimension, Metric

    metric = stat["Metric"]
    return {
        "metric": Metric(
            metric_name=metric.get("MetricName"),
            namespace=metric.get("Namespace"),
            dimensions=[Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
        ),
        "period": str(stat["Period"]),
        "stat": stat["Stat"],
        "unit": stat.get("Unit"),
    }
