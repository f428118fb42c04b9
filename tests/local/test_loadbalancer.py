"""Fleet mode's data plane (pipekit/local/loadbalancer.py) on a real HAProxy and the emulator,
with two loopback HTTP servers standing for the instances (127.0.0.2 and 127.0.0.3 on the same
port; the hosts' network namespaces are tested by the local-fleet test): RegisterTargets puts
servers behind 127.0.0.1:<port>, DescribeTargetHealth reports HAProxy's checks, a
deregistration drains with no failed request, a failing /health is `unhealthy` with AWS's
reason, and closing leaves no HAProxy."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pipekit.local import haproxy, loadbalancer
from tests.support.local_fixtures import free_ports, until
from tests.support.shapes import check_output

WAIT_S = 60.0
# ALB's shortest interval (5 s) and 2-check thresholds: healthy within about 10 s
HEALTH_CHECK = {
    "Protocol": "HTTP",
    "HealthCheckPath": "/health",
    "HealthCheckIntervalSeconds": 5,
    "HealthCheckTimeoutSeconds": 2,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
    "Matcher": {"HttpCode": "200"},
}


class Backend:
    """An app standing for one instance: /version names it, /health answers `health_code`."""

    def __init__(self, address: str, port: int, name: str) -> None:
        self.name = name
        self.health_code = 200
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                code = backend.health_code if self.path == "/health" else 200
                body = json.dumps({"commit": backend.name}).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Hosts:
    def __init__(self, addresses: dict[str, str]) -> None:
        self.addresses = addresses

    def address(self, instance_id: str) -> str | None:
        return self.addresses.get(instance_id)


@pytest.fixture
def world(aws: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    [port] = free_ports(1)
    ec2, elb = aws.client("ec2"), aws.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(
            ImageId=image, InstanceType="t3.micro", MinCount=2, MaxCount=2, SubnetId=subnets[0]
        )["Instances"]
    ]
    lb = elb.create_load_balancer(Name="app", Subnets=subnets, Type="application")["LoadBalancers"][
        0
    ]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="app", Port=port, VpcId=vpc, **HEALTH_CHECK)["TargetGroups"][
        0
    ]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=tg,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "4"}],
    )
    elb.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )
    backends = {
        ids[0]: Backend("127.0.0.2", port, "first"),
        ids[1]: Backend("127.0.0.3", port, "second"),
    }
    hosts = Hosts({ids[0]: "127.0.0.2", ids[1]: "127.0.0.3"})
    balancer = loadbalancer.LoadBalancer(hosts, port, tmp_path, lambda: aws.client("elbv2"))
    balancer.start()
    try:
        yield {"elb": elb, "tg": tg, "ids": ids, "port": port, "lb": balancer, "backends": backends}
    finally:
        balancer.close()
        for backend in backends.values():
            backend.close()
    assert loadbalancer.stale_processes(tmp_path) == []


def health(elb: Any, tg: str) -> dict[str, tuple[str, str | None]]:
    response = elb.describe_target_health(TargetGroupArn=tg)
    check_output("elbv2", "DescribeTargetHealth", response)
    return {
        d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
        for d in response["TargetHealthDescriptions"]
    }


def served_by(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as response:
        return json.loads(response.read())["commit"]


class Traffic:
    """A keep-going loop of requests through the load balancer (bounded: every 50 ms)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.failures: list[str] = []
        self.served: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.served.append(served_by(self.port))
            except Exception as exc:
                self.failures.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_registered_targets_get_traffic_and_a_deregistered_one_drains_without_failures(
    world: dict[str, Any],
) -> None:
    elb, tg, (a, b), port = world["elb"], world["tg"], world["ids"], world["port"]
    ticks: list[tuple[set[str], bool, str]] = []
    world["lb"].add_stats_listener(
        lambda rows, previous, settings: ticks.append(
            (
                set(haproxy.servers(rows, settings.backend)),
                previous is not None,
                settings.target_group_name,
            )
        )
    )
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": a}, {"Id": b}])
    first = health(elb, tg)
    assert {state for state, _ in first.values()} == {"initial"}, first
    until("both healthy", lambda: all(s == "healthy" for s, _ in health(elb, tg).values()), WAIT_S)
    assert {served_by(port) for _ in range(8)} == {"first", "second"}

    traffic = Traffic(port)
    try:
        elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": a}])
        assert health(elb, tg)[a] == ("draining", "Target.DeregistrationInProgress")
        until("the drain to end (delay 4 s)", lambda: a not in health(elb, tg), WAIT_S)
        until("the server's removal", lambda: a not in world["lb"].describe()["servers"], WAIT_S)
        since = len(traffic.served)
        time.sleep(1.0)
    finally:
        traffic.stop()
    assert traffic.failures == []
    assert set(traffic.served[since:]) == {"second"}
    # the alarms part's hook: every tick's rows, the previous ones for deltas, the dimensions
    assert ({a, b}, True, tg.split(":", 5)[5]) in ticks
    assert health(elb, tg)[b] == ("healthy", None)


def test_a_failing_health_check_is_unhealthy_with_aws_reason(world: dict[str, Any]) -> None:
    elb, tg, (a, _) = world["elb"], world["tg"], world["ids"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": a}])
    until("healthy", lambda: health(elb, tg)[a][0] == "healthy", WAIT_S)
    world["backends"][a].health_code = 500
    until(
        "unhealthy after 2 failed checks",
        lambda: health(elb, tg)[a] == ("unhealthy", "Target.ResponseCodeMismatch"),
        WAIT_S,
    )
    description = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"][0]
    assert description["TargetHealth"]["Description"].endswith("[500]")
