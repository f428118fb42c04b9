"""CodePipeline's execution APIs answered from the engine's records: moto's executions never
progress and it has no action executions or stage states. Start, rollback and stop go to the
Controller (the engine); without one, moto's own StartPipelineExecution stays and the other two
are refused.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.codepipeline.models import codepipeline_backends
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.responses import ActionResult

from pipekit.emulator.records.exceptions import (
    ActionNotFoundException,
    ApprovalAlreadyCompletedException,
    InvalidApprovalTokenException,
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
    StageNotFoundException,
    ValidationException,
)
from pipekit.emulator.records.overrides import context, original
from pipekit.emulator.records.store import (
    Controller,
    Record,
    controller,
    now,
    pipeline_token,
    public,
    records_for,
)


def execution_summary(record: Record) -> Record:
    """PipelineExecutionSummary from a PipelineExecution-shaped record."""
    keys = (
        "pipelineExecutionId",
        "status",
        "statusSummary",
        "startTime",
        "lastUpdateTime",
        "sourceRevisions",
        "trigger",
        "stopTrigger",
        "executionMode",
        "executionType",
        "rollbackMetadata",
    )
    return copy.deepcopy({k: record[k] for k in keys if record.get(k) is not None})


def execution_detail(record: Record) -> Record:
    """PipelineExecution (get_pipeline_execution) from the same record."""
    keys = (
        "pipelineName",
        "pipelineVersion",
        "pipelineExecutionId",
        "status",
        "statusSummary",
        "artifactRevisions",
        "variables",
        "trigger",
        "executionMode",
        "executionType",
        "rollbackMetadata",
    )
    return copy.deepcopy({k: record[k] for k in keys if record.get(k) is not None})


def _pipeline_definition(account_id: str, region: str, name: str) -> dict[str, Any]:
    backend = codepipeline_backends[account_id][region]
    pipeline = backend.pipelines.get(name)
    if pipeline is None:
        raise PipelineNotFoundException(
            f"Account '{account_id}' does not have a pipeline with name '{name}'"
        )
    records_for(account_id, region).claim(name, pipeline_token(account_id, region, name))
    return pipeline.pipeline


def list_pipeline_executions(self: CodePipelineResponse) -> ActionResult:
    account_id, region, recs = context(self)
    name = self._get_param("pipelineName")
    _pipeline_definition(account_id, region, name)
    stage_filter = (self._get_param("filter") or {}).get("succeededInStage", {}).get("stageName")
    with recs.lock:
        ours = list(reversed(recs.executions.get(name, {}).values()))
        if stage_filter:
            ours = [r for r in ours if stage_filter in r.get("_succeededStages", ())]
        summaries = [execution_summary(r) for r in ours]
    if not stage_filter:
        # executions moto itself started (no engine) still show, after ours
        known = {s["pipelineExecutionId"] for s in summaries}
        backend = codepipeline_backends[account_id][region]
        for execution in reversed(backend.pipelines[name].executions.values()):
            if execution.pipeline_execution_id not in known:
                summary = execution.to_summary_dict()
                summary.pop("statusSummary", None)
                summaries.append(summary)
    max_results = self._get_param("maxResults") or 100
    token = int(self._get_param("nextToken") or 0)
    page = summaries[token : token + max_results]
    result: Record = {"pipelineExecutionSummaries": page}
    if token + max_results < len(summaries):
        result["nextToken"] = str(token + max_results)
    return ActionResult(result)


def get_pipeline_execution(self: CodePipelineResponse) -> Any:
    account_id, region, recs = context(self)
    name = self._get_param("pipelineName")
    execution_id = self._get_param("pipelineExecutionId")
    recs.claim(name, pipeline_token(account_id, region, name))
    with recs.lock:
        record = recs.executions.get(name, {}).get(execution_id)
        if record is not None:
            return ActionResult({"pipelineExecution": execution_detail(record)})
    return original("codepipeline.get_pipeline_execution")(self)


def get_pipeline_state(self: CodePipelineResponse) -> ActionResult:
    account_id, region, recs = context(self)
    name = self._get_param("name")
    definition = _pipeline_definition(account_id, region, name)
    metadata = codepipeline_backends[account_id][region].pipelines[name].metadata
    states = []
    with recs.lock:
        recorded = recs.stage_states.get(name, {})
        for stage in definition["stages"]:
            state = recorded.get(stage["name"])
            if state is None:
                state = {
                    "stageName": stage["name"],
                    "actionStates": [{"actionName": a["name"]} for a in stage["actions"]],
                }
            states.append(public(state))
    return ActionResult(
        {
            "pipelineName": name,
            "pipelineVersion": definition.get("version", 1),
            "stageStates": states,
            "created": metadata["created"],
            "updated": metadata["updated"],
        }
    )


def list_action_executions(self: CodePipelineResponse) -> ActionResult:
    account_id, region, recs = context(self)
    name = self._get_param("pipelineName")
    _pipeline_definition(account_id, region, name)
    wanted = (self._get_param("filter") or {}).get("pipelineExecutionId")
    with recs.lock:
        details = [
            public(r)
            for r in reversed(recs.action_executions.get(name, []))
            if wanted is None or r["pipelineExecutionId"] == wanted
        ]
    if wanted and not details and wanted not in recs.executions.get(name, {}):
        raise PipelineExecutionNotFoundException(
            f"Pipeline execution '{wanted}' does not exist for pipeline '{name}'"
        )
    max_results = self._get_param("maxResults") or 100
    token = int(self._get_param("nextToken") or 0)
    result: Record = {"actionExecutionDetails": details[token : token + max_results]}
    if token + max_results < len(details):
        result["nextToken"] = str(token + max_results)
    return ActionResult(result)


def start_pipeline_execution(self: CodePipelineResponse) -> Any:
    engine = controller()
    if engine is None:
        return original("codepipeline.start_pipeline_execution")(self)
    account_id, region, _ = context(self)
    name = self._get_param("name")
    _pipeline_definition(account_id, region, name)
    execution_id = engine.start_execution(
        account_id,
        region,
        name,
        trigger_type="StartPipelineExecution",
        # the caller's ARN, as AWS records it; moto's caller is the account root
        trigger_detail=f"arn:aws:iam::{account_id}:root",
        source_revisions=self._get_param("sourceRevisions"),
        variables=self._get_param("variables"),
    )
    return ActionResult({"pipelineExecutionId": execution_id})


def _engine(operation: str) -> Controller:
    engine = controller()
    if engine is None:
        raise ValidationException(f"{operation} needs the local pipeline engine")
    return engine


def rollback_stage(self: CodePipelineResponse) -> ActionResult:
    engine = _engine("RollbackStage")
    account_id, region, _ = context(self)
    name = self._get_param("pipelineName")
    _pipeline_definition(account_id, region, name)
    execution_id = engine.rollback_stage(
        account_id,
        region,
        name,
        self._get_param("stageName"),
        self._get_param("targetPipelineExecutionId"),
        automated=False,
        trigger_detail=f"arn:aws:iam::{account_id}:root",
    )
    return ActionResult({"pipelineExecutionId": execution_id})


def stop_pipeline_execution(self: CodePipelineResponse) -> ActionResult:
    engine = _engine("StopPipelineExecution")
    account_id, region, _ = context(self)
    name = self._get_param("pipelineName")
    execution_id = self._get_param("pipelineExecutionId")
    engine.stop_execution(
        account_id,
        region,
        name,
        execution_id,
        abandon=bool(self._get_param("abandon")),
        reason=self._get_param("reason"),
    )
    return ActionResult({"pipelineExecutionId": execution_id})


# ApprovalResult in botocore's codepipeline model: status is an enum, summary 0..512 characters
APPROVAL_STATUSES = ("Approved", "Rejected")
APPROVAL_SUMMARY_LIMIT = 512


def put_approval_result(self: CodePipelineResponse) -> ActionResult:
    """Answer a manual approval the engine's approval action waits on (`Records.approvals`).

    The refusals are the ones botocore lists for PutApprovalResult, chosen by their
    descriptions there: a token that was answered already -> ApprovalAlreadyCompletedException
    ("The approval action has already been approved or rejected"); any other token that is not
    the action's open request (unknown, expired, of another action) ->
    InvalidApprovalTokenException ("The approval request already received a response or has
    expired"). Those descriptions are the messages too: AWS's own text is not documented."""
    account_id, region, recs = context(self)
    name = self._get_param("pipelineName")
    definition = _pipeline_definition(account_id, region, name)
    stage_name, action_name = self._get_param("stageName"), self._get_param("actionName")
    stage = next((s for s in definition["stages"] if s["name"] == stage_name), None)
    if stage is None:
        raise StageNotFoundException(f"Stage {stage_name} not found in pipeline {name}")
    if not any(a["name"] == action_name for a in stage["actions"]):
        raise ActionNotFoundException(f"Action {action_name} not found in stage {stage_name}")
    result = self._get_param("result") or {}
    status, summary = result.get("status"), result.get("summary", "")
    if status not in APPROVAL_STATUSES:
        raise ValidationException(
            f"Value '{status}' at 'result.status' failed to satisfy constraint: Member must "
            f"satisfy enum value set: [{', '.join(APPROVAL_STATUSES)}]"
        )
    if len(summary) > APPROVAL_SUMMARY_LIMIT:
        raise ValidationException(
            "Value at 'result.summary' failed to satisfy constraint: Member must have length "
            f"less than or equal to {APPROVAL_SUMMARY_LIMIT}"
        )
    token = self._get_param("token")
    with recs.lock:
        approval = recs.approvals.get(token)
        if approval is None or (approval.pipeline, approval.stage, approval.action) != (
            name,
            stage_name,
            action_name,
        ):
            raise InvalidApprovalTokenException(
                "The approval request already received a response or has expired"
            )
        if approval.status is not None:
            raise ApprovalAlreadyCompletedException(
                "The approval action has already been approved or rejected"
            )
        if now() >= approval.expires:
            raise InvalidApprovalTokenException(
                "The approval request already received a response or has expired"
            )
        approved_at = now()
        approval.status, approval.summary = status, summary
        # the caller's ARN, as AWS records it (lastUpdatedBy); moto's caller is the account root
        approval.answered_by = f"arn:aws:iam::{account_id}:root"
        approval.answered.set()
    return ActionResult({"approvedAt": approved_at})


OVERRIDES = {
    "list_pipeline_executions": list_pipeline_executions,
    "get_pipeline_execution": get_pipeline_execution,
    "get_pipeline_state": get_pipeline_state,
    "list_action_executions": list_action_executions,
    "start_pipeline_execution": start_pipeline_execution,
    "rollback_stage": rollback_stage,
    "stop_pipeline_execution": stop_pipeline_execution,
    "put_approval_result": put_approval_result,
}
SERVICE = "codepipeline"
RESPONSE = CodePipelineResponse
