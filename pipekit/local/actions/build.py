"""`CodeBuild`: the project's buildspec (or the project's override) run on this machine by the
build runner, recorded as a CodeBuild build (`batch_get_builds`) with its log in the emulated
CloudWatch Logs; the first output artifact is the build's zip."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from moto.codebuild.models import codebuild_backends

from pipekit.emulator import records as rec
from pipekit.local import artifacts, logs
from pipekit.local.actions.base import ActionContext
from pipekit.local.wire import ActionFailed, ActionResult, Execution

DEFAULT_TIMEOUT_MINUTES = 60
CONTEXT_MESSAGE_LIMIT = 1000


def _buildspec(text: str, scratch: Path, src_dir: Path) -> Path | None:
    """The project's `buildspec`: inline YAML (it has a newline) or a path in the source."""
    if text.strip() and "\n" in text:
        path = scratch / "buildspec-override.yml"
        path.write_text(text)
        return path
    if text.strip():
        return src_dir / text.strip()
    return None


def _build_number(execution: Execution, project: str) -> int:
    recs = execution.records
    with recs.lock:
        return 1 + sum(1 for b in recs.builds.values() if b["projectName"] == project)


def _source_version(ctx: ActionContext) -> str:
    """The primary input artifact's S3 ARN."""
    loc = ctx.execution.record["_artifacts"][_primary(ctx)]
    return f"arn:aws:s3:::{loc['bucket']}/{loc['key']}"


def _environment(
    ctx: ActionContext, meta: dict, project: str, build_id: str, arn: str, src_dir: Path
) -> dict[str, str]:
    """The build's environment: the project's variables < the action's < CodeBuild's own."""
    execution = ctx.execution
    env: dict[str, str] = {}
    for var in (meta.get("environment") or {}).get("environmentVariables") or []:
        env[var["name"]] = str(var.get("value", ""))
    for var in json.loads(ctx.config.get("EnvironmentVariables") or "[]"):
        env[var["name"]] = str(var.get("value", ""))
    env.update(
        {
            "CODEBUILD_BUILD_ID": build_id,
            "CODEBUILD_BUILD_ARN": arn,
            "CODEBUILD_BUILD_NUMBER": str(_build_number(execution, project)),
            "CODEBUILD_INITIATOR": f"codepipeline/{execution.pipeline_name}",
            "CODEBUILD_SOURCE_VERSION": _source_version(ctx),
            "CODEBUILD_SRC_DIR": str(src_dir),
            "CODEBUILD_START_TIME": str(int(time.time() * 1000)),
            "AWS_REGION": execution.region,
            "AWS_DEFAULT_REGION": execution.region,
        }
    )
    return env


def _primary(ctx: ActionContext) -> str:
    return ctx.config.get("PrimarySource") or ctx.action["inputArtifacts"][0]["name"]


def _phases(result: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The runner's phases as CodeBuild's BuildPhase records."""
    phases = []
    cursor = start
    for phase in result.phases:
        phase_end = cursor + timedelta(seconds=float(phase.duration_s or 0))
        entry: dict[str, Any] = {
            "phaseType": phase.name,
            "startTime": cursor,
            "endTime": phase_end,
            "durationInSeconds": round(float(phase.duration_s or 0)),
        }
        # CodeBuild's StatusType has no SKIPPED: a skipped phase just has no status
        if phase.status != "SKIPPED":
            entry["phaseStatus"] = phase.status
        message = getattr(phase, "message", "")
        if message and phase.status not in ("SUCCEEDED", "SKIPPED"):
            entry["contexts"] = [
                {
                    "statusCode": "COMMAND_EXECUTION_ERROR",
                    "message": message[:CONTEXT_MESSAGE_LIMIT],
                }
            ]
        phases.append(entry)
        cursor = phase_end
    phases.append({"phaseType": "COMPLETED", "startTime": end})
    return phases


def run(ctx: ActionContext) -> ActionResult:
    execution, action = ctx.execution, ctx.action
    project_name = ctx.config.get("ProjectName", "")
    backend = codebuild_backends[execution.account_id][execution.region]
    project = backend.codebuild_projects.get(project_name)
    if project is None:
        raise ActionFailed("JobFailed", f"CodeBuild project {project_name} not found")
    meta = project.project_metadata
    if not action.get("inputArtifacts", []):
        raise ActionFailed("JobFailed", "The build action has no input artifact")
    primary = _primary(ctx)
    scratch = ctx.scratch(f"build-{action['name']}")
    src_dir = scratch / "src"
    src_dir.mkdir()
    zip_in = ctx.get_artifact(execution.record["_artifacts"][primary], scratch / "input.zip")
    artifacts.extract_zip(zip_in, src_dir)
    buildspec_text = (meta.get("source") or {}).get("buildspec") or ""
    buildspec = _buildspec(buildspec_text, scratch, src_dir)
    build_uuid = str(uuid.uuid4())
    build_id = f"{project_name}:{build_uuid}"
    arn = f"arn:aws:codebuild:{execution.region}:{execution.account_id}:build/{build_id}"
    env = _environment(ctx, meta, project_name, build_id, arn, src_dir)
    start = rec.now()
    group, stream = f"/aws/codebuild/{project_name}", build_uuid
    record: dict[str, Any] = {
        "id": build_id,
        "arn": arn,
        "buildNumber": int(env["CODEBUILD_BUILD_NUMBER"]),
        "startTime": start,
        "currentPhase": "BUILD",
        "buildStatus": "IN_PROGRESS",
        "sourceVersion": env["CODEBUILD_SOURCE_VERSION"],
        "projectName": project_name,
        "phases": [],
        "source": {
            "type": "CODEPIPELINE",
            **({"buildspec": buildspec_text} if buildspec_text else {}),
        },
        "serviceRole": meta.get("serviceRole"),
        "logs": {"groupName": group, "streamName": stream},
        "timeoutInMinutes": meta.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES,
        "buildComplete": False,
        "initiator": f"codepipeline/{execution.pipeline_name}",
        "exportedEnvironmentVariables": [],
    }
    recs = execution.records
    with recs.lock:
        recs.builds[build_id] = record
    result = ctx.runners.build(src_dir, scratch / "work", env, buildspec)
    end = rec.now()
    phases = _phases(result, start, end)
    outputs = {}
    if result.status == "SUCCEEDED":
        out_names = [a["name"] for a in action.get("outputArtifacts", [])]
        if out_names and result.artifact is None:
            result.status = "FAILED"
        for name in out_names[:1]:
            outputs[name] = ctx.put_artifact(name, Path(result.artifact))
    exported = dict(result.exported_variables or {})
    logs.put_log(execution.account_id, execution.region, group, stream, result.log or "")
    with recs.lock:
        record.update(
            endTime=end,
            currentPhase="COMPLETED",
            buildStatus=result.status,
            phases=phases,
            buildComplete=True,
            exportedEnvironmentVariables=[{"name": k, "value": v} for k, v in exported.items()],
            resolvedSourceVersion=next(
                (
                    r["revisionId"]
                    for r in execution.record["artifactRevisions"]
                    if r["name"] == primary
                ),
                None,
            ),
        )
        if outputs:
            first = next(iter(outputs.values()))
            record["artifacts"] = {"location": f"arn:aws:s3:::{first['bucket']}/{first['key']}"}
    if result.status != "SUCCEEDED":
        raise ActionFailed("JobFailed", failure_summary(result, phases), external_id=build_id)
    return ActionResult(outputs, exported, build_id, f"Build {build_id} succeeded")


def failure_summary(result: Any, phases: list[dict[str, Any]]) -> str:
    """CodePipeline's summary of a failed CodeBuild action: the state, then the first FAILED
    phase with its context's code and message (which names the failing command), as the
    console shows it ("Build terminated with state: FAILED. Phase: BUILD, Code:
    COMMAND_EXECUTION_ERROR, Message: Error while executing command: ... Reason: exit status
    1"). Skipped phases after it have no status in CodeBuild's records and are not named."""
    failed = next((p for p in phases if p.get("phaseStatus") == "FAILED"), None)
    summary = f"Build terminated with state: {result.status}."
    if failed is None:
        return summary
    summary += f" Phase: {failed['phaseType']}"
    for context in failed.get("contexts") or []:
        summary += f", Code: {context['statusCode']}, Message: {context['message']}"
    return summary
