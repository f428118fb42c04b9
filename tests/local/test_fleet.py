"""`local up` with ENV=local-fleet (parameters/local-fleet.json: fleet mode, FleetSize 2): the
real templates' load balancer runs as HAProxy on the printed loopback URL, in front of one host
per instance. Both targets become healthy in DescribeTargetHealth, requests through the URL reach
both instances, `status` shows each instance, deregistering one drains it with no failed
request, and `local down` leaves no HAProxy (the fixture's leftover check)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from pipekit import appclient
from pipekit.harness import status
from pipekit.harness.config import PROJECT_ROOT
from pipekit.local import haproxy, haproxy_stats, lifecycle, loadbalancer
from pipekit.local.state import LocalStack
from tests.support.local_fixtures import (
    host_namespaces,
    idle,
    leftovers,
    start_local_stack,
    until,
)

WAIT_S = 120.0
SCHEMA = json.loads((PROJECT_ROOT / "docs" / "schemas" / "status.schema.json").read_text())


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state_dir = (tmp_path_factory.mktemp("local-fleet") / "state").resolve()
    stack = start_local_stack(state_dir, "pipekit-fleettest", env="local-fleet")
    try:
        yield stack
    finally:
        namespaces = host_namespaces(state_dir)
        lifecycle.down(state_dir=state_dir)
    problems = leftovers(state_dir, stack.service_pid, namespaces)
    assert not problems, "local down left: " + "; ".join(problems)


def target_group(stack: LocalStack) -> tuple[str, list[str]]:
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in stack.client("cloudformation").describe_stacks(StackName=stack.stack_name)[
            "Stacks"
        ][0]["Outputs"]
    }
    group = stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["AutoScalingGroupName"]]
    )["AutoScalingGroups"][0]
    [arn] = group["TargetGroupARNs"]
    return arn, sorted(i["InstanceId"] for i in group["Instances"])


def health(stack: LocalStack, arn: str) -> dict[str, str]:
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"]
        for d in stack.client("elbv2").describe_target_health(TargetGroupArn=arn)[
            "TargetHealthDescriptions"
        ]
    }


def served(stack: LocalStack, backend: str) -> dict[str, int]:
    """Responses each server (instance id) has sent through the load balancer so far."""
    rows = haproxy_stats.show_stat(Path(stack.state_dir) / loadbalancer.SOCKET)
    return {i: int(r.get("hrsp_2xx") or 0) for i, r in haproxy.servers(rows, backend).items()}


class Traffic:
    """A keep-going loop of requests to the app URL (one every 100 ms, until stopped)."""

    def __init__(self, url: str) -> None:
        self.url, self.ok, self.failures = url, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            answer = appclient.get(appclient.join(self.url, "/version"), 5.0)
            if answer.ok:
                self.ok += 1
            else:
                self.failures.append(f"{answer.status} {answer.error}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_both_instances_are_healthy_targets_and_serve_through_the_load_balancer(
    fleet: LocalStack,
) -> None:
    idle(fleet, WAIT_S)
    arn, ids = target_group(fleet)
    assert len(ids) == 2
    until("both healthy", lambda: health(fleet, arn) == dict.fromkeys(ids, "healthy"), WAIT_S)
    backend = arn.rsplit("/", 1)[-1]
    before = served(fleet, backend)
    for _ in range(10):
        assert appclient.version_data(fleet.app_url, timeout=5.0)["commit"] == fleet.seed_commit
    after = served(fleet, backend)
    assert all(after[i] > before.get(i, 0) for i in ids), (before, after)
    # `make status ENV=local-fleet`'s reader, in the shape of docs/schemas/status.schema.json
    data = status.read_status(lifecycle.environment(fleet), fleet.client)
    jsonschema.validate(data, SCHEMA)
    records = data["instances"]
    assert [(r["id"], r["lifecycle_state"]) for r in records] == [(i, "InService") for i in ids]
    assert all(r["target_health"] == {"state": "healthy", "reason": None} for r in records)
    assert all(r["app"]["commit"] == fleet.seed_commit[:12] for r in records)


def test_a_deregistered_instance_drains_with_no_failed_request(fleet: LocalStack) -> None:
    # a launch deployment still running would take an instance out of the target group itself
    idle(fleet, WAIT_S)
    arn, (first, second) = target_group(fleet)
    elb = fleet.client("elbv2")
    until("both healthy", lambda: set(health(fleet, arn).values()) == {"healthy"}, WAIT_S)
    backend = arn.rsplit("/", 1)[-1]
    traffic = Traffic(fleet.app_url)
    try:
        elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": first}])
        assert health(fleet, arn)[first] == "draining"
        # the stack's deregistration delay passes, then the target is gone
        drain_started = time.monotonic()
        until("the drain to end", lambda: first not in health(fleet, arn), 90)
        drained_s = time.monotonic() - drain_started
        until("the server's removal", lambda: first not in served(fleet, backend), 10)
        before = served(fleet, backend)
        time.sleep(2)
        assert served(fleet, backend)[second] > before[second]
    finally:
        traffic.stop()
        elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": first}])
    attributes = elb.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
    values = {a["Key"]: a["Value"] for a in attributes}
    delay = float(values["deregistration_delay.timeout_seconds"])
    assert drained_s >= delay - 1.0, (drained_s, delay)  # the drain lasted the deployed delay
    # requests went on (one every 100 ms) for the whole drain, and none failed
    assert traffic.failures == [] and traffic.ok >= int(drained_s / 0.1 / 2), (
        traffic.ok,
        drained_s,
    )
    until("the re-registered one healthy", lambda: health(fleet, arn).get(first) == "healthy")
