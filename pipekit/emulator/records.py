"""Execution, build and deployment records that the local pipeline engine writes, and the moto
response overrides that serve them through the ordinary CodePipeline, CodeBuild and CodeDeploy
APIs.

Records are stored as dicts already shaped like the botocore output shapes (camelCase keys,
datetime values); moto's serializer turns them into wire format, so what a boto3 client reads
is exactly what the models allow. Keys that start with "_" are internal and never returned.

Calls that change state (StartPipelineExecution, RollbackStage, StopPipelineExecution) are
forwarded to the registered `Controller` (the engine); without one, moto's own behaviour stays.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from moto.codebuild.responses import CodeBuildResponse
from moto.codedeploy.responses import CodeDeployResponse
from moto.codepipeline.exceptions import (
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
)
from moto.codepipeline.models import codepipeline_backends
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult

Record = dict[str, Any]


def now() -> datetime:
    return datetime.now(UTC)


def public(record: Record) -> Record:
    """A copy of a record without its internal keys, for a response (a copy: the engine keeps
    changing nested parts, such as deploymentOverview, while the response is serialised)."""
    return copy.deepcopy(
        {k: v for k, v in record.items() if not k.startswith("_") and v is not None}
    )


@dataclass
class Records:
    """Everything the engine recorded for one account and region."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    # pipeline name -> execution id -> PipelineExecution-shaped record (insertion = start order)
    executions: dict[str, dict[str, Record]] = field(default_factory=dict)
    # pipeline name -> ActionExecutionDetail-shaped records, oldest first
    action_executions: dict[str, list[Record]] = field(default_factory=dict)
    # pipeline name -> stage name -> StageState-shaped record
    stage_states: dict[str, dict[str, Record]] = field(default_factory=dict)
    # build id -> Build-shaped record
    builds: dict[str, Record] = field(default_factory=dict)
    # deployment id -> DeploymentInfo-shaped record
    deployments: dict[str, Record] = field(default_factory=dict)
    # deployment id -> instance id -> InstanceTarget-shaped record
    targets: dict[str, dict[str, Record]] = field(default_factory=dict)
    # pipeline name -> token of the pipeline object the records belong to (see pipeline_token)
    owners: dict[str, tuple[int, str]] = field(default_factory=dict)

    def reset(self) -> None:
        with self.lock:
            for table in (
                self.executions,
                self.action_executions,
                self.stage_states,
                self.builds,
                self.deployments,
                self.targets,
                self.owners,
            ):
                table.clear()

    def claim(self, name: str, token: tuple[int, str] | None) -> None:
        """Forget a pipeline's records when the pipeline they belong to is gone (deleted and
        created again, or the emulator reset): a new pipeline starts with no history."""
        with self.lock:
            if token is None or self.owners.get(name) == token:
                return
            if name in self.owners:
                self.executions.pop(name, None)
                self.action_executions.pop(name, None)
                self.stage_states.pop(name, None)
            self.owners[name] = token


def pipeline_token(account_id: str, region: str, name: str) -> tuple[int, str] | None:
    """Identifies one pipeline object in moto's backend (None when there is none)."""
    pipeline = codepipeline_backends[account_id][region].pipelines.get(name)
    if pipeline is None:
        return None
    return (id(pipeline), pipeline.metadata["created"])


_RECORDS: dict[tuple[str, str], Records] = {}
_RECORDS_LOCK = threading.Lock()


def records_for(account_id: str, region: str) -> Records:
    with _RECORDS_LOCK:
        return _RECORDS.setdefault((account_id, region), Records())


def reset_all() -> None:
    """Forget every record (for an emulator reset)."""
    with _RECORDS_LOCK:
        for recs in _RECORDS.values():
            recs.reset()


class Controller(Protocol):
    """What the engine offers the API: the calls that start or stop work."""

    def start_execution(
        self,
        account_id: str,
        region: str,
        pipeline_name: str,
        *,
        trigger_type: str,
        trigger_detail: str,
        source_revisions: list[dict[str, str]] | None,
        variables: list[dict[str, str]] | None,
    ) -> str: ...

    def rollback_stage(
        self,
        account_id: str,
        region: str,
        pipeline_name: str,
        stage_name: str,
        target_execution_id: str,
        *,
        automated: bool,
        trigger_detail: str = "",
    ) -> str: ...

    def stop_execution(
        self,
        account_id: str,
        region: str,
        pipeline_name: str,
        execution_id: str,
        *,
        abandon: bool,
        reason: str | None,
    ) -> None: ...


_controller: Controller | None = None


def set_controller(controller: Controller | None) -> None:
    global _controller
    _controller = controller


class ValidationException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class ConflictException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


class DeploymentDoesNotExistException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("DeploymentDoesNotExistException", message)


class InstanceDoesNotExistException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("InstanceDoesNotExistException", message)


# ---------------------------------------------------------------- shaping helpers


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


def _ctx(response: Any) -> tuple[str, str, Records]:
    account_id, region = response.current_account, response.region
    return account_id, region, records_for(account_id, region)


# ---------------------------------------------------------------- CodePipeline overrides


def _cp_list_pipeline_executions(self: CodePipelineResponse) -> ActionResult:
    account_id, region, recs = _ctx(self)
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


def _cp_get_pipeline_execution(self: CodePipelineResponse) -> Any:
    account_id, region, recs = _ctx(self)
    name = self._get_param("pipelineName")
    execution_id = self._get_param("pipelineExecutionId")
    recs.claim(name, pipeline_token(account_id, region, name))
    with recs.lock:
        record = recs.executions.get(name, {}).get(execution_id)
        if record is not None:
            return ActionResult({"pipelineExecution": execution_detail(record)})
    return _ORIGINALS["codepipeline.get_pipeline_execution"](self)


def _cp_get_pipeline_state(self: CodePipelineResponse) -> ActionResult:
    account_id, region, recs = _ctx(self)
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


def _cp_list_action_executions(self: CodePipelineResponse) -> ActionResult:
    account_id, region, recs = _ctx(self)
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


def _cp_start_pipeline_execution(self: CodePipelineResponse) -> Any:
    if _controller is None:
        return _ORIGINALS["codepipeline.start_pipeline_execution"](self)
    account_id, region, _ = _ctx(self)
    name = self._get_param("name")
    _pipeline_definition(account_id, region, name)
    execution_id = _controller.start_execution(
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


def _cp_rollback_stage(self: CodePipelineResponse) -> ActionResult:
    if _controller is None:
        raise ValidationException("RollbackStage needs the local pipeline engine")
    account_id, region, _ = _ctx(self)
    name = self._get_param("pipelineName")
    _pipeline_definition(account_id, region, name)
    execution_id = _controller.rollback_stage(
        account_id,
        region,
        name,
        self._get_param("stageName"),
        self._get_param("targetPipelineExecutionId"),
        automated=False,
        trigger_detail=f"arn:aws:iam::{account_id}:root",
    )
    return ActionResult({"pipelineExecutionId": execution_id})


def _cp_stop_pipeline_execution(self: CodePipelineResponse) -> ActionResult:
    if _controller is None:
        raise ValidationException("StopPipelineExecution needs the local pipeline engine")
    account_id, region, _ = _ctx(self)
    name = self._get_param("pipelineName")
    execution_id = self._get_param("pipelineExecutionId")
    _controller.stop_execution(
        account_id,
        region,
        name,
        execution_id,
        abandon=bool(self._get_param("abandon")),
        reason=self._get_param("reason"),
    )
    return ActionResult({"pipelineExecutionId": execution_id})


# ---------------------------------------------------------------- CodeBuild overrides


def _cb_batch_get_builds(self: CodeBuildResponse) -> Any:
    _, _, recs = _ctx(self)
    ids = self._get_param("ids") or []
    with recs.lock:
        if not any(i in recs.builds for i in ids):
            return _ORIGINALS["codebuild.batch_get_builds"](self)
        builds = [public(recs.builds[i]) for i in ids if i in recs.builds]
    missing = [i for i in ids if i not in recs.builds]
    result: Record = {"builds": builds}
    if missing:
        result["buildsNotFound"] = missing
    return ActionResult(result)


def _cb_list_builds_for_project(self: CodeBuildResponse) -> Any:
    _, _, recs = _ctx(self)
    project = self._get_param("projectName")
    with recs.lock:
        ours = [
            r["id"]
            for r in sorted(recs.builds.values(), key=lambda r: r["startTime"], reverse=True)
            if r["projectName"] == project
        ]
    if not ours:
        return _ORIGINALS["codebuild.list_builds_for_project"](self)
    return ActionResult({"ids": ours})


# ---------------------------------------------------------------- CodeDeploy overrides


def _deployment(recs: Records, deployment_id: str) -> Record:
    record = recs.deployments.get(deployment_id)
    if record is None:
        raise DeploymentDoesNotExistException(f"The deployment {deployment_id} could not be found")
    return record


def _cd_get_deployment(self: CodeDeployResponse) -> Any:
    _, _, recs = _ctx(self)
    deployment_id = self._get_param("deploymentId")
    with recs.lock:
        if deployment_id in recs.deployments:
            return ActionResult({"deploymentInfo": public(recs.deployments[deployment_id])})
    return _ORIGINALS["codedeploy.get_deployment"](self)


def _cd_batch_get_deployments(self: CodeDeployResponse) -> Any:
    _, _, recs = _ctx(self)
    ids = self._get_param("deploymentIds") or []
    with recs.lock:
        if not any(i in recs.deployments for i in ids):
            return _ORIGINALS["codedeploy.batch_get_deployments"](self)
        infos = [public(recs.deployments[i]) for i in ids if i in recs.deployments]
    return ActionResult({"deploymentsInfo": infos})


def _cd_list_deployments(self: CodeDeployResponse) -> Any:
    _, _, recs = _ctx(self)
    app = self._get_param("applicationName")
    group = self._get_param("deploymentGroupName")
    statuses = self._get_param("includeOnlyStatuses")
    time_range = self._get_param("createTimeRange") or {}
    account_id, region = self.current_account, self.region
    with recs.lock:
        ours = sorted(recs.deployments.values(), key=lambda r: r["createTime"], reverse=True)
    ids = []
    for r in ours:
        if app and r["applicationName"] != app:
            continue
        if r.get("_group") != group_token(account_id, region, r):
            continue  # its group was deleted (or the emulator reset) since
        if group and r["deploymentGroupName"] != group:
            continue
        if statuses and r["status"] not in statuses:
            continue
        start, end = time_range.get("start"), time_range.get("end")
        created = r["createTime"].timestamp()
        if start is not None and created < float(start):
            continue
        if end is not None and created > float(end):
            continue
        ids.append(r["deploymentId"])
    original = _ORIGINALS["codedeploy.list_deployments"](self)
    theirs = original.result.get("deployments", []) if isinstance(original, ActionResult) else []
    return ActionResult({"deployments": ids + [i for i in theirs if i not in ids]})


def _cd_list_deployment_instances(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = _ctx(self)
    deployment_id = self._get_param("deploymentId")
    status_filter = self._get_param("instanceStatusFilter")
    with recs.lock:
        _deployment(recs, deployment_id)
        ids = [
            instance_id
            for instance_id, target in recs.targets.get(deployment_id, {}).items()
            if not status_filter or target["status"] in status_filter
        ]
    return ActionResult({"instancesList": ids})


def _instance_summary(target: Record) -> Record:
    return {
        "deploymentId": target["deploymentId"],
        "instanceId": target["targetId"],
        "status": target["status"],
        "lastUpdatedAt": target["lastUpdatedAt"],
        "lifecycleEvents": target["lifecycleEvents"],
    }


def _cd_get_deployment_instance(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = _ctx(self)
    deployment_id = self._get_param("deploymentId")
    instance_id = self._get_param("instanceId")
    with recs.lock:
        _deployment(recs, deployment_id)
        target = recs.targets.get(deployment_id, {}).get(instance_id)
        if target is None:
            raise InstanceDoesNotExistException(f"Instance {instance_id} is not in the deployment")
        return ActionResult({"instanceSummary": _instance_summary(public(target))})


def _cd_list_deployment_targets(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = _ctx(self)
    deployment_id = self._get_param("deploymentId")
    with recs.lock:
        _deployment(recs, deployment_id)
        ids = list(recs.targets.get(deployment_id, {}))
    return ActionResult({"targetIds": ids})


def _cd_batch_get_deployment_targets(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = _ctx(self)
    deployment_id = self._get_param("deploymentId")
    wanted = self._get_param("targetIds") or []
    with recs.lock:
        _deployment(recs, deployment_id)
        targets = recs.targets.get(deployment_id, {})
        found = [
            {"deploymentTargetType": "InstanceTarget", "instanceTarget": public(targets[t])}
            for t in wanted
            if t in targets
        ]
    return ActionResult({"deploymentTargets": found})


def _cd_get_deployment_group(self: CodeDeployResponse) -> Any:
    """Whatever serves get_deployment_group, plus the last deployments we recorded."""
    response = _ORIGINALS["codedeploy.get_deployment_group"](self)
    if not isinstance(response, ActionResult) or not isinstance(response.result, dict):
        return response
    info = response.result.get("deploymentGroupInfo")
    if not isinstance(info, dict):
        return response
    account_id, region, recs = _ctx(self)
    with recs.lock:
        mine = [
            d
            for d in recs.deployments.values()
            if d["applicationName"] == info.get("applicationName")
            and d["deploymentGroupName"] == info.get("deploymentGroupName")
            and d.get("_group") == group_token(account_id, region, d)
        ]
    if mine:
        latest = max(mine, key=lambda d: d["createTime"])
        info["lastAttemptedDeployment"] = _last_info(latest)
        done = [d for d in mine if d["status"] == "Succeeded"]
        if done:
            info["lastSuccessfulDeployment"] = _last_info(max(done, key=lambda d: d["createTime"]))
    return response


def group_token(account_id: str, region: str, record: Record) -> str | None:
    """The id of the deployment group a deployment record belongs to: it survives in-place
    updates of the group and changes when the group is deleted and created again."""
    from moto.codedeploy.models import codedeploy_backends

    backend = codedeploy_backends[account_id][region]
    groups = getattr(backend, "deployment_groups", {}).get(record["applicationName"], {})
    group = groups.get(record["deploymentGroupName"])
    return None if group is None else group.deployment_group_id


def _last_info(record: Record) -> Record:
    info = {
        "deploymentId": record["deploymentId"],
        "status": record["status"],
        "createTime": record["createTime"],
    }
    if record.get("completeTime"):
        info["endTime"] = record["completeTime"]
    return info


_OVERRIDES: dict[tuple[type, str], Callable[..., Any]] = {
    (CodePipelineResponse, "list_pipeline_executions"): _cp_list_pipeline_executions,
    (CodePipelineResponse, "get_pipeline_execution"): _cp_get_pipeline_execution,
    (CodePipelineResponse, "get_pipeline_state"): _cp_get_pipeline_state,
    (CodePipelineResponse, "list_action_executions"): _cp_list_action_executions,
    (CodePipelineResponse, "start_pipeline_execution"): _cp_start_pipeline_execution,
    (CodePipelineResponse, "rollback_stage"): _cp_rollback_stage,
    (CodePipelineResponse, "stop_pipeline_execution"): _cp_stop_pipeline_execution,
    (CodeBuildResponse, "batch_get_builds"): _cb_batch_get_builds,
    (CodeBuildResponse, "list_builds_for_project"): _cb_list_builds_for_project,
    (CodeDeployResponse, "get_deployment"): _cd_get_deployment,
    (CodeDeployResponse, "get_deployment_group"): _cd_get_deployment_group,
    (CodeDeployResponse, "batch_get_deployments"): _cd_batch_get_deployments,
    (CodeDeployResponse, "list_deployments"): _cd_list_deployments,
    (CodeDeployResponse, "list_deployment_instances"): _cd_list_deployment_instances,
    (CodeDeployResponse, "get_deployment_instance"): _cd_get_deployment_instance,
    (CodeDeployResponse, "list_deployment_targets"): _cd_list_deployment_targets,
    (CodeDeployResponse, "batch_get_deployment_targets"): _cd_batch_get_deployment_targets,
}
_SERVICE = {CodePipelineResponse: "codepipeline", CodeBuildResponse: "codebuild"}
_ORIGINALS: dict[str, Callable[..., Any]] = {}


def install() -> None:
    """Patch moto's response classes so the record APIs answer from `Records`. Idempotent."""
    for (cls, method), func in _OVERRIDES.items():
        service = _SERVICE.get(cls, "codedeploy")
        key = f"{service}.{method}"
        if key not in _ORIGINALS:
            _ORIGINALS[key] = getattr(cls, method, None) or _not_implemented(method)
            setattr(cls, method, func)


def _not_implemented(method: str) -> Callable[..., Any]:
    def fail(self: Any) -> Any:
        raise NotImplementedError(f"The {method} action has not been implemented")

    return fail
