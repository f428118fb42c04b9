"""The templates' Auto Scaling group in the emulator, no local engine: the deployment group installs
CodeDeploy's launch hook as AWS does, and a launch template change is a rolling update of the same
group (moto replaced the group under a new name and all its instances at once)."""

from __future__ import annotations

import re
from typing import Any

from tests.emulator.test_stack import change_set, deploy, execute, parameters, publish
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
    # no CodeDeploy engine here answers the launch hook: it waits, as it would on AWS until
    # the hook's timeout, while the stack update already completed on the instance's signal
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
