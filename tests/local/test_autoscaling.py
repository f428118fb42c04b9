"""What AWS does on its own when the stack's Auto Scaling group replaces its instance, in local
mode: the new instance waits in Pending:Wait on CodeDeploy's launch hook, gets a deployment of the
last successful revision (creator `autoscaling`), goes InService and serves the app again on a new
host; with the artifact bucket's lifecycle rule as it was before issue 11 (everything expires
after ArtifactRetentionDays), the emulator's clock moved past it makes each launch ABANDON until
the group stops relaunching, and the activities say why. Runs on the shared local mode and
leaves it serving again."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipekit import appclient
from pipekit.local import control, lifecycle
from pipekit.local.state import LocalStack
from tests.support.emulator_fixtures import advance_clock
from tests.support.local_fixtures import until
from tests.support.shapes import check_output

pytestmark = pytest.mark.host


def outputs(stack: LocalStack) -> dict[str, str]:
    described = stack.client("cloudformation").describe_stacks(StackName=stack.stack_name)
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}


def group(stack: LocalStack, name: str) -> dict[str, Any]:
    return stack.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]


def in_service(stack: LocalStack, name: str, other_than: str) -> str | None:
    for instance in group(stack, name)["Instances"]:
        if instance["InstanceId"] != other_than and instance["LifecycleState"] == "InService":
            return instance["InstanceId"]
    return None


def launch_deployments(stack: LocalStack, out: dict[str, str]) -> list[dict[str, Any]]:
    cd = stack.client("codedeploy")
    ids = cd.list_deployments(
        applicationName=out["CodeDeployApplicationName"],
        deploymentGroupName=out["DeploymentGroupName"],
    )["deployments"]
    infos = [cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
    return [i for i in infos if i["creator"] == "autoscaling"]


def settled(stack: LocalStack, out: dict[str, str]) -> None:
    """Wait until no deployment of the group runs (the pipeline's last one ends after the app
    already answers; terminating its instance then would fail it, on AWS as here)."""
    cd = stack.client("codedeploy")
    until(
        "the group's deployments to finish",
        lambda: (
            not cd.list_deployments(
                applicationName=out["CodeDeployApplicationName"],
                deploymentGroupName=out["DeploymentGroupName"],
                includeOnlyStatuses=["Created", "Queued", "InProgress"],
            )["deployments"]
        ),
    )


def expire_everything_after(s3: Any, bucket: str, days: int) -> dict[str, Any]:
    """Put the artifact bucket's lifecycle rule as templates/artifacts.yaml had it before issue
    11 (every object expires `days` after its creation); returns the rules it replaced."""
    saved = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    old = {
        "ID": "expire-old-artifacts",
        "Status": "Enabled",
        "Filter": {},
        "Expiration": {"Days": days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [old]})
    return {"Rules": saved["Rules"]}


def restore_bundle(s3: Any, location: dict[str, str], body: bytes) -> None:
    s3.put_object(Bucket=location["bucket"], Key=location["key"], Body=body)


def served(stack: LocalStack) -> str | None:
    data = appclient.version_data(stack.app_url, timeout=2.0)
    return data.get("commit") if data else None


def test_a_replaced_instance_gets_the_last_successful_revision(local_stack: LocalStack) -> None:
    stack, out = local_stack, outputs(local_stack)
    name = out["AutoScalingGroupName"]
    head = subprocess.run(
        ["git", "rev-parse", f"refs/heads/{stack.branch}"],
        cwd=Path(stack.git_remote),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lifecycle.wait_live(stack.app_url, head, timeout=300)
    settled(stack, out)
    [old] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    before = {d["deploymentId"] for d in launch_deployments(stack, out)}
    asg = stack.client("autoscaling")

    started = time.monotonic()
    asg.terminate_instance_in_auto_scaling_group(
        InstanceId=old, ShouldDecrementDesiredCapacity=False
    )
    pending = until(
        "the replacement to wait on the launch hook",
        lambda: [
            i for i in group(stack, name)["Instances"] if i["LifecycleState"] == "Pending:Wait"
        ],
        timeout=30,
    )
    new = until("the replacement to go InService", lambda: in_service(stack, name, old))
    took = time.monotonic() - started
    print(f"replacement {old} -> {new}: launch to InService in {took:.1f} s")
    assert pending[0]["InstanceId"] == new

    [deployment] = [d for d in launch_deployments(stack, out) if d["deploymentId"] not in before]
    assert deployment["status"] == "Succeeded"
    cd = stack.client("codedeploy")
    targets = cd.list_deployment_instances(deploymentId=deployment["deploymentId"])
    assert targets["instancesList"] == [new]
    # the app answers again, from the new host, with the last successful revision
    lifecycle.wait_live(stack.app_url, head, timeout=60)
    health = control.call(stack.control_url, "/health")
    assert new in health["machines"] and old not in health["machines"]
    # the user data's claim-elastic-ip step: the stack's address moved to the new instance, and
    # the URL (the address, locally) with it
    [address] = stack.client("ec2").describe_addresses()["Addresses"]
    assert address["InstanceId"] == new == health["elastic_ip"]

    activities = asg.describe_scaling_activities(AutoScalingGroupName=name)
    check_output("autoscaling", "DescribeScalingActivities", activities)
    launch, terminate = activities["Activities"][:2]
    assert terminate["Description"] == f"Terminating EC2 instance: {old}"
    assert terminate["Cause"].endswith(
        f"instance {old} was taken out of service in response to a user request."
    )
    assert (launch["Description"], launch["StatusCode"]) == (
        f"Launching a new EC2 instance: {new}",
        "Successful",
    )


def test_with_the_old_lifecycle_rule_an_idle_environment_cannot_launch_an_instance(
    local_stack: LocalStack,
) -> None:
    """Before issue 11 the bucket expired every artifact after ArtifactRetentionDays (14 in
    dev): past that, the last good revision's bundle is gone, each launch deployment fails at
    DownloadBundle and is abandoned until the group stops relaunching."""
    from pipekit.emulator.patches.autoscaling.state import ADMINISTRATIVE_SUSPENSION_AFTER

    stack, out = local_stack, outputs(local_stack)
    name = out["AutoScalingGroupName"]
    cd = stack.client("codedeploy")
    info = cd.get_deployment_group(
        applicationName=out["CodeDeployApplicationName"],
        deploymentGroupName=out["DeploymentGroupName"],
    )["deploymentGroupInfo"]
    last = cd.get_deployment(deploymentId=info["lastSuccessfulDeployment"]["deploymentId"])
    location = last["deploymentInfo"]["revision"]["s3Location"]
    s3, asg = stack.client("s3"), stack.client("autoscaling")
    before = {d["deploymentId"] for d in launch_deployments(stack, out)}
    [old] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    commit = until("the app to answer", lambda: served(stack), timeout=60)
    settled(stack, out)

    bundle = s3.get_object(Bucket=location["bucket"], Key=location["key"])["Body"].read()
    rules = expire_everything_after(s3, location["bucket"], 14)
    try:
        advance_clock(stack, days=15)
        with pytest.raises(ClientError) as gone:
            s3.head_object(Bucket=location["bucket"], Key=location["key"])
        assert gone.value.response["Error"]["Code"] == "404"
        asg.terminate_instance_in_auto_scaling_group(
            InstanceId=old, ShouldDecrementDesiredCapacity=False
        )
        suspended = until(
            "the group to stop relaunching",
            lambda: group(stack, name)["SuspendedProcesses"],
        )
        assert suspended[0]["ProcessName"] == "Launch"
        assert group(stack, name)["Instances"] == []
        failed = [d for d in launch_deployments(stack, out) if d["deploymentId"] not in before]
        assert len(failed) == ADMINISTRATIVE_SUSPENSION_AFTER
        assert {d["status"] for d in failed} == {"Failed"}
        # the instance's agent fails DownloadBundle with S3's "The specified key does not
        # exist." and the deployment fails on that instance (pipekit.local.runtime.download)
        assert {d["errorInformation"]["code"] for d in failed} == {"HEALTH_CONSTRAINTS"}
        cd = stack.client("codedeploy")
        for d in failed:
            [target] = cd.list_deployment_targets(deploymentId=d["deploymentId"])["targetIds"]
            events = cd.batch_get_deployment_targets(
                deploymentId=d["deploymentId"], targetIds=[target]
            )["deploymentTargets"][0]["instanceTarget"]["lifecycleEvents"]
            download = next(e for e in events if e["lifecycleEventName"] == "DownloadBundle")
            assert download["status"] == "Failed"
            assert "The specified key does not exist." in download["diagnostics"]["message"]
        launches = [
            a
            for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
            if a["Description"].startswith("Launching")
        ][:ADMINISTRATIVE_SUSPENSION_AFTER]
        assert {a["StatusCode"] for a in launches} == {"Cancelled"}
        for activity in launches:
            assert activity["StatusMessage"].endswith(
                "was abandoned: Lifecycle Action Completed with ABANDON Result"
            )
        until(
            "the abandoned hosts to stop",
            lambda: not control.call(stack.control_url, "/health")["machines"],
            60,
        )
    finally:
        # leave the shared local mode serving again: the template's rules and the bundle back,
        # Launch resumed
        s3.put_bucket_lifecycle_configuration(
            Bucket=location["bucket"], LifecycleConfiguration=rules
        )
        restore_bundle(s3, location, bundle)
        asg.resume_processes(AutoScalingGroupName=name, ScalingProcesses=["Launch"])
    until("a healthy instance again", lambda: in_service(stack, name, old))
    lifecycle.wait_live(stack.app_url, commit, timeout=120)


def test_set_desired_capacity_above_max_size_is_refused(local_stack: LocalStack) -> None:
    name = outputs(local_stack)["AutoScalingGroupName"]
    with pytest.raises(ClientError) as err:
        local_stack.client("autoscaling").set_desired_capacity(
            AutoScalingGroupName=name, DesiredCapacity=2
        )
    error = err.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "ValidationError",
        "New SetDesiredCapacity value 2 is above max value 1 for the AutoScalingGroup.",
    )
    # within a raised MaxSize AWS would launch five; this machine holds four hosts
    with pytest.raises(ClientError) as err:
        local_stack.client("autoscaling").update_auto_scaling_group(
            AutoScalingGroupName=name, MaxSize=5, DesiredCapacity=5
        )
    assert err.value.response["Error"]["Message"].startswith(
        "local mode runs at most 4 instances per Auto Scaling group"
    )
    assert group(local_stack, name)["MaxSize"] == 1


def test_scale_in_stops_the_host_and_scale_out_deploys_again(local_stack: LocalStack) -> None:
    stack, out = local_stack, outputs(local_stack)
    name = out["AutoScalingGroupName"]
    asg = stack.client("autoscaling")
    commit = until("the app to answer", lambda: served(stack), timeout=60)
    settled(stack, out)
    [old] = [i["InstanceId"] for i in group(stack, name)["Instances"]]
    asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=0, DesiredCapacity=0)
    try:
        until("the scale-in", lambda: not group(stack, name)["Instances"], timeout=30)
        until(
            "the host to stop",
            lambda: old not in control.call(stack.control_url, "/health")["machines"],
            timeout=60,
        )
        [scale_in] = [
            a
            for a in asg.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
            if a["Description"] == f"Terminating EC2 instance: {old}"
        ]
        assert (
            "a user request update of AutoScalingGroup constraints to min: 0, max: 1, "
            in (scale_in["Cause"])
        )
        assert f"instance {old} was selected for termination." in scale_in["Cause"]
    finally:
        asg.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, DesiredCapacity=1)
    until("a new instance InService", lambda: in_service(stack, name, old))
    lifecycle.wait_live(stack.app_url, commit, timeout=120)
