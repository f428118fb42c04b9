"""CodePipeline's records as the engine writes them, in the shape the APIs return: the
execution record (`get_pipeline_execution`), the stage states (`get_pipeline_state`) and the
action executions (`list_action_executions`), all kept in `pipekit.emulator.records`.

Also the two outcomes of one action, as its action execution records them: `ActionResult`
(output artifacts, output variables, external execution id and summary) and `ActionFailed`
(error code and message). Fields starting with `_` are the engine's own and never served."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from pipekit.emulator import records as rec

# The lengths CodePipeline's model allows: ExecutionSummary (an action state's summary) and
# Message (ErrorDetails.message); summaries use the first for externalExecutionSummary too.
SUMMARY_LIMIT = 2048
MESSAGE_LIMIT = 5000


class ActionFailed(Exception):
    """The action failed: its error code and message, and the build or deployment it started."""

    def __init__(self, code: str, message: str, external_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.external_id = code, message, external_id


@dataclass(frozen=True)
class ActionResult:
    """What a succeeded action produced."""

    outputs: dict[str, dict[str, str]]  # output artifact name -> {"bucket", "key"}
    variables: dict[str, str]  # the action's output variables (its namespace's content)
    external_id: str  # the build id, the deployment id, the commit
    summary: str


@dataclass
class Execution:
    account_id: str
    region: str
    pipeline_name: str
    record: dict[str, Any]
    source_revisions: dict[str, str] = field(default_factory=dict)  # action name -> commit
    rollback_stage: str | None = None
    target: dict[str, Any] | None = None
    stop_requested: bool = False
    abandon: bool = False

    @property
    def id(self) -> str:
        return self.record["pipelineExecutionId"]

    @property
    def records(self) -> rec.Records:
        return rec.records_for(self.account_id, self.region)


@dataclass
class RunningAction:
    """One action execution being recorded: its detail and its entry in the stage state."""

    detail: dict[str, Any]
    state: dict[str, Any]


def new_execution(
    definition: dict[str, Any], trigger_type: str, detail: str, execution_type: str
) -> dict[str, Any]:
    start = rec.now()
    return {
        "pipelineName": definition["name"],
        "pipelineVersion": definition.get("version", 1),
        "pipelineExecutionId": str(uuid.uuid4()),
        "status": "InProgress",
        "startTime": start,
        "lastUpdateTime": start,
        "sourceRevisions": [],
        "artifactRevisions": [],
        "variables": [],
        "trigger": {"triggerType": trigger_type, "triggerDetail": detail},
        "executionMode": definition.get("executionMode", "SUPERSEDED"),
        "executionType": execution_type,
        "_succeededStages": [],
        "_artifacts": {},
        "_namespaces": {},
    }


def update(execution: Execution, **fields: Any) -> None:
    with execution.records.lock:
        execution.record.update(fields)
        execution.record["lastUpdateTime"] = rec.now()


def stage_of(definition: dict[str, Any], action: dict[str, Any]) -> str:
    for stage in definition["stages"]:
        if any(a["name"] == action["name"] for a in stage["actions"]):
            return stage["name"]
    raise KeyError(action["name"])


def enter_stage(execution: Execution, stage: dict[str, Any]) -> dict[str, Any]:
    """The stage's state as the execution enters it; the action states keep their last runs."""
    recs = execution.records
    with recs.lock:
        state = recs.stage_states.setdefault(execution.pipeline_name, {}).setdefault(
            stage["name"],
            {"stageName": stage["name"], "actionStates": []},
        )
        state["latestExecution"] = {
            "pipelineExecutionId": execution.id,
            "status": "InProgress",
            "type": execution.record["executionType"],
        }
        state["inboundExecutions"] = []
        known = {a["actionName"]: a for a in state["actionStates"]}
        state["actionStates"] = [
            known.get(a["name"], {"actionName": a["name"]}) for a in stage["actions"]
        ]
    return state


def leave_stage(execution: Execution, state: dict[str, Any], ok: bool) -> None:
    with execution.records.lock:
        state["latestExecution"]["status"] = "Succeeded" if ok else "Failed"
        if ok:
            execution.record["_succeededStages"].append(state["stageName"])


def _set_action_state(recs: rec.Records, pipeline: str, stage: str, state: dict) -> None:
    states = recs.stage_states[pipeline][stage]["actionStates"]
    for i, existing in enumerate(states):
        if existing["actionName"] == state["actionName"]:
            states[i] = state
            return
    states.append(state)


def _action_state(recs: rec.Records, pipeline: str, stage: str, action_name: str) -> dict:
    for state in recs.stage_states[pipeline][stage]["actionStates"]:
        if state["actionName"] == action_name:
            return state
    return {"actionName": action_name}


def start_action(
    execution: Execution,
    definition: dict[str, Any],
    stage: dict[str, Any],
    action: dict[str, Any],
) -> RunningAction:
    start = rec.now()
    action_execution_id = str(uuid.uuid4())
    artifacts = execution.record["_artifacts"]
    detail: dict[str, Any] = {
        "pipelineExecutionId": execution.id,
        "actionExecutionId": action_execution_id,
        "pipelineVersion": definition.get("version", 1),
        "stageName": stage["name"],
        "actionName": action["name"],
        "startTime": start,
        "lastUpdateTime": start,
        "status": "InProgress",
        "input": {
            "actionTypeId": action["actionTypeId"],
            "configuration": action.get("configuration", {}),
            "resolvedConfiguration": {},
            "region": action.get("region") or execution.region,
            "inputArtifacts": [
                {"name": a["name"], "s3location": artifacts.get(a["name"], {})}
                for a in action.get("inputArtifacts", [])
            ],
        },
        "output": {"outputArtifacts": [], "outputVariables": {}},
    }
    if action.get("roleArn") or definition.get("roleArn"):
        detail["input"]["roleArn"] = action.get("roleArn") or definition.get("roleArn")
    if action.get("namespace"):
        detail["input"]["namespace"] = action["namespace"]
    state = {
        "actionName": action["name"],
        "latestExecution": {
            "actionExecutionId": action_execution_id,
            "status": "InProgress",
            "lastStatusChange": start,
        },
    }
    recs = execution.records
    with recs.lock:
        recs.action_executions.setdefault(execution.pipeline_name, []).append(detail)
        _set_action_state(recs, execution.pipeline_name, stage["name"], state)
    return RunningAction(detail, state)


def finish_action(
    execution: Execution,
    action: dict[str, Any],
    running: RunningAction,
    result: ActionResult | ActionFailed,
) -> None:
    """Record how the action ended; a success also hands its output artifacts and variables to
    the rest of the execution."""
    end = rec.now()
    detail, latest = running.detail, running.state["latestExecution"]
    with execution.records.lock:
        detail["lastUpdateTime"] = end
        latest["lastStatusChange"] = end
        if isinstance(result, ActionFailed):
            error = {"code": result.code, "message": result.message[:MESSAGE_LIMIT]}
            detail["status"] = "Failed"
            detail["output"]["executionResult"] = {
                "externalExecutionSummary": result.message[:SUMMARY_LIMIT],
                "errorDetails": error,
            }
            if result.external_id:
                detail["output"]["executionResult"]["externalExecutionId"] = result.external_id
                latest["externalExecutionId"] = result.external_id
            latest.update(
                status="Failed", summary=result.message[:SUMMARY_LIMIT], errorDetails=dict(error)
            )
            return
        execution.record["_artifacts"].update(result.outputs)
        detail["status"] = "Succeeded"
        detail["output"] = {
            "outputArtifacts": [
                {"name": n, "s3location": loc} for n, loc in result.outputs.items()
            ],
            "executionResult": {
                "externalExecutionId": result.external_id,
                "externalExecutionSummary": result.summary[:SUMMARY_LIMIT],
            },
            "outputVariables": result.variables,
        }
        latest.update(
            status="Succeeded",
            summary=result.summary[:SUMMARY_LIMIT],
            externalExecutionId=result.external_id,
        )
        if action.get("namespace"):
            execution.record["_namespaces"][action["namespace"]] = result.variables


def show_token(execution: Execution, stage: str, action_name: str, token: str | None) -> None:
    """An approval's token in its action state while the request is open (GetPipelineState's
    `latestExecution.token`, what PutApprovalResult needs); None takes it away."""
    recs = execution.records
    with recs.lock:
        latest = _action_state(recs, execution.pipeline_name, stage, action_name)["latestExecution"]
        if token is None:
            latest.pop("token", None)
        else:
            latest["token"] = token


def answered_by(execution: Execution, stage: str, action_name: str, arn: str) -> None:
    """Who answered an approval (the action state's `lastUpdatedBy`, the action execution's
    `updatedBy`: botocore codepipeline ActionExecution, ActionExecutionDetail)."""
    recs = execution.records
    with recs.lock:
        latest = _action_state(recs, execution.pipeline_name, stage, action_name)["latestExecution"]
        latest["lastUpdatedBy"] = arn
        for detail in recs.action_executions.get(execution.pipeline_name, []):
            if detail["actionExecutionId"] == latest.get("actionExecutionId"):
                detail["updatedBy"] = arn


def record_source_revision(
    execution: Execution,
    definition: dict[str, Any],
    action: dict[str, Any],
    commit: str,
    summary: str,
    artifact_names: list[str],
) -> None:
    """A source action's revision: in the execution's source and artifact revisions, and as
    the action's current revision in the stage state."""
    recs = execution.records
    stage = stage_of(definition, action)
    with recs.lock:
        execution.record["sourceRevisions"].append(
            {"actionName": action["name"], "revisionId": commit, "revisionSummary": summary}
        )
        for name in artifact_names:
            execution.record["artifactRevisions"].append(
                {
                    "name": name,
                    "revisionId": commit,
                    "revisionSummary": summary,
                    "created": rec.now(),
                }
            )
        _set_action_state(
            recs,
            execution.pipeline_name,
            stage,
            {
                **_action_state(recs, execution.pipeline_name, stage, action["name"]),
                "currentRevision": {
                    "revisionId": commit,
                    "revisionChangeId": commit,
                    "created": rec.now(),
                },
            },
        )
