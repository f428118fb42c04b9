"""The errors the record APIs answer with, as the services name them (moto has them for
CodePipeline only)."""

from __future__ import annotations

from moto.codepipeline.exceptions import (  # noqa: F401 (part of this module's names)
    PipelineExecutionNotFoundException,
    PipelineNotFoundException,
)
from moto.core.exceptions import JsonRESTError


class _NamedError(JsonRESTError):
    """An error whose code (the response's __type) is its class name, as AWS names them."""

    def __init__(self, message: str) -> None:
        super().__init__(type(self).__name__, message)


class ValidationException(_NamedError):
    pass


class ConflictException(_NamedError):
    pass


class DeploymentDoesNotExistException(_NamedError):
    pass


class InstanceDoesNotExistException(_NamedError):
    pass
