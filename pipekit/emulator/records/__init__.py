"""Execution, build and deployment records that the local pipeline engine writes (store.py), and
the moto response overrides that serve them through the ordinary CodePipeline, CodeBuild and
CodeDeploy APIs (one module per service); CodeDeploy's own rules for deployments (ids, one
active per group, automatic rollback) are in deployments.py.

Calls that change state (StartPipelineExecution, RollbackStage, StopPipelineExecution,
CreateDeployment) are forwarded to the registered `Controller` (the engine); without one,
moto's own behaviour stays (a created deployment stays Created).
"""

from __future__ import annotations

from pipekit.emulator.records import codebuild, codedeploy, codepipeline
from pipekit.emulator.records.exceptions import (
    ConflictException,
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
    StageNotFoundException,
    UnableToRollbackStageException,
    ValidationException,
)
from pipekit.emulator.records.overrides import replace
from pipekit.emulator.records.store import (
    Controller,
    Records,
    now,
    pipeline_token,
    records_for,
    reset_all,
    set_controller,
)

__all__ = [
    "ConflictException",
    "Controller",
    "PipelineExecutionNotFoundException",
    "PipelineNotFoundException",
    "Records",
    "StageNotFoundException",
    "UnableToRollbackStageException",
    "ValidationException",
    "install",
    "now",
    "pipeline_token",
    "records_for",
    "reset_all",
    "set_controller",
]


def install() -> None:
    """Patch moto's response classes so the record APIs answer from `Records`. Idempotent."""
    for service in (codepipeline, codebuild, codedeploy):
        replace(service.RESPONSE, service.SERVICE, service.OVERRIDES)
