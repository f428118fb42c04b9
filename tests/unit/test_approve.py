"""`approve`: the waiting approval found in GetPipelineState, answered with its token; each bad
input one sentence, exit 2, and no PutApprovalResult made (Stubber: every response is one the
botocore models accept, and an unexpected call fails the test); `status` shows the waiting one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipekit import cli
from pipekit.commands import approve as approve_command
from pipekit.errors import UserError
from pipekit.harness import config
from pipekit.harness.approve import approve, waiting_approvals
from tests.support import harness as support
from tests.support.harness import StubbedClients, env_for, make_project

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PIPELINE = "pipekit-dev-pipeline"
TOKEN = "1a2b3c4d-573f-4ea7-a67e-0123456789ab"
WAITING_RUN = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def env(tmp_path):
    return env_for(make_project(tmp_path))


def stub_stack(clients, outputs=None, exists: bool = True) -> None:
    support.stub_stack(
        clients, {"PipelineName": PIPELINE} if outputs is None else outputs, exists=exists
    )


def state(waiting: bool) -> dict:
    approve_action = {"actionName": "Approve"}
    if waiting:
        approve_action["latestExecution"] = {
            "actionExecutionId": "a-1",
            "status": "InProgress",
            "token": TOKEN,
            "lastStatusChange": T0,
        }
    stage = {"pipelineExecutionId": WAITING_RUN, "status": "InProgress", "type": "STANDARD"}
    return {
        "pipelineName": PIPELINE,
        "pipelineVersion": 1,
        "stageStates": [
            {"stageName": "Build", "actionStates": [{"actionName": "Build"}]},
            {
                "stageName": "Approve",
                "actionStates": [approve_action],
                **({"latestExecution": stage} if waiting else {}),
            },
            {"stageName": "Deploy", "actionStates": [{"actionName": "Deploy"}]},
        ],
        "created": T0,
        "updated": T0,
    }


def stub_state(clients, waiting: bool = True) -> None:
    clients.stub("codepipeline").add_response(
        "get_pipeline_state", state(waiting), {"name": PIPELINE}
    )


def test_waiting_approvals_reads_the_token_and_the_next_stage():
    (found,) = waiting_approvals(state(True))
    assert (found.stage, found.action, found.token) == ("Approve", "Approve", TOKEN)
    assert (found.execution_id, found.next_stage) == (WAITING_RUN, "Deploy")
    assert waiting_approvals(state(False)) == []


@pytest.mark.parametrize(
    "reject,comment,status,summary",
    [
        (False, None, "Approved", "Approved with make approve"),
        (True, "not on a Friday", "Rejected", "not on a Friday"),
    ],
)
def test_approve_answers_the_waiting_run(env, capsys, reject, comment, status, summary):
    clients = StubbedClients()
    stub_stack(clients)
    stub_state(clients)
    clients.stub("codepipeline").add_response(
        "put_approval_result",
        {"approvedAt": T0},
        {
            "pipelineName": PIPELINE,
            "stageName": "Approve",
            "actionName": "Approve",
            "result": {"status": status, "summary": summary},
            "token": TOKEN,
        },
    )
    assert approve(env, clients, reject=reject, comment=comment, execution="11111111") == status
    clients.assert_done()
    out = capsys.readouterr().out
    if reject:
        assert f"Rejected: run {WAITING_RUN} fails and deploys nothing" in out
    else:
        assert f"Approved: run {WAITING_RUN} goes on to Deploy" in out


def test_nothing_waiting_is_one_sentence_and_answers_nothing(env):
    clients = StubbedClients()
    stub_stack(clients)
    stub_state(clients, waiting=False)
    with pytest.raises(UserError) as caught:
        approve(env, clients)
    assert str(caught.value) == (
        f"no run of {PIPELINE} waits for approval: `make status ENV=dev` shows its runs"
    )
    clients.assert_done()  # no put_approval_result was stubbed: none was made


def test_an_execution_that_is_not_the_waiting_one_is_refused(env):
    clients = StubbedClients()
    stub_stack(clients)
    stub_state(clients)
    with pytest.raises(UserError) as caught:
        approve(env, clients, execution="99999999")
    assert str(caught.value) == (
        f"run 99999999 does not wait for approval: the one waiting is {WAITING_RUN}"
    )
    clients.assert_done()


def test_an_answer_that_came_first_is_one_sentence(env):
    clients = StubbedClients()
    stub_stack(clients)
    stub_state(clients)
    clients.stub("codepipeline").add_client_error(
        "put_approval_result",
        "ApprovalAlreadyCompletedException",
        "The approval action has already been approved or rejected",
    )
    with pytest.raises(UserError, match=r"was answered or expired meanwhile"):
        approve(env, clients)


def test_no_stack_and_a_long_comment_are_refused_before_any_call(env):
    clients = StubbedClients()
    stub_stack(clients, exists=False)
    with pytest.raises(UserError, match="the stack pipekit-dev does not exist"):
        approve(env, clients)
    with pytest.raises(UserError, match="at most 512"):
        approve(env, StubbedClients(), comment="x" * 513)


def test_cli_unknown_environment_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "PROJECT_ROOT", make_project(tmp_path))
    monkeypatch.setattr(cli, "COMMANDS", ["approve"])
    assert cli.main(["approve", "--env", "staging", "--reject"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown environment 'staging'") and "Traceback" not in err


def test_cli_nothing_waiting_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "PROJECT_ROOT", make_project(tmp_path))
    clients = StubbedClients()
    stub_stack(clients)
    stub_state(clients, waiting=False)
    monkeypatch.setattr(approve_command, "clients_for", lambda env: clients)
    monkeypatch.setattr(cli, "COMMANDS", ["approve"])
    assert cli.main(["approve", "--env", "dev"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: no run of {PIPELINE} waits for approval: `make status ENV=dev` shows its runs\n"
    )


def test_status_shows_the_waiting_approval(env, capsys):
    from pipekit.harness.status import show_status

    clients = StubbedClients()
    stub_stack(clients)
    cp = clients.stub("codepipeline")
    cp.add_response(
        "list_pipeline_executions",
        {
            "pipelineExecutionSummaries": [
                {"pipelineExecutionId": WAITING_RUN, "status": "InProgress", "startTime": T0}
            ]
        },
        {"pipelineName": PIPELINE, "maxResults": 5},
    )
    stub_state(clients)
    show_status(env, clients)
    out = capsys.readouterr().out
    assert "Waiting for approval: run 11111111 at Approve/Approve: make approve ENV=dev" in out
