"""A launch template change on local mode (a new AMI, as `make deploy ARGS=--update-ami` makes):
CloudFormation's AutoScalingRollingUpdate replaces the instance through the same launch path,
and, as on AWS, moves on as soon as the new instance's cfn-signal arrives, while CodeDeploy's
launch deployment still runs on it (Pending:Wait). Runs on the shared local mode."""

from __future__ import annotations

import pytest

from pipekit.local import lifecycle
from pipekit.local.state import LocalStack
from tests.local.test_autoscaling import (
    group,
    in_service,
    launch_deployments,
    outputs,
    served,
    settled,
    until,
)

pytestmark = pytest.mark.host


def test_a_new_ami_is_rolled_out_and_the_update_does_not_wait_for_codedeploy(
    local_stack: LocalStack,
) -> None:
    stack, out = local_stack, outputs(local_stack)
    name = out["AutoScalingGroupName"]
    commit = until("the app to answer", lambda: served(stack), timeout=60)
    settled(stack, out)
    [old] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    ec2 = stack.client("ec2")
    current = ec2.describe_instances(InstanceIds=[old])["Reservations"][0]["Instances"][0][
        "ImageId"
    ]
    other = next(
        i["ImageId"]
        for i in ec2.describe_images(Owners=["amazon"])["Images"]
        if i["ImageId"] != current
    )
    before = {d["deploymentId"] for d in launch_deployments(stack, out)}

    lifecycle.deploy_stack(
        stack,
        lifecycle.PROJECT_ROOT,
        {"AmiId": other, "AppPort": str(stack.app_port)},
        say=lambda _: None,
    )
    new = until("the new instance InService", lambda: in_service(stack, name, old))
    assert group(stack, name)["AutoScalingGroupName"] == name  # updated in place
    image = ec2.describe_instances(InstanceIds=[new])["Reservations"][0]["Instances"][0]
    assert image["ImageId"] == other

    cfn = stack.client("cloudformation")
    resources = cfn.list_stack_resources(StackName=stack.stack_name)["StackResourceSummaries"]
    ec2_stack = next(r for r in resources if r["LogicalResourceId"] == "Ec2Stack")
    events = cfn.describe_stack_events(StackName=ec2_stack["PhysicalResourceId"])["StackEvents"]
    signal = next(
        e
        for e in events
        if e.get("ResourceStatusReason") == f"Received SUCCESS signal with UniqueId {new}"
    )
    [deployment] = [d for d in launch_deployments(stack, out) if d["deploymentId"] not in before]
    assert deployment["status"] == "Succeeded"
    # the stack update went on at the signal, before CodeDeploy finished on the new instance
    assert signal["Timestamp"] < deployment["completeTime"]
    lifecycle.wait_live(stack.app_url, commit, timeout=120)
