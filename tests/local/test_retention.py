"""Artifacts outlive idleness, in local mode with the emulator's clock: an environment left
alone for 400 days still replaces its instance (the launch deployment of the last good revision
finds its bundle) and still rolls a broken push back; the next good run's Prune stage marks what
no rollback or launch needs (ReleasesToKeep is 1 in parameters/local.json), S3's lifecycle rule
deletes exactly that a day later, and the kept bundle stays. Runs on the shared local mode and
leaves it serving its last good commit."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipekit.local import lifecycle
from pipekit.local.state import LocalStack
from pipekit.samplechanges import break_at_runtime, set_marker
from tests.local.test_autoscaling import group, in_service, outputs, settled, until
from tests.support.emulator_fixtures import advance_clock

pytestmark = pytest.mark.host

EXPIRED = {"Key": "pipekit:expired", "Value": "true"}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def push(stack: LocalStack, clone: Path, message: str) -> str:
    git("commit", "-qam", message, cwd=clone)
    git("push", "-q", "origin", f"HEAD:{stack.branch}", cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone)


def execution_of(stack: LocalStack, commit: str) -> dict[str, Any]:
    """The commit's pipeline execution, once it has ended."""
    cp = stack.client("codepipeline")

    def ended() -> dict[str, Any] | None:
        summaries = cp.list_pipeline_executions(pipelineName=stack.pipeline_name)[
            "pipelineExecutionSummaries"
        ]
        for s in summaries:
            revisions = [r["revisionId"] for r in s.get("sourceRevisions", [])]
            if commit in revisions and s["status"] not in ("InProgress", "Stopping"):
                return s
        return None

    return until(f"the run of {commit[:8]} to end", ended, timeout=300)


def actions(stack: LocalStack, execution_id: str) -> dict[str, dict[str, Any]]:
    details = stack.client("codepipeline").list_action_executions(
        pipelineName=stack.pipeline_name, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    return {d["stageName"]: d for d in details}


def artifacts_of(stack: LocalStack, execution_id: str) -> dict[str, str]:
    """The run's source zip and, if it deployed, its bundle (as CodeDeploy's record names it)."""
    ran = actions(stack, execution_id)
    [source] = ran["Source"]["output"]["outputArtifacts"]
    found = {"source": source["s3location"]["key"]}
    deployment = ran.get("Deploy", {}).get("output", {}).get("executionResult", {})
    if deployment.get("externalExecutionId"):
        info = stack.client("codedeploy").get_deployment(
            deploymentId=deployment["externalExecutionId"]
        )["deploymentInfo"]
        found["bundle"] = info["revision"]["s3Location"]["key"]
    return found


def tags(s3: Any, bucket: str, key: str) -> list[dict[str, str]] | None:
    """The object's tags; None if it is gone."""
    try:
        return s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def test_an_environment_idle_for_400_days_still_scales_out_rolls_back_and_prunes(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    stack, out = local_stack, outputs(local_stack)
    name, bucket = out["AutoScalingGroupName"], out["ArtifactBucketName"]
    s3, cd = stack.client("s3"), stack.client("codedeploy")
    clone = tmp_path / "clone"
    git("clone", "-q", "--branch", stack.branch, stack.git_remote, str(clone), cwd=tmp_path)
    git("config", "user.email", "test@pipekit.invalid", cwd=clone)
    git("config", "user.name", "pipekit test", cwd=clone)

    # a good commit goes live (after whatever the shared local mode served before)
    set_marker(clone, "retention: good before the idle year")
    good = push(stack, clone, "retention: good")
    lifecycle.wait_live(stack.app_url, good, timeout=300)
    run = execution_of(stack, good)
    assert run["status"] == "Succeeded", run
    good_artifacts = artifacts_of(stack, run["pipelineExecutionId"])
    settled(stack, out)

    advance_clock(stack, days=400)
    assert tags(s3, bucket, good_artifacts["bundle"]) == []  # nothing went by age alone

    # an instance replacement 400 days later: the launch deployment finds the bundle
    [old] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    stack.client("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=old, ShouldDecrementDesiredCapacity=False
    )
    new = until("the replacement to go InService", lambda: in_service(stack, name, old))
    lifecycle.wait_live(stack.app_url, good, timeout=120)
    assert new != old

    # a broken push 400 days later: CodeDeploy rolls back to the good commit's bundle
    break_at_runtime(clone)
    broken = push(stack, clone, "retention: broken")
    run = execution_of(stack, broken)
    assert run["status"] == "Failed"
    ran = actions(stack, run["pipelineExecutionId"])
    assert ran["Deploy"]["status"] == "Failed" and "Prune" not in ran  # Failed at Deploy
    failed = ran["Deploy"]["output"]["executionResult"]["externalExecutionId"]
    rollback_id = cd.get_deployment(deploymentId=failed)["deploymentInfo"]["rollbackInfo"][
        "rollbackDeploymentId"
    ]
    rollback = until(
        "CodeDeploy's rollback to end",
        lambda: (
            info
            if (info := cd.get_deployment(deploymentId=rollback_id)["deploymentInfo"])["status"]
            in ("Succeeded", "Failed", "Stopped")
            else None
        ),
    )
    assert rollback["status"] == "Succeeded"
    assert rollback["revision"]["s3Location"]["key"] == good_artifacts["bundle"]
    lifecycle.wait_live(stack.app_url, good, timeout=120)
    broken_artifacts = artifacts_of(stack, run["pipelineExecutionId"])

    # the next good run prunes: ReleasesToKeep 1 keeps the newest good bundle only
    git("revert", "--no-edit", "HEAD", cwd=clone)
    set_marker(clone, "retention: good after the idle year")
    newest = push(stack, clone, "retention: good again")
    lifecycle.wait_live(stack.app_url, newest, timeout=300)
    run = execution_of(stack, newest)
    assert run["status"] == "Succeeded", run
    prune = actions(stack, run["pipelineExecutionId"])["Prune"]
    took = (prune["lastUpdateTime"] - prune["startTime"]).total_seconds()
    print(f"Prune stage: {took:.1f} s")
    newest_artifacts = artifacts_of(stack, run["pipelineExecutionId"])
    size = s3.head_object(Bucket=bucket, Key=newest_artifacts["bundle"])["ContentLength"]
    print(f"bundle: {size} bytes")
    build = prune["output"]["executionResult"]["externalExecutionId"]
    where = stack.client("codebuild").batch_get_builds(ids=[build])["builds"][0]["logs"]
    events = stack.client("logs").get_log_events(
        logGroupName=where["groupName"], logStreamName=where["streamName"]
    )["events"]
    print("\n".join(e["message"].rstrip() for e in events))
    marked = {
        "the good commit's bundle, no longer the last good one": good_artifacts["bundle"],
        "the good commit's source zip": good_artifacts["source"],
    }
    kept = {
        "the newest good bundle": newest_artifacts["bundle"],
        "the newest source zip": newest_artifacts["source"],
        "the broken bundle, younger than ArtifactRetentionDays": broken_artifacts["bundle"],
    }
    for why, key in marked.items():
        assert tags(s3, bucket, key) == [EXPIRED], why
    for why, key in kept.items():
        assert tags(s3, bucket, key) == [], why

    advance_clock(stack, days=2)
    for why, key in marked.items():
        assert tags(s3, bucket, key) is None, why
    for why, key in kept.items():
        assert tags(s3, bucket, key) == [], why
    settled(stack, out)
    lifecycle.wait_live(stack.app_url, newest, timeout=60)
