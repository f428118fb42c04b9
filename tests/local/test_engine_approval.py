"""The manual approval action in the local engine (in-process runners, tests/support/
engine_world.py): a run waits at Approve with a token in GetPipelineState and deploys nothing
until PutApprovalResult answers it; Rejected fails the run; PutApprovalResult refuses what AWS
refuses; the request is published to the topic; it expires after 7 days of the emulator's
clock; the pipeline role needs sns:Publish on the topic."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from pipekit.emulator import clock
from tests.support.engine_world import client
from tests.support.shapes import check_output


def waiting_token(w, timeout: float = 20) -> tuple[str, dict]:
    """The open approval's token and the pipeline state, once the run waits at Approve."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = w.cp().get_pipeline_state(name=w.pipeline)
        approve = next(s for s in state["stageStates"] if s["stageName"] == "Approve")
        latest = approve["actionStates"][0].get("latestExecution", {})
        if latest.get("token"):
            return latest["token"], state
        time.sleep(0.1)
    raise AssertionError("the run never waited at Approve")


def answer(w, token: str, status: str, summary: str = "looks good") -> dict:
    return w.cp().put_approval_result(
        pipelineName=w.pipeline,
        stageName="Approve",
        actionName="Approve",
        result={"status": status, "summary": summary},
        token=token,
    )


def refusal(w, token: str, **overrides) -> tuple[str, str]:
    args = {
        "pipelineName": w.pipeline,
        "stageName": "Approve",
        "actionName": "Approve",
        "result": {"status": "Approved", "summary": "ok"},
        "token": token,
        **overrides,
    }
    with pytest.raises(ClientError) as caught:
        w.cp().put_approval_result(**args)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_a_run_waits_for_approval_then_deploys(world_factory):
    w = world_factory("p-approve", on_failure=False, auto_rollback=False, approval=True)
    sha = w.push({"app.txt": "v1"}, "first")
    token, state = waiting_token(w)
    check_output("codepipeline", "GetPipelineState", state)
    statuses = {
        s["stageName"]: s.get("latestExecution", {}).get("status") for s in state["stageStates"]
    }
    assert statuses == {
        "Source": "Succeeded",
        "Build": "Succeeded",
        "Approve": "InProgress",
        "Deploy": None,
    }
    assert w.deployments() == [] and w.asg_instance not in w.runner.serving
    time.sleep(1.0)  # still waiting: nothing but the answer moves it on
    assert w.deployments() == []

    answered = answer(w, token, "Approved", "ship it")
    check_output("codepipeline", "PutApprovalResult", answered)
    summaries = w.wait_idle()
    assert summaries[0]["status"] == "Succeeded"
    assert w.runner.serving[w.asg_instance] == sha
    state = w.cp().get_pipeline_state(name=w.pipeline)
    approve = next(s for s in state["stageStates"] if s["stageName"] == "Approve")
    latest = approve["actionStates"][0]["latestExecution"]
    assert latest["status"] == "Succeeded" and latest["summary"] == "ship it"
    assert "token" not in latest and latest["lastUpdatedBy"].endswith(":root")
    # the custom data named the commit: the configuration resolved the variable
    details = w.cp().list_action_executions(pipelineName=w.pipeline)["actionExecutionDetails"]
    approval = next(d for d in details if d["stageName"] == "Approve")
    assert approval["input"]["resolvedConfiguration"]["CustomData"] == f"Deploy commit {sha}?"
    assert approval["output"]["executionResult"]["externalExecutionId"] == token
    # answered once: the same token again is refused
    assert refusal(w, token) == (
        "ApprovalAlreadyCompletedException",
        "The approval action has already been approved or rejected",
    )


def test_a_rejected_run_fails_and_deploys_nothing(world_factory):
    w = world_factory("p-reject", on_failure=False, auto_rollback=False, approval=True)
    w.push({"app.txt": "v1"}, "first")
    token, _ = waiting_token(w)
    answer(w, token, "Rejected", "not on a Friday")
    summaries = w.wait_idle()
    assert summaries[0]["status"] == "Failed"
    assert w.deployments() == []
    state = w.cp().get_pipeline_state(name=w.pipeline)
    by_stage = {s["stageName"]: s for s in state["stageStates"]}
    latest = by_stage["Approve"]["actionStates"][0]["latestExecution"]
    assert latest["status"] == "Failed" and latest["summary"] == "not on a Friday"
    assert "latestExecution" not in by_stage["Deploy"]


def test_put_approval_result_refuses_what_aws_refuses(world_factory):
    w = world_factory("p-refuse", on_failure=False, auto_rollback=False, approval=True)
    unknown = "00000000-0000-4000-8000-000000000000"
    # nothing waiting yet
    assert refusal(w, unknown)[0] == "InvalidApprovalTokenException"
    w.push({"app.txt": "v1"}, "first")
    token, _ = waiting_token(w)
    assert refusal(w, unknown) == (
        "InvalidApprovalTokenException",
        "The approval request already received a response or has expired",
    )
    assert refusal(w, token, stageName="Nope")[0] == "StageNotFoundException"
    assert refusal(w, token, actionName="Nope")[0] == "ActionNotFoundException"
    assert refusal(w, token, stageName="Deploy", actionName="Deploy")[0] == (
        "InvalidApprovalTokenException"
    )
    assert refusal(w, token, pipelineName="nope")[0] == "PipelineNotFoundException"
    assert refusal(w, token, result={"status": "Approved", "summary": "x" * 513})[0] == (
        "ValidationException"
    )
    # none of those answered it: the run still waits, and the right token still works
    assert waiting_token(w)[0] == token
    answer(w, token, "Approved")
    assert w.wait_idle()[0]["status"] == "Succeeded"


def test_the_request_is_published_to_the_topic(world_factory):
    w = world_factory("p-notify", on_failure=False, auto_rollback=False, approval=True)
    sqs, sns = client(w.emu, "sqs"), client(w.emu, "sns")
    queue = sqs.create_queue(QueueName="approvals")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=sns.list_topics()["Topics"][0]["TopicArn"],
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    sha = w.push({"app.txt": "v1"}, "first")
    token, _ = waiting_token(w)
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    request = json.loads(messages[0]["Body"])["approval"]
    assert request["token"] == token
    assert request["stageName"] == "Approve" and request["customData"] == f"Deploy commit {sha}?"
    answer(w, token, "Approved")
    w.wait_idle()


def test_an_unanswered_request_expires_after_seven_days(world_factory):
    w = world_factory("p-expire", on_failure=False, auto_rollback=False, approval=True)
    w.push({"app.txt": "v1"}, "first")
    token, _ = waiting_token(w)
    clock.advance(7 * 24 * 3600 - 60)
    time.sleep(1.0)
    assert waiting_token(w)[0] == token  # a minute short of 7 days: still open
    try:
        clock.advance(60)
        summaries = w.wait_idle()
    finally:
        clock.reset()
    assert summaries[0]["status"] == "Failed"
    assert w.deployments() == []
    assert refusal(w, token)[0] == "InvalidApprovalTokenException"


def test_without_sns_publish_on_the_topic_the_approval_fails(world_factory):
    w = world_factory("p-nopublish", on_failure=False, auto_rollback=False, approval=True)
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "sns:Publish", "Resource": "*"}],
    }
    client(w.emu, "iam").put_role_policy(
        RoleName="p-nopublish-role", PolicyName="no-publish", PolicyDocument=json.dumps(deny)
    )
    w.push({"app.txt": "v1"}, "first")
    summaries = w.wait_idle()
    assert summaries[0]["status"] == "Failed"
    assert w.deployments() == []
    state = w.cp().get_pipeline_state(name=w.pipeline)
    approve = next(s for s in state["stageStates"] if s["stageName"] == "Approve")
    latest = approve["actionStates"][0]["latestExecution"]
    assert latest["status"] == "Failed" and "token" not in latest
    assert "is not authorized to perform: sns:Publish" in latest["errorDetails"]["message"]
