"""`why` for a launch that ABANDONs (the group's newest launch abandoned after CodeDeploy's
launch deployment failed) and for a run stopped by a rejected approval (who and why), on
responses the botocore models accept (Stubber), the JSON validated by its schema."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest

from pipekit.harness import diagnosis as dx
from pipekit.harness.why import show_why
from tests.support.harness import StubbedClients
from tests.unit.test_why_redeploy import (
    GOOD,
    OUTPUTS,
    SCHEMA,
    T0,
    action,
    deployment,
    env,  # noqa: F401 - the fixture
    failed_event,
    stub_actions,
    stub_describe,
    stub_targets,
    summary,
)

GROUP = "pipekit-dev-asg"
WITH_GROUP = {**OUTPUTS, "AutoScalingGroupName": GROUP}
TOKEN = "0fc62a4b-4b2c-4d6a-9a3e-0123456789ab"
APP_CONFIG_DENIED = (
    "[stderr]An error occurred (AccessDeniedException) when calling the GetParametersByPath "
    "operation: User: arn:aws:sts::111122223333:assumed-role/r/i-0abc is not authorized"
)


def launch_activity(status: str, message: str, minutes: int = 0) -> dict:
    record = {
        "ActivityId": f"a-{minutes}",
        "AutoScalingGroupName": GROUP,
        "Description": "Launching a new EC2 instance: i-0abc",
        "Cause": "At 2026-12-01T08:00:00Z an instance was started in response to a difference "
        "between desired and actual capacity, increasing the capacity from 0 to 1.",
        "StartTime": T0 + timedelta(minutes=minutes),
        "StatusCode": status,
        "Progress": 100,
    }
    if message:
        record["StatusMessage"] = message
    return record


ABANDONED = launch_activity(
    "Cancelled",
    "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token "
    f"{TOKEN} was abandoned: Lifecycle Action Completed with ABANDON Result",
    minutes=5,
)
SUCCEEDED = launch_activity("Successful", "", minutes=1)


def test_only_the_newest_launch_counts():
    assert dx.abandoned_launch([ABANDONED, SUCCEEDED]) is ABANDONED
    assert dx.abandoned_launch([SUCCEEDED, ABANDONED]) is None
    terminating = {**ABANDONED, "Description": "Terminating EC2 instance: i-0abc"}
    assert dx.abandoned_launch([terminating]) is None


def test_the_failed_launch_deployment_is_the_newest_of_autoscaling():
    by_pipeline = deployment("d-PIPE", "Failed", GOOD, 9, creator="user")
    old = deployment("d-OLD", "Succeeded", GOOD, 1, creator="autoscaling")
    new = deployment("d-NEW", "Failed", GOOD, 5, creator="autoscaling")
    assert dx.failed_launch_deployment([by_pipeline, old, new]) is new
    later_success = {**old, "createTime": T0 + timedelta(minutes=7)}
    assert dx.failed_launch_deployment([by_pipeline, new, later_success]) is None


def stub_launch(clients, *, suspended: bool) -> None:
    asg = clients.stub("autoscaling")
    asg.add_response(
        "describe_scaling_activities",
        {"Activities": [ABANDONED, SUCCEEDED]},
        {"AutoScalingGroupName": GROUP, "MaxRecords": 20},
    )
    cd = clients.stub("codedeploy")
    cd.add_response(
        "list_deployments",
        {"deployments": ["d-LAUNCH"]},
        {
            "applicationName": OUTPUTS["CodeDeployApplicationName"],
            "deploymentGroupName": OUTPUTS["DeploymentGroupName"],
        },
    )
    cd.add_response(
        "batch_get_deployments",
        {"deploymentsInfo": [deployment("d-LAUNCH", "Failed", GOOD, 4, creator="autoscaling")]},
        {"deploymentIds": ["d-LAUNCH"]},
    )
    stub_targets(
        clients,
        "d-LAUNCH",
        [
            failed_event(
                "AfterInstall",
                "ScriptFailed",
                "Script at specified location: scripts/app_config.sh run as user root failed "
                "with exit code 254",
                "scripts/app_config.sh",
                APP_CONFIG_DENIED,
            )
        ],
    )
    asg.add_response(
        "describe_auto_scaling_groups",
        {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": GROUP,
                    "MinSize": 1,
                    "MaxSize": 1,
                    "DesiredCapacity": 1,
                    "DefaultCooldown": 300,
                    "AvailabilityZones": ["eu-west-1a"],
                    "HealthCheckType": "EC2",
                    "CreatedTime": T0,
                    "SuspendedProcesses": [
                        {"ProcessName": "Launch", "SuspensionReason": "Administrative suspension"}
                    ]
                    if suspended
                    else [],
                }
            ]
        },
        {"AutoScalingGroupNames": [GROUP]},
    )


@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.parametrize("suspended", [True, False])
def test_no_failed_run_but_a_launch_that_abandons(env, capsys, output, suspended):  # noqa: F811
    clients = StubbedClients()
    stub_describe(clients, outputs=WITH_GROUP)
    clients.stub("codepipeline").add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [summary("e-ok", "Succeeded", GOOD)]},
        {"pipelineName": OUTPUTS["PipelineName"], "maxResults": 50},
    )
    stub_launch(clients, suspended=suspended)
    assert show_why(env, clients, output=output) is None
    clients.assert_done()
    out = capsys.readouterr().out
    resume = f"aws autoscaling resume-processes --auto-scaling-group-name {GROUP} "
    if output == "json":
        data = json.loads(out)
        jsonschema.validate(data, SCHEMA)
        trap = data["abandoned_launch"]
        assert trap["name"] == "a launch that ABANDONs"
        assert trap["command"] == (resume + "--scaling-processes Launch" if suspended else None)
        text = trap["explanation"]
    else:
        assert "No failed run among the last 1 runs" in out
        assert "But this is a launch that ABANDONs" in out
        text = out
    assert "launched i-0abc" in " ".join(text.split())
    # the failing script and its last log line: the cause, in AWS's words
    assert "AfterInstall failed on i-0abc (scripts/app_config.sh)" in " ".join(text.split())
    assert "AccessDeniedException" in text


def rejected_approval(updated_by: str | None) -> dict:
    record = action("Approve", "Approval", "Failed", "token-1", "not on a Friday")
    record["input"]["actionTypeId"]["provider"] = "Manual"
    if updated_by:
        record["updatedBy"] = updated_by
    return record


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_run_stopped_by_a_rejected_approval_says_who_and_why(env, capsys, output):  # noqa: F811
    clients = StubbedClients()
    stub_describe(clients)
    clients.stub("codepipeline").add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [summary("e-failed", "Failed", GOOD)]},
        {"pipelineName": OUTPUTS["PipelineName"], "maxResults": 50},
    )
    who = "arn:aws:iam::111122223333:user/alice"
    stub_actions(clients, [action("Build", "Build", "Succeeded", "b-1"), rejected_approval(who)])
    d = show_why(env, clients, output=output)
    clients.assert_done()
    assert d is not None and d.failure is not None and d.failure.updated_by == who
    assert (
        dx.headline(d)
        == 'run e-failed failed in Approve/Approve: rejected by alice: "not on a Friday"'
    )
    out = capsys.readouterr().out
    if output == "json":
        data = json.loads(out)
        jsonschema.validate(data, SCHEMA)
        assert data["execution"]["headline"] == dx.headline(d)
    else:
        assert f"rejected by {who}: nothing of this run was deployed" in " ".join(out.split())


def test_an_approval_that_failed_without_an_answer_shows_its_message():
    details = [rejected_approval(None)]
    failure = dx.failing_action(details)
    assert failure is not None and dx.approval_cause(failure) == "not on a Friday"
