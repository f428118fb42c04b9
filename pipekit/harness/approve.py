"""`make approve`: answer the manual approval a run waits at (ApprovalBeforeDeploy true).

The waiting approval is read from GetPipelineState: the action whose `latestExecution` is
InProgress with a `token` (CodePipeline user guide, approvals-approve-or-reject, "Approve or
reject an approval request (CLI)"); PutApprovalResult answers it with that token. Pure parts
(`waiting_approvals`, `next_step`) work on botocore-shaped dicts."""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from pipekit.errors import UserError
from pipekit.harness import runs
from pipekit.harness.config import Environment
from pipekit.harness.deploy import stack_outputs
from pipekit.harness.preflight import existing_stack_status
from pipekit.progress import console

# ApprovalSummary in botocore's codepipeline model: at most 512 characters
SUMMARY_LIMIT = 512


@dataclass(frozen=True)
class Waiting:
    stage: str
    action: str
    token: str
    execution_id: str  # the run waiting in the stage
    next_stage: str  # what runs once it is approved ("" if the stage is the last)


def waiting_approvals(state: dict) -> list[Waiting]:
    """The open approval requests in a get_pipeline_state answer."""
    stages = state.get("stageStates", [])
    found = []
    for i, stage in enumerate(stages):
        for action in stage.get("actionStates", []):
            latest = action.get("latestExecution") or {}
            if latest.get("status") == "InProgress" and latest.get("token"):
                found.append(
                    Waiting(
                        stage.get("stageName", "?"),
                        action.get("actionName", "?"),
                        latest["token"],
                        (stage.get("latestExecution") or {}).get("pipelineExecutionId", ""),
                        stages[i + 1].get("stageName", "") if i + 1 < len(stages) else "",
                    )
                )
    return found


def waiting_line(state: dict, env: Environment) -> str | None:
    """`make status`'s line for a run that waits for approval, or None."""
    waiting = waiting_approvals(state)
    if not waiting:
        return None
    w = waiting[0]
    return (
        f"Waiting for approval: run {w.execution_id[:8]} at {w.stage}/{w.action}: "
        f"{env.make_hint('approve')} (or ARGS=\"--reject --comment '...'\")"
    )


def next_step(waiting: Waiting, status: str, env: Environment) -> str:
    if status == "Approved":
        then = f"goes on to {waiting.next_stage}" if waiting.next_stage else "succeeds"
        return (
            f"Approved: run {waiting.execution_id} {then}; "
            f"follow it with `{env.make_hint('status')}`"
        )
    return (
        f"Rejected: run {waiting.execution_id} fails and deploys nothing; what is live stays "
        f"live. Push a new commit to start another run (`{env.make_hint('status')}`)"
    )


def approve(
    env: Environment,
    clients,
    *,
    reject: bool = False,
    comment: str | None = None,
    execution: str | None = None,
) -> str:
    """Answer the waiting approval; returns Approved or Rejected. Bad input changes nothing."""
    if comment is not None and len(comment) > SUMMARY_LIMIT:
        raise UserError(f"the comment has {len(comment)} characters: at most {SUMMARY_LIMIT}")
    cfn = clients("cloudformation")
    existing_stack_status(cfn, env)
    pipeline = stack_outputs(cfn, env.stack_name).get("PipelineName")
    if not pipeline:
        raise UserError(f"the stack {env.stack_name} has no PipelineName output (yet)")
    cp = clients("codepipeline")
    waiting = waiting_approvals(cp.get_pipeline_state(name=pipeline))
    if not waiting:
        raise UserError(
            f"no run of {pipeline} waits for approval: `{env.make_hint('status')}` shows its runs"
        )
    if execution:
        mine = [w for w in waiting if w.execution_id.startswith(execution)]
        if not mine:
            ids = ", ".join(w.execution_id for w in waiting)
            raise UserError(f"run {execution} does not wait for approval: the one waiting is {ids}")
        waiting = mine
    w = waiting[0]
    status = "Rejected" if reject else "Approved"
    try:
        cp.put_approval_result(
            pipelineName=pipeline,
            stageName=w.stage,
            actionName=w.action,
            result={"status": status, "summary": comment or f"{status} with make approve"},
            token=w.token,
        )
    except ClientError as exc:
        if runs.error_code(exc) not in (
            "InvalidApprovalTokenException",
            "ApprovalAlreadyCompletedException",
        ):
            raise
        raise UserError(
            f"the approval of run {w.execution_id} was answered or expired meanwhile: "
            f"`{env.make_hint('status')}` shows where it is"
        ) from None
    console.print(next_step(w, status, env), markup=False)
    return status
