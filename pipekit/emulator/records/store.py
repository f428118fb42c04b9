"""The records the local pipeline engine writes (pipeline executions, builds, deployments), per
account and region, and the Controller the API hands state-changing calls to.

moto keeps no history for these services: its executions never progress and it has no builds or
deployments of its own. Records are stored as dicts already shaped like the botocore output
shapes (camelCase keys, datetime values); moto's serializer turns them into wire format, so what a
boto3 client reads is exactly what the models allow. Keys that start with "_" are internal and
never returned.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from moto.codepipeline.models import codepipeline_backends

from pipekit.emulator import clock

Record = dict[str, Any]


def now() -> datetime:
    """The emulator's clock (real time unless advanced through /_pipekit/clock)."""
    return clock.now()


def public(record: Record) -> Record:
    """A copy of a record without its internal keys, for a response (a copy: the engine keeps
    changing nested parts, such as deploymentOverview, while the response is serialised)."""
    return copy.deepcopy(
        {k: v for k, v in record.items() if not k.startswith("_") and v is not None}
    )


@dataclass
class Approval:
    """One manual approval request: what the approval action waits on and PutApprovalResult
    answers. `status` stays None until answered (then Approved or Rejected)."""

    pipeline: str
    stage: str
    action: str
    token: str
    expires: datetime
    status: str | None = None
    summary: str = ""
    answered_by: str = ""
    answered: threading.Event = field(default_factory=threading.Event)


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
    # approval token -> the manual approval it identifies (see `Approval`), answered or not
    approvals: dict[str, Approval] = field(default_factory=dict)

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
                self.approvals,
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

    def start_deployment(self, account_id: str, region: str, deployment_id: str) -> None:
        """Run a CodeDeploy deployment CreateDeployment recorded (status Created)."""
        ...


_controller: Controller | None = None


def set_controller(controller: Controller | None) -> None:
    global _controller
    _controller = controller


def controller() -> Controller | None:
    """The registered engine; None: moto's own behaviour stays (or the call is refused)."""
    return _controller
