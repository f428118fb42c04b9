"""The approval gate on local mode (ApprovalBeforeDeploy true through a parameter override, the
real templates): a push builds, then waits at Approve without deploying; `make approve` gets it
live; `make approve --reject` fails the run and leaves the live commit as it was. Runs on the
shared local mode and leaves it on the gate's default (off), serving its branch's head."""

from __future__ import annotations

import pytest

from pipekit import appclient
from pipekit.harness import diagnosis as dx
from pipekit.harness.approve import approve, waiting_approvals
from pipekit.harness.explain import diagnose
from pipekit.harness.session import Clients
from pipekit.local import lifecycle
from pipekit.local.state import LOCAL_CREDENTIALS, LocalStack
from pipekit.samplechanges import set_marker
from tests.local.test_autoscaling import outputs, settled, until
from tests.local.test_retention import actions, execution_of, git, push

pytestmark = pytest.mark.host


def clients_of(stack: LocalStack) -> Clients:
    import boto3

    return Clients(
        session=boto3.Session(region_name=stack.region, **LOCAL_CREDENTIALS),
        endpoint_url=stack.endpoint_url,
    )


def waiting(stack: LocalStack, commit: str) -> str:
    """The id of the commit's run once it waits for approval."""
    cp = stack.client("codepipeline")

    def found() -> str | None:
        for w in waiting_approvals(cp.get_pipeline_state(name=stack.pipeline_name)):
            run = cp.get_pipeline_execution(
                pipelineName=stack.pipeline_name, pipelineExecutionId=w.execution_id
            )["pipelineExecution"]
            if any(r["revisionId"] == commit for r in run.get("artifactRevisions", [])):
                return w.execution_id
        return None

    return until(f"the run of {commit[:8]} to wait for approval", found, timeout=300)


def live_commit(stack: LocalStack) -> str | None:
    return (appclient.version_data(stack.app_url, timeout=2.0) or {}).get("commit")


def test_a_push_waits_for_approval_then_goes_live_or_is_rejected(local_stack, tmp_path):
    stack, out = local_stack, outputs(local_stack)
    env = lifecycle.environment(stack)
    clone = tmp_path / "clone"
    git("clone", "-q", "--branch", stack.branch, stack.git_remote, str(clone), cwd=tmp_path)
    git("config", "user.email", "test@pipekit.invalid", cwd=clone)
    git("config", "user.name", "pipekit test", cwd=clone)
    before = until("the app to answer", lambda: live_commit(stack), timeout=120)
    settled(stack, out)
    gate = {"ApprovalBeforeDeploy": "true", "AppPort": str(stack.app_port)}
    lifecycle.deploy_stack(stack, lifecycle.PROJECT_ROOT, gate, say=lambda _: None)
    try:
        # approved: it waited without deploying, then goes live
        set_marker(clone, "approval: approved")
        approved = push(stack, clone, "approval: approved")
        run_id = waiting(stack, approved)
        assert live_commit(stack) == before
        assert "Deploy" not in actions(stack, run_id)
        assert approve(env, clients_of(stack), comment="ship it") == "Approved"
        lifecycle.wait_live(stack.app_url, approved, timeout=300)
        run = execution_of(stack, approved)
        assert run["status"] == "Succeeded", run
        ran = actions(stack, run_id)
        assert ran["Approve"]["status"] == "Succeeded" and ran["Deploy"]["status"] == "Succeeded"

        # rejected: the run fails, nothing deploys, the approved commit stays live
        set_marker(clone, "approval: rejected")
        rejected = push(stack, clone, "approval: rejected")
        run_id = waiting(stack, rejected)
        assert approve(env, clients_of(stack), reject=True, comment="not now") == "Rejected"
        run = execution_of(stack, rejected)
        assert run["status"] == "Failed", run
        ran = actions(stack, run_id)
        assert ran["Approve"]["status"] == "Failed" and "Deploy" not in ran
        assert live_commit(stack) == approved
        # make why names who rejected it and why (the action execution's updatedBy, summary)
        d = diagnose(clients_of(stack), env, outputs(stack), {"pipelineExecutionId": run_id})
        assert "failed in Approve/Approve: rejected by " in dx.headline(d)
        assert dx.headline(d).endswith('"not now"'), dx.headline(d)
    finally:
        # a run left waiting would hold the pipeline's queue: reject it
        cp = stack.client("codepipeline")
        for w in waiting_approvals(cp.get_pipeline_state(name=stack.pipeline_name)):
            cp.put_approval_result(
                pipelineName=stack.pipeline_name,
                stageName=w.stage,
                actionName=w.action,
                result={"status": "Rejected", "summary": "test cleanup"},
                token=w.token,
            )
        settled(stack, outputs(stack))
        lifecycle.deploy_stack(
            stack, lifecycle.PROJECT_ROOT, {"AppPort": str(stack.app_port)}, say=lambda _: None
        )
        # the branch's head must be live again for the tests that follow (they wait for it): the
        # rejected commit never deployed, so push one more, which deploys with the gate off
        set_marker(clone, "approval: gate off again")
        lifecycle.wait_live(stack.app_url, push(stack, clone, "approval: gate off"), timeout=300)
