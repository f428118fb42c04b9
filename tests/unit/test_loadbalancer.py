"""Fleet mode's load balancer as plain functions (pipekit/local/haproxy.py, loadbalancer.py):
the HAProxy configuration for a deployed target group, the runtime API commands, `show stat`'s
CSV, HAProxy's view of a server as an ELBv2 target state, the settings read from
botocore-shaped responses, and the refusals before anything starts."""

from __future__ import annotations

import pytest

from pipekit.errors import UserError
from pipekit.local import haproxy, haproxy_stats, loadbalancer

LB_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web-alb/50dc6c495c0c9188"
)
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-app/73e2d6bc24d8a067"


def responses(**group_overrides: object) -> tuple[list, dict, dict, dict]:
    lbs = [
        {"LoadBalancerArn": LB_ARN, "Type": "application", "DNSName": "web-alb-1.elb.example"},
    ]
    listeners = {
        LB_ARN: [
            {
                "ListenerArn": LB_ARN.replace(":loadbalancer/", ":listener/") + "/1",
                "Protocol": "HTTP",
                "Port": 80,
                "DefaultActions": [{"Type": "forward", "TargetGroupArn": TG_ARN}],
            }
        ]
    }
    group = {
        "TargetGroupArn": TG_ARN,
        "Port": 18090,
        "HealthCheckPath": "/health",
        "HealthCheckIntervalSeconds": 10,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 3,
        "UnhealthyThresholdCount": 4,
        "Matcher": {"HttpCode": "200"},
        **group_overrides,
    }
    attributes = {TG_ARN: [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]}
    return lbs, listeners, {TG_ARN: group}, attributes


def settings(**group_overrides: object) -> haproxy.Settings:
    found = loadbalancer.settings_from(*responses(**group_overrides))
    assert found is not None
    return found


def test_settings_come_from_what_the_stack_deployed() -> None:
    s = settings()
    assert (s.listener_port, s.port, s.path) == (80, 18090, "/health")
    assert (s.interval_s, s.timeout_s, s.healthy, s.unhealthy) == (10, 5, 3, 4)
    assert s.delay_s == 30.0
    assert s.load_balancer_name == "app/web-alb/50dc6c495c0c9188"
    assert s.target_group_name == "targetgroup/web-app/73e2d6bc24d8a067"
    assert s.backend == "73e2d6bc24d8a067"  # contract 2: the ARN's id part


def test_no_load_balancer_no_listener_no_settings() -> None:
    lbs, listeners, groups, attributes = responses()
    assert loadbalancer.settings_from([], {}, {}, {}) is None
    assert loadbalancer.settings_from(lbs, {}, groups, attributes) is None
    assert loadbalancer.settings_from(lbs, listeners, {}, attributes) is None


def test_the_configuration_carries_the_health_check_and_listens_on_loopback() -> None:
    s = settings(HealthCheckPath="/ready", HealthCheckTimeoutSeconds=7)
    text = haproxy.render_config(s, listen_port=18090, socket_path="/state/haproxy.sock")
    assert "bind 127.0.0.1:18090" in text
    assert f"backend {s.backend}" in text and f"default_backend {s.backend}" in text
    assert "uri /ready " in text
    assert "timeout check 7s" in text
    assert "stats socket /state/haproxy.sock mode 600 level admin" in text
    assert "http-check expect status 200" in text


@pytest.mark.parametrize(
    ("matcher", "codes"),
    [("200", [200]), ("200,202", [200, 202]), ("200-204", [200, 201, 202, 203, 204])],
)
def test_matcher_codes(matcher: str, codes: list[int]) -> None:
    assert haproxy.status_codes(matcher) == codes
    line = haproxy.expect(matcher)
    assert all(str(c) in line for c in codes)


def test_a_server_is_added_with_the_groups_thresholds_and_counted_down() -> None:
    s = settings()
    commands = haproxy.add_server(s, "i-0abc", "10.247.0.2", 18090)
    assert commands[0] == (
        f"add server {s.backend}/i-0abc 10.247.0.2:18090 check inter 10s rise 3 fall 4"
    )
    assert f"set server {s.backend}/i-0abc health down" in commands
    assert haproxy.drain_server(s, "i-0abc") == [f"set server {s.backend}/i-0abc state drain"]
    assert haproxy.remove_server(s, "i-0abc")[-1] == f"del server {s.backend}/i-0abc"


STAT = (
    "# pxname,svname,qcur,scur,status,check_status,check_code,hrsp_5xx,\n"
    "front,FRONTEND,,0,OPEN,,,0,\n"
    "73e2d6bc24d8a067,i-up,0,1,UP,L7OK,200,0,\n"
    "73e2d6bc24d8a067,i-500,0,0,DOWN,L7STS,500,3,\n"
    "73e2d6bc24d8a067,BACKEND,0,1,UP,,,3,\n"
)


def test_show_stat_rows_by_server() -> None:
    rows = haproxy_stats.parse(STAT)
    assert [r["svname"] for r in rows] == ["FRONTEND", "i-up", "i-500", "BACKEND"]
    by_server = haproxy.servers(rows, "73e2d6bc24d8a067")
    assert set(by_server) == {"i-up", "i-500"}
    assert by_server["i-500"]["hrsp_5xx"] == "3"


@pytest.mark.parametrize(
    ("status", "check", "code", "ever_up", "checking_s", "expected"),
    [
        ("UP", "L7OK", "200", True, 100, ("healthy", None)),
        ("UP 1/4", "L7STS", "500", True, 100, ("healthy", None)),  # going down, not yet
        ("DOWN", "INI", "", False, 5, ("initial", "Elb.InitialHealthChecking")),
        ("DOWN 1/3", "L7OK", "200", False, 5, ("initial", "Elb.InitialHealthChecking")),
        ("DOWN", "L7STS", "500", True, 100, ("unhealthy", "Target.ResponseCodeMismatch")),
        ("DOWN", "L7STS", "500", False, 41, ("unhealthy", "Target.ResponseCodeMismatch")),
        ("DOWN", "L4TOUT", "", True, 100, ("unhealthy", "Target.Timeout")),
        ("DOWN", "L7TOUT", "", True, 100, ("unhealthy", "Target.Timeout")),
        ("DOWN", "L4CON", "", True, 100, ("unhealthy", "Target.FailedHealthChecks")),
        ("DOWN", "L7RSP", "", True, 100, ("unhealthy", "Target.FailedHealthChecks")),
    ],
)
def test_haproxy_view_as_target_health(
    status: str, check: str, code: str, ever_up: bool, checking_s: float, expected: tuple
) -> None:
    row = {"status": status, "check_status": check, "check_code": code}
    state = haproxy.target_health(row, ever_up=ever_up, checking_s=checking_s, settings=settings())
    assert state is not None and state[:2] == expected
    if expected[1] == "Target.ResponseCodeMismatch":
        assert state[2] == f"Health checks failed with these codes: [{code}]"


def test_no_row_or_maintenance_is_no_view_yet() -> None:
    s = settings()
    assert haproxy.target_health(None, ever_up=False, checking_s=0, settings=s) is None
    assert (
        haproxy.target_health({"status": "MAINT"}, ever_up=True, checking_s=9, settings=s) is None
    )


def test_fleet_refusals_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipekit.local.autoscaling import MAX_INSTANCES  # imports moto: not at module level

    monkeypatch.setattr(loadbalancer, "haproxy_path", lambda: "/usr/sbin/haproxy")
    loadbalancer.check_fleet({"FleetSize": str(MAX_INSTANCES)}, "parameters/x.json")
    with pytest.raises(UserError, match=f"FleetSize {MAX_INSTANCES + 1} in parameters/x.json"):
        loadbalancer.check_fleet({"FleetSize": str(MAX_INSTANCES + 1)}, "parameters/x.json")
    monkeypatch.setattr(loadbalancer, "haproxy_path", lambda: None)
    with pytest.raises(UserError, match="make host-deps"):
        loadbalancer.check_fleet({"FleetSize": "2"}, "parameters/x.json")
