"""What the pipeline is doing: recent runs, stage states, the last deployment, the live version.
The summarising functions are pure, over responses shaped as the botocore models say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError
from rich.table import Table

from pipekit import appclient
from pipekit.errors import UserError
from pipekit.harness.approve import waiting_line
from pipekit.harness.config import Environment
from pipekit.harness.deploy import stack_outputs
from pipekit.harness.explain import stack_failure, status_cause
from pipekit.harness.preflight import stack_status
from pipekit.progress import console, duration


@dataclass(frozen=True)
class RunSummary:
    execution_id: str
    commit: str  # short SHA, or "-"
    trigger: str
    status: str
    kind: str  # STANDARD | ROLLBACK
    started: datetime | None
    duration_s: float | None


def summarise_execution(summary: dict) -> RunSummary:
    """One list_pipeline_executions entry, reduced to what a person scans for."""
    revisions = summary.get("sourceRevisions") or []
    commit = revisions[0].get("revisionId", "-")[:12] if revisions else "-"
    trigger = (summary.get("trigger") or {}).get("triggerType", "-")
    kind = summary.get("executionType", "STANDARD")
    if kind == "ROLLBACK":
        target = (summary.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecutionId")
        if target:
            kind = f"ROLLBACK to {target[:8]}"
    start = summary.get("startTime")
    end = summary.get("lastUpdateTime")
    running = summary.get("status") == "InProgress"
    seconds = (end - start).total_seconds() if start and end and not running else None
    return RunSummary(
        execution_id=summary.get("pipelineExecutionId", "-"),
        commit=commit,
        trigger=trigger,
        status=summary.get("status", "-"),
        kind=kind,
        started=start,
        duration_s=seconds,
    )


def stage_rows(state: dict) -> list[tuple[str, str, str, str]]:
    """(stage, status, execution id, failing action summary) per stage of get_pipeline_state."""
    rows = []
    for stage in state.get("stageStates", []):
        latest = stage.get("latestExecution") or {}
        detail = ""
        for action in stage.get("actionStates", []):
            execution = action.get("latestExecution") or {}
            if execution.get("status") == "Failed":
                error = (execution.get("errorDetails") or {}).get("message") or execution.get(
                    "summary", ""
                )
                detail = f"{action.get('actionName')}: {error}"
                break
        rows.append(
            (
                stage.get("stageName", "?"),
                latest.get("status", "not run"),
                latest.get("pipelineExecutionId", "-"),
                detail,
            )
        )
    return rows


def summarise_deployment(info: dict) -> str:
    """One line for a get_deployment deploymentInfo, rollback relations included."""
    parts = [f"{info.get('deploymentId', '?')} {info.get('status', '?')}"]
    start, end = info.get("startTime") or info.get("createTime"), info.get("completeTime")
    if start and end:
        parts.append(f"in {duration((end - start).total_seconds())}")
    if info.get("creator"):
        parts.append(f"by {info['creator']}")
    error = info.get("errorInformation") or {}
    if error.get("code"):
        parts.append(f"error {error['code']}: {error.get('message', '')}".rstrip(": "))
    rollback = info.get("rollbackInfo") or {}
    if rollback.get("rollbackDeploymentId"):
        parts.append(f"rolled back by {rollback['rollbackDeploymentId']}")
    if rollback.get("rollbackTriggeringDeploymentId"):
        parts.append(f"rollback of {rollback['rollbackTriggeringDeploymentId']}")
    return ", ".join(parts)


def recent_runs(codepipeline, pipeline: str, limit: int = 5) -> list[RunSummary]:
    response = codepipeline.list_pipeline_executions(pipelineName=pipeline, maxResults=limit)
    return [summarise_execution(s) for s in response.get("pipelineExecutionSummaries", [])]


def pipeline_state(codepipeline, pipeline: str) -> dict | None:
    try:
        return codepipeline.get_pipeline_state(name=pipeline)
    except ClientError as exc:
        # Emulators may not implement get_pipeline_state (moto answers 500); the runs above
        # still tell the story, so status degrades instead of failing.
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= 500 or exc.response.get("Error", {}).get("Code") == "NotImplemented":
            return None
        raise


def last_deployment(codedeploy, application: str, group: str) -> str | None:
    ids = codedeploy.list_deployments(applicationName=application, deploymentGroupName=group).get(
        "deployments", []
    )
    if not ids:
        return None
    infos = [codedeploy.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids[:10]]
    latest = max(infos, key=lambda info: info.get("createTime") or datetime.min)
    return summarise_deployment(latest)


def app_version(url: str, timeout: float = 5.0) -> str:
    """What the app's /version says, or why it did not answer."""
    answer, body = appclient.version(url, timeout)
    if body is None:
        why = answer.error or f"HTTP {answer.status}, not a JSON object"
        return f"not answering at {appclient.join(url, '/version')} ({why})"
    commit = str(body.get("commit", "?"))[:12]
    return (
        f"answering at {url}: commit {commit}, build {body.get('build_id', '?')}, "
        f"pipeline execution {body.get('pipeline_execution_id', '?')}"
    )


def show_status(env: Environment, clients, runs: int = 5) -> None:
    """The stack's state (and its last failure), the pipeline's recent runs and stage states,
    the last deployment and what the app serves: what `make status` prints."""
    cfn = clients("cloudformation")
    status = stack_status(cfn, env.stack_name)
    if status is None:
        raise UserError(
            f"the stack {env.stack_name} does not exist: deploy it with `{env.make_hint('deploy')}`"
        )
    console.print(f"Stack {env.stack_name}: {status}")
    cause = stack_failure(cfn, env.stack_name, status)
    if cause:
        console.print(
            f"  last failure: {cause.get('LogicalResourceId')}: {cause.get('ResourceStatusReason')}"
        )
    outputs = stack_outputs(cfn, env.stack_name)
    pipeline = outputs.get("PipelineName")
    if pipeline:
        codepipeline = clients("codepipeline")
        table = Table(title=f"Recent runs of {pipeline}")
        for column in ("Execution", "Commit", "Trigger", "Type", "Status", "Duration"):
            table.add_column(column)
        runs_shown = recent_runs(codepipeline, pipeline, runs)
        for r in runs_shown:
            style = "red" if r.status == "Failed" else "green" if r.status == "Succeeded" else ""
            table.add_row(
                r.execution_id[:8],
                r.commit,
                r.trigger,
                r.kind,
                r.status,
                duration(r.duration_s),
                style=style,
            )
        console.print(table)
        latest = runs_shown[0] if runs_shown else None
        if latest is not None and latest.status == "Failed":
            summary = {"pipelineExecutionId": latest.execution_id, "status": latest.status}
            console.print(f"[red]Latest {status_cause(clients, env, outputs, summary)}[/]")
        state = pipeline_state(codepipeline, pipeline)
        if state is None:
            console.print("Stage states: not available from this endpoint")
        else:
            for stage, stage_status, execution, detail in stage_rows(state):
                line = f"  {stage:<8} {stage_status:<11} {execution[:8]}"
                console.print(line + (f"  {detail}" if detail else ""))
            waiting = waiting_line(state, env)
            if waiting:
                console.print(f"[yellow]{waiting}[/]", markup=True, highlight=False)
    else:
        console.print("No PipelineName output yet.")
    app, group = outputs.get("CodeDeployApplicationName"), outputs.get("DeploymentGroupName")
    if app and group:
        deployment = last_deployment(clients("codedeploy"), app, group)
        console.print(f"Last deployment: {deployment or 'none yet'}")
    url = env.app_url or outputs.get("AppUrl")
    console.print(f"App: {app_version(url) if url else 'no AppUrl output'}")
