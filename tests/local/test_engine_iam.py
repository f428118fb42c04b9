"""The engine's call sites authorize what each service does with its role, and a refusal fails
the run where and as AWS fails it: the source action, the build's phases, CodeDeploy's
deployment, the action polling a deployment. One pipeline (tests/local/test_engine.py's world),
its role allowed everything but the actions each case refuses."""

from __future__ import annotations

import json

import pytest

from pipekit.emulator import records
from tests.support.engine_world import CONNECTION, client, make_world
from tests.support.iam import trust_policy


@pytest.fixture
def world(aws, tmp_path):
    records.install()
    w = make_world(aws, tmp_path, "p-iam", on_failure=False, auto_rollback=False)
    yield w
    records.set_controller(None)
    w.engine.close()


def refuse(w, *actions: str) -> None:
    """The world's one role may do anything but `actions`."""
    statement = {"Effect": "Allow", "Resource": "*"}
    statement.update({"NotAction": list(actions)} if actions else {"Action": "*"})
    client(w.emu, "iam").put_role_policy(
        RoleName=f"{w.pipeline}-role",
        PolicyName="test",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )


def run(w, text: str) -> tuple[dict, dict[str, dict]]:
    """Push a commit; the run's summary and its action executions by stage."""
    w.push({"app.txt": text}, text)
    summary = w.wait_idle()[0]
    details = w.cp().list_action_executions(
        pipelineName=w.pipeline, filter={"pipelineExecutionId": summary["pipelineExecutionId"]}
    )["actionExecutionDetails"]
    return summary, {d["stageName"]: d for d in details}


def error(action: dict) -> str:
    return action["output"]["executionResult"]["errorDetails"]["message"]


def last_deployment(w) -> dict:
    cd = client(w.emu, "codedeploy")
    ids = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"]
    infos = [cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
    return max(infos, key=lambda d: d["createTime"])


def test_refused_calls_fail_the_run_where_aws_fails_it(world):
    w = world
    account = "123456789012"
    role_arn = f"arn:aws:iam::{account}:role/{w.pipeline}-role"

    refuse(w, "codeconnections:UseConnection")
    summary, actions = run(w, "connection")
    assert summary["status"] == "Failed" and set(actions) == {"Source"}
    assert error(actions["Source"]) == (
        f"Unable to use Connection: {CONNECTION}. The provided role does not have sufficient "
        "permissions."
    )

    refuse(w, "s3:GetObject")
    _, actions = run(w, "download")
    assert error(actions["Build"]).startswith(
        "Build terminated with state: FAILED. Phase: DOWNLOAD_SOURCE, Code: CLIENT_ERROR, Message: "
    )
    build_id = actions["Build"]["output"]["executionResult"]["externalExecutionId"]
    build = client(w.emu, "codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    failed = [p for p in build["phases"] if p.get("phaseStatus") == "FAILED"]
    assert [p["phaseType"] for p in failed] == ["DOWNLOAD_SOURCE"]
    assert failed[0]["contexts"][0]["statusCode"] == "CLIENT_ERROR"
    assert failed[0]["contexts"][0]["message"].startswith("AccessDenied: Access Denied\n")
    assert build["buildStatus"] == "FAILED" and not w.runner.builds

    refuse(w, "autoscaling:DescribeAutoScalingGroups")
    _, actions = run(w, "asg")
    deployment = last_deployment(w)
    assert deployment["status"] == "Failed"
    assert deployment["errorInformation"]["code"] == "IAM_ROLE_PERMISSIONS"
    assert deployment["errorInformation"]["message"].startswith(
        f"The IAM role {role_arn} does not give you permission to perform operations in the "
        "following AWS service: AmazonAutoScaling."
    )
    assert error(actions["Deploy"]).startswith(f"Deployment {deployment['deploymentId']} failed")
    assert w.asg_instance not in w.runner.serving

    refuse(w, "codedeploy:GetDeployment")
    _, actions = run(w, "poll")
    assert last_deployment(w)["status"] == "Succeeded"  # the deployment ran; polling it failed
    assert error(actions["Deploy"]).startswith(
        f"User: arn:aws:sts::{account}:assumed-role/{w.pipeline}-role/"
    )
    assert error(actions["Deploy"]).endswith(
        "is not authorized to perform: codedeploy:GetDeployment on resource: "
        f"arn:aws:codedeploy:us-east-1:{account}:deploymentgroup:{w.pipeline}-app/"
        f"{w.pipeline}-group because no identity-based policy allows the "
        "codedeploy:GetDeployment action"
    )

    refuse(w)
    client(w.emu, "iam").update_assume_role_policy(
        RoleName=f"{w.pipeline}-role",
        PolicyDocument=json.dumps(trust_policy(("codepipeline", "codebuild"))),
    )
    run(w, "trust")
    assert last_deployment(w)["errorInformation"] == {
        "code": "IAM_ROLE_PERMISSIONS",
        "message": "AWS CodeDeploy does not have the permissions required to assume the role "
        f"{role_arn}.",
    }
