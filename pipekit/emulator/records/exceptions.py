"""The errors the record APIs answer with, as the services name them (moto has them for
CodePipeline only)."""

from __future__ import annotations

from moto.codepipeline.exceptions import (  # noqa: F401 (part of this module's names)
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
)
from moto.core.exceptions import JsonRESTError


class ValidationException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class ConflictException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


class DeploymentDoesNotExistException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("DeploymentDoesNotExistException", message)


class InstanceDoesNotExistException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("InstanceDoesNotExistException", message)
