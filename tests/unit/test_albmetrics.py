"""The load balancer's metrics from HAProxy's `show stat` rows (pipekit.local.albmetrics) and the
CSV parser of the stats reader (pipekit.local.haproxy_stats.parse)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipekit.local import albmetrics
from pipekit.local.haproxy_stats import StatsUnavailable, parse

WHEN = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
TG = {"0123abcd": ("app/lb/1", "targetgroup/tg/0123abcd")}


def stat(rows):
    header = "# pxname,svname,status,hrsp_5xx,check_status\n"
    return parse(header + "".join(f"{','.join(map(str, r))}\n" for r in rows))


def by_name(data):
    return {d["MetricName"]: d["Value"] for d in data}


def test_counts_and_5xx_delta_per_backend():
    before = stat([("0123abcd", "i-a", "UP", 2, "L7OK"), ("0123abcd", "i-b", "UP", 0, "L7OK")])
    now = stat(
        [
            ("web", "FRONTEND", "OPEN", 9, ""),
            ("0123abcd", "i-a", "UP", 5, "L7OK"),
            ("0123abcd", "i-b", "DOWN", 4, "L7STS"),
            ("0123abcd", "i-c", "MAINT", 50, ""),
            ("0123abcd", "BACKEND", "UP", 59, ""),
            ("other", "i-z", "DOWN", 70, "L4CON"),
        ]
    )
    data = albmetrics.metric_data(now, before, TG, WHEN)
    # i-a: 5-2, i-b: 4-0, i-c (maintenance, counted for its 5xx since it served them): 50
    assert by_name(data) == {
        "HealthyHostCount": 1.0,
        "UnHealthyHostCount": 1.0,
        "HTTPCode_Target_5XX_Count": 57.0,
    }
    for d in data:
        assert d["Dimensions"] == [
            {"Name": "LoadBalancer", "Value": "app/lb/1"},
            {"Name": "TargetGroup", "Value": "targetgroup/tg/0123abcd"},
        ]
        assert d["Timestamp"] == WHEN and d["Unit"] == "Count"


def test_no_5xx_datum_without_new_errors_and_a_reset_counter_counts_from_zero():
    rows = stat([("0123abcd", "i-a", "UP 1/3", 3, "L7STS")])
    assert "HTTPCode_Target_5XX_Count" not in by_name(albmetrics.metric_data(rows, rows, TG, WHEN))
    restarted = stat([("0123abcd", "i-a", "DOWN 1/2", 1, "L7OK")])
    data = by_name(albmetrics.metric_data(restarted, rows, TG, WHEN))
    assert data == {
        "HealthyHostCount": 0.0,
        "UnHealthyHostCount": 1.0,
        "HTTPCode_Target_5XX_Count": 1.0,
    }


def test_initial_targets_count_neither_way_and_a_health_source_decides():
    rows = stat([("0123abcd", "i-a", "DOWN", 0, "INI"), ("0123abcd", "i-b", "UP", 0, "L7OK")])
    assert by_name(albmetrics.metric_data(rows, None, TG, WHEN)) == {
        "HealthyHostCount": 1.0,
        "UnHealthyHostCount": 0.0,
    }
    states = {"i-a": "unhealthy", "i-b": "draining"}
    data = albmetrics.metric_data(rows, None, TG, WHEN, health=lambda _, server: states[server])
    assert by_name(data) == {"HealthyHostCount": 0.0, "UnHealthyHostCount": 1.0}


def test_unknown_backend_gives_nothing():
    assert albmetrics.metric_data(stat([("x", "i-a", "UP", 1, "")]), None, TG, WHEN) == []


def test_parse_refuses_what_is_not_show_stat():
    with pytest.raises(StatsUnavailable, match="not a 'show stat' answer"):
        parse("Unknown command\n")
