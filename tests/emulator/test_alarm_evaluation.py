"""CloudWatch alarm evaluation as plain functions (pipekit.emulator.alarms.evaluate, mathexpr; in
tests/emulator because the pipekit.emulator package imports moto): M of N, each TreatMissingData,
statistics, the metric-math IF our templates use, the reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipekit.emulator.alarms import evaluate as ev
from pipekit.emulator.alarms import mathexpr

NOW = datetime(2026, 12, 2, 12, 0, 30, tzinfo=UTC)  # 30 s into the 12:00 period
DIMS = {"LoadBalancer": "app/lb/1", "TargetGroup": "targetgroup/tg/2"}
NS = "AWS/ApplicationELB"


def five_xx(threshold=5.0, n=1, m=None, treat="notBreaching", **extra):
    alarm = {
        "AlarmName": "Target5xxAlarm",
        "Namespace": NS,
        "MetricName": "HTTPCode_Target_5XX_Count",
        "Dimensions": [{"Name": k, "Value": v} for k, v in DIMS.items()],
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": n,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": treat,
        "StateValue": "OK",
    }
    if m is not None:
        alarm["DatapointsToAlarm"] = m
    alarm.update(extra)
    return alarm


def point(value, minutes_ago=0, name="HTTPCode_Target_5XX_Count", dims=DIMS, second=10):
    when = NOW.replace(second=second) - timedelta(minutes=minutes_ago)
    return ev.sample_of_value(NS, name, dims, when.timestamp(), float(value))


def test_sum_over_the_period_crosses_the_threshold_with_aws_reason():
    result = ev.evaluate(five_xx(), [point(3), point(4)], NOW)
    assert result.state == "ALARM"
    assert result.reason == (
        "Threshold Crossed: 1 datapoint [7.0 (02/12/26 12:00:00)] was greater than or equal to "
        "the threshold (5.0)."
    )
    assert result.reason_data["recentDatapoints"] == [7.0]


def test_below_threshold_is_ok_and_older_periods_do_not_count():
    result = ev.evaluate(five_xx(), [point(4), point(50, minutes_ago=1)], NOW)
    assert result.state == "OK"
    assert "was not greater than or equal to the threshold (5.0)" in result.reason


def test_other_dimensions_are_another_metric():
    other = dict(DIMS, TargetGroup="targetgroup/other/3")
    assert ev.evaluate(five_xx(), [point(9, dims=other)], NOW).state == "OK"
    only_lb = {"LoadBalancer": DIMS["LoadBalancer"]}
    assert ev.evaluate(five_xx(), [point(9, dims=only_lb)], NOW).state == "OK"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([2, 2, 0], "ALARM"),  # 2 of 3 breach
        ([2, 0, 0], "OK"),
        ([2, None, 2], "ALARM"),
    ],
)
def test_m_out_of_n(values, expected):
    alarm = five_xx(threshold=1, n=3, m=2)
    samples = [point(v, minutes_ago=i) for i, v in enumerate(values) if v is not None]
    result = ev.evaluate(alarm, samples, NOW)
    assert result.state == expected
    if expected == "ALARM":
        assert "out of the last 3 datapoints" in result.reason
        assert "(minimum 2 datapoints for OK -> ALARM transition)" in result.reason


@pytest.mark.parametrize(
    ("treat", "expected"),
    [
        ("missing", "INSUFFICIENT_DATA"),
        ("notBreaching", "OK"),
        ("breaching", "ALARM"),
        ("ignore", None),  # the current state is kept
    ],
)
def test_treat_missing_data_with_no_datapoint(treat, expected):
    result = ev.evaluate(five_xx(treat=treat, StateValue="ALARM"), [], NOW)
    if expected is None:
        assert result is None
    else:
        assert result.state == expected
    if treat == "notBreaching":
        assert result.reason == (
            "Threshold Crossed: no datapoints were received for 1 period and 1 missing "
            "datapoint was treated as [NonBreaching]."
        )


def test_missing_breaching_fills_the_gaps_toward_m():
    alarm = five_xx(threshold=1, n=3, m=3, treat="breaching")
    assert ev.evaluate(alarm, [point(5)], NOW).state == "ALARM"
    assert ev.evaluate(dict(alarm, TreatMissingData="notBreaching"), [point(5)], NOW).state == "OK"


@pytest.mark.parametrize(
    ("stat", "expected"),
    [("Sum", 12.0), ("Maximum", 9.0), ("Minimum", 1.0), ("Average", 4.0), ("SampleCount", 3.0)],
)
def test_statistics(stat, expected):
    alarm = five_xx(threshold=0, Statistic=stat, ComparisonOperator="GreaterThanThreshold")
    result = ev.evaluate(alarm, [point(1), point(2), point(9)], NOW)
    assert result.reason_data["recentDatapoints"] == [expected]


def test_extended_statistic_percentile():
    alarm = five_xx(threshold=0, Statistic=None, ExtendedStatistic="p50")
    samples = [point(v) for v in (1, 2, 3, 4, 100)]
    assert ev.evaluate(alarm, samples, NOW).reason_data["recentDatapoints"] == [3.0]


def test_scaled_periods():
    # scale 60: a 60 s period lasts 1 s; the point 10 s ago is outside the newest period
    early = ev.sample_of_value(
        NS, "HTTPCode_Target_5XX_Count", DIMS, (NOW - timedelta(seconds=10)).timestamp(), 9.0
    )
    assert ev.evaluate(five_xx(), [early], NOW, scale=1).state == "ALARM"
    assert ev.evaluate(five_xx(), [early], NOW, scale=60).state == "OK"


def test_period_scale_reads_one_setting(monkeypatch):
    monkeypatch.delenv(ev.SCALE_VARIABLE, raising=False)
    assert ev.period_scale() == 1
    monkeypatch.setenv(ev.SCALE_VARIABLE, "6")
    assert ev.period_scale() == 6
    monkeypatch.setenv(ev.SCALE_VARIABLE, "0.5")
    with pytest.raises(ValueError, match="PIPEKIT_ALARM_PERIOD_SCALE must be a number >= 1"):
        ev.period_scale()


def unhealthy_alarm():
    def stat(qid, name, how):
        return {
            "Id": qid,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": NS,
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in DIMS.items()],
                },
                "Period": 60,
                "Stat": how,
            },
        }

    return {
        "AlarmName": "UnhealthyTargetsAlarm",
        "Metrics": [
            stat("unhealthy", "UnHealthyHostCount", "Maximum"),
            stat("healthy", "HealthyHostCount", "Minimum"),
            {"Id": "mixed", "Expression": "IF(healthy > 0, unhealthy, 0)", "ReturnData": True},
        ],
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "StateValue": "OK",
    }


def hosts(healthy, unhealthy, minutes_ago):
    return [
        point(healthy, minutes_ago, "HealthyHostCount"),
        point(unhealthy, minutes_ago, "UnHealthyHostCount"),
    ]


def test_metric_math_alarm_counts_unhealthy_only_next_to_healthy():
    alarm = unhealthy_alarm()
    mixed = hosts(1, 1, 0) + hosts(1, 1, 1)
    assert ev.evaluate(alarm, mixed, NOW).state == "ALARM"
    none_healthy = hosts(0, 2, 0) + hosts(0, 2, 1)  # before the first deployment
    assert ev.evaluate(alarm, none_healthy, NOW).state == "OK"
    one_period = hosts(1, 1, 0) + hosts(2, 0, 1)  # 2 of 2 needed
    assert ev.evaluate(alarm, one_period, NOW).state == "OK"


def test_unsupported_expressions_are_refused_not_guessed():
    alarm = unhealthy_alarm()
    alarm["Metrics"][2]["Expression"] = "SUM(METRICS())"
    with pytest.raises(mathexpr.UnsupportedExpression, match="SUM\\(METRICS\\(\\)\\)"):
        ev.evaluate(alarm, [], NOW)
    alarm["Metrics"][2]["Expression"] = "IF(nothere > 0, unhealthy, 0)"
    with pytest.raises(mathexpr.UnsupportedExpression, match="'nothere'"):
        ev.evaluate(alarm, [], NOW)


def test_if_expression_per_timestamp():
    series = {"a": {0.0: 1.0, 60.0: 0.0, 120.0: 3.0}, "b": {0.0: 5.0, 120.0: 7.0}}
    assert mathexpr.evaluate("IF(a > 0, b, 0)", series) == {0.0: 5.0, 60.0: 0.0, 120.0: 7.0}
    assert mathexpr.evaluate("IF(a == 0, 2.5, b)", series) == {0.0: 5.0, 60.0: 2.5, 120.0: 7.0}
    assert mathexpr.ids_used("IF(healthy > 0, unhealthy, 0)") == {"healthy", "unhealthy"}
