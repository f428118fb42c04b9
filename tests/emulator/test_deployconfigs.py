"""Deployment configurations as CodeDeploy answers and applies them: GetDeploymentConfig and
CreateDeploymentConfig through a real boto3 client, and the rules drawn from minimum healthy
hosts (pipekit.emulator.records.deployconfigs). The expected numbers are the documented ones
(CodeDeploy API reference, MinimumHealthyHosts; user guide instances-health), cited there."""

from __future__ import annotations

import pytest

from pipekit.emulator.records import deployconfigs
from tests.support.shapes import check_output

ONE, HALF, ALL = (f"CodeDeployDefault.{n}" for n in ("OneAtATime", "HalfAtATime", "AllAtOnce"))


def config(kind: str, value: int) -> dict:
    return {"minimumHealthyHosts": {"type": kind, "value": value}}


def batches(conf: dict, total: int, failing: set[int] = frozenset()) -> tuple[list[int], bool]:
    """Run the rules over `total` instances, those numbered in `failing` failing: (the batch
    sizes, whether the deployment succeeded)."""
    sizes, failed, done, ok = [], 0, 0, 0
    if deployconfigs.invalid(conf, total):
        return sizes, False
    while done < total:
        size = deployconfigs.next_batch(conf, total, failed, total - done)
        if size == 0:
            return sizes, False
        sizes.append(size)
        bad = len([i for i in range(done, done + size) if i in failing])
        failed, ok, done = failed + bad, ok + size - bad, done + size
    return sizes, deployconfigs.succeeded(conf, total, ok)


def test_the_documented_nine_instance_examples():
    # "if a HOST_COUNT of six is specified, deploy to up to three instances at a time. The
    # deployment is successful if six or more instances are deployed to successfully"
    assert batches(config("HOST_COUNT", 6), 9) == ([3, 3, 3], True)
    assert batches(config("HOST_COUNT", 6), 9, {0, 1, 2})[1] is False
    # "If a FLEET_PERCENT of 40 is specified, deploy to up to five instances at a time. The
    # deployment is successful if four or more instances are deployed to successfully."
    assert batches(config("FLEET_PERCENT", 40), 9)[0][0] == 5
    assert deployconfigs.minimum_healthy(config("FLEET_PERCENT", 40), 9) == 4


def test_predefined_configs(aws):
    cd = aws.client("codedeploy")
    one = cd.get_deployment_config(deploymentConfigName=ONE)["deploymentConfigInfo"]
    # GetDeploymentConfig answers OneAtATime with MOST_CONCURRENCY 1 (MinimumHealthyHosts)
    assert one["minimumHealthyHosts"] == {"type": "MOST_CONCURRENCY", "value": 1}
    half = cd.get_deployment_config(deploymentConfigName=HALF)["deploymentConfigInfo"]
    every = cd.get_deployment_config(deploymentConfigName=ALL)["deploymentConfigInfo"]
    # OneAtATime: one at a time; the last instance may fail and the deployment still succeeds
    assert batches(one, 3) == ([1, 1, 1], True)
    assert batches(one, 3, {2}) == ([1, 1, 1], True)
    assert batches(one, 3, {1}) == ([1, 1], False)  # fails at once: the third is never started
    assert batches(one, 2, {0}) == ([1], False)
    assert batches(one, 1, {0}) == ([1], False)  # a single instance must succeed
    # HalfAtATime: up to half at a time (rounded down), at least half (rounded up) must succeed
    assert batches(half, 4) == ([2, 2], True)
    assert batches(half, 3) == ([1, 1, 1], True)
    assert batches(half, 2) == ([1, 1], True)
    assert deployconfigs.invalid(half, 1)["code"] == "HEALTH_CONSTRAINTS_INVALID"
    # AllAtOnce: all at once; one success is enough, none is not
    assert batches(every, 3, {0, 1}) == ([3], True)
    assert batches(every, 3, {0, 1, 2}) == ([3], False)


def test_custom_configs_and_refusals(aws):
    cd = aws.client("codedeploy")
    created = cd.create_deployment_config(
        deploymentConfigName="two-healthy", minimumHealthyHosts={"type": "HOST_COUNT", "value": 2}
    )
    check_output("codedeploy", "CreateDeploymentConfig", created)
    info = cd.get_deployment_config(deploymentConfigName="two-healthy")
    check_output("codedeploy", "GetDeploymentConfig", info)
    conf = info["deploymentConfigInfo"]
    assert conf["deploymentConfigId"] == created["deploymentConfigId"]
    assert batches(conf, 4) == ([2, 2], True)
    # a minimum not below the instance count fails the deployment from the start
    assert deployconfigs.invalid(conf, 2) == {
        "code": "HEALTH_CONSTRAINTS_INVALID",
        "message": deployconfigs.HEALTH_CONSTRAINTS_INVALID[1].format(minimum=2, total=2),
    }
    with pytest.raises(cd.exceptions.DeploymentConfigAlreadyExistsException):
        cd.create_deployment_config(
            deploymentConfigName="two-healthy",
            minimumHealthyHosts={"type": "HOST_COUNT", "value": 1},
        )
    with pytest.raises(cd.exceptions.InvalidMinimumHealthyHostValueException):
        cd.create_deployment_config(
            deploymentConfigName="bad", minimumHealthyHosts={"type": "FLEET_PERCENT", "value": 101}
        )
    with pytest.raises(cd.exceptions.DeploymentConfigDoesNotExistException):
        cd.get_deployment_config(deploymentConfigName="nope")
