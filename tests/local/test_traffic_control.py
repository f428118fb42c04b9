"""CodeDeploy's traffic control for an in-place deployment WITH_TRAFFIC_CONTROL
(pipekit.local.traffic) and the agent's event order around it (pipekit.local.runtime.hookrunner),
without systemd hosts: the emulated ELBv2 API of a plain moto server (`moto_endpoint`), a
stand-in host (tests/local/test_agent.DirHost) and, where moto has no such state, a health source
that reports `draining` for the target group's deregistration delay or never `healthy`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from moto.elbv2.models import elbv2_backends

from pipekit.local.runtime.agent import EventFailure
from pipekit.local.runtime.appspec import lifecycle_events
from pipekit.local.traffic import TrafficControl, backend_health
from tests.local.test_agent import NAMES, Bucket, DirHost
from tests.support.engine_world import REGION, client

ACCOUNT = "123456789012"


@pytest.fixture
def fleet(moto_endpoint):
    """A target group (deregistration delay 1 s) and two running instances, unregistered."""
    ec2, elb = client(moto_endpoint, "ec2"), client(moto_endpoint, "elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    ids = [
        i["InstanceId"] for i in ec2.run_instances(ImageId=ami, MinCount=2, MaxCount=2)["Instances"]
    ]
    arn = elb.create_target_group(
        Name=f"tg-{time.monotonic_ns() % 10**8}", Protocol="HTTP", Port=80, VpcId=vpc
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}],
    )
    group = elbv2_backends[ACCOUNT][REGION].target_groups[arn]
    return group, ids, elb


class Draining:
    """moto's answer, but a deregistered target is `draining` for the group's delay, as
    DeregisterTargets does on AWS (fleet contract 1); counts the polls."""

    def __init__(self, group) -> None:
        self.inner = backend_health(ACCOUNT, REGION)
        self.delay = float(group.attributes["deregistration_delay.timeout_seconds"])
        self.since: dict[str, float] = {}
        self.polls = 0

    def __call__(self, arn: str, instance_id: str):
        self.polls += 1
        state, reason, text = self.inner(arn, instance_id)
        if state == "healthy":
            self.since.pop(instance_id, None)
        elif (
            state == "unused"
            and instance_id in self.since
            and time.monotonic() - self.since[instance_id] < self.delay
        ):
            return (
                "draining",
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
            )
        return state, reason, text

    def deregistered(self, instance_id: str) -> None:
        self.since[instance_id] = time.monotonic()


def test_block_traffic_waits_while_the_target_drains(fleet):
    group, (instance, _), elb = fleet
    health = Draining(group)
    control = TrafficControl(ACCOUNT, REGION, [group], health, poll_s=0.05, timeout_s=10)
    # not registered yet (a first deployment): nothing to block, nothing deregistered
    assert control.block(instance) == "not registered: nothing to block"
    # AllowTraffic registers it; moto reports a registered running instance healthy at once
    assert control.allow(instance) == f"healthy in {group.name}"
    state = elb.describe_target_health(TargetGroupArn=group.arn, Targets=[{"Id": instance}])
    assert state["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy"
    # BlockTraffic deregisters it and waits until it no longer drains
    real_deregister = control.backend.deregister_targets

    def deregister(arn, targets):
        real_deregister(arn, targets)
        health.deregistered(targets[0]["Id"])

    control.backend.deregister_targets = deregister
    try:
        started = time.monotonic()
        assert control.block(instance) == f"deregistered from {group.name}"
        waited = time.monotonic() - started
    finally:
        del control.backend.deregister_targets
    assert waited >= health.delay
    assert health.polls > 3
    state = elb.describe_target_health(TargetGroupArn=group.arn, Targets=[{"Id": instance}])
    assert state["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "unused"


def test_allow_traffic_fails_when_the_target_never_turns_healthy(fleet):
    group, (instance, _), _ = fleet

    def unhealthy(arn, instance_id):
        return (
            "unhealthy",
            "Target.ResponseCodeMismatch",
            "Health checks failed with these codes: [500]",
        )

    control = TrafficControl(ACCOUNT, REGION, [group], unhealthy, poll_s=0.05, timeout_s=0.3)
    with pytest.raises(EventFailure) as err:
        control.allow(instance)
    assert err.value.diagnostics_code == "UnknownError"
    assert err.value.error_code == "HEALTH_CONSTRAINTS"
    assert "last state unhealthy, reason Target.ResponseCodeMismatch" in err.value.message


HOOKED = """\
version: 0.0
os: linux
hooks:
{hooks}
"""


def traffic_bundle(tag: str, log: Path) -> bytes:
    import io
    import zipfile

    events = ("BeforeBlockTraffic", "AfterBlockTraffic", "BeforeAllowTraffic", "AfterAllowTraffic")
    hooks = "".join(f"  {e}:\n    - location: {e}.sh\n      timeout: 10\n" for e in events)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("appspec.yml", HOOKED.format(hooks=hooks))
        for event in events:
            info = zipfile.ZipInfo(f"{event}.sh")
            info.external_attr = 0o100755 << 16
            zf.writestr(
                info, f'#!/bin/bash\necho "{tag} $LIFECYCLE_EVENT $DEPLOYMENT_ID" >> {log}\n'
            )
    return data.getvalue()


class Recorder:
    """A stand-in for pipekit.local.traffic.TrafficControl that writes to the hooks' log."""

    def __init__(self, log: Path, allow_error: EventFailure | None = None) -> None:
        self.log, self.allow_error = log, allow_error

    def block(self, instance_id: str) -> str:
        with self.log.open("a") as fh:
            fh.write(f"service BlockTraffic {instance_id}\n")
        return "blocked"

    def allow(self, instance_id: str) -> str:
        with self.log.open("a") as fh:
            fh.write(f"service AllowTraffic {instance_id}\n")
        if self.allow_error:
            raise self.allow_error
        return "allowed"


def test_the_event_order_with_traffic_control(tmp_path):
    from pipekit.local.runtime.hookrunner import deploy_to_host

    (tmp_path / "root").mkdir()
    host, s3, log = DirHost(tmp_path / "root"), Bucket(), tmp_path / "hooks.log"
    traffic = Recorder(log)

    def deploy(key: str, deployment_id: str, **kwargs):
        return deploy_to_host(
            host,
            s3.put(key, traffic_bundle(key, log)),
            get_object=s3.get_object,
            deployment_id=deployment_id,
            traffic=traffic,
            instance_id="i-1",
            **NAMES,
            **kwargs,
        )

    first = deploy("r1", "d-1")
    assert first.status == "Succeeded"
    assert [e.name for e in first.events] == list(lifecycle_events(True))
    assert all(e.start and e.end and e.start <= e.end for e in first.events)
    # the first deployment has no previous revision: Before/AfterBlockTraffic run nothing
    assert log.read_text().splitlines() == [
        "service BlockTraffic i-1",
        "r1 BeforeAllowTraffic d-1",
        "service AllowTraffic i-1",
        "r1 AfterAllowTraffic d-1",
    ]
    log.unlink()
    second = deploy("r2", "d-2")
    assert second.status == "Succeeded"
    # Before/AfterBlockTraffic run the last successful revision's scripts, the rest the current
    assert log.read_text().splitlines() == [
        "r1 BeforeBlockTraffic d-2",
        "service BlockTraffic i-1",
        "r1 AfterBlockTraffic d-2",
        "r2 BeforeAllowTraffic d-2",
        "service AllowTraffic i-1",
        "r2 AfterAllowTraffic d-2",
    ]
    # AllowTraffic failing fails the instance there; what follows is Skipped
    traffic.allow_error = EventFailure("HEALTH_CONSTRAINTS", "UnknownError", "never healthy")
    third = deploy("r3", "d-3")
    assert (third.status, third.error_code) == ("Failed", "HEALTH_CONSTRAINTS")
    statuses = {e.name: e.status for e in third.events}
    assert statuses["ValidateService"] == "Succeeded"
    assert (statuses["AllowTraffic"], statuses["AfterAllowTraffic"]) == ("Failed", "Skipped")
    assert third.event("AllowTraffic").message == "never healthy"
