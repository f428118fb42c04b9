"""Deployments and rollbacks through the engine and the emulated APIs (in-process runners, see
test_engine): CodeDeploy's own automatic rollback as a separate deployment, CodePipeline's
stage rollback and its preconditions, the two colliding on one deployment group, and
deployments created through CodeDeploy's API."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from pipekit.e2e.waiting import wait_deployment
from tests.support.engine_world import client
from tests.support.shapes import check_output


def test_codedeploy_rolls_back_with_a_deployment_of_its_own(world_factory):
    w = world_factory("p-cdrollback", on_failure=False, auto_rollback=True)
    good, summaries = w.good_then_broken(0.5)  # a rollback takes a while, as on AWS
    assert [s["status"] for s in summaries] == ["Failed", "Succeeded"]
    assert all(s["executionType"] == "STANDARD" for s in summaries)  # no stage rollback
    rollback, failed, good_deployment = w.deployments()
    assert failed["status"] == "Failed"
    assert failed["errorInformation"]["code"] == "HEALTH_CONSTRAINTS"
    # each end names the other, in AWS's words
    assert failed["rollbackInfo"] == {
        "rollbackDeploymentId": rollback["deploymentId"],
        "rollbackMessage": f"Deployment {failed['deploymentId']} terminated. Automatic rollback "
        f"is triggered with a DeploymentId {rollback['deploymentId']}.",
    }
    assert rollback["rollbackInfo"] == {
        "rollbackTriggeringDeploymentId": failed["deploymentId"],
        "rollbackMessage": f"Deployment {rollback['deploymentId']} is triggered to roll back "
        f"deployment {failed['deploymentId']}.",
    }
    assert rollback["creator"] == "codeDeployRollback"
    assert rollback["status"] == "Succeeded"
    assert rollback["revision"] == good_deployment["revision"] == failed["previousRevision"]
    assert re.fullmatch(r"d-[A-Z0-9]{9}", rollback["deploymentId"])
    assert w.runner.serving[w.asg_instance] == good
    # The Deploy action returned when its deployment failed, not when the rollback ended.
    actions = w.cp().list_action_executions(
        pipelineName=w.pipeline, filter={"pipelineExecutionId": summaries[0]["pipelineExecutionId"]}
    )["actionExecutionDetails"]
    deploy = next(a for a in actions if a["stageName"] == "Deploy")
    assert deploy["status"] == "Failed"
    assert deploy["output"]["executionResult"]["externalExecutionId"] == failed["deploymentId"]
    assert deploy["lastUpdateTime"] < rollback["completeTime"]
    assert rollback["createTime"] >= failed["completeTime"]
    target = client(w.emu, "codedeploy").get_deployment_instance(
        deploymentId=failed["deploymentId"], instanceId=w.asg_instance
    )
    failed_event = next(
        e for e in target["instanceSummary"]["lifecycleEvents"] if e["status"] == "Failed"
    )
    assert failed_event["diagnostics"]["errorCode"] == "ScriptFailed"
    for info in (failed, rollback):
        check_output("codedeploy", "GetDeployment", {"deploymentInfo": info})


def test_stage_rollback_reruns_only_the_stage(world_factory):
    w = world_factory("p-stagerollback", on_failure=True, auto_rollback=False)
    good, summaries = w.good_then_broken()
    rollback, failed, good_run = summaries
    assert failed["status"] == "Failed"
    assert rollback["executionType"] == "ROLLBACK"
    assert rollback["trigger"]["triggerType"] == "AutomatedRollback"
    target = rollback["rollbackMetadata"]["rollbackTargetPipelineExecutionId"]
    assert target == good_run["pipelineExecutionId"]
    assert rollback["status"] == "Succeeded"
    assert rollback["sourceRevisions"][0]["revisionId"] == good
    assert w.runner.serving[w.asg_instance] == good
    actions = w.cp().list_action_executions(
        pipelineName=w.pipeline, filter={"pipelineExecutionId": rollback["pipelineExecutionId"]}
    )
    assert [a["stageName"] for a in actions["actionExecutionDetails"]] == ["Deploy"]
    assert "codeDeployRollback" not in [d["creator"] for d in w.deployments()]


def test_both_rollback_layers_collide_on_the_deployment_group(world_factory):
    """The group's automatic rollback and the stage's OnFailure ROLLBACK both answer one failed
    deployment: CodeDeploy's rollback deployment is active when the pipeline's ROLLBACK
    execution calls CreateDeployment on the same group, so that execution fails (one active
    deployment per group). Why the templates keep only CodeDeploy's layer."""
    w = world_factory("p-bothlayers", on_failure=True, auto_rollback=True)
    good, summaries = w.good_then_broken(1.0)
    rollback_run, failed_run, _ = summaries
    assert failed_run["status"] == "Failed"
    assert rollback_run["executionType"] == "ROLLBACK"
    assert rollback_run["status"] == "Failed"
    actions = w.cp().list_action_executions(
        pipelineName=w.pipeline,
        filter={"pipelineExecutionId": rollback_run["pipelineExecutionId"]},
    )["actionExecutionDetails"]
    error = actions[0]["output"]["executionResult"]["errorDetails"]["message"]
    cd_rollback = next(d for d in w.deployments() if d["creator"] == "codeDeployRollback")
    assert error == (
        f"The Deployment Group '{w.pipeline}-group' already has an active Deployment "
        f"'{cd_rollback['deploymentId']}'"
    )
    # CodeDeploy's rollback is unaffected and restores the good revision
    assert cd_rollback["status"] == "Succeeded"
    assert w.runner.serving[w.asg_instance] == good


def test_no_stage_rollback_before_the_stage_has_once_succeeded(world_factory):
    w = world_factory("p-firstfails", on_failure=True, auto_rollback=False)
    w.push({"BROKEN": "x"}, "broken first")
    summaries = w.wait_idle()
    assert [(s["status"], s["executionType"]) for s in summaries] == [("Failed", "STANDARD")]
    cp = w.cp()
    with pytest.raises(cp.exceptions.UnableToRollbackStageException):
        cp.rollback_stage(
            pipelineName=w.pipeline,
            stageName="Deploy",
            targetPipelineExecutionId=summaries[0]["pipelineExecutionId"],
        )


def test_rollback_stage_refusals_name_the_error_codepipeline_lists(world_factory):
    w = world_factory("p-refusals", on_failure=False, auto_rollback=False)
    w.push({"app.txt": "v1"}, "one")
    good = w.wait_idle()[0]["pipelineExecutionId"]
    cp = w.cp()

    def refused(stage: str, target: str) -> str:
        with pytest.raises(cp.exceptions.ClientError) as err:
            cp.rollback_stage(
                pipelineName=w.pipeline, stageName=stage, targetPipelineExecutionId=target
            )
        return err.value.response["Error"]["Code"]

    assert refused("Nope", good) == "StageNotFoundException"
    assert refused("Deploy", "00000000-0000-0000-0000-000000000000") == (
        "PipelineExecutionNotFoundException"
    )
    rollback_id = cp.rollback_stage(
        pipelineName=w.pipeline, stageName="Deploy", targetPipelineExecutionId=good
    )["pipelineExecutionId"]
    w.wait_idle()
    assert refused("Deploy", rollback_id) == "ValidationException"  # never to a rollback
    # the pipeline structure changes: runs of the earlier version are no longer targets
    cp.update_pipeline(pipeline=cp.get_pipeline(name=w.pipeline)["pipeline"])
    assert refused("Deploy", good) == "UnableToRollbackStageException"


def test_no_stage_rollback_in_parallel_mode(world_factory):
    w = world_factory("p-parallel", on_failure=True, auto_rollback=False, mode="PARALLEL")
    w.push({"app.txt": "v1"}, "good")
    good = w.wait_idle()[0]["pipelineExecutionId"]
    w.push({"BROKEN": "x"}, "broken")
    summaries = w.wait_idle()
    assert [s["executionType"] for s in summaries] == ["STANDARD", "STANDARD"]
    cp = w.cp()
    with pytest.raises(cp.exceptions.ValidationException):
        cp.rollback_stage(
            pipelineName=w.pipeline, stageName="Deploy", targetPipelineExecutionId=good
        )


def _bundle(commit: str) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("COMMIT", commit)
    return data.getvalue()


def test_a_deployment_created_through_the_api_runs(world_factory):
    w = world_factory("p-byhand", on_failure=False, auto_rollback=True)
    s3, cd = client(w.emu, "s3"), client(w.emu, "codedeploy")
    s3.put_object(Bucket=f"{w.pipeline}-artifacts", Key="by-hand.zip", Body=_bundle("c0ffee"))
    names = {"applicationName": f"{w.pipeline}-app", "deploymentGroupName": f"{w.pipeline}-group"}
    revision = {
        "revisionType": "S3",
        "s3Location": {
            "bucket": f"{w.pipeline}-artifacts",
            "key": "by-hand.zip",
            "bundleType": "zip",
        },
    }
    deployment_id = cd.create_deployment(
        **names, revision=revision, ignoreApplicationStopFailures=True
    )["deploymentId"]
    assert re.fullmatch(r"d-[A-Z0-9]{9}", deployment_id)
    info = wait_terminal(cd, deployment_id)
    assert info["status"] == "Succeeded" and info["creator"] == "user"
    assert info["startTime"] >= info["createTime"]
    assert w.runner.serving[w.asg_instance] == "c0ffee"
    assert w.runner.deploys[-1]["ignore_application_stop_failures"] is True
    assert cd.list_deployments(**names)["deployments"] == [deployment_id]
    # a revision that is not in S3 fails where the instance downloads it, as the agent reports
    missing = dict(revision, s3Location={**revision["s3Location"], "key": "gone.zip"})
    failed_id = cd.create_deployment(**names, revision=missing)["deploymentId"]
    failed = wait_terminal(cd, failed_id)
    assert failed["status"] == "Failed"
    assert "rollbackDeploymentId" in failed["rollbackInfo"]  # to the revision that succeeded
    event = cd.get_deployment_instance(deploymentId=failed_id, instanceId=w.asg_instance)[
        "instanceSummary"
    ]["lifecycleEvents"][0]
    assert event["lifecycleEventName"] == "DownloadBundle"
    assert event["diagnostics"]["errorCode"] == "UnknownError"
    assert event["diagnostics"]["message"] == "The specified key does not exist."
    rollback = wait_terminal(cd, failed["rollbackInfo"]["rollbackDeploymentId"])
    assert rollback["status"] == "Succeeded"
    assert rollback["revision"] == revision


def wait_terminal(cd, deployment_id: str) -> dict:
    return wait_deployment(cd, deployment_id, timeout=20, interval=0.05)["deploymentInfo"]
