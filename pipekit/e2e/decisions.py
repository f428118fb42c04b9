"""Pure decisions over AWS API responses, shaped exactly as botocore returns them.

Nothing here calls a service: every function takes the dicts a client returned (or the parsed
`/version` JSON) and answers one question, so the same code judges AWS and the local emulator."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The failing action and lifecycle events are read the same way by `make why` and the e2e.
from pipekit.harness.diagnosis import (  # noqa: F401  (re-exported for the e2e)
    ActionFailure,
    FailedEvent,
    failed_lifecycle_events,
    failing_action,
    latest_action_runs,
    revision_name,
    same_commit,
)

Response = Mapping[str, Any]

# Statuses after which an execution will not change by itself. A stage retry (RetryStageExecution)
# turns a Failed execution back into InProgress under the same id, so callers that allow retries
# keep polling the same id rather than looking for a new execution.
TERMINAL_EXECUTION = frozenset({"Succeeded", "Failed", "Stopped", "Superseded", "Cancelled"})
TERMINAL_DEPLOYMENT = frozenset({"Succeeded", "Failed", "Stopped"})
HEALTHY_STACK = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})
# Stable, usable, but the last update failed: worth a warning, not a refusal.
DEGRADED_STACK = frozenset({"UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})


def execution_type(summary: Response) -> str:
    # Executions recorded before rollbacks existed carry no executionType: they are standard runs.
    return summary.get("executionType", "STANDARD")


def revision_ids(summary: Response) -> list[str]:
    return [rev["revisionId"] for rev in summary.get("sourceRevisions", []) if "revisionId" in rev]


def executions_of_commit(
    summaries: Iterable[Response], commit: str, *, not_before: datetime | None = None
) -> list[Response]:
    """The commit's own standard runs, newest first. Rollback executions reuse an older run's
    source revisions, so they are never a commit's own run."""
    found = [
        s
        for s in summaries
        if execution_type(s) != "ROLLBACK"
        and commit in revision_ids(s)
        and (not_before is None or s["startTime"] >= not_before)
    ]
    return sorted(found, key=lambda s: s["startTime"], reverse=True)


def find_commit_execution(
    summaries: Iterable[Response], commit: str, *, not_before: datetime | None = None
) -> Response | None:
    """The execution that carries `commit` to the app, or None if none started yet.

    When the same commit ran more than once (a "Release change" retry, or a run superseded and
    then restarted) the newest run that was not superseded wins; if every run was superseded, the
    newest one is returned so the caller can report that it was superseded."""
    runs = executions_of_commit(summaries, commit, not_before=not_before)
    if not runs:
        return None
    for run in runs:
        if run.get("status") != "Superseded":
            return run
    return runs[0]


def superseded_by(summaries: Iterable[Response], execution: Response) -> Response | None:
    """For a Superseded execution: the standard run that started after it (the one that took its
    place), so the report can name the commit that overtook ours."""
    later = [
        s
        for s in summaries
        if execution_type(s) != "ROLLBACK"
        and s["pipelineExecutionId"] != execution["pipelineExecutionId"]
        and s["startTime"] > execution["startTime"]
    ]
    return min(later, key=lambda s: s["startTime"]) if later else None


def stage_names(pipeline: Response) -> list[str]:
    """Stage names in order, from get_pipeline (never hard-coded)."""
    return [stage["name"] for stage in pipeline["pipeline"]["stages"]]


def rollback_stages(pipeline: Response) -> list[str]:
    """Stages whose definition rolls back on failure (`onFailure.result == ROLLBACK`)."""
    return [
        stage["name"]
        for stage in pipeline["pipeline"]["stages"]
        if stage.get("onFailure", {}).get("result") == "ROLLBACK"
    ]


def rollback_layer_problem(pipeline: Response, deploy_stage: str) -> str | None:
    """The project rolls back with CodeDeploy only: a Deploy stage that also rolls back on
    failure collides with it (None when it does not)."""
    if deploy_stage not in rollback_stages(pipeline):
        return None
    return (
        f"the {deploy_stage} stage has OnFailure: ROLLBACK besides the deployment group's "
        "automatic rollback: its rollback execution's CreateDeployment meets CodeDeploy's own "
        "rollback deployment on the same group and fails with DeploymentLimitExceededException "
        "(one deployment at a time per group); deploy the current templates"
    )


def stage_of_action_category(pipeline: Response, category: str) -> str | None:
    """The first stage holding an action of a category (Source, Build, Deploy)."""
    for stage in pipeline["pipeline"]["stages"]:
        for action in stage["actions"]:
            if action["actionTypeId"]["category"] == category:
                return stage["name"]
    return None


@dataclass(frozen=True)
class StageProgress:
    stage: str
    status: str  # a stage execution status, "Queued" (inbound) or "Waiting" (not reached)
    execution_type: str | None = None


def stage_progress(state: Response, execution_id: str) -> list[StageProgress]:
    """Where one execution is, stage by stage, from get_pipeline_state."""
    progress = []
    for stage in state.get("stageStates", []):
        latest = stage.get("latestExecution")
        inbound = [stage.get("inboundExecution"), *stage.get("inboundExecutions", [])]
        if latest and latest["pipelineExecutionId"] == execution_id:
            progress.append(StageProgress(stage["stageName"], latest["status"], latest.get("type")))
        elif any(i and i["pipelineExecutionId"] == execution_id for i in inbound):
            progress.append(StageProgress(stage["stageName"], "Queued"))
        else:
            progress.append(StageProgress(stage["stageName"], "Waiting"))
    return progress


def action_status(details: Iterable[Response], stage: str) -> str | None:
    """The latest status of the action(s) in one stage (Failed wins over Succeeded)."""
    statuses = [d["status"] for d in latest_action_runs(details) if d["stageName"] == stage]
    if not statuses:
        return None
    for status in ("Failed", "InProgress", "Abandoned"):
        if status in statuses:
            return status
    return statuses[0]


def external_execution_id(details: Iterable[Response], stage: str) -> str | None:
    """The build id / deployment id the stage's action started (the latest attempt's)."""
    for d in reversed(latest_action_runs(details)):
        if d["stageName"] == stage:
            return d.get("output", {}).get("executionResult", {}).get("externalExecutionId")
    return None


def stage_durations(details: Iterable[Response]) -> dict[str, float]:
    """Seconds each stage took in one execution: first action start to last action update."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for d in latest_action_runs(details):
        start, end = d["startTime"], d.get("lastUpdateTime", d["startTime"])
        old = spans.get(d["stageName"])
        spans[d["stageName"]] = (min(start, old[0]), max(end, old[1])) if old else (start, end)
    return {stage: (end - start).total_seconds() for stage, (start, end) in spans.items()}


@dataclass
class Verdict:
    """A yes/no with the reasons it is not yes, so a report can say exactly what was missing."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def codedeploy_rollback_verdict(
    failed: Response,
    rollback: Response | None,
    targets: Iterable[Response],
    *,
    last_good_revision: Response | None = None,
    failing_event: str = "ValidateService",
) -> Verdict:
    """Did CodeDeploy fail the broken deployment in `failing_event` and roll back successfully,
    with a deployment of its own (creator codeDeployRollback) of `last_good_revision` when
    given? `failed` and `rollback` are get_deployment responses; `targets` are the failed
    deployment's get_deployment_target / get_deployment_instance responses."""
    info = failed["deploymentInfo"]
    problems: list[str] = []
    facts: dict[str, Any] = {
        "deployment_id": info["deploymentId"],
        "status": info.get("status"),
        "error_code": info.get("errorInformation", {}).get("code"),
        "error_message": info.get("errorInformation", {}).get("message"),
    }
    if info.get("status") != "Failed":
        problems.append(f"deployment {info['deploymentId']} is {info.get('status')}, not Failed")
    events = failed_lifecycle_events(targets)
    facts["failed_events"] = [e.event for e in events]
    if not any(e.event == failing_event for e in events):
        seen = ", ".join(sorted({e.event for e in events})) or "none"
        problems.append(f"no {failing_event} failure recorded (failed events: {seen})")
    problems += rollback_problems(info, rollback, last_good_revision, facts)
    return Verdict(not problems, problems, facts)


def rollback_problems(
    info: Response,
    rollback: Response | None,
    last_good_revision: Response | None,
    facts: dict[str, Any],
) -> list[str]:
    """What is wrong with CodeDeploy's automatic rollback of the deployment `info`
    (deploymentInfo): a deployment of its own (creator codeDeployRollback) triggered by it, of
    `last_good_revision` when given, that succeeded. Adds what it read to `facts`."""
    problems: list[str] = []
    rollback_id = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
    facts["rollback_deployment_id"] = rollback_id
    if not rollback_id:
        problems.append("the failed deployment names no rollback deployment")
    elif rollback is None:
        problems.append(f"rollback deployment {rollback_id} was not fetched")
    else:
        rb = rollback["deploymentInfo"]
        facts["rollback_status"] = rb.get("status")
        facts["rollback_creator"] = rb.get("creator")
        if rb["deploymentId"] != rollback_id:
            problems.append(f"fetched {rb['deploymentId']}, expected rollback {rollback_id}")
        if rb.get("creator") != "codeDeployRollback":
            problems.append(f"rollback creator is {rb.get('creator')}, not codeDeployRollback")
        if rb.get("status") != "Succeeded":
            problems.append(f"rollback deployment is {rb.get('status')}, not Succeeded")
        trig = rb.get("rollbackInfo", {}).get("rollbackTriggeringDeploymentId")
        if trig is not None and trig != info["deploymentId"]:
            problems.append(f"rollback was triggered by {trig}, not {info['deploymentId']}")
        facts["rollback_revision"] = rb.get("revision")
        if last_good_revision is not None and revision_name(rb.get("revision")) != (
            revision_name(last_good_revision)
        ):
            problems.append(
                f"rollback deployed {revision_name(rb.get('revision'))}, not the last good "
                f"revision {revision_name(last_good_revision)}"
            )
        if rb.get("createTime") and rb.get("completeTime"):
            facts["rollback_seconds"] = (rb["completeTime"] - rb["createTime"]).total_seconds()
    return problems


def served_commit(version: Response | None) -> str | None:
    """The commit a `/version` JSON body reports (None for no answer or a malformed one)."""
    if not isinstance(version, Mapping):
        return None
    commit = version.get("commit")
    return commit if isinstance(commit, str) and commit else None


def page_shows_marker(html: str, marker: str) -> bool:
    return marker in html


def stack_health(stack: Response) -> tuple[bool, str]:
    """(usable, note) for a describe_stacks Stacks[] entry."""
    status = stack.get("StackStatus", "")
    if status in HEALTHY_STACK:
        return True, status
    if status in DEGRADED_STACK:
        return True, f"{status}: the last update failed and was rolled back"
    return False, status


def connection_available(resp: Response) -> bool:
    """get_connection (codeconnections or codestar-connections) says the connection is usable."""
    return resp.get("Connection", {}).get("ConnectionStatus") == "AVAILABLE"


_TEST_BRANCH = re.compile(r"(^|[/_-])(test|tests|e2e|testing|sandbox)([/_-]|$)", re.IGNORECASE)


def branch_allowed(branch: str, *, local: bool, allow_branch: str | None) -> tuple[bool, str]:
    """May the e2e push to `branch`? Only a branch named for tests, the throwaway local remote
    (`local`: the environment is a local mode), or one the user named with --allow-branch."""
    if allow_branch is not None and allow_branch == branch:
        return True, "allowed explicitly with --allow-branch"
    if local:
        return True, "the local remote is a throwaway repository"
    if _TEST_BRANCH.search(branch):
        return True, "the branch is named for tests"
    return False, (
        f"refusing to push test commits to branch {branch!r}: deploy a dedicated test stack whose "
        f"BranchName is a test branch (e.g. e2e-test), or pass --allow-branch {branch} "
        "if you really mean it"
    )


# --- the probe's answers and its verdicts (issue 12) -------------------------------------------

# The sample app's `/` page names the commit that served it: `<code id="commit">SHA</code>`
# (app/sample_app/templates/index.html); `/version` and a JSON error body name it as "commit".
_PAGE_COMMIT = re.compile(r'id="commit">\s*([0-9A-Za-z._-]+)\s*<')
# The deployment error code CodeDeploy records when an alarm stopped a deployment (botocore
# codedeploy ErrorCode enum: ALARM_ACTIVE).
ALARM_ACTIVE = "ALARM_ACTIVE"
GOOD_PHASES = frozenset({"good", "restore"})


def answer_commit(body: str) -> str | None:
    """The commit an answer's body names: `/version`'s JSON, or the `/` page's commit field."""
    text = body.strip()
    if text.startswith("{"):
        try:
            return served_commit(json.loads(text))
        except ValueError:
            return None
    found = _PAGE_COMMIT.search(body)
    return found.group(1) if found else None


def two_version_window(seen: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    """From each version's first and last sighting, the window in which two versions were
    served: the first and last moment that lie in two versions' spans at once (None: one version
    at a time, e.g. a clean switch, or none)."""
    spans = sorted(seen.values())
    overlaps = [
        (max(a[0], b[0]), min(a[1], b[1]))
        for i, a in enumerate(spans)
        for b in spans[i + 1 :]
        if max(a[0], b[0]) <= min(a[1], b[1])
    ]
    if not overlaps:
        return None
    return min(o[0] for o in overlaps), max(o[1] for o in overlaps)


def probe_phase_verdict(
    mode: str, phase: str, stats: Mapping[str, Any], *, alarm_commit: str | None = None
) -> Verdict:
    """The probe's targets for one phase (`stats`: ProbeResult.as_dict()["phases"][phase]).

    Fleet mode (issue 12's targets): a good deploy (phases good and restore) fails no request;
    a broken deploy fails none and the broken version serves none; in the alarm scenario the
    only failures are 5xx answered by the alarm commit, and there are some (the alarm needs
    them). Single mode has one instance that deploys in place with nothing in front of it:
    failures and answers of the broken version are counted there, with no target (what the
    scenario asserted before fleet mode)."""
    failed, broken = stats.get("failed", 0), stats.get("served_by_broken", 0)
    problems: list[str] = []
    facts = {"mode": mode, "phase": phase, "requests": stats.get("requests", 0)}
    facts |= {"failed": failed, "served_by_broken": broken}
    if phase == "alarm":
        by_commit = stats.get("failed_by_commit", {})
        from_alarm = sum(n for c, n in by_commit.items() if same_commit(c, alarm_commit))
        facts["failed_by_alarm_commit"] = from_alarm
        if from_alarm == 0:
            problems.append("no 5xx from the alarm commit: the probe never saw what the alarm saw")
        if failed != from_alarm:
            problems.append(
                f"{failed - from_alarm} failed request(s) not answered by the alarm commit "
                f"({dict(stats.get('errors', {}))})"
            )
    elif mode != "fleet":
        pass
    elif failed:
        problems.append(f"{failed} failed request(s) during the {phase} deploy (target 0)")
    if mode == "fleet" and phase == "broken" and broken:
        problems.append(f"{broken} request(s) served by the broken version (target 0)")
    return Verdict(not problems, problems, facts)


def instances_given_traffic(targets: Iterable[Response]) -> list[str]:
    """The instances a deployment put back behind the load balancer (AllowTraffic Succeeded),
    from its BatchGetDeploymentTargets instanceTarget records: the only ones whose answers
    users saw."""
    ids = []
    for target in targets:
        inner = target.get("instanceTarget", {})
        for event in inner.get("lifecycleEvents", []):
            if event.get("lifecycleEventName") == "AllowTraffic" and (
                event.get("status") == "Succeeded"
            ):
                ids.append(inner.get("targetId"))
    return ids


def alarm_rollback_verdict(
    stopped: Response,
    rollback: Response | None,
    targets: Iterable[Response],
    *,
    last_good_revision: Response | None = None,
) -> Verdict:
    """Did an alarm stop the deployment (errorInformation.code ALARM_ACTIVE, the deployment
    not Succeeded) and CodeDeploy roll it back (DEPLOYMENT_STOP_ON_ALARM) to the last good
    revision? `targets`: the stopped deployment's instanceTarget records; the instances that took
    traffic with its revision are in the facts."""
    info = stopped["deploymentInfo"]
    error = info.get("errorInformation", {})
    facts: dict[str, Any] = {
        "deployment_id": info["deploymentId"],
        "status": info.get("status"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
        "instances_given_traffic": instances_given_traffic(targets),
    }
    problems: list[str] = []
    if info.get("status") not in ("Stopped", "Failed"):
        problems.append(f"deployment {info['deploymentId']} is {info.get('status')}, not stopped")
    if error.get("code") != ALARM_ACTIVE:
        problems.append(f"error code is {error.get('code')}, not {ALARM_ACTIVE} (an alarm)")
    if not facts["instances_given_traffic"]:
        problems.append("no instance took traffic with the alarm revision: what raised the 5xx?")
    problems += rollback_problems(info, rollback, last_good_revision, facts)
    return Verdict(not problems, problems, facts)


def deployment_group_alarms(group: Response) -> list[str]:
    """The alarm names a GetDeploymentGroup response watches (alarmConfiguration enabled)."""
    config = group.get("deploymentGroupInfo", {}).get("alarmConfiguration", {})
    if not config.get("enabled"):
        return []
    return [a["name"] for a in config.get("alarms", []) if a.get("name")]


def alarms_firing(described: Response) -> list[str]:
    """The alarms a DescribeAlarms response shows in ALARM (metric and composite alarms)."""
    found = [*described.get("MetricAlarms", []), *described.get("CompositeAlarms", [])]
    return [a["AlarmName"] for a in found if a.get("StateValue") == "ALARM"]
