"""The load balancer's metrics from a real HAProxy (/usr/sbin/haproxy, started here on loopback
in front of two tiny HTTP servers, one answering 500 on /): `show stat` read over its stats
socket (pipekit.local.haproxy_stats), turned into AWS/ApplicationELB metrics
(pipekit.local.albmetrics), put into the emulated CloudWatch through its API, and the
templates' two alarms evaluated (pipekit.emulator.alarms.tick) until they go to ALARM."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipekit.emulator import clock
from pipekit.emulator.alarms.tick import tick
from pipekit.local import albmetrics
from pipekit.local.haproxy_stats import StatsUnavailable, show_stat
from tests.support.alarms import dimensions, template_alarms
from tests.support.engine_world import free_port

HAPROXY = "/usr/sbin/haproxy"
BACKEND = "0123456789abcdef"  # the id part of the target group's ARN
DIMS = ("app/fleet-lb/50dc6c495c0c9188", f"targetgroup/fleet-tg/{BACKEND}")
ACCOUNT, REGION = "123456789012", "us-east-1"

pytestmark = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="HAProxy is not installed")


class App:
    """A tiny HTTP server: / answers `status`; /health answers `health`."""

    def __init__(self, status: int) -> None:
        self.status, self.health = status, 200
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = app.health if self.path == "/health" else app.status
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # HAProxy's health check hangs up once it has the status
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def balancer(tmp_path: Path) -> Iterator[tuple[int, Path, App, App]]:
    good, bad = App(200), App(500)
    port, sock = free_port(25000, 25999), tmp_path / "haproxy.sock"
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        f"""global
    stats socket {sock} level admin
    maxconn 64
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend web
    bind 127.0.0.1:{port}
    default_backend {BACKEND}
backend {BACKEND}
    balance roundrobin
    option httpchk GET /health
    server i-0good 127.0.0.1:{good.port} check inter 200ms fall 2 rise 2
    server i-0bad 127.0.0.1:{bad.port} check inter 200ms fall 2 rise 2
"""
    )
    proc = subprocess.Popen(
        [HAPROXY, "-f", str(config), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                rows = show_stat(sock)
                if all(r["status"] == "UP" for r in rows if r["svname"].startswith("i-")):
                    break
            except StatsUnavailable:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"HAProxy did not come up: {proc.stderr.read().decode()}")
            time.sleep(0.1)
        yield port, sock, good, bad
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp_path, ignore_errors=True)
        good.close()
        bad.close()


def requests(port: int, count: int) -> list[int]:
    codes = []
    for _ in range(count):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                codes.append(response.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    return codes


def put(cw: Any, rows: list[dict], previous: list[dict] | None) -> list[dict]:
    data = albmetrics.metric_data(rows, previous, {BACKEND: DIMS}, clock.now())
    cw.put_metric_data(Namespace=albmetrics.NAMESPACE, MetricData=data)
    return data


def states(cw: Any) -> dict[str, str]:
    return {a["AlarmName"]: a["StateValue"] for a in cw.describe_alarms()["MetricAlarms"]}


def test_target_5xx_through_a_real_haproxy_sets_the_alarm(aws, balancer, monkeypatch):
    monkeypatch.delenv("PIPEKIT_ALARM_PERIOD_SCALE", raising=False)  # AWS's 60 s periods
    port, sock, _, _ = balancer
    cw = aws.client("cloudwatch")
    template_alarms(cw, dimensions(*DIMS))
    assert set(states(cw).values()) == {"INSUFFICIENT_DATA"}  # as PutMetricAlarm creates them
    before = show_stat(sock)
    put(cw, before, None)
    tick(ACCOUNT, REGION)
    assert states(cw) == {"Target5xxAlarm": "OK", "UnhealthyTargetsAlarm": "OK"}
    codes = requests(port, 20)
    assert codes.count(500) >= 5  # round robin: every other request reaches the broken one
    data = put(cw, show_stat(sock), before)
    sent = {d["MetricName"]: d["Value"] for d in data}
    assert sent["HTTPCode_Target_5XX_Count"] == codes.count(500)
    assert (sent["HealthyHostCount"], sent["UnHealthyHostCount"]) == (2.0, 0.0)
    result = tick(ACCOUNT, REGION)
    assert result.changed == [("Target5xxAlarm", "OK", "ALARM")] and not result.refused
    alarm = cw.describe_alarms(AlarmNames=["Target5xxAlarm"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith(
        f"Threshold Crossed: 1 datapoint [{float(codes.count(500))} ("
    )
    assert alarm["StateReason"].endswith("was greater than or equal to the threshold (5.0).")


def test_unhealthy_next_to_healthy_sets_the_metric_math_alarm(aws, balancer, monkeypatch):
    monkeypatch.setenv("PIPEKIT_ALARM_PERIOD_SCALE", "60")  # 60 s periods last 1 s
    _, sock, _, bad = balancer
    cw = aws.client("cloudwatch")
    template_alarms(cw, dimensions(*DIMS))
    bad.health = 503  # HAProxy's checks take it DOWN (fall 2 x 200 ms)
    deadline = time.monotonic() + 10
    while not any(r["status"] == "DOWN" for r in show_stat(sock)):
        assert time.monotonic() < deadline, "HAProxy never marked the server DOWN"
        time.sleep(0.1)
    previous = None
    time.sleep(1.1 - clock.now().microsecond / 1e6)  # just after a (scaled) period starts
    for wait in (1.0, 0):  # two periods: DatapointsToAlarm 2 of EvaluationPeriods 2
        rows = show_stat(sock)
        sent = {d["MetricName"]: d["Value"] for d in put(cw, rows, previous)}
        assert (sent["HealthyHostCount"], sent["UnHealthyHostCount"]) == (1.0, 1.0)
        previous = rows
        time.sleep(wait)
    result = tick(ACCOUNT, REGION)
    assert ("UnhealthyTargetsAlarm", "INSUFFICIENT_DATA", "ALARM") in result.changed
    alarm = cw.describe_alarms(AlarmNames=["UnhealthyTargetsAlarm"])["MetricAlarms"][0]
    assert alarm["Metrics"][2]["Expression"] == "IF(healthy > 0, unhealthy, 0)"
    assert "2 out of the last 2 datapoints" in alarm["StateReason"]
