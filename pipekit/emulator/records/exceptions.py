"""The errors the record APIs answer with, as the services name them (botocore's error shapes
of the operations that raise them)."""

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


class StageNotFoundException(_NamedError):
    pass


class UnableToRollbackStageException(_NamedError):
    pass


class ApplicationNameRequiredException(_NamedError):
    pass


class ApplicationDoesNotExistException(_NamedError):
    pass


class DeploymentGroupNameRequiredException(_NamedError):
    pass


class DeploymentGroupDoesNotExistException(_NamedError):
    pass


class DeploymentLimitExceededException(_NamedError):
    pass


class RevisionRequiredException(_NamedError):
    pass


class InvalidTimeRangeException(_NamedError):
    pass


class ActionNotFoundException(_NamedError):
    pass


class InvalidApprovalTokenException(_NamedError):
    pass


class ApprovalAlreadyCompletedException(_NamedError):
    pass


class DeploymentConfigDoesNotExistException(_NamedError):
    pass


class DeploymentConfigAlreadyExistsException(_NamedError):
    pass


class InvalidMinimumHealthyHostValueException(_NamedError):
    pass


class DeploymentConfigNameRequiredException(_NamedError):
    pass
