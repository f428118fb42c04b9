"""What the pipeline is doing: recent runs, stage states, the last deployment, the live version.
The summarising functions are pure, over responses shaped as the botocore models say."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError
from rich import box
from rich.table import Table

from pipekit import appclient
from pipekit.harness.approve import waiting_line
from pipekit.harness.config import Environment
from pipekit.harness.deploy import stack_outputs
from pipekit.harness.explain import stack_failure, status_cause
from pipekit.harness.preflight import existing_stack_status
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


def summarise_deployment(info: dict) -> dict:
    """A get_deployment deploymentInfo reduced to what status shows, rollback relations included."""
    start, end = info.get("startTime") or info.get("createTime"), info.get("completeTime")
    error = info.get("errorInformation") or {}
    rollback = info.get("rollbackInfo") or {}
    created = info.get("createTime")
    return {
        "id": info.get("deploymentId", "?"),
        "status": info.get("status", "?"),
        "created": created.isoformat() if created else None,
        "duration_s": (end - start).total_seconds() if start and end else None,
        "creator": info.get("creator"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
        "rolled_back_by": rollback.get("rollbackDeploymentId"),
        "rollback_of": rollback.get("rollbackTriggeringDeploymentId"),
    }


def deployment_line(d: dict) -> str:
    """One line for a summarised deployment."""
    parts = [f"{d['id']} {d['status']}"]
    if d["duration_s"] is not None:
        parts.append(f"in {duration(d['duration_s'])}")
    if d["creator"]:
        parts.append(f"by {d['creator']}")
    if d["error_code"]:
        parts.append(f"error {d['error_code']}: {d['error_message'] or ''}".rstrip(": "))
    if d["rolled_back_by"]:
        parts.append(f"rolled back by {d['rolled_back_by']}")
    if d["rollback_of"]:
        parts.append(f"rollback of {d['rollback_of']}")
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


def last_deployment(codedeploy, application: str, group: str) -> dict | None:
    """The newest of the group's deployments, summarised (None: none yet)."""
    ids = codedeploy.list_deployments(applicationName=application, deploymentGroupName=group).get(
        "deployments", []
    )
    if not ids:
        return None
    infos = [codedeploy.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids[:10]]
    latest = max(infos, key=lambda info: info.get("createTime") or datetime.min)
    return summarise_deployment(latest)


def app_answer(url: str, timeout: float = 5.0) -> dict:
    """What the app's /version says, or why it did not answer."""
    answer, body = appclient.version(url, timeout)
    record: dict = {"url": url, "answering": body is not None}
    if body is None:
        record["error"] = answer.error or f"HTTP {answer.status}, not a JSON object"
        return record
    record["commit"] = str(body.get("commit", "?"))[:12]
    record["build_id"] = str(body.get("build_id", "?"))
    record["pipeline_execution_id"] = str(body.get("pipeline_execution_id", "?"))
    return record


def app_line(app: dict) -> str:
    if not app["answering"]:
        return f"not answering at {appclient.join(app['url'], '/version')} ({app['error']})"
    return (
        f"answering at {app['url']}: commit {app['commit']}, build {app['build_id']}, "
        f"pipeline execution {app['pipeline_execution_id']}"
    )


def app_version(url: str, timeout: float = 5.0) -> str:
    """What the app's /version says, or why it did not answer, in one line."""
    return app_line(app_answer(url, timeout))


def run_record(r: RunSummary) -> dict:
    return {
        "id": r.execution_id,
        "commit": r.commit,
        "trigger": r.trigger,
        "type": r.kind,
        "status": r.status,
        "started": r.started.isoformat() if r.started else None,
        "duration_s": r.duration_s,
    }


def read_status(env: Environment, clients, runs: int = 5) -> dict:
    """Everything `make status` shows, in the shape of docs/schemas/status.schema.json: the one
    reader behind both the table and `--output json`."""
    cfn = clients("cloudformation")
    status = existing_stack_status(cfn, env)
    cause = stack_failure(cfn, env.stack_name, status)
    data: dict = {
        "stack": {
            "name": env.stack_name,
            "status": status,
            "last_failure": {
                "resource": cause.get("LogicalResourceId"),
                "reason": cause.get("ResourceStatusReason"),
            }
            if cause
            else None,
        },
        "pipeline": None,
        "deployment_group": None,
    }
    outputs = stack_outputs(cfn, env.stack_name)
    pipeline = outputs.get("PipelineName")
    if pipeline:
        codepipeline = clients("codepipeline")
        shown = recent_runs(codepipeline, pipeline, runs)
        latest_failure = None
        if shown and shown[0].status == "Failed":
            summary = {"pipelineExecutionId": shown[0].execution_id, "status": "Failed"}
            latest_failure = status_cause(clients, env, outputs, summary)
        state = pipeline_state(codepipeline, pipeline)
        stages = None if state is None else stage_rows(state)
        data["pipeline"] = {
            "name": pipeline,
            "runs": [run_record(r) for r in shown],
            "latest_failure": latest_failure,
            "waiting_approval": None if state is None else waiting_line(state, env),
            "stages": None
            if stages is None
            else [
                {
                    "name": name,
                    "status": stage_status,
                    "execution_id": execution,
                    "failure": detail or None,
                }
                for name, stage_status, execution, detail in stages
            ],
        }
    app, group = outputs.get("CodeDeployApplicationName"), outputs.get("DeploymentGroupName")
    if app and group:
        data["deployment_group"] = {
            "application": app,
            "name": group,
            "last_deployment": last_deployment(clients("codedeploy"), app, group),
        }
    url = env.app_url or outputs.get("AppUrl")
    data["app"] = app_answer(url) if url else None
    group_name = outputs.get("AutoScalingGroupName")
    if group_name:
        data["instances"] = instance_records(clients, group_name, env.instance_urls())
    return data


def instance_records(clients, group_name: str, urls: dict[str, str]) -> list[dict]:
    """Each instance of the group: its lifecycle state, its health in each of the group's target
    groups (fleet mode), and what its app's /version says where this machine reaches it."""
    groups = clients("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group_name]
    )["AutoScalingGroups"]
    if not groups:
        return []
    health: dict[str, dict] = {}
    elbv2 = clients("elbv2") if groups[0].get("TargetGroupARNs") else None
    for arn in groups[0].get("TargetGroupARNs", []):
        for d in elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]:
            th = d["TargetHealth"]
            health[d["Target"]["Id"]] = {"state": th["State"], "reason": th.get("Reason")}
    records = []
    for instance in sorted(groups[0].get("Instances", []), key=lambda i: i["InstanceId"]):
        instance_id = instance["InstanceId"]
        url = urls.get(instance_id)
        records.append(
            {
                "id": instance_id,
                "lifecycle_state": instance["LifecycleState"],
                "health_status": instance.get("HealthStatus"),
                "target_health": health.get(instance_id),
                "app": app_answer(url, timeout=3.0) if url else None,
            }
        )
    return records


def instance_line(record: dict) -> str:
    target = record["target_health"]
    health = (
        f"target {target['state']}" + (f" ({target['reason']})" if target["reason"] else "")
        if target
        else "no target group"
    )
    app = record["app"]
    serves = (
        "app not reachable from here"
        if app is None
        else f"serves {app['commit']}"
        if app["answering"]
        else f"app not answering ({app['error']})"
    )
    return f"  {record['id']}  {record['lifecycle_state']:<12} {health}; {serves}"


def runs_table(pipeline: dict) -> Table:
    """The recent runs, fitting 80 columns with the commit and the status whole: those two (and
    the short ids) never wrap; trigger and type, the least scanned, wrap within their cells."""
    table = Table(
        title=f"Recent runs of {pipeline['name']}",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("Run", no_wrap=True, min_width=8)
    table.add_column("Commit", no_wrap=True, min_width=12)
    table.add_column("Status", no_wrap=True, min_width=10)
    table.add_column("Took", no_wrap=True, justify="right")
    table.add_column("Trigger", overflow="fold")
    table.add_column("Type", overflow="fold", max_width=11)  # "ROLLBACK to" / "<run>"
    for r in pipeline["runs"]:
        status = r["status"]
        style = "red" if status == "Failed" else "green" if status == "Succeeded" else ""
        table.add_row(
            r["id"][:8],
            r["commit"],
            status,
            duration(r["duration_s"]),
            r["trigger"],
            r["type"],
            style=style,
        )
    return table


def render_status(data: dict) -> None:
    """The screen `make status` prints, from read_status's data."""
    stack = data["stack"]
    console.print(f"Stack {stack['name']}: {stack['status']}", markup=False)
    if stack["last_failure"]:
        failure = stack["last_failure"]
        console.print(f"  last failure: {failure['resource']}: {failure['reason']}", markup=False)
    pipeline = data["pipeline"]
    if pipeline is None:
        console.print("No PipelineName output yet.")
    else:
        console.print(runs_table(pipeline))
        if pipeline["latest_failure"]:
            console.print(f"Latest {pipeline['latest_failure']}", style="red", markup=False)
        if pipeline["stages"] is None:
            console.print("Stage states: not available from this endpoint")
        else:
            for stage in pipeline["stages"]:
                line = f"  {stage['name']:<8} {stage['status']:<11} {stage['execution_id'][:8]}"
                detail = f"  {stage['failure']}" if stage["failure"] else ""
                console.print(line + detail, markup=False)
        if pipeline["waiting_approval"]:
            console.print(pipeline["waiting_approval"], style="yellow", markup=False)
    group = data["deployment_group"]
    if group is not None:
        last = group["last_deployment"]
        console.print(
            f"Last deployment: {deployment_line(last) if last else 'none yet'}", markup=False
        )
    app = data["app"]
    console.print(f"App: {app_line(app) if app else 'no AppUrl output'}", markup=False)
    if data.get("instances"):
        console.print("Instances:")
        for record in data["instances"]:
            console.print(instance_line(record), markup=False)


def show_status(env: Environment, clients, runs: int = 5, output: str = "text") -> dict:
    """What `make status` prints: the screen, or JSON in the shape of
    docs/schemas/status.schema.json. Returns the data both are made from."""
    data = read_status(env, clients, runs)
    if output == "json":
        console.out(json.dumps(data, indent=2), highlight=False)
    else:
        render_status(data)
    return data
