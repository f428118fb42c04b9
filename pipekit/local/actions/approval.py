"""`Manual` (Category Approval): what CodePipeline's manual approval action does: it publishes
the approval request to its `NotificationArn` (the JSON of the CodePipeline user guide,
approvals-json-format), shows a token in the action's state (GetPipelineState's
`latestExecution.token`) and waits until PutApprovalResult answers it (the emulator's
`records.codepipeline.put_approval_result`) or it expires.

Approved, the action succeeds; Rejected, it fails and so does the run. Both record the
reviewer's summary and ARN (`summary`, `lastUpdatedBy`). The error of a rejection or an
expiry is local wording: no AWS source shows the text CodePipeline records for either.
The 7 days run on the emulator's clock, so advancing it expires a waiting request."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from pipekit.emulator import clock
from pipekit.emulator.records.store import Approval
from pipekit.iam import failures
from pipekit.local import wire
from pipekit.local.actions.base import ActionContext
from pipekit.local.wire import ActionFailed, ActionResult

# "If an approver rejects the action, or if no approval response is received within seven
# days of the pipeline stopping for the approval action, the pipeline status becomes Failed"
# (CodePipeline user guide, approvals-approve-or-reject)
EXPIRY = timedelta(days=7)
POLL_S = 0.5


def run(ctx: ActionContext) -> ActionResult:
    execution, action = ctx.execution, ctx.action
    stage = wire.stage_of(ctx.definition, action)
    approval = Approval(
        execution.pipeline_name, stage, action["name"], str(uuid.uuid4()), clock.now() + EXPIRY
    )
    topic = ctx.config.get("NotificationArn", "")
    if topic:
        # the action's call with the pipeline's role (pipekit.iam.calls: approval.notify)
        fields = {"topic": topic.rsplit(":", 1)[-1]}
        ctx.authorize("approval.notify", fields, failures.approval_notify)
        _notify(ctx, topic, approval)
    recs = execution.records
    with recs.lock:
        recs.approvals[approval.token] = approval
    wire.show_token(execution, stage, action["name"], approval.token)
    try:
        while not approval.answered.wait(POLL_S):
            if execution.stop_requested:
                raise ActionFailed("JobFailed", "The pipeline execution was stopped")
            if clock.now() >= approval.expires:
                raise ActionFailed("JobFailed", "The approval request expired after 7 days")
    except ActionFailed:
        with recs.lock:  # expired or stopped: the token identifies no request any more
            if approval.status is None:
                recs.approvals.pop(approval.token, None)
        raise
    finally:
        wire.show_token(execution, stage, action["name"], None)
    wire.answered_by(execution, stage, action["name"], approval.answered_by)
    # the token is the action execution's external id: PutApprovalResult's reference says to
    # use list_action_executions' externalExecutionId as the token in PARALLEL mode
    if approval.status == "Rejected":
        raise ActionFailed("JobFailed", approval.summary or "Rejected", approval.token)
    return ActionResult({}, {}, approval.token, approval.summary or "Approved")


def _notify(ctx: ActionContext, topic: str, approval: Approval) -> None:
    """Publish the approval request to the topic, as the user guide's JSON shows it."""
    from moto.sns.models import sns_backends

    execution = ctx.execution
    console = (
        f"https://console.aws.amazon.com/codepipeline/home?region={execution.region}"
        f"#/view/{execution.pipeline_name}"
    )
    message = {
        "region": execution.region,
        "consoleLink": console,
        "approval": {
            "pipelineName": approval.pipeline,
            "stageName": approval.stage,
            "actionName": approval.action,
            "token": approval.token,
            "expires": approval.expires.strftime("%Y-%m-%dT%H:%MZ"),
            "externalEntityLink": ctx.config.get("ExternalEntityLink"),
            "approvalReviewLink": (
                f"{console}/{approval.stage}/{approval.action}/approve/{approval.token}"
            ),
            "customData": ctx.config.get("CustomData"),
        },
    }
    parts = topic.split(":")
    region, account = (parts[3], parts[4]) if len(parts) > 5 else (execution.region, "")
    try:
        sns_backends[account or execution.account_id][region].publish(
            json.dumps(message), arn=topic, subject=f"APPROVAL NEEDED: {approval.pipeline}"
        )
    except Exception as exc:  # moto's NotFound for a topic that does not exist
        raise ActionFailed("JobFailed", f"Could not notify {topic}: {exc}") from exc
