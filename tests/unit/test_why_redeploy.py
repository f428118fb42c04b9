"""`why` and `redeploy`: each verdict and each bad input on responses the botocore models accept
(Stubber), and the CLI's one sentence for what the user must fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from botocore.stub import ANY

from pipekit import cli
from pipekit.errors import UserError
from pipekit.harness import config
from pipekit.harness import diagnosis as dx
from pipekit.harness.explain import diagnose, select_run, status_cause
from pipekit.harness.redeploy import bundle_of_commit, redeploy
from pipekit.harness.why import show_why
from tests.support.harness import STACK_ID, StubbedClients, env_for, make_project

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "why.schema.json").read_text()
)
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
GOOD = "1111111111111111111111111111111111111111"
BAD_STOP = "2222222222222222222222222222222222222222"
TRAPPED = "3333333333333333333333333333333333333333"
BUCKET = "pipekit-dev-artifacts"
OUTPUTS = {
    "PipelineName": "pipekit-dev-pipeline",
    "BuildProjectName": "pipekit-dev-build",
    "CodeDeployApplicationName": "pipekit-dev-app",
    "DeploymentGroupName": "pipekit-dev-group",
    "ConnectionArn": "arn:aws:codeconnections:eu-west-1:111122223333:connection/abcd-1234",
}
STOP_MESSAGE = (
    "Script at specified location: scripts/application_stop.sh run as user root failed with "
    "exit code 1"
)


@pytest.fixture
def env(tmp_path):
    return env_for(make_project(tmp_path))


def key(commit: str) -> str:
    return f"pipekit-dev-pipeline/BuildOutput/{commit[:7]}"


def revision(commit: str) -> dict:
    return {"revisionType": "S3", "s3Location": {"bucket": BUCKET, "key": key(commit)}}


def summary(execution_id: str, status: str, commit: str, minutes: int = 0, **extra) -> dict:
    return {
        "pipelineExecutionId": execution_id,
        "status": status,
        "startTime": T0 + timedelta(minutes=minutes),
        "sourceRevisions": [{"actionName": "Source", "revisionId": commit}],
        **extra,
    }


def action(stage: str, category: str, status: str, external_id: str, message: str = "") -> dict:
    result = {"externalExecutionId": external_id}
    if message:
        result["errorDetails"] = {"code": "JobFailed", "message": message}
    return {
        "pipelineExecutionId": "e-failed",
        "stageName": stage,
        "actionName": stage,
        "startTime": T0,
        "lastUpdateTime": T0,
        "status": status,
        "input": {
            "actionTypeId": {
                "category": category,
                "owner": "AWS",
                "provider": {"Build": "CodeBuild", "Deploy": "CodeDeploy"}.get(
                    category, "CodeStarSourceConnection"
                ),
                "version": "1",
            }
        },
        "output": {"executionResult": result},
    }


def build(commit: str, status: str = "SUCCEEDED", *, artifact: bool = True, **extra) -> dict:
    record = {
        "id": f"pipekit-dev-build:{commit[:8]}",
        "buildStatus": status,
        "exportedEnvironmentVariables": [{"name": "COMMIT_ID", "value": commit}],
        **extra,
    }
    if artifact:
        record["artifacts"] = {"location": f"arn:aws:s3:::{BUCKET}/{key(commit)}"}
    return record


def target(deployment_id: str, events: list[dict]) -> dict:
    return {
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {
            "deploymentId": deployment_id,
            "targetId": "i-0abc",
            "status": "Failed",
            "lifecycleEvents": events,
        },
    }


def failed_event(name: str, code: str, message: str, script: str = "", tail: str = "") -> dict:
    diagnostics = {"errorCode": code, "message": message, "logTail": tail}
    if script:
        diagnostics["scriptName"] = script
    return {"lifecycleEventName": name, "status": "Failed", "diagnostics": diagnostics}


def stub_targets(clients, deployment_id: str, events: list[dict]) -> None:
    cd = clients.stub("codedeploy")
    cd.add_response(
        "list_deployment_targets", {"targetIds": ["i-0abc"]}, {"deploymentId": deployment_id}
    )
    cd.add_response(
        "batch_get_deployment_targets",
        {"deploymentTargets": [target(deployment_id, events)]},
        {"deploymentId": deployment_id, "targetIds": ["i-0abc"]},
    )


def deployment(deployment_id: str, status: str, commit: str, minutes: int, **extra) -> dict:
    return {
        "deploymentId": deployment_id,
        "status": status,
        "createTime": T0 + timedelta(minutes=minutes),
        "revision": revision(commit),
        **extra,
    }


def stub_describe(clients, status: str = "UPDATE_COMPLETE", outputs=OUTPUTS, times: int = 2):
    for _ in range(times):
        clients.stub("cloudformation").add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "pipekit-dev",
                        "StackId": STACK_ID,
                        "CreationTime": T0,
                        "StackStatus": status,
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                    }
                ]
            },
            {"StackName": "pipekit-dev"},
        )


def stub_actions(clients, details: list[dict]) -> None:
    clients.stub("codepipeline").add_response(
        "list_action_executions",
        {"actionExecutionDetails": details},
        {"pipelineName": OUTPUTS["PipelineName"], "filter": {"pipelineExecutionId": "e-failed"}},
    )


def stub_builds(clients, builds: list[dict]) -> None:
    cb = clients.stub("codebuild")
    cb.add_response(
        "list_builds_for_project",
        {"ids": [b["id"] for b in builds]},
        {"projectName": OUTPUTS["BuildProjectName"], "sortOrder": "DESCENDING"},
    )
    cb.add_response("batch_get_builds", {"builds": builds}, {"ids": [b["id"] for b in builds]})


# ---- which run ----------------------------------------------------------------------------------


def test_select_run_latest_failed_or_named_by_id_prefix_or_commit():
    runs = [
        summary("e3-running", "InProgress", TRAPPED, 3),
        summary("e2-failed", "Failed", BAD_STOP, 2),
        summary("e1-rollback", "Succeeded", GOOD, 1, executionType="ROLLBACK"),
        summary("e0-failed", "Failed", GOOD, 0),
    ]
    assert select_run(runs)["pipelineExecutionId"] == "e2-failed"
    assert select_run(runs, execution="e0")["pipelineExecutionId"] == "e0-failed"
    # a rollback execution reuses an older run's revision: never a commit's own run
    assert select_run(runs, commit=GOOD[:8])["pipelineExecutionId"] == "e0-failed"
    assert select_run(runs, execution="nope") is None
    assert select_run(runs[:1]) is None


# ---- a failing build ----------------------------------------------------------------------------


def test_a_failed_build_names_its_phase_command_and_last_log_line(env):
    clients = StubbedClients()
    command = "python3 -m pytest app/tests -q -p no:cacheprovider"
    stub_actions(
        clients,
        [
            action("Source", "Source", "Succeeded", GOOD),
            action("Build", "Build", "Failed", "pipekit-dev-build:b1", "Build terminated"),
        ],
    )
    failed = {
        "id": "pipekit-dev-build:b1",
        "buildStatus": "FAILED",
        "phases": [
            {"phaseType": "INSTALL", "phaseStatus": "SUCCEEDED"},
            {
                "phaseType": "PRE_BUILD",
                "phaseStatus": "FAILED",
                "contexts": [
                    {
                        "statusCode": "COMMAND_EXECUTION_ERROR",
                        "message": f"Error while executing command: {command}. Reason: exit "
                        "status 1",
                    }
                ],
            },
        ],
        "logs": {"groupName": "/aws/codebuild/pipekit-dev-build", "streamName": "b1"},
    }
    clients.stub("codebuild").add_response(
        "batch_get_builds", {"builds": [failed]}, {"ids": ["pipekit-dev-build:b1"]}
    )
    clients.stub("logs").add_response(
        "get_log_events",
        {
            "events": [
                {"timestamp": 1, "message": "FAILED app/tests/test_app.py::test_home\n"},
                {"timestamp": 2, "message": "1 failed, 6 passed in 0.42s\n"},
            ]
        },
        {
            "logGroupName": "/aws/codebuild/pipekit-dev-build",
            "logStreamName": "b1",
            "limit": 20,
            "startFromHead": False,
        },
    )
    d = diagnose(clients, env, OUTPUTS, summary("e-failed", "Failed", GOOD))
    clients.assert_done()
    assert dx.failing_command(dx.failed_phase(d.build)) == command
    assert d.log_tail[-1] == "1 failed, 6 passed in 0.42s"
    data = dx.to_json(d)
    jsonschema.validate(data, SCHEMA)
    assert data["execution"]["build"]["command"] == command
    assert dx.headline(d) == (
        f"run e-failed failed in Build/Build: PRE_BUILD phase: `{command}` failed"
    )
    assert d.trap is None


# ---- the ApplicationStop trap -------------------------------------------------------------------


def test_a_deployment_failing_in_application_stop_is_the_trap_with_the_command_out(env):
    clients = StubbedClients()
    stub_actions(
        clients,
        [
            action("Source", "Source", "Succeeded", TRAPPED),
            action("Build", "Build", "Succeeded", "pipekit-dev-build:b3"),
            action("Deploy", "Deploy", "Failed", "d-TRAPPED1", "Deployment d-TRAPPED1 failed"),
        ],
    )
    cd = clients.stub("codedeploy")
    cd.add_response(
        "get_deployment",
        {
            "deploymentInfo": deployment(
                "d-TRAPPED1",
                "Failed",
                TRAPPED,
                3,
                errorInformation={"code": "HEALTH_CONSTRAINTS", "message": "too few healthy"},
                rollbackInfo={"rollbackDeploymentId": "d-ROLLBACK"},
            )
        },
        {"deploymentId": "d-TRAPPED1"},
    )
    stop = failed_event(
        "ApplicationStop",
        "ScriptFailed",
        STOP_MESSAGE,
        "scripts/application_stop.sh",
        "[stderr]ApplicationStop deliberately broken\n",
    )
    stub_targets(clients, "d-TRAPPED1", [stop])
    cd.add_response(
        "get_deployment",
        {
            "deploymentInfo": deployment(
                "d-ROLLBACK",
                "Failed",
                BAD_STOP,
                4,
                creator="codeDeployRollback",
                errorInformation={"code": "HEALTH_CONSTRAINTS", "message": "too few healthy"},
            )
        },
        {"deploymentId": "d-ROLLBACK"},
    )
    # the last good revision: the Succeeded deployment before the live (broken-stop) one
    cd.add_response(
        "list_deployments",
        {"deployments": ["d-ROLLBACK", "d-TRAPPED1", "d-BADSTOP1", "d-GOOD0001"]},
        {"applicationName": OUTPUTS["CodeDeployApplicationName"], "deploymentGroupName": ANY},
    )
    cd.add_response(
        "batch_get_deployments",
        {
            "deploymentsInfo": [
                deployment("d-ROLLBACK", "Failed", BAD_STOP, 4),
                deployment("d-TRAPPED1", "Failed", TRAPPED, 3),
                deployment("d-BADSTOP1", "Succeeded", BAD_STOP, 2),
                deployment("d-GOOD0001", "Succeeded", GOOD, 1),
            ]
        },
        {"deploymentIds": ["d-ROLLBACK", "d-TRAPPED1", "d-BADSTOP1", "d-GOOD0001"]},
    )
    stub_builds(clients, [build(TRAPPED), build(BAD_STOP), build(GOOD)])
    d = diagnose(clients, env, OUTPUTS, summary("e-failed", "Failed", TRAPPED))
    clients.assert_done()
    assert d.trap is not None and d.trap.name == "the ApplicationStop trap"
    assert d.trap.command == (
        'make redeploy ENV=dev ARGS="--commit 111111111111 --ignore-application-stop-failures"'
    )
    assert "the live revision (commit 222222222222)'s scripts/application_stop.sh fails" in (
        d.trap.explanation
    )
    assert dx.headline(d) == (
        "run e-failed failed in Deploy/Deploy: ApplicationStop failed on i-0abc "
        "(scripts/application_stop.sh): [stderr]ApplicationStop deliberately broken "
        "[the ApplicationStop trap]"
    )
    assert dx.rollback_summary(d.deployment, d.rollback) == (
        "rolled back by d-ROLLBACK (codeDeployRollback): Failed: too few healthy"
    )
    data = dx.to_json(d)
    jsonschema.validate(data, SCHEMA)
    assert data["execution"]["trap"]["command"] == d.trap.command
    assert data["execution"]["deployment"]["failed_events"][0]["event"] == "ApplicationStop"


def test_a_validate_service_failure_is_no_trap():
    events = dx.failed_lifecycle_events(
        [target("d-1", [failed_event("ValidateService", "ScriptFailed", "exit code 1")])]
    )
    assert not dx.is_application_stop_trap(events) and not dx.is_expired_bundle(events)


def test_an_expired_bundle_at_download_bundle_is_named_with_the_way_out(env):
    clients = StubbedClients()
    stub_actions(clients, [action("Deploy", "Deploy", "Failed", "d-EXPIRED1", "failed")])
    clients.stub("codedeploy").add_response(
        "get_deployment",
        {"deploymentInfo": deployment("d-EXPIRED1", "Failed", GOOD, 0)},
        {"deploymentId": "d-EXPIRED1"},
    )
    stub_targets(
        clients,
        "d-EXPIRED1",
        [failed_event("DownloadBundle", "UnknownError", "The specified key does not exist.")],
    )
    d = diagnose(clients, env, OUTPUTS, summary("e-failed", "Failed", GOOD))
    clients.assert_done()
    assert d.trap is not None and d.trap.name == "an expired bundle"
    assert d.trap.command == "aws codepipeline start-pipeline-execution --name pipekit-dev-pipeline"
    assert dx.rollback_summary(d.deployment, None) == "not rolled back"


def test_a_pending_connection_fails_the_source_with_the_console_step(env):
    clients = StubbedClients()
    stub_actions(clients, [action("Source", "Source", "Failed", "", "connection not available")])
    clients.stub("codeconnections").add_response(
        "get_connection",
        {
            "Connection": {
                "ConnectionArn": OUTPUTS["ConnectionArn"],
                "ConnectionStatus": "PENDING",
            }
        },
        {"ConnectionArn": OUTPUTS["ConnectionArn"]},
    )
    d = diagnose(clients, env, OUTPUTS, summary("e-failed", "Failed", GOOD))
    clients.assert_done()
    assert d.trap is not None and d.trap.name == "a PENDING connection"
    assert "Update pending connection" in d.trap.command
    assert "eu-west-1.console.aws.amazon.com/codesuite/settings/connections" in d.trap.command


def test_status_names_the_cause_and_points_to_why(env):
    clients = StubbedClients()
    stub_actions(clients, [action("Deploy", "Deploy", "Failed", "d-EXPIRED1", "failed")])
    clients.stub("codedeploy").add_response(
        "get_deployment",
        {"deploymentInfo": deployment("d-EXPIRED1", "Failed", GOOD, 0)},
        {"deploymentId": "d-EXPIRED1"},
    )
    stub_targets(
        clients, "d-EXPIRED1", [failed_event("ApplicationStop", "ScriptFailed", STOP_MESSAGE)]
    )
    line = status_cause(clients, env, OUTPUTS, {"pipelineExecutionId": "e-failed"})
    clients.assert_done()  # no history read for the trap's command: one line is enough
    assert line.startswith("run e-failed failed in Deploy/Deploy: ApplicationStop failed")
    assert line.endswith("[the ApplicationStop trap]; details: `make why ENV=dev`")


def test_why_with_an_unknown_execution_or_no_stack_says_so(env, capsys):
    clients = StubbedClients()
    stub_describe(clients)
    clients.stub("codepipeline").add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [summary("e-ok", "Succeeded", GOOD)]},
        {"pipelineName": OUTPUTS["PipelineName"], "maxResults": 50},
    )
    with pytest.raises(UserError, match=r"no run of execution e-nope among the last 50 runs"):
        show_why(env, clients, execution="e-nope")
    clients.assert_done()
    missing = StubbedClients()
    missing.stub("cloudformation").add_client_error(
        "describe_stacks", "ValidationError", "Stack with id pipekit-dev does not exist"
    )
    with pytest.raises(UserError, match="the stack pipekit-dev does not exist"):
        show_why(env, missing)


def test_why_with_nothing_failed_says_so(env, capsys):
    clients = StubbedClients()
    stub_describe(clients)
    clients.stub("codepipeline").add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [summary("e-ok", "Succeeded", GOOD)]},
        {"pipelineName": OUTPUTS["PipelineName"], "maxResults": 50},
    )
    assert show_why(env, clients) is None
    assert "No failed run among the last 1 runs" in capsys.readouterr().out


# ---- redeploy -----------------------------------------------------------------------------------


def test_bundle_of_commit_refuses_a_commit_never_built_or_whose_build_failed():
    builds = [build(TRAPPED), build(BAD_STOP, "FAILED", artifact=False), build(GOOD)]
    assert bundle_of_commit(builds, GOOD[:7], "p")["id"] == build(GOOD)["id"]
    with pytest.raises(UserError, match=r"commit 4444444 never built in p \(its last 3 builds\)"):
        bundle_of_commit(builds, "4444444", "p")
    with pytest.raises(UserError, match=r"ended FAILED: there is no bundle to deploy"):
        bundle_of_commit(builds, BAD_STOP[:10], "p")


def stub_redeploy_start(clients, active: list[str] | None = None) -> None:
    stub_describe(clients)
    clients.stub("codedeploy").add_response(
        "list_deployments",
        {"deployments": active or []},
        {
            "applicationName": OUTPUTS["CodeDeployApplicationName"],
            "deploymentGroupName": OUTPUTS["DeploymentGroupName"],
            "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"],
        },
    )


def bundle_revision(commit: str) -> dict:
    rev = revision(commit)
    rev["s3Location"]["bundleType"] = "zip"
    return rev


def test_redeploy_deploys_the_commits_bundle_ignoring_stop_failures(env, capsys):
    clients = StubbedClients()
    stub_redeploy_start(clients)
    stub_builds(clients, [build(BAD_STOP), build(GOOD)])
    clients.stub("s3").add_response(
        "head_object", {"ContentLength": 10}, {"Bucket": BUCKET, "Key": key(GOOD)}
    )
    cd = clients.stub("codedeploy")
    cd.add_response(
        "create_deployment",
        {"deploymentId": "d-REDEPLOY1"},
        {
            "applicationName": OUTPUTS["CodeDeployApplicationName"],
            "deploymentGroupName": OUTPUTS["DeploymentGroupName"],
            "revision": bundle_revision(GOOD),
            "description": ANY,
            "ignoreApplicationStopFailures": True,
        },
    )
    cd.add_response(
        "get_deployment",
        {"deploymentInfo": deployment("d-REDEPLOY1", "Succeeded", GOOD, 5)},
        {"deploymentId": "d-REDEPLOY1"},
    )
    stop = failed_event("ApplicationStop", "ScriptFailed", STOP_MESSAGE)
    stub_targets(clients, "d-REDEPLOY1", [stop])
    info = redeploy(env, clients, commit=GOOD[:12], ignore_application_stop_failures=True)
    clients.assert_done()
    assert info["status"] == "Succeeded"
    out = capsys.readouterr().out
    assert "Deploying commit 111111111111 (build pipekit-dev-build:11111111)" in out
    assert f"i-0abc: ApplicationStop Failed ({STOP_MESSAGE})" in out


def test_redeploy_without_a_commit_deploys_the_live_revision(env, capsys):
    clients = StubbedClients()
    stub_redeploy_start(clients)
    cd = clients.stub("codedeploy")
    names = {
        "applicationName": OUTPUTS["CodeDeployApplicationName"],
        "deploymentGroupName": OUTPUTS["DeploymentGroupName"],
    }
    cd.add_response(
        "get_deployment_group",
        {
            "deploymentGroupInfo": {
                **names,
                "lastSuccessfulDeployment": {"deploymentId": "d-GOOD0001", "status": "Succeeded"},
            }
        },
        names,
    )
    live = revision(GOOD)
    live["s3Location"].update(bundleType="zip", eTag="abc123")  # as the pipeline's action sets it
    cd.add_response(
        "get_deployment",
        {"deploymentInfo": {**deployment("d-GOOD0001", "Succeeded", GOOD, 1), "revision": live}},
        {"deploymentId": "d-GOOD0001"},
    )
    stub_builds(clients, [build(GOOD)])
    clients.stub("s3").add_response(
        "head_object", {"ContentLength": 10}, {"Bucket": BUCKET, "Key": key(GOOD)}
    )
    cd.add_response(
        "create_deployment",
        {"deploymentId": "d-REDEPLOY2"},
        {**names, "revision": live, "description": ANY, "ignoreApplicationStopFailures": False},
    )
    cd.add_response(
        "get_deployment",
        {"deploymentInfo": deployment("d-REDEPLOY2", "Succeeded", GOOD, 5)},
        {"deploymentId": "d-REDEPLOY2"},
    )
    stub_targets(clients, "d-REDEPLOY2", [])
    assert redeploy(env, clients)["status"] == "Succeeded"
    clients.assert_done()
    assert "Deploying the live revision, commit 111111111111 (deployment d-GOOD0001)" in (
        capsys.readouterr().out
    )


def test_redeploy_refuses_an_expired_bundle_and_changes_nothing(env):
    clients = StubbedClients()
    stub_redeploy_start(clients)
    stub_builds(clients, [build(GOOD)])
    # HeadObject has no body: botocore reports S3's NoSuchKey as the HTTP status
    clients.stub("s3").add_client_error(
        "head_object",
        service_error_code="404",
        service_message="Not Found",
        http_status_code=404,
        expected_params={"Bucket": BUCKET, "Key": key(GOOD)},
    )
    with pytest.raises(UserError, match=r"has expired from the artifact bucket"):
        redeploy(env, clients, commit=GOOD)
    clients.assert_done()  # and no create_deployment was stubbed: a call would have failed


def test_redeploy_refuses_while_a_deployment_is_in_progress(env):
    clients = StubbedClients()
    stub_redeploy_start(clients, active=["d-RUNNING1"])
    with pytest.raises(UserError) as err:
        redeploy(env, clients, commit=GOOD)
    assert str(err.value) == (
        "deployment d-RUNNING1 is still in progress on the deployment group pipekit-dev-group "
        "(CodeDeploy runs one deployment at a time per group): wait for it to end "
        "(`make status ENV=dev`), then run this again"
    )
    clients.assert_done()


def test_redeploy_names_the_deployment_that_won_the_race(env):
    clients = StubbedClients()
    stub_redeploy_start(clients)
    stub_builds(clients, [build(GOOD)])
    clients.stub("s3").add_response("head_object", {}, {"Bucket": BUCKET, "Key": key(GOOD)})
    clients.stub("codedeploy").add_client_error(
        "create_deployment",
        service_error_code="DeploymentLimitExceededException",
        service_message="The Deployment Group 'pipekit-dev-group' already has an active "
        "Deployment 'd-RACE00001'",
        http_status_code=400,
    )
    with pytest.raises(UserError, match=r"deployment d-RACE00001 is still in progress"):
        redeploy(env, clients, commit=GOOD)


def test_redeploy_refuses_a_stack_not_deployed_and_a_bad_sha(env):
    clients = StubbedClients()
    clients.stub("cloudformation").add_client_error(
        "describe_stacks", "ValidationError", "Stack with id pipekit-dev does not exist"
    )
    with pytest.raises(UserError, match=r"the stack pipekit-dev does not exist: deploy it"):
        redeploy(env, clients)
    clients = StubbedClients()
    stub_redeploy_start(clients)
    with pytest.raises(UserError, match=r"'main' is not a commit SHA"):
        redeploy(env, clients, commit="main")


@pytest.mark.parametrize("command", ["why", "redeploy"])
def test_cli_unknown_environment_is_one_sentence(tmp_path, monkeypatch, capsys, command):
    monkeypatch.setattr(config, "PROJECT_ROOT", make_project(tmp_path))
    monkeypatch.setattr(cli, "COMMANDS", ["why", "redeploy"])
    assert cli.main([command, "--env", "staging"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown environment 'staging'") and "Traceback" not in err


def test_status_shows_the_latest_failed_runs_cause(env, capsys):
    from pipekit.harness.status import show_status

    clients = StubbedClients()
    stub_describe(clients, outputs={"PipelineName": OUTPUTS["PipelineName"]})
    cp = clients.stub("codepipeline")
    cp.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [summary("e-failed", "Failed", GOOD)]},
        {"pipelineName": OUTPUTS["PipelineName"], "maxResults": 5},
    )
    stub_actions(
        clients,
        [action("Build", "Build", "Failed", "pipekit-dev-build:b1", "Build terminated: FAILED.")],
    )
    clients.stub("codebuild").add_response(
        "batch_get_builds",
        {"builds": [build(GOOD, "FAILED", artifact=False, phases=[])]},
        {"ids": ["pipekit-dev-build:b1"]},
    )
    cp.add_response("get_pipeline_state", {"pipelineName": OUTPUTS["PipelineName"]})
    show_status(env, clients)
    clients.assert_done()
    out = capsys.readouterr().out
    assert (
        "Latest run e-failed failed in Build/Build: Build terminated: FAILED.; details: `make why "
        "ENV=dev`" in (out)
    )


def test_status_cause_survives_a_refused_read(env):
    clients = StubbedClients()
    clients.stub("codepipeline").add_client_error(
        "list_action_executions", "AccessDeniedException", "not allowed"
    )
    line = status_cause(clients, env, OUTPUTS, {"pipelineExecutionId": "e-failed"})
    assert line == "run e-failed failed (AccessDeniedException); details: `make why ENV=dev`"


@pytest.mark.parametrize("output", ["text", "json"])
def test_why_names_the_stacks_first_real_cause(env, capsys, output):
    clients = StubbedClients()
    stub_describe(clients, status="UPDATE_ROLLBACK_COMPLETE", times=1)
    event = {
        "StackId": STACK_ID,
        "StackName": "pipekit-dev",
        "EventId": "e1",
        "Timestamp": T0,
    }
    clients.stub("cloudformation").add_response(
        "describe_stack_events",
        {
            "StackEvents": [
                {
                    **event,
                    "EventId": "e3",
                    "LogicalResourceId": "pipekit-dev",
                    "ResourceStatus": "UPDATE_ROLLBACK_COMPLETE",
                    "Timestamp": T0 + timedelta(2),
                },
                {
                    **event,
                    "EventId": "e2",
                    "LogicalResourceId": "Pipeline",
                    "ResourceStatus": "UPDATE_FAILED",
                    "Timestamp": T0 + timedelta(1),
                    "ResourceStatusReason": "Resource update cancelled",
                },
                {
                    **event,
                    "LogicalResourceId": "BuildProject",
                    "ResourceStatus": "UPDATE_FAILED",
                    "ResourceStatusReason": "Invalid image: nope",
                },
                {
                    **event,
                    "EventId": "e0",
                    "LogicalResourceId": "pipekit-dev",
                    "ResourceStatus": "UPDATE_IN_PROGRESS",
                    "Timestamp": T0 - timedelta(1),
                    "ResourceStatusReason": "User Initiated",
                },
            ]
        },
        {"StackName": "pipekit-dev"},
    )
    stub_describe(clients, status="UPDATE_ROLLBACK_COMPLETE", times=1)
    clients.stub("codepipeline").add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": []},
        {"pipelineName": OUTPUTS["PipelineName"], "maxResults": 50},
    )
    assert show_why(env, clients, output=output) is None
    clients.assert_done()
    out = capsys.readouterr().out
    if output == "text":
        assert out.startswith(
            "Stack pipekit-dev: UPDATE_ROLLBACK_COMPLETE; first cause: BuildProject: Invalid "
            "image: nope\nNo failed run among the last 0 runs"
        )
        return
    data = json.loads(out)
    jsonschema.validate(data, SCHEMA)
    assert data == {
        "execution": None,
        "stack_cause": {
            "status": "UPDATE_ROLLBACK_COMPLETE",
            "resource": "BuildProject",
            "reason": "Invalid image: nope",
        },
    }
