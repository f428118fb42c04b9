"""The templates' Auto Scaling group in the emulator, no local engine: the deployment group installs
CodeDeploy's launch hook as AWS does, and a launch template change is a rolling update of the same
group (moto replaced the group under a new name and all its instances at once)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from tests.emulator.test_stack import (
    BUCKET,
    TEMPLATES,
    change_set,
    deploy,
    execute,
    first_failure,
    parameters,
    publish,
)
from tests.support.emulator_fixtures import publish_templates
from tests.support.shapes import check_output

STACK = "pipekit-local"


def nested(em: Any, child: str) -> str:
    cfn = em.client("cloudformation")
    resources = cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == child)


def group_of(em: Any, outputs: dict[str, str]) -> dict[str, Any]:
    name = outputs["AutoScalingGroupName"]
    return em.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]


def test_the_deployment_group_installs_codedeploys_launch_hook(aws: Any) -> None:
    outputs = deploy(aws)
    name = outputs["AutoScalingGroupName"]
    hooks = aws.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName=name)
    check_output("autoscaling", "DescribeLifecycleHooks", hooks)
    [hook] = hooks["LifecycleHooks"]
    group_name = outputs["DeploymentGroupName"]
    info = aws.client("codedeploy").get_deployment_group(
        applicationName=outputs["CodeDeployApplicationName"], deploymentGroupName=group_name
    )["deploymentGroupInfo"]
    assert re.fullmatch(
        f"CodeDeploy-managed-automatic-launch-deployment-hook-{group_name}-[0-9a-f-]{{36}}",
        hook["LifecycleHookName"],
    ), hook["LifecycleHookName"]
    assert (
        hook["LifecycleTransition"],
        hook["HeartbeatTimeout"],
        hook["GlobalTimeout"],
        hook["DefaultResult"],
        hook["NotificationMetadata"],
    ) == ("autoscaling:EC2_INSTANCE_LAUNCHING", 600, 60000, "ABANDON", info["deploymentGroupId"])
    assert info["autoScalingGroups"] == [{"name": name, "hook": hook["LifecycleHookName"]}]
    # the instance the stack created was launched before the hook existed: InService at once
    [instance] = group_of(aws, outputs)["Instances"]
    assert instance["LifecycleState"] == "InService"


def test_a_new_ami_is_a_rolling_update_of_the_same_group(aws: Any) -> None:
    outputs = deploy(aws)
    before = group_of(aws, outputs)
    [old] = before["Instances"]
    ec2 = aws.client("ec2")
    current = ec2.describe_instances(InstanceIds=[old["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]["ImageId"]
    other = next(
        i["ImageId"]
        for i in ec2.describe_images(Owners=["amazon"])["Images"]
        if i["ImageId"] != current
    )
    url = publish(aws, "v1/")
    change_set(aws, "ami", "UPDATE", url, parameters(aws, "v1/", AmiId=other))
    outputs = execute(aws, "ami", "stack_update_complete")

    after = group_of(aws, outputs)
    assert after["AutoScalingGroupName"] == before["AutoScalingGroupName"]
    [new] = after["Instances"]
    assert new["InstanceId"] != old["InstanceId"]
    # no CodeDeploy engine here answers the launch hook: it waits, as it would on AWS until the
    # hook's timeout; no user data runs here either, so the emulator alone counts the signal as
    # sent (local mode's follows the user data: tests/local/test_autoscaling_rolling.py)
    assert new["LifecycleState"] == "Pending:Wait"
    assert int(new["LaunchTemplate"]["Version"]) > int(old["LaunchTemplate"]["Version"])
    state = ec2.describe_instances(InstanceIds=[old["InstanceId"]])["Reservations"][0]
    assert state["Instances"][0]["State"]["Name"] == "terminated"
    image = ec2.describe_instances(InstanceIds=[new["InstanceId"]])["Reservations"][0]
    assert image["Instances"][0]["ImageId"] == other

    cfn = aws.client("cloudformation")
    events = cfn.describe_stack_events(StackName=nested(aws, "Ec2Stack"))["StackEvents"]
    reasons = [
        e.get("ResourceStatusReason")
        for e in reversed(events)
        if e["LogicalResourceId"] == "AutoScalingGroup"
        and e["ResourceStatus"] == "UPDATE_IN_PROGRESS"
    ]
    assert [
        "Rolling update initiated. Terminating 1 obsolete instance(s) in batches of 1. Waiting on "
        "resource signals with a timeout of PT15M when new instances are added to the "
        "autoscaling group.",
        f"Terminating instance(s) [{old['InstanceId']}]; replacing with 1 new instance(s).",
        f"Successfully terminated instance(s) [{old['InstanceId']}] (Progress 100%).",
        "New instance(s) added to autoscaling group - Waiting on 1 resource signal(s) with a "
        "timeout of PT15M.",
        f"Received SUCCESS signal with UniqueId {new['InstanceId']}",
    ] == [r for r in reasons if r]
    # the processes the update policy suspends are resumed when it is done
    assert after["SuspendedProcesses"] == []


def test_without_the_rule_a_fleet_of_one_fails_every_rolling_update(
    aws: Any, tmp_path: Path
) -> None:
    """Why the root's FleetHasAtLeastTwoInstances rule exists: in fleet mode the rolling update
    keeps MinInstancesInService 1 while MaxSize is FleetSize, and with FleetSize 1 Auto Scaling
    refuses every such update (the emulator's wording.min_in_service_too_big)."""
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    root = (copy / "root.yaml").read_text()
    start = root.index("  FleetHasAtLeastTwoInstances:")
    end = root.index("  SubnetsDiffer:")
    (copy / "root.yaml").write_text(root[:start] + root[end:])
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    url = publish_templates(s3, BUCKET, "norule/", copy)
    fleet = {"DeploymentMode": "fleet", "FleetSize": "1"}
    change_set(aws, "create", "CREATE", url, parameters(aws, "norule/", **fleet))
    outputs = execute(aws, "create", "stack_create_complete")
    [old] = group_of(aws, outputs)["Instances"]
    ec2 = aws.client("ec2")
    current = ec2.describe_instances(InstanceIds=[old["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]["ImageId"]
    other = next(
        i["ImageId"]
        for i in ec2.describe_images(Owners=["amazon"])["Images"]
        if i["ImageId"] != current
    )
    change_set(aws, "ami", "UPDATE", url, parameters(aws, "norule/", AmiId=other, **fleet))
    cfn = aws.client("cloudformation")
    cfn.execute_change_set(StackName="pipekit-local", ChangeSetName="ami")
    status = cfn.describe_stacks(StackName="pipekit-local")["Stacks"][0]["StackStatus"]
    assert status == "UPDATE_ROLLBACK_COMPLETE", first_failure(cfn, "pipekit-local")
    assert first_failure(cfn, "pipekit-local") == (
        "AutoScalingGroup: MinInstancesInService must be less than the autoscaling group's MaxSize"
    )
    assert [i["InstanceId"] for i in group_of(aws, outputs)["Instances"]] == [old["InstanceId"]]
