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
from pipekit.iam import failures
from pipekit.local import artifacts, authz, logs, rolecreds
from pipekit.local.actions.base import ActionContext
from pipekit.local.wire import ActionFailed, ActionResult, Execution

DEFAULT_TIMEOUT_MINUTES = 60
CONTEXT_MESSAGE_LIMIT = 1000
# CodeBuild's phases before the buildspec's own (BuildPhaseType, in order)
EARLY_PHASES = ("SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE")


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


def _log_target(meta: dict, project_name: str) -> str:
    """The project's CloudWatch Logs group (its logsConfig, else CodeBuild's default)."""
    configured = ((meta.get("logsConfig") or {}).get("cloudWatchLogs") or {}).get("groupName")
    return configured or f"/aws/codebuild/{project_name}"


def _refused_phases(start: datetime, phase: str, code: str, message: str) -> list[dict]:
    """The phases of a build CodeBuild failed before running the buildspec: those before
    `phase` succeeded, `phase` failed with the context CodeBuild gives it."""
    phases: list[dict[str, Any]] = [
        {
            "phaseType": name,
            "phaseStatus": "SUCCEEDED",
            "startTime": start,
            "endTime": start,
            "durationInSeconds": 0,
        }
        for name in EARLY_PHASES[: EARLY_PHASES.index(phase) + 1]
    ]
    phases[-1].update(
        phaseStatus="FAILED",
        contexts=[{"statusCode": code, "message": message[:CONTEXT_MESSAGE_LIMIT]}],
    )
    return [*phases, {"phaseType": "COMPLETED", "startTime": start}]


def _fail_upload(phases: list[dict], end: datetime, code: str, message: str) -> None:
    """Mark UPLOAD_ARTIFACTS failed (adding it before COMPLETED when the runner had none)."""
    upload = next((p for p in phases if p["phaseType"] == "UPLOAD_ARTIFACTS"), None)
    if upload is None:
        upload = {"phaseType": "UPLOAD_ARTIFACTS", "startTime": end, "endTime": end}
        upload["durationInSeconds"] = 0
        phases.insert(len(phases) - 1, upload)
    upload.update(
        phaseStatus="FAILED",
        contexts=[{"statusCode": code, "message": message[:CONTEXT_MESSAGE_LIMIT]}],
    )


def _report_groups_made(execution: Execution, project_name: str) -> set[str]:
    """Report groups CodeBuild auto-created for the project's earlier builds."""
    recs = execution.records
    with recs.lock:
        return {
            group
            for b in recs.builds.values()
            if b["projectName"] == project_name
            for group in b.get("_reportGroups", ())
        }


def _upload(
    ctx: ActionContext, principal: authz.Principal, record: dict, result: Any, project: str
) -> tuple[dict[str, dict[str, str]], tuple[str, str, str] | None]:
    """UPLOAD_ARTIFACTS as CodeBuild does it with the project's role: the buildspec's reports
    (each report group `<project>-<name>`, created on first use), then the output artifact.
    Returns the outputs and, when a call was refused, the failed phase's (phase, code,
    message)."""
    execution = ctx.execution
    region, made = execution.region, _report_groups_made(execution, project)
    created: list[str] = []
    for name, files in sorted((result.reports or {}).items()):
        group = f"{project}-{name}"
        conditions = {"reports"} | (set() if group in made else {"new-report-group"})
        if not files:
            continue
        try:
            authz.authorize("build.reports", principal, region, {"report_group": group}, conditions)
        except authz.Denied as denied:
            return {}, failures.build_phase(
                denied, build_arn=record["arn"], source_version="", report_group=name
            )
        created.append(group)
    record["_reportGroups"] = created
    outputs: dict[str, dict[str, str]] = {}
    for name in [a["name"] for a in ctx.action.get("outputArtifacts", [])][:1]:
        where = ctx.artifact_location(name)
        fields = {"bucket": where["bucket"], "output_key": where["key"]}
        try:
            authz.authorize("build.upload", principal, region, fields)
        except authz.Denied as denied:
            return {}, failures.build_phase(denied, build_arn=record["arn"], source_version="")
        outputs[name] = ctx.put_artifact(name, Path(result.artifact), where["key"])
    return outputs, None


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
    region, account = execution.region, execution.account_id
    ctx.authorize("build.start", {"project": project_name}, failures.build_action)
    build_uuid = str(uuid.uuid4())
    principal = authz.Principal(
        "build",
        authz.role_arn(account, str(meta.get("serviceRole") or "")),
        f"AWSCodeBuild-{build_uuid}",
        f"arn:aws:codebuild:{region}:{account}:project/{project_name}",
    )
    try:  # StartBuild itself refuses a role CodeBuild cannot assume
        authz.check_trust("build.start", principal, region)
    except authz.Denied as denied:
        raise ActionFailed("JobFailed", failures.build_action(denied)) from None
    try:
        path = rolecreds.build_path(ctx.scratch(f"build-{action['name']}-tools"))
    except rolecreds.MissingTool as exc:
        raise ActionFailed("JobFailed", f"local mode: {exc}") from None
    timeout = int(meta.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES)
    with rolecreds.role_session(
        account,
        principal.role_arn,
        principal.session,
        endpoint_url=ctx.runners.endpoint_url,
        duration_s=timeout * 60,
    ) as role_env:
        return _run_started(ctx, meta, principal, build_uuid, {"PATH": path, **role_env})


def _run_started(
    ctx: ActionContext,
    meta: dict,
    principal: authz.Principal,
    build_uuid: str,
    role_env: dict[str, str],
) -> ActionResult:
    """The build once CodeBuild has assumed its role: `role_env` is what its commands call AWS
    with (the role's session, the endpoint, the AWS CLI on PATH)."""
    execution, action = ctx.execution, ctx.action
    region, account = execution.region, execution.account_id
    project_name = ctx.config.get("ProjectName", "")
    primary = _primary(ctx)
    build_id = f"{project_name}:{build_uuid}"
    arn = f"arn:aws:codebuild:{region}:{account}:build/{build_id}"
    scratch = ctx.scratch(f"build-{action['name']}")
    src_dir = scratch / "src"
    src_dir.mkdir()
    buildspec_text = (meta.get("source") or {}).get("buildspec") or ""
    buildspec = _buildspec(buildspec_text, scratch, src_dir)
    env = _environment(ctx, meta, project_name, build_id, arn, src_dir)
    # the role's session and the CLI are the image's (a project variable may override them);
    # the endpoint is local mode's and always wins: a build's calls stay on this machine
    env = {k: v for k, v in role_env.items() if k != "AWS_ENDPOINT_URL"} | env
    if "AWS_ENDPOINT_URL" in role_env:
        env["AWS_ENDPOINT_URL"] = role_env["AWS_ENDPOINT_URL"]
    start = rec.now()
    group, stream = _log_target(meta, project_name), build_uuid
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
    location = execution.record["_artifacts"][primary]
    refused = _refused_before_build(principal, region, record, group, stream, location)
    if refused is not None:
        _finish(ctx, record, "FAILED", _refused_phases(start, *refused), {}, {})
        ctx.authorize(
            "build.poll", {"project": project_name}, failures.build_action, external_id=build_id
        )
        raise ActionFailed(
            "JobFailed", failure_summary("FAILED", record["phases"]), external_id=build_id
        )
    zip_in = ctx.get_artifact(location, scratch / "input.zip")
    artifacts.extract_zip(zip_in, src_dir)
    result = ctx.runners.build(src_dir, scratch / "work", env, buildspec)
    end = rec.now()
    phases = _phases(result, start, end)
    outputs: dict[str, dict[str, str]] = {}
    failed_upload = None
    if result.status == "SUCCEEDED":
        out_names = [a["name"] for a in action.get("outputArtifacts", [])]
        if out_names and result.artifact is None:
            result.status = "FAILED"
        else:
            outputs, failed_upload = _upload(ctx, principal, record, result, project_name)
            if failed_upload is not None:
                result.status = "FAILED"
                _fail_upload(phases, end, failed_upload[1], failed_upload[2])
    exported = dict(result.exported_variables or {})
    logs.put_log(execution.account_id, region, group, stream, result.log or "")
    _finish(ctx, record, result.status, phases, exported, outputs, end)
    ctx.authorize(
        "build.poll", {"project": project_name}, failures.build_action, external_id=build_id
    )
    if result.status != "SUCCEEDED":
        raise ActionFailed(
            "JobFailed", failure_summary(result.status, phases), external_id=build_id
        )
    return ActionResult(outputs, exported, build_id, f"Build {build_id} succeeded")


def _refused_before_build(
    principal: authz.Principal,
    region: str,
    record: dict,
    group: str,
    stream: str,
    location: dict[str, str],
) -> tuple[str, str, str] | None:
    """What CodeBuild does with the project's role before the buildspec runs: a log stream
    (QUEUED), the input artifact (DOWNLOAD_SOURCE). The failed phase, if a call was refused."""
    checks = (
        ("build.logs", {"log_group": group, "stream": stream}),
        ("build.source", {"bucket": location["bucket"], "input_key": location["key"]}),
    )
    for step, fields in checks:
        try:
            authz.authorize(step, principal, region, fields, trust=False)
        except authz.Denied as denied:
            return failures.build_phase(
                denied, build_arn=record["arn"], source_version=record["sourceVersion"]
            )
    return None


def _finish(
    ctx: ActionContext,
    record: dict,
    status: str,
    phases: list[dict],
    exported: dict[str, str],
    outputs: dict[str, dict[str, str]],
    end: datetime | None = None,
) -> None:
    execution, primary = ctx.execution, _primary(ctx)
    with execution.records.lock:
        record.update(
            endTime=end or record["startTime"],
            currentPhase="COMPLETED",
            buildStatus=status,
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


def failure_summary(status: str, phases: list[dict[str, Any]]) -> str:
    """CodePipeline's summary of a failed CodeBuild action: the state, then the first FAILED
    phase with its context's code and message (which names the failing command), as the
    console shows it ("Build terminated with state: FAILED. Phase: BUILD, Code:
    COMMAND_EXECUTION_ERROR, Message: Error while executing command: ... Reason: exit status
    1"). Skipped phases after it have no status in CodeBuild's records and are not named."""
    failed = next((p for p in phases if p.get("phaseStatus") == "FAILED"), None)
    summary = f"Build terminated with state: {status}."
    if failed is None:
        return summary
    summary += f" Phase: {failed['phaseType']}"
    for context in failed.get("contexts") or []:
        summary += f", Code: {context['statusCode']}, Message: {context['message']}"
    return summary
