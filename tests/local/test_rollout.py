"""How local mode's CodeDeploy rolls a deployment out over several instances (pipekit.local.
deployer with the rules of pipekit.emulator.records.deployconfigs): the order, the batches the
deployment configuration allows (run at the same time), Skipped instances once the minimum of
healthy hosts cannot be kept, the rollback, the refusal of a minimum that cannot be met, and
traffic control wired to each instance. The engine world (tests/support/engine_world.py) with a
stand-in agent per instance that takes DEPLOY_S seconds and fails the revision `bad.zip` on the
instances it is told to."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile

import pytest

from pipekit.e2e.waiting import wait_deployment
from tests.support.engine_world import Event, Outcome, client

DEPLOY_S = 0.3


class Agents:
    """runners.deploy for every instance: (deployment, instance, start, end) per run."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str, float, float]] = []
        self.failing: set[str] = set()
        self.traffic: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def deploy(self, host, revision, *, get_object, deployment_id, traffic=None, **kwargs):
        start = time.monotonic()
        if traffic is not None:
            self.traffic.append((host, traffic.block(kwargs["instance_id"])))
        time.sleep(DEPLOY_S)
        bad = revision["s3Location"]["key"] == "bad.zip" and host in self.failing
        if traffic is not None and not bad:
            self.traffic.append((host, traffic.allow(kwargs["instance_id"])))
        with self.lock:
            self.runs.append((deployment_id, host, start, time.monotonic()))
        if bad:
            return Outcome(
                "Failed",
                "HOOK_EXECUTION_FAILURE",
                "ValidateService failed",
                [Event("ValidateService", "Failed", "boom", "ScriptFailed")],
            )
        return Outcome("Succeeded", None, None, [Event("ValidateService", "Succeeded")])

    def of(self, deployment_id: str) -> list[tuple[str, float, float]]:
        return sorted((r[1], r[2], r[3]) for r in self.runs if r[0] == deployment_id)


def fleet(world_factory, name: str, size: int, config: str, **group):
    """A world whose deployment group `name-fleet` targets an ASG of `size` instances, with
    deployment configuration `config`; the agents stand in for the instances' agents."""
    w = world_factory(name, on_failure=False, auto_rollback=True)
    agents = Agents()
    w.engine.runners.deploy = agents.deploy
    w.engine.deployer.traffic_options = {"poll_s": 0.05, "timeout_s": 5}
    asg, cd = client(w.emu, "autoscaling"), client(w.emu, "codedeploy")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"{name}-fleet",
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
        MinSize=size,
        MaxSize=size,
        DesiredCapacity=size,
        AvailabilityZones=["us-east-1a"],
    )
    role = client(w.emu, "iam").get_role(RoleName=f"{name}-role")["Role"]["Arn"]
    names = {"applicationName": f"{name}-app", "deploymentGroupName": f"{name}-fleet"}
    cd.create_deployment_group(
        **names,
        serviceRoleArn=role,
        autoScalingGroups=[f"{name}-fleet"],
        deploymentConfigName=config,
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
        **group,
    )
    s3 = client(w.emu, "s3")
    for key in ("good.zip", "bad.zip"):
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as zf:
            zf.writestr("COMMIT", key)
        s3.put_object(Bucket=f"{name}-artifacts", Key=key, Body=data.getvalue())
    return w, agents, cd, names


def revision(w, key: str) -> dict:
    bucket = f"{w.pipeline}-artifacts"
    return {"revisionType": "S3", "s3Location": {"bucket": bucket, "key": key, "bundleType": "zip"}}


def deploy(w, cd, names, key: str, config: str | None = None) -> dict:
    extra = {"deploymentConfigName": config} if config else {}
    deployment_id = cd.create_deployment(**names, revision=revision(w, key), **extra)[
        "deploymentId"
    ]
    return wait_deployment(cd, deployment_id, timeout=60, interval=0.05)["deploymentInfo"]


def statuses(cd, deployment_id: str) -> dict[str, str]:
    ids = cd.list_deployment_instances(deploymentId=deployment_id)["instancesList"]
    return {
        i: cd.get_deployment_instance(deploymentId=deployment_id, instanceId=i)["instanceSummary"][
            "status"
        ]
        for i in ids
    }


def order(agents: Agents, deployment_id: str) -> list[str]:
    return [r[1] for r in sorted(agents.runs, key=lambda r: r[2]) if r[0] == deployment_id]


def overlapping(runs: list[tuple[str, float, float]]) -> bool:
    return any(a[1] < b[2] and b[1] < a[2] for i, a in enumerate(runs) for b in runs[i + 1 :])


def test_one_at_a_time_over_three_instances_stops_and_rolls_back(world_factory):
    w, agents, cd, names = fleet(world_factory, "p-one3", 3, "CodeDeployDefault.OneAtATime")
    good = deploy(w, cd, names, "good.zip")
    assert good["status"] == "Succeeded"
    first = order(agents, good["deploymentId"])
    assert len(first) == 3 and not overlapping(agents.of(good["deploymentId"]))
    # the second instance fails: the deployment fails at once, the third is never started
    agents.failing = {first[1]}
    bad = deploy(w, cd, names, "bad.zip")
    assert (bad["status"], bad["errorInformation"]["code"]) == ("Failed", "HEALTH_CONSTRAINTS")
    assert order(agents, bad["deploymentId"]) == first[:2]
    assert statuses(cd, bad["deploymentId"]) == {
        first[0]: "Succeeded",
        first[1]: "Failed",
        first[2]: "Skipped",
    }
    assert bad["deploymentOverview"] == {
        "Pending": 0,
        "InProgress": 0,
        "Succeeded": 1,
        "Failed": 1,
        "Skipped": 1,
        "Ready": 0,
    }
    # CodeDeploy's rollback: the good revision to every instance, one at a time
    rollback_id = bad["rollbackInfo"]["rollbackDeploymentId"]
    rollback = wait_deployment(cd, rollback_id, timeout=60, interval=0.05)["deploymentInfo"]
    assert (rollback["status"], rollback["creator"]) == ("Succeeded", "codeDeployRollback")
    # in CodeDeploy's order (user guide, instances-health): the instance whose attempt failed
    # (unhealthy), then the one holding the bad revision (old), then the current one
    assert order(agents, rollback_id) == [first[1], first[0], first[2]]
    assert not overlapping(agents.of(rollback_id))


def test_one_at_a_time_the_last_instance_may_fail(world_factory):
    w, agents, cd, names = fleet(world_factory, "p-one2", 2, "CodeDeployDefault.OneAtATime")
    first = order(agents, deploy(w, cd, names, "good.zip")["deploymentId"])
    agents.failing = {first[-1]}
    info = deploy(w, cd, names, "bad.zip")
    # "if the deployment to the last instance fails, the overall deployment is still successful"
    assert info["status"] == "Succeeded"
    assert statuses(cd, info["deploymentId"]) == {first[0]: "Succeeded", first[1]: "Failed"}
    # the next deployment starts with the instance whose last attempt failed (unhealthy first:
    # CodeDeploy user guide, instances-health); that one failing fails it, the last is Skipped
    agents.failing = {first[1]}
    info = deploy(w, cd, names, "bad.zip")
    assert order(agents, info["deploymentId"]) == [first[1]]
    assert info["status"] == "Failed"
    assert statuses(cd, info["deploymentId"]) == {first[1]: "Failed", first[0]: "Skipped"}


def test_half_at_a_time_runs_half_the_instances_together(world_factory):
    w, agents, cd, names = fleet(world_factory, "p-half", 4, "CodeDeployDefault.HalfAtATime")
    info = deploy(w, cd, names, "good.zip")
    assert info["status"] == "Succeeded"
    runs = sorted(agents.of(info["deploymentId"]), key=lambda r: r[1])
    # two batches of two: each pair together, the second pair after the first
    assert overlapping(runs[:2]) and overlapping(runs[2:])
    assert max(r[2] for r in runs[:2]) <= min(r[1] for r in runs[2:])
    # AllAtOnce (the deployment's own config overrides the group's): all four together
    every = deploy(w, cd, names, "good.zip", config="CodeDeployDefault.AllAtOnce")
    runs = agents.of(every["deploymentId"])
    assert len(runs) == 4 and max(r[1] for r in runs) < min(r[2] for r in runs)


def test_a_minimum_that_cannot_be_kept_is_refused_at_the_start(world_factory):
    w, agents, cd, names = fleet(world_factory, "p-min", 2, "CodeDeployDefault.OneAtATime")
    cd.create_deployment_config(
        deploymentConfigName="p-min-two", minimumHealthyHosts={"type": "HOST_COUNT", "value": 2}
    )
    deployment_id = cd.create_deployment(
        **names, revision=revision(w, "good.zip"), deploymentConfigName="p-min-two"
    )["deploymentId"]
    info = wait_deployment(cd, deployment_id, timeout=30, interval=0.05)["deploymentInfo"]
    assert (info["status"], info["errorInformation"]["code"]) == (
        "Failed",
        "HEALTH_CONSTRAINTS_INVALID",
    )
    assert agents.runs == []  # no instance was touched
    assert set(statuses(cd, deployment_id).values()) == {"Skipped"}
    with pytest.raises(cd.exceptions.DeploymentConfigDoesNotExistException):
        cd.create_deployment(**names, revision=revision(w, "good.zip"), deploymentConfigName="x")


def test_traffic_control_deregisters_and_registers_each_instance(world_factory, moto_endpoint):
    ec2, elb = client(moto_endpoint, "ec2"), client(moto_endpoint, "elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    arn = elb.create_target_group(Name="p-tc-tg", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    # a short drain (the default is 300 s), so BlockTraffic's wait ends within the test's bound
    elb.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}],
    )
    w, agents, cd, names = fleet(
        world_factory,
        "p-tc",
        2,
        "CodeDeployDefault.OneAtATime",
        deploymentStyle={"deploymentType": "IN_PLACE", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        loadBalancerInfo={"targetGroupInfoList": [{"name": "p-tc-tg"}]},
    )
    assert deploy(w, cd, names, "good.zip")["status"] == "Succeeded"
    first = order(agents, cd.list_deployments(**names)["deployments"][0])
    # not registered before: nothing to block; then registered and healthy (moto's answer)
    assert agents.traffic == [
        (first[0], "not registered: nothing to block"),
        (first[0], "healthy in p-tc-tg"),
        (first[1], "not registered: nothing to block"),
        (first[1], "healthy in p-tc-tg"),
    ]
    health = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert {(h["Target"]["Id"], h["TargetHealth"]["State"]) for h in health} == {
        (i, "healthy") for i in first
    }
    agents.traffic.clear()
    assert deploy(w, cd, names, "good.zip")["status"] == "Succeeded"
    assert [m for _, m in agents.traffic] == ["deregistered from p-tc-tg", "healthy in p-tc-tg"] * 2

    # the group's service role must allow RegisterTargets on the target group (AWSCodeDeployRole)
    iam = client(w.emu, "iam")
    deny = {"Effect": "Deny", "Action": "elasticloadbalancing:RegisterTargets", "Resource": arn}
    allow = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    iam.put_role_policy(
        RoleName="p-tc-role",
        PolicyName="test",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow, deny]}),
    )
    agents.runs.clear()
    refused = deploy(w, cd, names, "good.zip")
    assert (refused["status"], refused["errorInformation"]["code"]) == (
        "Failed",
        "IAM_ROLE_PERMISSIONS",
    )
    assert "AmazonElasticLoadBalancingV2" in refused["errorInformation"]["message"]
    assert agents.runs == []
