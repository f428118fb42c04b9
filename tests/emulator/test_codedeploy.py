"""CodeDeploy's deployment API through a real boto3 client against the emulator (no engine):
what AWS answers to CreateDeployment and ListDeployments, whoever runs the deployments."""

from __future__ import annotations

import re

import pytest

from tests.support.shapes import check_output

ROLE = "arn:aws:iam::123456789012:role/cd"
REVISION = {
    "revisionType": "S3",
    "s3Location": {"bucket": "bundles", "key": "app.zip", "bundleType": "zip"},
}


def make_group(cd, app: str, group: str) -> None:
    if app not in cd.list_applications()["applications"]:
        cd.create_application(applicationName=app, computePlatform="Server")
    cd.create_deployment_group(applicationName=app, deploymentGroupName=group, serviceRoleArn=ROLE)


def test_create_deployment_gets_an_aws_id_and_is_listed(aws):
    cd = aws.client("codedeploy")
    make_group(cd, "app", "dg")
    deployment_id = cd.create_deployment(
        applicationName="app",
        deploymentGroupName="dg",
        revision=REVISION,
        ignoreApplicationStopFailures=True,
        description="by hand",
    )["deploymentId"]
    assert re.fullmatch(r"d-[A-Z0-9]{9}", deployment_id)
    info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    # nothing runs it without local mode's engine: it stays where CreateDeployment left it
    assert info["status"] == "Created"
    assert info["creator"] == "user"
    assert info["ignoreApplicationStopFailures"] is True
    assert info["revision"] == REVISION
    check_output("codedeploy", "GetDeployment", {"deploymentInfo": info})

    names = {"applicationName": "app", "deploymentGroupName": "dg"}
    assert cd.list_deployments(**names)["deployments"] == [deployment_id]
    assert cd.list_deployments()["deployments"] == [deployment_id]
    assert cd.list_deployments(**names, includeOnlyStatuses=["Created"])["deployments"] == [
        deployment_id
    ]
    assert cd.list_deployments(**names, includeOnlyStatuses=["Succeeded"])["deployments"] == []
    with pytest.raises(cd.exceptions.ClientError) as err:
        cd.list_deployments(applicationName="app")
    assert err.value.response["Error"]["Code"] == "DeploymentGroupNameRequiredException"


def test_one_active_deployment_per_group(aws):
    cd = aws.client("codedeploy")
    make_group(cd, "app", "dg")
    make_group(cd, "app", "other")
    first = cd.create_deployment(
        applicationName="app", deploymentGroupName="dg", revision=REVISION
    )["deploymentId"]
    with pytest.raises(cd.exceptions.DeploymentLimitExceededException) as err:
        cd.create_deployment(applicationName="app", deploymentGroupName="dg", revision=REVISION)
    assert err.value.response["Error"]["Message"] == (
        f"The Deployment Group 'dg' already has an active Deployment '{first}'"
    )
    # the limit is per group: another group of the same application deploys
    cd.create_deployment(applicationName="app", deploymentGroupName="other", revision=REVISION)
    assert cd.list_deployments(applicationName="app", deploymentGroupName="dg")["deployments"] == [
        first
    ]
