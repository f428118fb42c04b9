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
from pipekit.harness import diagnosis
from pipekit.harness.approve import waiting_approvals
from pipekit.harness.explain import read_failure
from pipekit.harness.runs import action_executions

T = TypeVar("T")


class E2EFailure(Exception):
    """The scenario cannot go on; the message says what the services recorded."""


@dataclass
class Clients:
    codepipeline: Any
    codedeploy: Any
    codebuild: Any
    logs: Any | None = None
    elbv2: Any | None = None  # the target groups' settings (the bench's configured waits)
    cloudwatch: Any | None = None  # the deployment group's alarms (the alarm scenario)


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


def approve_if_waiting(cp: Any, pipeline: str, execution_id: str, console: Console) -> bool:
    """Approve the execution's approval request if it has one open (the gate is on): the e2e
    checks the pipeline, not the reviewer."""
    for waiting in waiting_approvals(cp.get_pipeline_state(name=pipeline)):
        if waiting.execution_id == execution_id:
            cp.put_approval_result(
                pipelineName=pipeline,
                stageName=waiting.stage,
                actionName=waiting.action,
                result={"status": "Approved", "summary": "approved by make test-e2e"},
                token=waiting.token,
            )
            console.print(f"  approved {waiting.stage}/{waiting.action} of {execution_id}")
            return True
    return False


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
    approve: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Wait until the execution reaches a terminal status; returns it and its action executions.
    `approve`: the pipeline has an approval action, which is approved when the run reaches it."""
    printer = StageProgressPrinter(console, label, stages)

    def check() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        execution = cp.get_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        details = action_executions(cp, pipeline, execution_id)
        printer.update(details)
        if execution["status"] in decisions.TERMINAL_EXECUTION:
            return execution, details
        if approve:
            approve_if_waiting(cp, pipeline, execution_id, console)
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


def wait_alarms_clear(
    cd: Any, cloudwatch: Any, application: str, group: str, *, timeout: float, interval: float
) -> list[str]:
    """Wait until none of the deployment group's alarms is in ALARM; return their names. An
    alarm still in ALARM stops the next deployment of the group at once (ALARM_ACTIVE), and a
    period-long alarm outlives the rollback that removed its cause."""
    info = cd.get_deployment_group(applicationName=application, deploymentGroupName=group)
    names = decisions.deployment_group_alarms(info)
    if names:
        poll(
            lambda: (
                not decisions.alarms_firing(cloudwatch.describe_alarms(AlarmNames=names)) or None
            ),
            timeout=timeout,
            interval=interval,
            what=f"the alarms {', '.join(names)} to leave ALARM",
        )
    return names


def explain_failure(clients: Clients, details: list[dict[str, Any]]) -> list[str]:
    """The failing action's own error, as lines for the user: the same explanation as `make
    why` (the build's failing command and log tail, the deployment's failing lifecycle event,
    script and log tail, its rollback)."""
    d = diagnosis.Diagnosis("", "Failed")
    try:
        read_failure(
            d,
            details,
            codebuild=clients.codebuild,
            logs=clients.logs,
            codedeploy=clients.codedeploy,
        )
    except Exception as exc:  # explaining must never hide the original failure
        d.notes.append(f"could not fetch the action's details: {exc}")
    return diagnosis.report_lines(d)
