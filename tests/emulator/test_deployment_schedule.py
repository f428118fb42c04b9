"""The order CodeDeploy deploys to a group's instances (records.deployments.schedule): unhealthy
instance health first, then unknown, old and current revision health (CodeDeploy user guide,
instances-health). What it changes in fleet mode: after a deployment an alarm stopped while an
instance was out of the load balancer, the rollback brings that instance back first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipekit.emulator.records import deployments
from pipekit.emulator.records.store import Records

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
GOOD = {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "good.zip"}}
BAD = {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "bad.zip"}}


def record(recs: Records, n: int, revision: dict, status: str, targets: dict[str, str]) -> None:
    deployment_id = f"d-{n:09d}"
    recs.deployments[deployment_id] = {
        "deploymentId": deployment_id,
        "_group": "g-1",
        "revision": revision,
        "status": status,
        "createTime": T0 + timedelta(minutes=n),
        "completeTime": T0 + timedelta(minutes=n, seconds=30),
    }
    recs.targets[deployment_id] = {i: {"status": s} for i, s in targets.items()}


def test_never_deployed_instances_come_first_then_unknown_old_current() -> None:
    recs = Records()
    record(recs, 1, GOOD, "Succeeded", {"i-a": "Succeeded", "i-b": "Succeeded"})
    record(recs, 2, BAD, "Failed", {"i-a": "Succeeded", "i-b": "Skipped"})
    # i-new: never deployed (unhealthy); i-a: healthy, holds BAD (old); i-b: current
    order = deployments.schedule(recs, "g-1", ["i-b", "i-a", "i-new"])
    assert order == ["i-new", "i-a", "i-b"]


def test_the_instance_a_stopped_deployment_left_failed_goes_first() -> None:
    recs = Records()
    record(recs, 1, GOOD, "Succeeded", {"i-a": "Succeeded", "i-b": "Succeeded"})
    # stopped by an alarm: i-a took the release and served it, i-b was stopped mid-way
    record(recs, 2, BAD, "Stopped", {"i-a": "Succeeded", "i-b": "Failed"})
    assert deployments.schedule(recs, "g-1", ["i-a", "i-b"]) == ["i-b", "i-a"]
    # a group with no history keeps the given order
    assert deployments.schedule(Records(), "g-1", ["i-b", "i-a"]) == ["i-b", "i-a"]
