"""Bounded waits on the services, with live per-stage progress and, on failure, the failing
action's own error (build log tail, deployment error and failing lifecycle event)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from rich.console import Console

from pipekit.e2e import decisions
from pipekit.harness.runs import action_executions, deployment_targets

T = TypeVar("T")


class E2EFailure(Exception):
    """The scenario cannot go on; the message says what the services recorded."""


@dataclass
class Clients:
    codepipeline: Any
    codedeploy: Any
    codebuild: Any
    logs: Any | None = None


def poll(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call `check` until it returns something other than None, at most `timeout` seconds."""
    deadline = clock() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if clock() >= deadline:
            raise E2EFailure(f"timed out after {timeout:.0f}s waiting for {what}")
        sleep(interval)


def list_executions(cp: Any, pipeline: str, max_results: int = 50) -> list[dict[str, Any]]:
    resp = cp.list_pipeline_executions(pipelineName=pipeline, maxResults=max_results)
    return resp.get("pipelineExecutionSummaries", [])


def find_commit_execution(
    cp: Any,
    pipeline: str,
    commit: str,
    *,
    not_before: datetime | None,
    timeout: float,
    interval: float = 2.0,
) -> dict[str, Any]:
    return poll(
        lambda: decisions.find_commit_execution(
            list_executions(cp, pipeline), commit, not_before=not_before
        ),
        timeout=timeout,
        interval=interval,
        what=f"a pipeline execution of commit {commit[:12]} in {pipeline}",
    )


class StageProgressPrinter:
    """Prints a line whenever a stage of the watched execution changes status, so the user
    sees live progress on a terminal and in a CI log alike."""

    def __init__(self, console: Console, label: str, stages: list[str]) -> None:
        self.console = console
        self.label = label
        self.stages = stages
        self.seen: dict[str, str] = {}
        self.started = time.monotonic()

    def update(self, details: list[dict[str, Any]]) -> None:
        for stage in self.stages:
            status = decisions.action_status(details, stage)
            if status and self.seen.get(stage) != status:
                self.seen[stage] = status
                style = {"Succeeded": "green", "Failed": "red"}.get(status, "yellow")
                elapsed = time.monotonic() - self.started
                self.console.print(
                    f"  [{elapsed:6.1f}s] {self.label} {stage}: [{style}]{status}[/{style}]"
                )


def wait_execution(
    cp: Any,
    pipeline: str,
    execution_id: str,
    *,
    stages: list[str],
    timeout: float,
    console: Console,
    label: str,
    interval: float = 2.0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Wait until the execution reaches a terminal status; returns it and its action executions."""
    printer = StageProgressPrinter(console, label, stages)

    def check() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        execution = cp.get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        details = action_executions(cp, pipeline, execution_id)
        printer.update(details)
        if execution["status"] in decisions.TERMINAL_EXECUTION:
            return execution, details
        return None

    return poll(
        check, timeout=timeout, interval=interval, what=f"pipeline execution {execution_id}"
    )


def wait_deployment(
    cd: Any, deployment_id: str, *, timeout: float, interval: float = 2.0
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        resp = cd.get_deployment(deploymentId=deployment_id)
        return resp if resp["deploymentInfo"]["status"] in decisions.TERMINAL_DEPLOYMENT else None

    return poll(check, timeout=timeout, interval=interval, what=f"deployment {deployment_id}")


def build_log_tail(clients: Clients, build_id: str, lines: int = 25) -> list[str]:
    builds = clients.codebuild.batch_get_builds(ids=[build_id]).get("builds", [])
    if not builds:
        return [f"(build {build_id} not found)"]
    build = builds[0]
    out = [f"build {build_id}: {build.get('buildStatus')}"]
    for phase in build.get("phases", []):
        if phase.get("phaseStatus") in ("FAILED", "FAULT", "TIMED_OUT", "CLIENT_ERROR"):
            msgs = "; ".join(c.get("message", "") for c in phase.get("contexts", []))
            out.append(f"phase {phase['phaseType']} {phase['phaseStatus']}: {msgs}")
    logs = build.get("logs", {})
    if clients.logs is not None and logs.get("groupName") and logs.get("streamName"):
        try:
            events = clients.logs.get_log_events(
                logGroupName=logs["groupName"],
                logStreamName=logs["streamName"],
                limit=lines,
                startFromHead=False,
            ).get("events", [])
            out.extend(e["message"].rstrip() for e in events)
        except Exception as exc:  # the tail is a courtesy; say why it is missing
            out.append(f"(log tail unavailable: {exc})")
    elif logs.get("deepLink"):
        out.append(f"log: {logs['deepLink']}")
    return out


def deployment_error(clients: Clients, deployment_id: str) -> list[str]:
    info = clients.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    err = info.get("errorInformation", {})
    out = [f"deployment {deployment_id}: {info.get('status')} {err.get('code', '')}".rstrip()]
    if err.get("message"):
        out.append(err["message"])
    for event in decisions.failed_lifecycle_events(
        deployment_targets(clients.codedeploy, deployment_id)
    ):
        out.append(f"{event.target}: {event.event} failed ({event.error_code}, {event.script})")
        if event.message:
            out.append(f"  {event.message}")
        if event.log_tail:
            out.extend(f"  | {line}" for line in event.log_tail.rstrip().splitlines()[-15:])
    return out


def explain_failure(clients: Clients, details: list[dict[str, Any]]) -> list[str]:
    """The failing action's own error, as lines for the user."""
    failure = decisions.failing_action(details)
    if failure is None:
        return ["no failed action recorded"]
    head = f"{failure.stage}/{failure.action} failed"
    if failure.message:
        head += f": {failure.message}"
    lines = [head]
    try:
        if failure.external_id and failure.category == "Build":
            lines += build_log_tail(clients, failure.external_id)
        elif failure.external_id and failure.category == "Deploy":
            lines += deployment_error(clients, failure.external_id)
    except Exception as exc:  # explaining must never hide the original failure
        lines.append(f"(could not fetch the action's details: {exc})")
    return lines
