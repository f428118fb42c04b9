"""How long each step of a release took, from the services' own records: the pipeline's action
executions, CodeBuild's build phases, CodeDeploy's deployments and per-instance lifecycle events.
Plain functions over botocore-shaped responses, so the same numbers come from AWS and from local
mode; nothing here looks at a clock of its own."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pipekit.harness.diagnosis import latest_action_runs

Response = dict[str, Any]

# CodeDeploy's lifecycle events that move traffic (present when the deployment group has a load
# balancer): the events a user sees the load balancer's drain and health checks in.
# Source: CodeDeploy User Guide, "AppSpec 'hooks' section" (reference-appspec-file-structure-hooks
# .html, in-place deployment with a load balancer) and botocore codedeploy LifecycleEvent.
TRAFFIC_EVENTS = frozenset(
    {
        "BeforeBlockTraffic",
        "BlockTraffic",
        "AfterBlockTraffic",
        "BeforeAllowTraffic",
        "AllowTraffic",
        "AfterAllowTraffic",
    }
)
# botocore codebuild BuildPhaseType: COMPLETED is the marker of the end (no endTime, no duration).
_OPEN_PHASES = frozenset({"COMPLETED"})


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _provider(detail: Response) -> str:
    return str(detail.get("input", {}).get("actionTypeId", {}).get("provider", ""))


def external_id(detail: Response) -> str | None:
    return detail.get("output", {}).get("executionResult", {}).get("externalExecutionId")


def action_spans(details: Iterable[Response]) -> list[Response]:
    """One row per action (its latest attempt), in start order: start, end (the record's
    lastUpdateTime once the action has ended), seconds, status, provider and external id."""
    rows = []
    for d in latest_action_runs(details):
        end = d.get("lastUpdateTime") if d.get("status") != "InProgress" else None
        rows.append(
            {
                "stage": d["stageName"],
                "action": d["actionName"],
                "provider": _provider(d),
                "external_id": external_id(d),
                "status": d.get("status"),
                "start": d["startTime"],
                "end": end,
                "seconds": seconds(d["startTime"], end),
            }
        )
    return rows


def handoffs(execution: Response, spans: list[Response]) -> list[Response]:
    """The gaps the actions do not account for: execution start -> first action, each action's
    end -> the next action's start (the pipeline's hand-off), last action's end -> the
    execution's last update. A negative gap means the two actions overlapped."""
    gaps = []
    previous_end, previous_name = execution.get("startTime"), "execution start"
    for span in spans:
        name = f"{span['stage']}/{span['action']}"
        gaps.append(
            {"from": previous_name, "to": name, "seconds": seconds(previous_end, span["start"])}
        )
        previous_end, previous_name = span["end"], name
    if execution.get("status") not in (None, "InProgress", "Stopping"):
        gaps.append(
            {
                "from": previous_name,
                "to": "execution end",
                "seconds": seconds(previous_end, execution.get("lastUpdateTime")),
            }
        )
    return gaps


def build_phases(build: Response) -> list[Response]:
    """CodeBuild's phases as it recorded them (SUBMITTED, QUEUED, PROVISIONING, DOWNLOAD_SOURCE,
    INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS, FINALIZING), with its own
    durationInSeconds (whole seconds on AWS) and the exact span from start to end."""
    rows = []
    for phase in build.get("phases", []):
        if phase.get("phaseType") in _OPEN_PHASES:
            continue
        rows.append(
            {
                "phase": phase.get("phaseType"),
                "status": phase.get("phaseStatus"),
                "start": phase.get("startTime"),
                "end": phase.get("endTime"),
                "duration_in_seconds": phase.get("durationInSeconds"),
                "seconds": seconds(phase.get("startTime"), phase.get("endTime")),
            }
        )
    return rows


def build_timing(build: Response) -> Response:
    return {
        "id": build.get("id"),
        "status": build.get("buildStatus"),
        "start": build.get("startTime"),
        "end": build.get("endTime"),
        "seconds": seconds(build.get("startTime"), build.get("endTime")),
        "phases": build_phases(build),
    }


def _instance(target: Response) -> Response:
    """The per-instance part of a BatchGetDeploymentTargets record (or of the older
    GetDeploymentInstance answer, `instanceSummary`)."""
    if "instanceTarget" in target:
        inner = target["instanceTarget"]
        return {"id": inner.get("targetId"), "status": inner.get("status"), **inner}
    inner = target.get("instanceSummary", target)
    return {"id": str(inner.get("instanceId", "")).rsplit("/", 1)[-1], **inner}


def lifecycle_events(targets: Iterable[Response]) -> list[Response]:
    """Per instance, each lifecycle event's start, end, seconds and status, in the order
    CodeDeploy lists them; traffic events are flagged."""
    instances = []
    for target in targets:
        inner = _instance(target)
        events = [
            {
                "event": e.get("lifecycleEventName"),
                "status": e.get("status"),
                "start": e.get("startTime"),
                "end": e.get("endTime"),
                "seconds": seconds(e.get("startTime"), e.get("endTime")),
                "traffic": e.get("lifecycleEventName") in TRAFFIC_EVENTS,
            }
            for e in inner.get("lifecycleEvents", [])
        ]
        starts = [e["start"] for e in events if e["start"]]
        ends = [e["end"] for e in events if e["end"]]
        instances.append(
            {
                "instance": inner["id"],
                "status": inner.get("status"),
                "seconds": seconds(min(starts), max(ends)) if starts and ends else None,
                "first": min(starts).timestamp() if starts else None,
                "events": events,
            }
        )
    # Instance order as the deployment reached them (a fleet goes one batch after another).
    instances.sort(key=lambda i: (i["first"] is None, i["first"] or 0, i["instance"]))
    return [{k: v for k, v in i.items() if k != "first"} for i in instances]


def deployment_timing(info: Response, targets: Iterable[Response]) -> Response:
    """A deployment's own span (createTime -> completeTime; CodeDeploy's startTime when it
    recorded one) and its instances' lifecycle events."""
    return {
        "id": info.get("deploymentId"),
        "status": info.get("status"),
        "creator": info.get("creator"),
        "create": info.get("createTime"),
        "start": info.get("startTime"),
        "end": info.get("completeTime"),
        "seconds": seconds(info.get("createTime"), info.get("completeTime")),
        "rollback_deployment": info.get("rollbackInfo", {}).get("rollbackDeploymentId"),
        "application": info.get("applicationName"),
        "group": info.get("deploymentGroupName"),
        "instances": lifecycle_events(targets),
    }


def run_timing(
    execution: Response,
    details: Iterable[Response],
    builds: dict[str, Response],
    deployments: dict[str, tuple[Response, list[Response]]],
) -> Response:
    """One pipeline execution's timing. `builds` and `deployments` are keyed by the external
    execution ids the actions recorded (a deployment: its deploymentInfo and its targets; a
    CodeDeploy rollback deployment is keyed by its own id)."""
    spans = action_spans(details)
    for span in spans:
        ext = span["external_id"]
        if span["provider"] == "CodeBuild" and ext in builds:
            span["build"] = build_timing(builds[ext])
        if span["provider"] == "CodeDeploy" and ext in deployments:
            span["deployment"] = deployment_timing(*deployments[ext])
            rollback_id = span["deployment"]["rollback_deployment"]
            if rollback_id in deployments:
                span["rollback"] = deployment_timing(*deployments[rollback_id])
    revisions = [r.get("revisionId") for r in execution.get("sourceRevisions", [])]
    return {
        "execution_id": execution.get("pipelineExecutionId"),
        "execution_type": execution.get("executionType", "STANDARD"),
        "status": execution.get("status"),
        "commit": next((r for r in revisions if r), None),
        "start": execution.get("startTime"),
        "end": execution.get("lastUpdateTime"),
        "seconds": seconds(execution.get("startTime"), execution.get("lastUpdateTime")),
        "actions": spans,
        "handoffs": handoffs(execution, spans),
    }


def configured_waits(
    settings: Iterable[tuple[Response, list[Response]]],
) -> Response | None:
    """The waits the target group settings put into BlockTraffic and AllowTraffic, from
    DescribeTargetGroups entries and their DescribeTargetGroupAttributes: the drain (attribute
    deregistration_delay.timeout_seconds: a deregistered target stays draining that long) and
    the health checks a registered target needs to turn healthy (HealthyThresholdCount
    consecutive successes, one per HealthCheckIntervalSeconds). Source: ELB User Guide, "Target
    groups for your Application Load Balancers" (Deregistration delay; Health check settings).
    With several target groups the longest of each (CodeDeploy waits for every group)."""
    drains, checks, described = [], [], []
    for group, attributes in settings:
        values = {a.get("Key"): a.get("Value") for a in attributes}
        delay = values.get("deregistration_delay.timeout_seconds")
        if delay is not None:
            drains.append(float(delay))
        interval, healthy = (
            group.get("HealthCheckIntervalSeconds"),
            group.get("HealthyThresholdCount"),
        )
        if interval and healthy:
            checks.append(float(interval * healthy))
            described.append(f"{healthy} x {interval} s")
    if not drains and not checks:
        return None
    return {
        "drain_s": max(drains) if drains else None,
        "health_checks_s": max(checks) if checks else None,
        "health_checks": ", ".join(described),
    }


def instance_breakdown(instance: Response, waits: Response | None) -> Response:
    """One instance's deployment split as issue 14 asks: BlockTraffic (and the drain the
    settings configure), the hooks (every other event: the agent's and the appspec's), and
    AllowTraffic (and the health checks the settings configure)."""
    block = allow = None
    hooks = 0.0
    for event in instance["events"]:
        if event["event"] == "BlockTraffic":
            block = event["seconds"]
        elif event["event"] == "AllowTraffic":
            allow = event["seconds"]
        elif event["seconds"] is not None:
            hooks += event["seconds"]
    return {
        "block_traffic_s": block,
        "drain_configured_s": (waits or {}).get("drain_s"),
        "hooks_s": round(hooks, 3),
        "allow_traffic_s": allow,
        "health_checks_configured_s": (waits or {}).get("health_checks_s"),
    }


def trigger_to_start(pushed_at: datetime | None, started_at: datetime | None) -> float | None:
    """Push (this machine's UTC clock, taken as `git push` began) to the execution's
    startTime (the service's clock): the one gap no record holds both ends of, so it carries
    the two clocks' skew."""
    return seconds(pushed_at, started_at)
