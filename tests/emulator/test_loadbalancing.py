"""ELBv2 target registration in the emulator (pipekit/emulator/loadbalancing.py): `initial`
until the health source reports, `draining` for the deregistration delay then `unused`, the
health source's view in DescribeTargetHealth; and Auto Scaling registering its InService
instances with its TargetGroupARNs (patches/autoscaling/targets.py). Through boto3, responses
checked against botocore's shapes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pipekit.emulator import clock, loadbalancing
from tests.support.shapes import check_output

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


@pytest.fixture
def source() -> Iterator[dict[str, tuple[str, str | None, str | None]]]:
    """A health source answering from a dict (target id -> view); removed afterwards."""
    views: dict[str, tuple[str, str | None, str | None]] = {}
    loadbalancing.set_health_source(lambda arn, target_id: views.get(target_id))
    yield views
    loadbalancing.set_health_source(None)


def network(em: Any) -> tuple[str, str, str]:
    ec2 = em.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return vpc, subnet, image


def target_group(em: Any, vpc: str, delay: int = 30) -> str:
    elb = em.client("elbv2")
    arn = elb.create_target_group(
        Name="app", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}],
    )
    return arn


def run_instances(em: Any, subnet: str, image: str, count: int) -> list[str]:
    reservation = em.client("ec2").run_instances(
        ImageId=image, InstanceType="t3.micro", MinCount=count, MaxCount=count, SubnetId=subnet
    )
    return [i["InstanceId"] for i in reservation["Instances"]]


def health(em: Any, arn: str, ids: list[str] | None = None) -> dict[str, tuple[str, Any, Any]]:
    kwargs: dict[str, Any] = {"TargetGroupArn": arn}
    if ids is not None:
        kwargs["Targets"] = [{"Id": i} for i in ids]
    response = em.client("elbv2").describe_target_health(**kwargs)
    check_output("elbv2", "DescribeTargetHealth", response)
    return {
        d["Target"]["Id"]: (
            d["TargetHealth"]["State"],
            d["TargetHealth"].get("Reason"),
            d["TargetHealth"].get("Description"),
        )
        for d in response["TargetHealthDescriptions"]
    }


def test_a_registered_target_is_initial_until_the_health_source_reports_it(
    aws: Any, source: dict[str, Any]
) -> None:
    vpc, subnet, image = network(aws)
    arn = target_group(aws, vpc)
    a, b = run_instances(aws, subnet, image, 2)
    aws.client("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": a}, {"Id": b}])
    assert health(aws, arn)[a][:2] == ("initial", "Elb.RegistrationInProgress")
    source[a] = ("healthy", None, None)
    source[b] = (
        "unhealthy",
        "Target.ResponseCodeMismatch",
        "Health checks failed with these codes: [500]",
    )
    seen = health(aws, arn)
    assert seen[a] == ("healthy", None, None)
    assert seen[b] == source[b]


def test_without_a_health_source_moto_answer_stands(aws: Any) -> None:
    vpc, subnet, image = network(aws)
    arn = target_group(aws, vpc)
    [a] = run_instances(aws, subnet, image, 1)
    aws.client("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": a}])
    assert health(aws, arn)[a][0] == "healthy"


def test_deregistering_drains_for_the_delay_then_the_target_is_gone(
    aws: Any, source: dict[str, Any]
) -> None:
    vpc, subnet, image = network(aws)
    arn = target_group(aws, vpc, delay=30)
    a, b = run_instances(aws, subnet, image, 2)
    elb = aws.client("elbv2")
    elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": a}, {"Id": b}])
    source[a] = source[b] = ("healthy", None, None)
    elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": a}])
    seen = health(aws, arn)
    assert seen[a] == (
        "draining",
        "Target.DeregistrationInProgress",
        "Target deregistration is in progress",
    )
    assert seen[b][0] == "healthy"
    assert loadbalancing.registrations(arn)[-1]["State"] == "draining"
    clock.advance(29)
    assert health(aws, arn, [a])[a][0] == "draining"
    clock.advance(2)
    assert health(aws, arn, [a])[a][:2] == ("unused", "Target.NotRegistered")
    assert set(health(aws, arn)) == {b}
    assert [r["Id"] for r in loadbalancing.registrations(arn)] == [b]


def test_a_zero_delay_removes_at_once_and_reregistering_ends_a_drain(
    aws: Any, source: dict[str, Any]
) -> None:
    vpc, subnet, image = network(aws)
    quick, slow = target_group(aws, vpc, delay=0), None
    elb = aws.client("elbv2")
    slow = elb.create_target_group(Name="slow", Protocol="HTTP", Port=8080, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    [a] = run_instances(aws, subnet, image, 1)
    for arn in (quick, slow):
        elb.register_targets(TargetGroupArn=arn, Targets=[{"Id": a}])
        elb.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": a}])
    assert health(aws, quick, [a])[a][0] == "unused"
    assert health(aws, slow, [a])[a][0] == "draining"  # moto's default delay: 300 s
    elb.register_targets(TargetGroupArn=slow, Targets=[{"Id": a}])
    assert health(aws, slow)[a][0] == "initial"
    # not registered: DeregisterTargets succeeds (API reference: "If the specified target
    # does not exist, the action returns successfully")
    elb.deregister_targets(TargetGroupArn=quick, Targets=[{"Id": a}])


def test_auto_scaling_registers_in_service_instances_and_deregisters_terminated_ones(
    aws: Any, source: dict[str, Any]
) -> None:
    vpc, subnet, image = network(aws)
    arn = target_group(aws, vpc, delay=30)
    ec2, asg = aws.client("ec2"), aws.client("autoscaling")
    ec2.create_launch_template(
        LaunchTemplateName="web-lt",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateName": "web-lt", "Version": "$Latest"},
        VPCZoneIdentifier=subnet,
        TargetGroupARNs=[arn],
    )
    [first] = health(aws, arn)  # no hook: InService at once, registered
    asg.put_lifecycle_hook(
        LifecycleHookName="deploy",
        AutoScalingGroupName="web",
        LifecycleTransition=LAUNCHING,
        HeartbeatTimeout=600,
        DefaultResult="ABANDON",
    )
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"]
    [new] = [i["InstanceId"] for i in group[0]["Instances"] if i["InstanceId"] != first]
    assert set(health(aws, arn)) == {first}  # Pending:Wait: not registered yet
    asg.complete_lifecycle_action(
        LifecycleHookName="deploy",
        AutoScalingGroupName="web",
        LifecycleActionResult="CONTINUE",
        InstanceId=new,
    )
    assert set(health(aws, arn)) == {first, new}
    # a deployment's deregistration stands through the group's next capacity change
    aws.client("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": first}])
    asg.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    assert health(aws, arn)[first][0] == "draining"
    clock.advance(31)
    assert set(health(aws, arn)) == {new}
    asg.terminate_instance_in_auto_scaling_group(
        InstanceId=new, ShouldDecrementDesiredCapacity=True
    )
    assert health(aws, arn)[new][:2] == ("draining", "Target.DeregistrationInProgress")


def test_a_stack_target_group_keeps_its_target_group_attributes(aws: Any) -> None:
    """CloudFormation applies TargetGroupAttributes (moto dropped them: the delay stayed 300)."""
    import json

    vpc, _, _ = network(aws)
    template = {
        "Resources": {
            "Group": {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "VpcId": vpc,
                    "Protocol": "HTTP",
                    "Port": 8080,
                    "TargetGroupAttributes": [
                        {"Key": "deregistration_delay.timeout_seconds", "Value": "7"}
                    ],
                },
            }
        },
        "Outputs": {"Arn": {"Value": {"Ref": "Group"}}},
    }
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="tg", TemplateBody=json.dumps(template))
    arn = cfn.describe_stacks(StackName="tg")["Stacks"][0]["Outputs"][0]["OutputValue"]
    attributes = aws.client("elbv2").describe_target_group_attributes(TargetGroupArn=arn)
    values = {a["Key"]: a["Value"] for a in attributes["Attributes"]}
    assert values["deregistration_delay.timeout_seconds"] == "7"
