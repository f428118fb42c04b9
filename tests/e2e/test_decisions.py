"""The e2e decisions, judged on responses shaped exactly as botocore's models say: every fixture
goes through Stubber.add_response, which validates it against the operation's output shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from pipekit.e2e import decisions

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def shaped(service: str, method: str, response: dict[str, Any], **params: Any) -> dict[str, Any]:
    """`response` as the client returns it, after botocore validated it against the model."""
    client = botocore.session.get_session().create_client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(method, response)
        return getattr(client, method)(**params)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def summary(eid, commit, status, minute, *, rollback_target=None, trigger="WebhookV2"):
    s: dict[str, Any] = {
        "pipelineExecutionId": eid,
        "status": status,
        "startTime": at(minute),
        "lastUpdateTime": at(minute + 3),
        "sourceRevisions": [{"actionName": "Source", "revisionId": commit}],
        "trigger": {"triggerType": trigger, "triggerDetail": "arn:aws:iam::123456789012:root"},
        "executionMode": "SUPERSEDED",
        "executionType": "STANDARD",
    }
    if rollback_target:
        s["executionType"] = "ROLLBACK"
        s["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": rollback_target}
    return s


# e1 A ok; e2 B superseded by e3 C; e4 B again (a "Release change" retry) ok; e5 D broken; e6 is
# the automated rollback of Deploy to e4, reusing e4's source revision B.
HISTORY = [
    summary("e6", B, "Succeeded", 50, rollback_target="e4", trigger="AutomatedRollback"),
    summary("e5", D, "Failed", 40),
    summary("e4", B, "Succeeded", 30, trigger="StartPipelineExecution"),
    summary("e3", C, "Succeeded", 20),
    summary("e2", B, "Superseded", 10),
    summary("e1", A, "Succeeded", 0),
]


@pytest.fixture
def executions() -> list[dict[str, Any]]:
    return shaped(
        "codepipeline",
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": HISTORY},
        pipelineName="p",
    )["pipelineExecutionSummaries"]


def test_commit_execution_is_the_newest_standard_run_not_superseded(executions):
    # B appears in e2 (superseded), e4 (retry) and e6 (a rollback reusing B): e4 is B's own run.
    assert decisions.find_commit_execution(executions, B)["pipelineExecutionId"] == "e4"
    assert decisions.find_commit_execution(executions, D)["pipelineExecutionId"] == "e5"
    assert decisions.find_commit_execution(executions, "f" * 40) is None


def test_rollback_execution_is_never_a_commits_own_run(executions):
    only_rollback = [s for s in executions if s["pipelineExecutionId"] == "e6"]
    assert decisions.find_commit_execution(only_rollback, B) is None


def test_superseded_run_is_returned_when_it_is_the_only_one(executions):
    before_retry = [s for s in executions if s["startTime"] < at(25)]
    found = decisions.find_commit_execution(before_retry, B)
    assert (found["pipelineExecutionId"], found["status"]) == ("e2", "Superseded")
    assert decisions.superseded_by(executions, found)["pipelineExecutionId"] == "e3"


def test_not_before_ignores_older_runs_of_the_same_commit(executions):
    assert decisions.find_commit_execution(executions, B, not_before=at(31)) is None
    assert decisions.find_commit_execution(executions, B, not_before=at(5))["status"] == "Succeeded"


def test_execution_without_execution_type_counts_as_standard():
    legacy = shaped(
        "codepipeline",
        "list_pipeline_executions",
        {
            "pipelineExecutionSummaries": [
                {
                    "pipelineExecutionId": "old",
                    "status": "Succeeded",
                    "startTime": T0,
                    "sourceRevisions": [{"actionName": "Source", "revisionId": A}],
                }
            ]
        },
        pipelineName="p",
    )["pipelineExecutionSummaries"]
    assert decisions.find_commit_execution(legacy, A)["pipelineExecutionId"] == "old"


def action(eid, stage, status, minute, *, category=None, external=None, error=None, aid=None):
    category = category or stage
    provider = {"Source": "CodeStarSourceConnection", "Build": "CodeBuild", "Deploy": "CodeDeploy"}
    detail: dict[str, Any] = {
        "pipelineExecutionId": eid,
        "actionExecutionId": aid or f"{eid}-{stage}-{minute}",
        "pipelineVersion": 1,
        "stageName": stage,
        "actionName": stage,
        "startTime": at(minute),
        "lastUpdateTime": at(minute + 1.5),
        "status": status,
        "input": {
            "actionTypeId": {
                "category": category,
                "owner": "AWS",
                "provider": provider[category],
                "version": "1",
            },
            "configuration": {},
            "resolvedConfiguration": {},
            "inputArtifacts": [],
        },
        "output": {"outputArtifacts": [], "executionResult": {}, "outputVariables": {}},
    }
    if external:
        detail["output"]["executionResult"]["externalExecutionId"] = external
    if error:
        detail["output"]["executionResult"]["errorDetails"] = {
            "code": "JobFailed",
            "message": error,
        }
    return detail


def action_details(*details: dict[str, Any]) -> list[dict[str, Any]]:
    return shaped(
        "codepipeline",
        "list_action_executions",
        {"actionExecutionDetails": list(details)},
        pipelineName="p",
    )["actionExecutionDetails"]


def test_failing_action_names_the_deploy_and_its_deployment():
    details = action_details(
        action("e5", "Deploy", "Failed", 44, external="d-BROKEN", error="ValidateService failed"),
        action("e5", "Build", "Succeeded", 42, external="proj:1"),
        action("e5", "Source", "Succeeded", 40),
    )
    failure = decisions.failing_action(details)
    assert (failure.stage, failure.category, failure.external_id) == (
        "Deploy",
        "Deploy",
        "d-BROKEN",
    )
    assert failure.message == "ValidateService failed"
    assert decisions.action_status(details, "Build") == "Succeeded"
    assert decisions.external_execution_id(details, "Deploy") == "d-BROKEN"
    assert decisions.stage_durations(details) == {"Source": 90.0, "Build": 90.0, "Deploy": 90.0}


def test_a_retried_action_is_judged_by_its_latest_attempt():
    details = action_details(
        action("e4", "Source", "Succeeded", 30),
        action("e4", "Build", "Succeeded", 31),
        action("e4", "Deploy", "Failed", 32, external="d-1", error="agent down"),
        action("e4", "Deploy", "Succeeded", 36, external="d-2"),  # RetryStageExecution
    )
    assert decisions.failing_action(details) is None
    assert decisions.action_status(details, "Deploy") == "Succeeded"
    assert decisions.external_execution_id(details, "Deploy") == "d-2"
    # Duration is the latest attempt's, not the span of both.
    assert decisions.stage_durations(details)["Deploy"] == 90.0


def pipeline_definition(on_failure: str | None = "ROLLBACK") -> dict[str, Any]:
    def stage(name, category, provider):
        return {
            "name": name,
            "actions": [
                {
                    "name": name,
                    "actionTypeId": {
                        "category": category,
                        "owner": "AWS",
                        "provider": provider,
                        "version": "1",
                    },
                    "configuration": {},
                }
            ],
        }

    deploy = stage("Ship", "Deploy", "CodeDeploy")
    if on_failure:
        deploy["onFailure"] = {"result": on_failure}
    return shaped(
        "codepipeline",
        "get_pipeline",
        {
            "pipeline": {
                "name": "p",
                "roleArn": "arn:aws:iam::123456789012:role/r",
                "artifactStore": {"type": "S3", "location": "bucket"},
                "stages": [
                    stage("Fetch", "Source", "CodeStarSourceConnection"),
                    stage("Compile", "Build", "CodeBuild"),
                    deploy,
                ],
                "pipelineType": "V2",
            }
        },
        name="p",
    )


def test_stage_names_come_from_the_definition():
    definition = pipeline_definition()
    assert decisions.stage_names(definition) == ["Fetch", "Compile", "Ship"]
    assert decisions.stage_of_action_category(definition, "Build") == "Compile"
    assert decisions.rollback_stages(definition) == ["Ship"]
    assert decisions.rollback_stages(pipeline_definition(None)) == []
    assert decisions.rollback_stages(pipeline_definition("RETRY")) == []


def test_stage_progress_from_pipeline_state():
    state = shaped(
        "codepipeline",
        "get_pipeline_state",
        {
            "pipelineName": "p",
            "stageStates": [
                {
                    "stageName": "Source",
                    "latestExecution": {"pipelineExecutionId": "e7", "status": "Succeeded"},
                },
                {
                    "stageName": "Build",
                    "inboundExecutions": [
                        {"pipelineExecutionId": "e8", "status": "InProgress", "type": "STANDARD"}
                    ],
                    "latestExecution": {"pipelineExecutionId": "e7", "status": "InProgress"},
                },
                {
                    "stageName": "Deploy",
                    "latestExecution": {
                        "pipelineExecutionId": "e6",
                        "status": "Succeeded",
                        "type": "ROLLBACK",
                    },
                },
            ],
        },
        name="p",
    )
    progress = decisions.stage_progress(state, "e7")
    assert [(p.stage, p.status) for p in progress] == [
        ("Source", "Succeeded"),
        ("Build", "InProgress"),
        ("Deploy", "Waiting"),
    ]
    assert [p.status for p in decisions.stage_progress(state, "e8")][1] == "Queued"
    assert decisions.stage_progress(state, "e6")[2].execution_type == "ROLLBACK"


def deployment(
    did, status, *, creator="CodePipeline", error=None, rollback_id=None, trig=None, key="k"
):
    info: dict[str, Any] = {
        "applicationName": "sample-app",
        "deploymentGroupName": "dg",
        "deploymentId": did,
        "status": status,
        "creator": creator,
        "createTime": at(44),
        "completeTime": at(46) if creator != "codeDeployRollback" else at(47.5),
        "revision": {
            "revisionType": "S3",
            "s3Location": {"bucket": "b", "key": key, "bundleType": "zip"},
        },
    }
    if error:
        info["errorInformation"] = {"code": "HOOK_EXECUTION_FAILURE", "message": error}
    if rollback_id:
        info["rollbackInfo"] = {
            "rollbackDeploymentId": rollback_id,
            "rollbackMessage": "rolled back",
        }
    if trig:
        info["rollbackInfo"] = {"rollbackTriggeringDeploymentId": trig}
    return shaped("codedeploy", "get_deployment", {"deploymentInfo": info}, deploymentId=did)


def target(did, failed_event="ValidateService"):
    names = ["BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"]
    events = []
    for name in names:
        status = "Failed" if name == failed_event else "Succeeded"
        event: dict[str, Any] = {"lifecycleEventName": name, "status": status}
        if status == "Failed":
            event["diagnostics"] = {
                "errorCode": "ScriptFailed",
                "scriptName": "scripts/validate_service.sh",
                "message": "Script at specified location failed",
                "logTail": "curl: (7) Failed to connect\n",
            }
        events.append(event)
        if status == "Failed":
            break
    return shaped(
        "codedeploy",
        "get_deployment_target",
        {
            "deploymentTarget": {
                "deploymentTargetType": "InstanceTarget",
                "instanceTarget": {
                    "deploymentId": did,
                    "targetId": "i-0123",
                    "status": "Failed",
                    "lifecycleEvents": events,
                },
            }
        },
        deploymentId=did,
        targetId="i-0123",
    )


def rollback_of(revision_key: str) -> decisions.Verdict:
    """The verdict on a failed deployment CodeDeploy rolled back to revision `revision_key`,
    when the last good revision is `good`."""
    good = deployment("d-GOOD", "Succeeded", key="good")["deploymentInfo"]["revision"]
    failed = deployment("d-BROKEN", "Failed", error="hook failed", rollback_id="d-RB", key="bad")
    rollback = deployment(
        "d-RB", "Succeeded", creator="codeDeployRollback", trig="d-BROKEN", key=revision_key
    )
    return decisions.codedeploy_rollback_verdict(
        failed, rollback, [target("d-BROKEN")], last_good_revision=good
    )


def test_codedeploy_rollback_after_validate_service_failure():
    verdict = rollback_of("good")
    assert verdict.ok, verdict.problems
    assert verdict.facts["error_code"] == "HOOK_EXECUTION_FAILURE"
    assert verdict.facts["failed_events"] == ["ValidateService"]
    assert verdict.facts["rollback_revision"]["s3Location"]["key"] == "good"
    assert verdict.facts["rollback_seconds"] == 210.0  # 44 min to 47.5 min


def test_codedeploy_rollback_of_another_revision_is_reported():
    assert rollback_of("older").problems == [
        "rollback deployed s3://b/older, not the last good revision s3://b/good"
    ]


def test_one_rollback_layer():
    assert decisions.rollback_layer_problem(pipeline_definition(None), "Ship") is None
    assert decisions.rollback_layer_problem(pipeline_definition("RETRY"), "Ship") is None
    problem = decisions.rollback_layer_problem(pipeline_definition(), "Ship")
    assert problem is not None and "DeploymentLimitExceededException" in problem


def test_failed_events_from_batch_get_deployment_targets():
    one = target("d-BROKEN")["deploymentTarget"]
    batch = shaped(
        "codedeploy",
        "batch_get_deployment_targets",
        {"deploymentTargets": [one]},
        deploymentId="d-BROKEN",
        targetIds=["i-0123"],
    )["deploymentTargets"]
    [event] = decisions.failed_lifecycle_events(batch)
    assert (event.target, event.event, event.script) == (
        "i-0123",
        "ValidateService",
        "scripts/validate_service.sh",
    )


def test_codedeploy_verdict_names_what_is_missing():
    failed = deployment("d-BROKEN", "Failed", error="hook failed", rollback_id="d-RB")
    user_redeploy = deployment("d-RB", "Failed", creator="user")
    verdict = decisions.codedeploy_rollback_verdict(
        failed, user_redeploy, [target("d-BROKEN", failed_event="ApplicationStart")]
    )
    assert not verdict.ok
    assert any(
        "no ValidateService failure" in p and "ApplicationStart" in p for p in verdict.problems
    )
    assert any("creator is user" in p for p in verdict.problems)
    assert any("is Failed, not Succeeded" in p for p in verdict.problems)
    no_rollback = decisions.codedeploy_rollback_verdict(
        deployment("d-X", "Failed", error="hook failed"), None, [target("d-X")]
    )
    assert no_rollback.problems == ["the failed deployment names no rollback deployment"]


def test_failed_events_from_the_instances_api():
    instance = shaped(
        "codedeploy",
        "get_deployment_instance",
        {
            "instanceSummary": {
                "deploymentId": "d-1",
                "instanceId": "arn:aws:ec2:us-east-1:123456789012:instance/i-1",
                "status": "Failed",
                "lifecycleEvents": [
                    {"lifecycleEventName": "ApplicationStart", "status": "Succeeded"},
                    {
                        "lifecycleEventName": "ValidateService",
                        "status": "Failed",
                        "diagnostics": {"errorCode": "ScriptTimedOut", "logTail": "..."},
                    },
                ],
            }
        },
        deploymentId="d-1",
        instanceId="i-1",
    )
    [event] = decisions.failed_lifecycle_events([instance])
    assert (event.event, event.error_code) == ("ValidateService", "ScriptTimedOut")
    assert event.target.endswith("i-1")


def test_live_version_decisions():
    assert decisions.served_commit({"commit": A, "build_id": "x"}) == A
    assert decisions.served_commit({"commit": ""}) is None
    assert decisions.served_commit(None) is None
    assert decisions.same_commit(A, A[:7]) and decisions.same_commit(A[:12].upper(), A)
    assert not decisions.same_commit(A, B)
    assert not decisions.same_commit(A[:4], A)  # too short to mean anything
    assert decisions.page_shows_marker("<h1>e2e-123</h1>", "e2e-123")


@pytest.mark.parametrize(
    ("branch", "env", "allow", "expected"),
    [
        ("main", "dev", None, False),
        ("main", "dev", "main", True),
        ("main", "local", None, True),
        ("main", "local-fleet", None, True),
        ("main", "localish", None, False),  # not a local mode: a name is no free pass
        ("e2e-test", "dev", None, True),
        ("test/pipeline", "dev", None, True),
        ("latest", "dev", None, False),  # "test" inside a word is not a test branch
        ("release", "prod", "main", False),
    ],
)
def test_branch_guard(branch, env, allow, expected):
    from pipekit.harness.config import is_local

    local = is_local(env)
    allowed, why = decisions.branch_allowed(branch, local=local, allow_branch=allow)
    assert allowed is expected
    if not allowed:
        assert f"--allow-branch {branch}" in why


def test_stack_health_from_describe_stacks():
    def stack(status):
        return shaped(
            "cloudformation",
            "describe_stacks",
            {"Stacks": [{"StackName": "s", "CreationTime": T0, "StackStatus": status}]},
        )["Stacks"][0]

    assert decisions.stack_health(stack("UPDATE_COMPLETE")) == (True, "UPDATE_COMPLETE")
    usable, note = decisions.stack_health(stack("UPDATE_ROLLBACK_COMPLETE"))
    assert usable and "rolled back" in note
    assert decisions.stack_health(stack("ROLLBACK_COMPLETE"))[0] is False
    assert decisions.stack_health(stack("UPDATE_IN_PROGRESS"))[0] is False


def test_connection_available():
    def conn(status):
        return shaped(
            "codeconnections",
            "get_connection",
            {"Connection": {"ConnectionName": "c", "ConnectionStatus": status}},
            ConnectionArn="arn:aws:codeconnections:us-east-1:123456789012:connection/x",
        )

    assert decisions.connection_available(conn("AVAILABLE"))
    assert not decisions.connection_available(conn("PENDING"))
