"""Why a pipeline run failed, and the way out: plain functions over the responses the services
return (shaped as botocore's models say), used by `make why`, the one-line cause of `make
status` and the e2e's failure output. Nothing here calls a service."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Response = Mapping[str, Any]

# CodeBuild's StatusType values that mean a phase went wrong (botocore codebuild StatusType).
FAILED_PHASE = frozenset({"FAILED", "FAULT", "TIMED_OUT", "STOPPED", "CLIENT_ERROR"})
# What S3 answers for a key that is gone (GetObject's NoSuchKey code, its message); the agent
# reports them in the DownloadBundle event's diagnostics (local: runtime/download.py).
NO_SUCH_KEY = ("NoSuchKey", "The specified key does not exist")
# CodeBuild's context message for a failing command: "Error while executing command: <cmd>.
# Reason: exit status 1" (the console's wording; local mode: runtime/buildrunner.py).
_COMMAND = re.compile(r"Error while executing command: (?P<cmd>.*?)\. Reason: ", re.DOTALL)


@dataclass(frozen=True)
class ActionFailure:
    stage: str
    action: str
    category: str | None
    external_id: str | None
    code: str | None
    message: str | None
    # ActionExecutionDetail.updatedBy (botocore codepipeline): who answered a manual approval
    updated_by: str | None = None


def latest_action_runs(details: Iterable[Response]) -> list[Response]:
    """One record per (stage, action): the latest attempt. A stage retry adds a second action
    execution for the same action in the same pipeline execution; the older one is history."""
    latest: dict[tuple[str, str], Response] = {}
    for d in details:
        key = (d["stageName"], d["actionName"])
        if key not in latest or d["startTime"] > latest[key]["startTime"]:
            latest[key] = d
    return sorted(latest.values(), key=lambda d: d["startTime"])


def failing_action(details: Iterable[Response]) -> ActionFailure | None:
    """The action that failed the execution, from list_action_executions, ignoring attempts a
    later retry superseded."""
    for d in latest_action_runs(details):
        if d.get("status") == "Failed":
            result = d.get("output", {}).get("executionResult", {})
            error = result.get("errorDetails", {})
            return ActionFailure(
                stage=d["stageName"],
                action=d["actionName"],
                category=d.get("input", {}).get("actionTypeId", {}).get("category"),
                external_id=result.get("externalExecutionId"),
                code=error.get("code"),
                message=error.get("message") or result.get("externalExecutionSummary"),
                updated_by=d.get("updatedBy"),
            )
    return None


@dataclass(frozen=True)
class FailedEvent:
    target: str
    event: str
    error_code: str | None
    script: str | None
    message: str | None
    log_tail: str | None


def failed_lifecycle_events(targets: Iterable[Response]) -> list[FailedEvent]:
    """Failed lifecycle events from get_deployment_target responses (`deploymentTarget`), the
    items of batch_get_deployment_targets' `deploymentTargets`, or get_deployment_instance
    responses (`instanceSummary`); all carry `lifecycleEvents`."""
    failed = []
    for resp in targets:
        if "deploymentTarget" in resp or "deploymentTargetType" in resp:
            target = resp.get("deploymentTarget", resp).get("instanceTarget", {})
            name = target.get("targetId", "?")
        else:
            target = resp.get("instanceSummary", {})
            name = target.get("instanceId", "?")
        for event in target.get("lifecycleEvents", []):
            if event.get("status") == "Failed":
                diag = event.get("diagnostics", {})
                failed.append(
                    FailedEvent(
                        target=name,
                        event=event["lifecycleEventName"],
                        error_code=diag.get("errorCode"),
                        script=diag.get("scriptName"),
                        message=diag.get("message"),
                        log_tail=diag.get("logTail"),
                    )
                )
    return failed


def same_commit(a: str | None, b: str | None) -> bool:
    """Full and abbreviated SHAs of the same commit match (the app may report either)."""
    if not a or not b:
        return False
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    shorter = min(len(a), len(b))
    return shorter >= 7 and a[:shorter] == b[:shorter]


def revision_name(revision: Response | None) -> str:
    """`s3://bucket/key` (with `?versionId=` when pinned) of a RevisionLocation."""
    location = (revision or {}).get("s3Location") or {}
    name = f"s3://{location.get('bucket')}/{location.get('key')}"
    return name + (f"?versionId={location['version']}" if location.get("version") else "")


def failed_phase(build: Response) -> Response | None:
    """The first phase of a batch_get_builds build that did not succeed."""
    for phase in build.get("phases", []):
        if phase.get("phaseStatus") in FAILED_PHASE:
            return phase
    return None


def phase_message(phase: Response | None) -> str:
    return "; ".join(c.get("message", "") for c in (phase or {}).get("contexts", []))


def failing_command(phase: Response | None) -> str | None:
    """The command a failed phase's context names, or None when it names none (a refused call,
    a timeout)."""
    found = _COMMAND.search(phase_message(phase))
    return found.group("cmd") if found else None


def exported_variable(build: Response, name: str) -> str | None:
    for var in build.get("exportedEnvironmentVariables", []):
        if var.get("name") == name:
            return var.get("value")
    return None


def log_lines(events: Iterable[Response], limit: int = 15) -> list[str]:
    """The last `limit` lines of get_log_events' events (a message may hold several lines)."""
    lines = [line for e in events for line in e.get("message", "").rstrip("\n").splitlines()]
    return lines[-limit:]


def tail_lines(text: str | None, limit: int = 15) -> list[str]:
    return (text or "").rstrip().splitlines()[-limit:]


def is_application_stop_trap(events: Iterable[FailedEvent]) -> bool:
    """A deployment that failed in ApplicationStop because a script failed: the script is the
    PREVIOUS revision's (CodeDeploy runs the last successful install's ApplicationStop; see
    aws-codedeploy-agent lib/instance_agent/plugins/codedeploy/hook_executor.rb,
    `select_correct_deployment_root_dir`), so every later deployment fails the same way."""
    return any(e.event == "ApplicationStop" and e.error_code != "Success" for e in events)


def is_expired_bundle(events: Iterable[FailedEvent]) -> bool:
    """The instance could not download the revision because S3 no longer has it (the artifact
    bucket's lifecycle rule expired it)."""
    return any(
        e.event == "DownloadBundle" and any(word in (e.message or "") for word in NO_SUCH_KEY)
        for e in events
    )


def is_no_such_key(error: Response) -> bool:
    """A ClientError's `Error` for a missing object: GetObject says NoSuchKey; HeadObject has no
    body, so botocore reports the HTTP status (404)."""
    return str(error.get("Code")) in ("NoSuchKey", "404", "NotFound")


def live_and_previous(deployments: Iterable[Response]) -> tuple[Response | None, Response | None]:
    """From batch_get_deployments' deploymentsInfo of one group: the last Succeeded deployment
    (what is installed) and the last Succeeded one before it of a different revision (the
    last good one before the live revision)."""
    done = sorted(
        (d for d in deployments if d.get("status") == "Succeeded"),
        key=lambda d: d["createTime"],
        reverse=True,
    )
    if not done:
        return None, None
    live = done[0]
    key = revision_key(live.get("revision"))
    earlier = next((d for d in done[1:] if revision_key(d.get("revision")) != key), None)
    return live, earlier


def revision_key(revision: Response | None) -> tuple[str | None, str | None]:
    """(bucket, key) of an S3 RevisionLocation."""
    location = (revision or {}).get("s3Location") or {}
    return location.get("bucket"), location.get("key")


def s3_arn_location(arn: str | None) -> tuple[str, str] | None:
    """(bucket, key) of `arn:<partition>:s3:::bucket/key` (a build's artifacts.location)."""
    if not arn or ":s3:::" not in arn:
        return None
    bucket, _, key = arn.split(":s3:::", 1)[1].partition("/")
    return (bucket, key) if bucket and key else None


def commit_of_revision(builds: Iterable[Response], revision: Response | None) -> str | None:
    """The COMMIT_ID the build that produced a revision's bundle exported (the buildspec's
    exported-variables), or None when no build listed produced it."""
    wanted = revision_key(revision)
    for build in builds:
        if s3_arn_location(build.get("artifacts", {}).get("location")) == wanted:
            return exported_variable(build, "COMMIT_ID")
    return None


@dataclass(frozen=True)
class Trap:
    name: str
    explanation: str
    command: str | None = None


def application_stop_trap(
    make_redeploy: str,
    good_commit: str | None,
    *,
    live_commit: str | None = None,
    script: str | None = None,
) -> Trap:
    commit = good_commit[:12] if good_commit else "<last good commit>"
    live = f" (commit {live_commit[:12]})" if live_commit else ""
    return Trap(
        "the ApplicationStop trap",
        "ApplicationStop runs the stop script of the revision installed NOW, not of the one "
        f"being deployed: the live revision{live}'s {script or 'ApplicationStop script'} fails, "
        "so every deployment (CodeDeploy's rollbacks and every fix you push) fails the same "
        "way. Deploy a revision with a working stop script once, telling CodeDeploy to ignore "
        "this failure; then fix the stop script and push.",
        f'{make_redeploy} ARGS="--commit {commit} --ignore-application-stop-failures"',
    )


def expired_bundle_trap(pipeline: str | None) -> Trap:
    start = f"aws codepipeline start-pipeline-execution --name {pipeline}" if pipeline else None
    return Trap(
        "an expired bundle",
        "the revision's bundle is no longer in the artifact bucket (its lifecycle rule "
        "expired it), so no instance can download it. Build it again: push a commit, or "
        "release the latest commit again (the console's 'Release change').",
        start,
    )


def pending_connection_trap(help_text: str) -> Trap:
    return Trap(
        "a PENDING connection",
        "the pipeline's connection to GitHub is PENDING: the handshake with GitHub was never "
        "finished, so the Source action cannot read the repository.",
        help_text,
    )


# An abandoned launch's StatusMessage: "... Lifecycle Action with token ... was abandoned: ..."
# (AWS knowledge center, lifecycle-actions-code-deploy; emulator/patches/autoscaling/wording.py)
_ABANDONED = "was abandoned"


def abandoned_launch(activities: Iterable[Response]) -> Response | None:
    """The group's newest launch activity (describe_scaling_activities: newest first) when its
    lifecycle action was abandoned, else None."""
    for a in activities:
        if str(a.get("Description", "")).startswith("Launching"):
            abandoned = _ABANDONED in str(a.get("StatusMessage", ""))
            return a if a.get("StatusCode") in ("Cancelled", "Failed") and abandoned else None
    return None


def failed_launch_deployment(deployments: Iterable[Response]) -> Response | None:
    """The newest deployment CodeDeploy made for a launch (creator autoscaling), if it failed."""
    launches = [d for d in deployments if d.get("creator") == "autoscaling"]
    launches.sort(key=lambda d: d["createTime"], reverse=True)
    return launches[0] if launches and launches[0].get("status") == "Failed" else None


def abandoned_launch_trap(
    group: str, activity: Response, cause: str | None, suspended: bool, make_why: str
) -> Trap:
    instance = str(activity.get("Description", "")).rsplit(" ", 1)[-1]
    why = f" ({cause})" if cause else ""
    resume = f"aws autoscaling resume-processes --auto-scaling-group-name {group} "
    return Trap(
        "a launch that ABANDONs",
        f"the Auto Scaling group launched {instance}, CodeDeploy's launch deployment of the last "
        f"successful revision to it failed{why}, so CodeDeploy answered ABANDON and the group "
        "terminated it; it launches another, which fails the same way (the group keeps missing "
        "capacity, a rolling update fails). Fix what the failing script needs (the instance "
        "role, a setting, the revision itself: push a fix and let it deploy)"
        + (
            "; the group has suspended its Launch process after the failures: resume it"
            if suspended
            else f"; `{make_why}` after the next run shows whether it holds"
        ),
        resume + "--scaling-processes Launch" if suspended else None,
    )


def approval_cause(f: ActionFailure) -> str:
    """A failed manual approval: who rejected it and why (or how it failed otherwise)."""
    if f.updated_by:
        who = f.updated_by.rsplit("/", 1)[-1] or f.updated_by
        comment = f': "{f.message}"' if f.message else ""
        return f"rejected by {who}{comment}"
    return f.message or f.code or "the approval failed"


@dataclass
class Diagnosis:
    """What `make why` found about one failed execution; plain data for rendering."""

    execution_id: str
    status: str
    commit: str | None = None
    failure: ActionFailure | None = None
    build: Response | None = None
    log_tail: list[str] = field(default_factory=list)
    deployment: Response | None = None  # deploymentInfo
    events: list[FailedEvent] = field(default_factory=list)
    rollback: Response | None = None  # the rollback's deploymentInfo
    live: str | None = None  # what the app says it serves
    trap: Trap | None = None
    notes: list[str] = field(default_factory=list)


def build_cause(build: Response) -> str:
    phase = failed_phase(build)
    if phase is None:
        return f"build {build.get('buildStatus', '?')}"
    command = failing_command(phase)
    what = f"`{command}` failed" if command else phase_message(phase) or phase.get("phaseStatus")
    return f"{phase['phaseType']} phase: {what}"


def deployment_cause(events: list[FailedEvent], info: Response | None) -> str:
    if events:
        e = events[0]
        script = f" ({e.script})" if e.script else ""
        last = tail_lines(e.log_tail, 1)
        return f"{e.event} failed on {e.target}{script}" + (f": {last[0]}" if last else "")
    error = (info or {}).get("errorInformation") or {}
    return f"{error.get('code', 'deployment failed')}: {error.get('message', '')}".rstrip(": ")


def headline(d: Diagnosis) -> str:
    """One line: where the run failed and the first real cause."""
    run = f"run {d.execution_id[:8]} " if d.execution_id else ""
    if d.failure is None:
        return f"{run}{d.status}: no failed action recorded"
    where = f"{d.failure.stage}/{d.failure.action}"
    if d.build is not None and failed_phase(d.build) is not None:
        cause = build_cause(d.build)
    elif d.deployment is not None and d.events:
        cause = deployment_cause(d.events, d.deployment)
    elif d.failure.category == "Approval":
        cause = approval_cause(d.failure)
    else:  # the action's own message says more than a bare status
        cause = d.failure.message or d.failure.code or "failed"
    trap = f" [{d.trap.name}]" if d.trap else ""
    return f"{run}failed in {where}: {cause}{trap}"


def report_lines(d: Diagnosis, tail: int = 15) -> list[str]:
    """The explanation as plain lines, the headline first (the `why` screen, the e2e report)."""
    lines = [headline(d)]
    f = d.failure
    if f is not None:
        lines.append(f"failing action: {f.stage}/{f.action} ({f.category or '?'})")
        if f.message:
            lines.append(f"  {f.code or 'error'}: {f.message}")
        if f.category == "Approval" and f.updated_by:
            lines.append(
                f"  rejected by {f.updated_by}: nothing of this run was deployed and what is "
                "live stays live; push a commit to start a new run"
            )
    if d.build is not None:
        lines.append(f"build {d.build.get('id')}: {d.build.get('buildStatus')}")
        phase = failed_phase(d.build)
        if phase is not None:
            lines.append(f"  phase {phase['phaseType']} {phase.get('phaseStatus')}")
            command = failing_command(phase)
            lines.append(f"  command: {command}" if command else f"  {phase_message(phase)}")
        if d.log_tail:
            lines.append("  log tail:")
            lines.extend(f"  | {line}" for line in d.log_tail[-tail:])
    if d.deployment is not None:
        error = d.deployment.get("errorInformation") or {}
        lines.append(
            f"deployment {d.deployment.get('deploymentId')}: {d.deployment.get('status')}"
            + (f" ({error.get('code')}: {error.get('message', '')})" if error else "")
        )
        for e in d.events:
            script = f", script {e.script}" if e.script else ""
            lines.append(f"  {e.target}: {e.event} failed, {e.error_code or '?'}{script}")
            if e.message:
                lines.append(f"    {e.message}")
            lines.extend(f"    | {line}" for line in tail_lines(e.log_tail, tail))
        lines.append(f"rollback: {rollback_summary(d.deployment, d.rollback)}")
    lines.extend(f"({note})" for note in d.notes)
    return lines


def rollback_summary(info: Response | None, rollback: Response | None) -> str:
    """Whether and how a failed deployment was rolled back."""
    rb_info = (info or {}).get("rollbackInfo") or {}
    rollback_id = rb_info.get("rollbackDeploymentId")
    if not rollback_id:
        message = rb_info.get("rollbackMessage")
        return f"not rolled back{': ' + message if message else ''}"
    if rollback is None:
        return f"rolled back by {rollback_id}"
    status = rollback.get("status", "?")
    text = f"rolled back by {rollback_id} ({rollback.get('creator', '?')}): {status}"
    error = rollback.get("errorInformation") or {}
    if status == "Failed" and error.get("message"):
        text += f": {error['message']}"
    return text


def to_json(d: Diagnosis | None) -> dict[str, Any]:
    """`why --output json`: the diagnosis as plain JSON types, in the shape
    docs/schemas/why.schema.json fixes (None: no failed run)."""
    if d is None:
        return {"execution": None}
    build = None
    if d.build is not None:
        phase = failed_phase(d.build)
        build = {
            "id": d.build.get("id"),
            "status": d.build.get("buildStatus"),
            "phase": phase.get("phaseType") if phase else None,
            "command": failing_command(phase),
            "message": phase_message(phase) or None,
            "log_tail": list(d.log_tail),
        }
    deployment = None
    if d.deployment is not None:
        error = d.deployment.get("errorInformation") or {}
        deployment = {
            "id": d.deployment.get("deploymentId"),
            "status": d.deployment.get("status"),
            "error_code": error.get("code"),
            "error_message": error.get("message"),
            "failed_events": [
                {
                    "target": e.target,
                    "event": e.event,
                    "error_code": e.error_code,
                    "script": e.script,
                    "message": e.message,
                    "log_tail": tail_lines(e.log_tail, 50),
                }
                for e in d.events
            ],
            "rollback": rollback_summary(d.deployment, d.rollback),
        }
    f = d.failure
    return {
        "execution": {
            "id": d.execution_id,
            "status": d.status,
            "commit": d.commit,
            "headline": headline(d),
            "failing_action": None
            if f is None
            else {
                "stage": f.stage,
                "action": f.action,
                "category": f.category,
                "code": f.code,
                "message": f.message,
            },
            "build": build,
            "deployment": deployment,
            "live": d.live,
            "trap": None
            if d.trap is None
            else {
                "name": d.trap.name,
                "explanation": d.trap.explanation,
                "command": d.trap.command,
            },
            "notes": list(d.notes),
        }
    }
