"""The local pipeline engine against the running emulator, with definitions created through the
emulated APIs and in-process build/deploy runners (tests/support/engine_world.py), so each test
checks what the engine decides from the definition (stage order, onFailure, auto-rollback,
triggers) and what it records."""

from __future__ import annotations

import time

import pytest

from pipekit.emulator import records
from tests.support.engine_world import BUILD_ERROR, REGION, REPO, World, client
from tests.support.shapes import check_output


def test_push_runs_stages_in_order_and_records_shapes(world_factory):
    w = world_factory("p-order", on_failure=True, auto_rollback=True)
    sha = w.push({"app.txt": "v1"}, "first")
    summaries = w.wait_idle()
    assert summaries[0]["status"] == "Succeeded"
    assert summaries[0]["trigger"]["triggerType"] == "Webhook"
    assert summaries[0]["sourceRevisions"][0]["revisionId"] == sha
    assert w.runner.serving[w.asg_instance] == sha
    execution_id = summaries[0]["pipelineExecutionId"]
    assert w.runner.builds[-1]["PIPELINE_EXECUTION_ID"] == execution_id

    cp = w.cp()
    actions = cp.list_action_executions(
        pipelineName=w.pipeline, filter={"pipelineExecutionId": execution_id}
    )
    order = [
        a["stageName"]
        for a in sorted(actions["actionExecutionDetails"], key=lambda a: a["startTime"])
    ]
    assert order == ["Source", "Build", "Deploy"]
    source = next(a for a in actions["actionExecutionDetails"] if a["stageName"] == "Source")
    assert source["output"]["outputVariables"]["CommitId"] == sha
    build_action = next(a for a in actions["actionExecutionDetails"] if a["stageName"] == "Build")
    assert build_action["input"]["resolvedConfiguration"]["EnvironmentVariables"].count(sha) == 1
    assert build_action["output"]["outputVariables"] == {"IMAGE_TAG": sha[:7]}
    key = build_action["output"]["outputArtifacts"][0]["s3location"]["key"]
    assert key.startswith(f"{w.pipeline[:20]}/BuildOutput/")

    state = cp.get_pipeline_state(name=w.pipeline)
    assert [s["latestExecution"]["status"] for s in state["stageStates"]] == ["Succeeded"] * 3
    build_id = build_action["output"]["executionResult"]["externalExecutionId"]
    build = client(w.emu, "codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    assert build["buildStatus"] == "SUCCEEDED"
    assert build["resolvedSourceVersion"] == sha
    assert build["initiator"] == f"codepipeline/{w.pipeline}"
    assert {"name": "IMAGE_TAG", "value": sha[:7]} in build["exportedEnvironmentVariables"]
    log = client(w.emu, "logs").get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
    )
    assert [e["message"] for e in log["events"]] == ["built"]
    cd = client(w.emu, "codedeploy")
    deployment_id = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"][0]
    info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["status"] == "Succeeded" and info["creator"] == "user"
    assert cd.list_deployment_instances(deploymentId=deployment_id)["instancesList"] == [
        w.asg_instance
    ]

    # every response validates against its botocore output shape
    check_output(
        "codepipeline",
        "ListPipelineExecutions",
        cp.list_pipeline_executions(pipelineName=w.pipeline),
    )
    check_output(
        "codepipeline",
        "GetPipelineExecution",
        cp.get_pipeline_execution(pipelineName=w.pipeline, pipelineExecutionId=execution_id),
    )
    check_output("codepipeline", "ListActionExecutions", actions)
    check_output("codepipeline", "GetPipelineState", state)
    check_output(
        "codebuild", "BatchGetBuilds", client(w.emu, "codebuild").batch_get_builds(ids=[build_id])
    )
    check_output("codedeploy", "GetDeployment", cd.get_deployment(deploymentId=deployment_id))
    check_output(
        "codedeploy",
        "GetDeploymentInstance",
        cd.get_deployment_instance(deploymentId=deployment_id, instanceId=w.asg_instance),
    )
    check_output(
        "codedeploy",
        "BatchGetDeploymentTargets",
        cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=[w.asg_instance]),
    )


def test_no_rollback_when_the_definition_has_none(world_factory):
    w = world_factory("p-norollback", on_failure=False, auto_rollback=False)
    good, summaries = w.good_then_broken()
    assert [s["status"] for s in summaries] == ["Failed", "Succeeded"]
    assert all(s["executionType"] == "STANDARD" for s in summaries)
    cd = client(w.emu, "codedeploy")
    ids = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"]
    creators = [cd.get_deployment(deploymentId=i)["deploymentInfo"]["creator"] for i in ids]
    assert "codeDeployRollback" not in creators
    assert w.runner.serving[w.asg_instance] == good


def test_triggers_filter_pushes_by_file_path(world_factory):
    triggers = [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [
                    {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["app/**"]}}
                ],
            },
        }
    ]
    w = world_factory("p-triggers", on_failure=True, auto_rollback=True, triggers=triggers)
    w.push({"README.md": "docs"}, "docs only")
    time.sleep(0.5)
    assert (
        w.cp().list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"] == []
    )
    (w.clone / "app").mkdir()
    sha = w.push({"app/main.py": "print(1)"}, "app change")
    summaries = w.wait_idle()
    assert len(summaries) == 1
    assert summaries[0]["trigger"]["triggerType"] == "WebhookV2"
    assert summaries[0]["sourceRevisions"][0]["revisionId"] == sha


def test_manual_rollback_and_succeeded_in_stage_filter(world_factory):
    w = world_factory("p-manual", on_failure=False, auto_rollback=False)
    first = w.push({"app.txt": "v1"}, "one")
    w.wait_idle()
    w.push({"app.txt": "v2"}, "two")
    summaries = w.wait_idle()
    cp = w.cp()
    with pytest.raises(cp.exceptions.ClientError):
        cp.rollback_stage(
            pipelineName=w.pipeline,
            stageName="Source",
            targetPipelineExecutionId=summaries[1]["pipelineExecutionId"],
        )
    new_id = cp.rollback_stage(
        pipelineName=w.pipeline,
        stageName="Deploy",
        targetPipelineExecutionId=summaries[1]["pipelineExecutionId"],
    )["pipelineExecutionId"]
    w.wait_idle()
    execution = cp.get_pipeline_execution(pipelineName=w.pipeline, pipelineExecutionId=new_id)[
        "pipelineExecution"
    ]
    assert execution["trigger"]["triggerType"] == "ManualRollback"
    assert execution["status"] == "Succeeded"
    assert w.runner.serving[w.asg_instance] == first
    deployed = cp.list_pipeline_executions(
        pipelineName=w.pipeline, filter={"succeededInStage": {"stageName": "Deploy"}}
    )
    assert len(deployed["pipelineExecutionSummaries"]) == 3
    check_output("codepipeline", "RollbackStage", {"pipelineExecutionId": new_id})


def test_start_pipeline_execution_builds_branch_head(world_factory):
    w = world_factory("p-start", on_failure=False, auto_rollback=False)
    sha = w.push({"app.txt": "v1"}, "one")
    w.wait_idle()
    execution_id = w.cp().start_pipeline_execution(name=w.pipeline)["pipelineExecutionId"]
    w.wait_idle()
    execution = w.cp().get_pipeline_execution(
        pipelineName=w.pipeline, pipelineExecutionId=execution_id
    )["pipelineExecution"]
    assert execution["trigger"]["triggerType"] == "StartPipelineExecution"
    assert execution["artifactRevisions"][0]["revisionId"] == sha


def _push_no_wait(w: World, name: str, text: str) -> str:
    return w.push({name: text}, f"{name}={text}")


def test_superseded_mode_replaces_waiting_runs(world_factory):
    w = world_factory("p-superseded", on_failure=False, auto_rollback=False, mode="SUPERSEDED")
    first = _push_no_wait(w, "SLOW", "1.5")
    time.sleep(0.3)  # the first run is in Build now
    second = _push_no_wait(w, "app.txt", "2")
    third = _push_no_wait(w, "app.txt", "3")
    summaries = w.wait_idle()
    by_commit = {
        s["sourceRevisions"][0]["revisionId"] if s["sourceRevisions"] else None: s
        for s in summaries
    }
    statuses = {s["pipelineExecutionId"]: s["status"] for s in summaries}
    assert by_commit[first]["status"] == "Succeeded"
    assert by_commit[third]["status"] == "Succeeded"
    superseded = [s for s in summaries if s["status"] == "Superseded"]
    assert len(superseded) == 1 and not superseded[0]["sourceRevisions"]  # never started
    assert second not in by_commit
    assert w.runner.serving[w.asg_instance] == third
    assert len(statuses) == 3


def test_queued_mode_runs_every_push_in_order(world_factory):
    w = world_factory("p-queued", on_failure=False, auto_rollback=False, mode="QUEUED")
    commits = [_push_no_wait(w, "SLOW", "0.5")]
    commits += [_push_no_wait(w, "app.txt", str(i)) for i in range(2)]
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Succeeded"] * 3
    assert [s["sourceRevisions"][0]["revisionId"] for s in reversed(summaries)] == commits
    assert w.runner.serving[w.asg_instance] == commits[-1]


def test_stop_execution_stops_at_the_next_stage(world_factory):
    w = world_factory("p-stop", on_failure=False, auto_rollback=False)
    _push_no_wait(w, "SLOW", "1.0")
    time.sleep(0.3)
    cp = w.cp()
    running = cp.list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"][0]
    cp.stop_pipeline_execution(
        pipelineName=w.pipeline, pipelineExecutionId=running["pipelineExecutionId"], reason="test"
    )
    assert (
        cp.get_pipeline_execution(
            pipelineName=w.pipeline, pipelineExecutionId=running["pipelineExecutionId"]
        )["pipelineExecution"]["status"]
        == "Stopping"
    )
    summaries = w.wait_idle()
    assert summaries[0]["status"] == "Stopped"
    assert w.asg_instance not in w.runner.serving  # Deploy never ran


def test_failed_build_fails_the_run_without_deploying(world_factory):
    w = world_factory("p-buildfail", on_failure=True, auto_rollback=True)
    w.push({"FAIL_BUILD": "x"}, "bad build")
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Failed"]
    actions = w.cp().list_action_executions(pipelineName=w.pipeline)["actionExecutionDetails"]
    build_action = next(a for a in actions if a["stageName"] == "Build")
    assert build_action["status"] == "Failed"
    # CodePipeline's summary of a failed CodeBuild action names the failed phase (not the
    # skipped ones after it), the phase context's code and its message with the command
    assert build_action["output"]["executionResult"]["externalExecutionSummary"] == (
        "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, "
        f"Message: {BUILD_ERROR}"
    )
    build_id = build_action["output"]["executionResult"]["externalExecutionId"]
    response = client(w.emu, "codebuild").batch_get_builds(ids=[build_id])
    check_output("codebuild", "BatchGetBuilds", response)
    assert response["builds"][0]["buildStatus"] == "FAILED"
    assert not any(a["stageName"] == "Deploy" for a in actions)
    assert w.asg_instance not in w.runner.serving


def test_recreated_pipeline_starts_without_history(world_factory):
    w = world_factory("p-recreate", on_failure=False, auto_rollback=False)
    w.push({"app.txt": "v1"}, "one")
    w.wait_idle()
    cp = w.cp()
    definition = cp.get_pipeline(name=w.pipeline)["pipeline"]
    cp.delete_pipeline(name=w.pipeline)
    definition.pop("version", None)
    cp.create_pipeline(pipeline=definition)
    assert cp.list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"] == []
    state = cp.get_pipeline_state(name=w.pipeline)
    assert all("latestExecution" not in s for s in state["stageStates"])


def test_deployment_group_reports_last_deployments(world_factory):
    w = world_factory("p-lastdep", on_failure=False, auto_rollback=False)
    w.good_then_broken()
    cd = client(w.emu, "codedeploy")
    ids = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"]
    infos = [cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
    good = next(i for i in infos if i["status"] == "Succeeded")
    bad = next(i for i in infos if i["status"] == "Failed")
    group = cd.get_deployment_group(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deploymentGroupInfo"]
    assert group["lastSuccessfulDeployment"]["deploymentId"] == good["deploymentId"]
    assert group["lastAttemptedDeployment"]["deploymentId"] == bad["deploymentId"]
    assert group["lastAttemptedDeployment"]["status"] == "Failed"


def test_recreated_deployment_group_has_no_history(world_factory):
    w = world_factory("p-regroup", on_failure=False, auto_rollback=True)
    w.push({"app.txt": "v1"}, "good")
    w.wait_idle()
    cd = client(w.emu, "codedeploy")
    names = {"applicationName": f"{w.pipeline}-app", "deploymentGroupName": f"{w.pipeline}-group"}
    group = cd.get_deployment_group(**names)["deploymentGroupInfo"]
    assert "deploymentId" in group["lastSuccessfulDeployment"]
    # moto has no DeleteDeploymentGroup; drop it the way a CloudFormation delete does
    from moto.codedeploy.models import codedeploy_backends

    codedeploy_backends["123456789012"][REGION].deployment_groups[f"{w.pipeline}-app"].pop(
        f"{w.pipeline}-group"
    )
    cd.create_deployment_group(
        **names,
        serviceRoleArn=group["serviceRoleArn"],
        autoScalingGroups=[f"{w.pipeline}-asg"],
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
    )
    assert cd.list_deployments(**names)["deployments"] == []
    # with no last good revision in the new group, a failure has nothing to roll back to
    w.push({"BROKEN": "x"}, "broken")
    w.wait_idle()
    ids = cd.list_deployments(**names)["deployments"]
    infos = [cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
    assert [i["status"] for i in infos] == ["Failed"]
    assert "previousRevision" not in infos[0]
    assert "rollbackDeploymentId" not in infos[0].get("rollbackInfo", {})


def test_without_an_engine_moto_keeps_its_own_behaviour(world_factory):
    w = world_factory("p-noengine", on_failure=False, auto_rollback=False)
    records.set_controller(None)
    cp = w.cp()
    execution_id = cp.start_pipeline_execution(name=w.pipeline)["pipelineExecutionId"]
    listed = cp.list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in listed] == [execution_id]
    got = cp.get_pipeline_execution(pipelineName=w.pipeline, pipelineExecutionId=execution_id)
    assert got["pipelineExecution"]["pipelineExecutionId"] == execution_id
    with pytest.raises(cp.exceptions.ClientError):
        cp.rollback_stage(
            pipelineName=w.pipeline, stageName="Deploy", targetPipelineExecutionId=execution_id
        )
    check_output("codepipeline", "ListPipelineExecutions", {"pipelineExecutionSummaries": listed})


def test_no_rollback_to_an_earlier_pipeline_structure(world_factory):
    w = world_factory("p-version", on_failure=True, auto_rollback=False)
    w.push({"app.txt": "v1"}, "good")
    good = w.wait_idle()[0]
    cp = w.cp()
    definition = cp.get_pipeline(name=w.pipeline)["pipeline"]
    cp.update_pipeline(pipeline=definition)  # version 2
    with pytest.raises(cp.exceptions.ClientError):
        cp.rollback_stage(
            pipelineName=w.pipeline,
            stageName="Deploy",
            targetPipelineExecutionId=good["pipelineExecutionId"],
        )
    w.push({"BROKEN": "x"}, "broken")
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Failed", "Succeeded"]
    assert all(s["executionType"] == "STANDARD" for s in summaries)


def test_local_up_learns_why_the_first_run_did_not_deploy(world_factory):
    from pipekit.local.lifecycle import first_run_failure
    from pipekit.local.state import LocalStack

    w = world_factory("p-firstfail", on_failure=True, auto_rollback=True)
    stack = LocalStack(
        state_dir="/nonexistent",
        endpoint_url=w.emu.endpoint_url,
        region=REGION,
        stack_name="s",
        app_url="http://127.0.0.1:1/",
        app_port=1,
        port=1,
        control_port=1,
        service_pid=0,
        git_remote="",
        repository=REPO,
        branch="main",
        pipeline_name=w.pipeline,
    )
    assert first_run_failure(stack) is None  # no run yet
    w.push({"FAIL_BUILD": "x"}, "bad build")
    w.wait_idle()
    reason = first_run_failure(stack)
    assert reason is not None
    assert "ended Failed in Build/Build" in reason


def test_a_crashed_agent_fails_the_instance_at_download_bundle(world_factory, monkeypatch):
    """When the agent's run itself crashes (not a hook), the instance fails at its first event,
    DownloadBundle, with UnknownError and the crash as the message, and the deployment fails."""
    w = world_factory("p-crash", on_failure=False, auto_rollback=False)

    def crash(*args, **kwargs):
        raise RuntimeError("the agent fell over")

    monkeypatch.setattr(w.engine.deployer.runners, "deploy", crash)
    w.push({"app.txt": "v1"}, "crash")
    assert [s["status"] for s in w.wait_idle()] == ["Failed"]
    (deployment,) = w.deployments()
    assert deployment["errorInformation"]["code"] == "HEALTH_CONSTRAINTS"
    cd = client(w.emu, "codedeploy")
    response = cd.batch_get_deployment_targets(
        deploymentId=deployment["deploymentId"], targetIds=[w.asg_instance]
    )
    check_output("codedeploy", "BatchGetDeploymentTargets", response)
    target = response["deploymentTargets"][0]["instanceTarget"]
    assert target["status"] == "Failed"
    assert target["lifecycleEvents"] == [
        {
            "lifecycleEventName": "DownloadBundle",
            "status": "Failed",
            "diagnostics": {
                "errorCode": "UnknownError",
                "scriptName": "",
                "message": "the agent fell over",
                "logTail": "",
            },
        }
    ]
