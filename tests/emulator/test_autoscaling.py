"""EC2 Auto Scaling in the emulator as AWS runs it (pipekit/emulator/patches/autoscaling/): launch
lifecycle hooks and Pending:Wait, CONTINUE/ABANDON, the bounded cancel-relaunch loop, scaling
activities with AWS's wording, capacity refusals, replacements, and the hook a CodeDeploy
deployment group installs. Responses are checked against the botocore output shapes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.shapes import check_output

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
AT = r"At \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def make_group(em: Any, name: str = "web", size: int = 1, high: int = 2, hook: bool = True) -> Any:
    ec2, asg = em.client("ec2"), em.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=size,
        MaxSize=high,
        DesiredCapacity=size,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
        VPCZoneIdentifier=subnet,
    )
    if hook:
        asg.put_lifecycle_hook(
            LifecycleHookName="deploy",
            AutoScalingGroupName=name,
            LifecycleTransition=LAUNCHING,
            HeartbeatTimeout=600,
            DefaultResult="ABANDON",
            NotificationMetadata="group-id",
        )
    return asg


def instances(asg: Any, name: str = "web") -> dict[str, str]:
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}


def activities(asg: Any, name: str = "web") -> list[dict[str, Any]]:
    response = asg.describe_scaling_activities(AutoScalingGroupName=name)
    check_output("autoscaling", "DescribeScalingActivities", response)
    return response["Activities"]


def waiting(asg: Any) -> str:
    [instance_id] = [i for i, s in instances(asg).items() if s == "Pending:Wait"]
    return instance_id


def test_a_launch_waits_on_its_hook_and_continue_puts_it_in_service(aws: Any) -> None:
    asg = make_group(aws, hook=True)
    [first] = instances(asg)  # launched before the hook existed: InService at once
    assert instances(asg)[first] == "InService"
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    new = waiting(asg)
    launch = activities(asg)[0]
    assert launch["Description"] == f"Launching a new EC2 instance: {new}"
    assert launch["StatusCode"] == "MidLifecycleAction"
    assert re.fullmatch(
        f"{AT} a user request explicitly set group desired capacity changing the desired "
        f"capacity from 1 to 2.  {AT} an instance was started in response to a difference "
        "between desired and actual capacity, increasing the capacity from 1 to 2.",
        launch["Cause"],
    ), launch["Cause"]
    hooks = asg.describe_lifecycle_hooks(AutoScalingGroupName="web")
    check_output("autoscaling", "DescribeLifecycleHooks", hooks)
    assert hooks["LifecycleHooks"][0]["NotificationMetadata"] == "group-id"

    asg.complete_lifecycle_action(
        LifecycleHookName="deploy",
        AutoScalingGroupName="web",
        LifecycleActionResult="CONTINUE",
        InstanceId=new,
    )
    assert instances(asg) == {first: "InService", new: "InService"}
    done = next(a for a in activities(asg) if a["ActivityId"] == launch["ActivityId"])
    assert (done["StatusCode"], done["Progress"]) == ("Successful", 100)
    with pytest.raises(ClientError) as err:
        asg.complete_lifecycle_action(
            LifecycleHookName="deploy",
            AutoScalingGroupName="web",
            LifecycleActionResult="CONTINUE",
            InstanceId=new,
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"] == (
        f"No active Lifecycle Action found with instance ID {new}"
    )


def test_abandon_terminates_and_relaunches_until_the_group_suspends_launch(aws: Any) -> None:
    from pipekit.emulator.patches.autoscaling.state import ADMINISTRATIVE_SUSPENSION_AFTER

    asg = make_group(aws, size=0, hook=True)
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    abandoned = []
    for _ in range(ADMINISTRATIVE_SUSPENSION_AFTER):
        instance_id = waiting(asg)
        asg.complete_lifecycle_action(
            LifecycleHookName="deploy",
            AutoScalingGroupName="web",
            LifecycleActionResult="ABANDON",
            InstanceId=instance_id,
        )
        abandoned.append(instance_id)
    # every ABANDON terminated the instance; the group relaunched until it suspended Launch
    assert instances(asg) == {}
    states = aws.client("ec2").describe_instances(InstanceIds=abandoned)["Reservations"]
    assert {i["State"]["Name"] for r in states for i in r["Instances"]} == {"terminated"}
    launches = [a for a in activities(asg) if a["Description"].startswith("Launching")]
    assert len(launches) == ADMINISTRATIVE_SUSPENSION_AFTER
    for launch, instance_id in zip(reversed(launches), abandoned, strict=True):
        assert launch["Description"] == f"Launching a new EC2 instance: {instance_id}"
        assert launch["StatusCode"] == "Cancelled"
        assert re.fullmatch(
            "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token "
            "[0-9a-f-]{36} was abandoned: Lifecycle Action Completed with ABANDON Result",
            launch["StatusMessage"],
        ), launch["StatusMessage"]
    relaunch = launches[0]["Cause"]
    assert re.fullmatch(
        f"{AT} an instance was started in response to a difference between desired and actual "
        "capacity, increasing the capacity from 0 to 1.",
        relaunch,
    ), relaunch
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    [suspended] = group["SuspendedProcesses"]
    assert suspended["ProcessName"] == "Launch"
    assert "Administrative suspension" in suspended["SuspensionReason"]
    # resuming Launch launches what the group owes
    asg.resume_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    assert list(instances(asg).values()) == ["Pending:Wait"]


def test_capacity_outside_the_bounds_is_refused_with_aws_words(aws: Any) -> None:
    asg = make_group(aws, size=1, high=1, hook=False)
    for call, message in (
        (
            lambda: asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3),
            "New SetDesiredCapacity value 3 is above max value 1 for the AutoScalingGroup.",
        ),
        (
            lambda: asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=0),
            "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup.",
        ),
        (
            lambda: asg.update_auto_scaling_group(AutoScalingGroupName="web", DesiredCapacity=2),
            "Desired capacity:2 must be between the specified min size:1 and max size:1",
        ),
    ):
        with pytest.raises(ClientError) as err:
            call()
        error = err.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("ValidationError", message)
    assert len(instances(asg)) == 1


def test_scale_in_and_terminations_are_activities_and_replaced(aws: Any) -> None:
    asg = make_group(aws, size=2, high=3, hook=False)
    first, second = sorted(instances(asg))
    asg.update_auto_scaling_group(AutoScalingGroupName="web", MinSize=1)
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=1)
    [kept] = instances(asg)
    gone = first if kept == second else second
    scale_in = activities(asg)[0]
    assert scale_in["Description"] == f"Terminating EC2 instance: {gone}"
    assert re.fullmatch(
        f"{AT} a user request explicitly set group desired capacity changing the desired "
        f"capacity from 2 to 1.  {AT} an instance was taken out of service in response to a "
        "difference between desired and actual capacity, shrinking the capacity from 2 to 1.  "
        f"{AT} instance {gone} was selected for termination.",
        scale_in["Cause"],
    ), scale_in["Cause"]

    response = asg.terminate_instance_in_auto_scaling_group(
        InstanceId=kept, ShouldDecrementDesiredCapacity=False
    )
    check_output("autoscaling", "TerminateInstanceInAutoScalingGroup", response)
    assert re.fullmatch(
        f"{AT} instance {kept} was taken out of service in response to a user request.",
        response["Activity"]["Cause"],
    )
    [replacement] = instances(asg)
    assert replacement != kept
    assert activities(asg)[0]["Description"] == f"Launching a new EC2 instance: {replacement}"

    aws.client("ec2").terminate_instances(InstanceIds=[replacement])
    [third] = instances(asg)
    assert third != replacement
    health = next(
        a for a in activities(asg) if a["Description"] == f"Terminating EC2 instance: {replacement}"
    )
    assert re.fullmatch(
        f"{AT} an instance was taken out of service in response to an EC2 health check "
        "indicating it has been terminated or stopped.",
        health["Cause"],
    ), health["Cause"]

    asg.set_instance_health(InstanceId=third, HealthStatus="Unhealthy")
    [fourth] = instances(asg)
    assert fourth != third
    launch = activities(asg)[0]
    assert re.fullmatch(
        f"{AT} an instance was launched in response to an unhealthy instance needing to be "
        "replaced.",
        launch["Cause"],
    ), launch["Cause"]

    with pytest.raises(ClientError) as err:
        asg.terminate_instance_in_auto_scaling_group(
            InstanceId="i-0123456789abcdef0", ShouldDecrementDesiredCapacity=True
        )
    assert err.value.response["Error"]["Message"] == (
        "Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0"
    )
