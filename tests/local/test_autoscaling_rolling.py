"""A launch template change on local mode (a new AMI, as `make deploy ARGS=--update-ami` makes):
CloudFormation's AutoScalingRollingUpdate replaces the instance through the same launch path and
moves on at the new instance's cfn-signal. With templates/ec2.yaml's user data (step
wait-in-service) that signal comes once the group has put the instance InService, after
CodeDeploy's launch deployment of the last successful revision succeeded: when the update is
done, the new host already serves that revision. A user data that signals as soon as the agent
runs (the template before that step) lets the update move on while the deployment still runs
(Pending:Wait), as on AWS. Runs on the shared local mode."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipekit import appclient
from pipekit.local import control, lifecycle
from pipekit.local.state import LocalStack
from tests.local.test_autoscaling import (
    group,
    launch_deployments,
    outputs,
    served,
    settled,
    until,
)

pytestmark = pytest.mark.host


def other_ami(stack: LocalStack, instance_id: str) -> str:
    ec2 = stack.client("ec2")
    reservation = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    current = reservation["Instances"][0]["ImageId"]
    return next(
        i["ImageId"]
        for i in ec2.describe_images(Owners=["amazon"])["Images"]
        if i["ImageId"] != current
    )


def without_wait_step(tmp_path: Path) -> Path:
    """A project root whose ec2.yaml user data signals once the agent runs: the wait-in-service
    step taken out (what the template did before it)."""
    root = tmp_path / "project"
    shutil.copytree(lifecycle.PROJECT_ROOT / "templates", root / "templates")
    shutil.copytree(lifecycle.PROJECT_ROOT / "parameters", root / "parameters")
    ec2 = root / "templates" / "ec2.yaml"
    text = ec2.read_text()
    start = text.index("                STEP=wait-in-service\n")
    end = text.index("                STEP=", start + 1)  # the next step (claim-elastic-ip)
    ec2.write_text(text[:start] + text[end:])
    return root


def roll(stack: LocalStack, root: Path) -> dict[str, Any]:
    """Deploy `root`'s templates with another AMI; what the rolling update did, read back when
    the deploy returned (the update done): the old and new instance, the new instance's launch
    deployment, its signal's event and the stack's events after it, and what the app served at
    that moment, from which hosts."""
    out = outputs(stack)
    name = out["AutoScalingGroupName"]
    commit = until("the app to answer", lambda: served(stack), timeout=60)
    settled(stack, out)
    [old] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    before = {d["deploymentId"] for d in launch_deployments(stack, out)}

    lifecycle.deploy_stack(
        stack,
        root,
        {"AmiId": other_ami(stack, old), "AppPort": str(stack.app_port)},
        say=lambda _: None,
    )
    at_return = appclient.version_data(stack.app_url, timeout=2.0) or {}
    machines = control.call(stack.control_url, "/health")["machines"]

    [new] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    cfn = stack.client("cloudformation")
    resources = cfn.list_stack_resources(StackName=stack.stack_name)["StackResourceSummaries"]
    ec2_stack = next(r for r in resources if r["LogicalResourceId"] == "Ec2Stack")
    events = cfn.describe_stack_events(StackName=ec2_stack["PhysicalResourceId"])["StackEvents"]
    signal = next(
        e
        for e in events
        if e.get("ResourceStatusReason") == f"Received SUCCESS signal with UniqueId {new}"
    )
    deployment = until(
        "the new instance's launch deployment to end",
        lambda: next(
            (
                d
                for d in launch_deployments(stack, out)
                if d["deploymentId"] not in before and d.get("completeTime")
            ),
            None,
        ),
        timeout=120,
    )
    later = [e for e in events if e["Timestamp"] > signal["Timestamp"]]
    return {
        "commit": commit,
        "old": old,
        "new": new,
        "deployment": deployment,
        "signal_at": signal["Timestamp"],
        "update_complete": next(
            e["Timestamp"]
            for e in later
            if e["LogicalResourceId"] == "AutoScalingGroup"
            and e["ResourceStatus"] == "UPDATE_COMPLETE"
        ),
        "served_at_return": at_return.get("commit"),
        "machines_at_return": machines,
    }


def completed(deployment: dict[str, Any]) -> datetime:
    return deployment["completeTime"]


def test_the_rolling_update_moves_on_only_once_the_new_instance_serves_the_last_revision(
    local_stack: LocalStack,
) -> None:
    stack = local_stack
    rolled = roll(stack, lifecycle.PROJECT_ROOT)
    assert rolled["new"] != rolled["old"]
    deployment = rolled["deployment"]
    assert deployment["status"] == "Succeeded"
    assert deployment["deploymentOverview"]["Succeeded"] == 1
    # the signal came after CodeDeploy's launch deployment ended, and the update after it
    assert completed(deployment) <= rolled["signal_at"] <= rolled["update_complete"]
    # when the update was done, the new host alone served the last successful revision
    assert rolled["served_at_return"] == rolled["commit"]
    assert rolled["machines_at_return"] == [rolled["new"]]


def test_a_user_data_that_signals_when_the_agent_runs_lets_the_update_move_on_too_early(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    """The defect the wait-in-service step fixes, kept reproduced: without it the update goes
    on while CodeDeploy still deploys to the new instance (Pending:Wait)."""
    stack = local_stack
    try:
        rolled = roll(stack, without_wait_step(tmp_path))
        deployment = rolled["deployment"]
        assert deployment["status"] == "Succeeded"
        assert rolled["signal_at"] < completed(deployment)
        assert rolled["update_complete"] < completed(deployment)
    finally:
        # leave the shared local mode on the real templates, serving again
        commit = until("the app to answer", lambda: served(stack), timeout=120)
        settled(stack, outputs(stack))
        lifecycle.deploy_stack(
            stack, lifecycle.PROJECT_ROOT, {"AppPort": str(stack.app_port)}, say=lambda _: None
        )
        lifecycle.wait_live(stack.app_url, commit, timeout=120)
