"""Stack events the way CloudFormation writes them, for the patches that add them: moto wrote only
stack-level events, so a failed resource could not be told from the stack's own status."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

# (stack, logical id) of the resource being updated, for a model that writes events of its own
# while CloudFormation updates it (the Auto Scaling group's rolling update); moto's models are
# not told their stack.
UPDATING: ContextVar[tuple[Any, str] | None] = ContextVar("pipekit_updating", default=None)


def failure_reason(exc: Exception) -> str:
    """ResourceStatusReason for a resource that failed with `exc`."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message)


def event(
    stack: Any,
    logical_id: str,
    resource_type: str,
    status: str,
    *,
    resource: Any = None,
    physical: str = "",
    reason: str | None = None,
) -> None:
    """Add a resource's event to its stack (nothing when the resource map knows no stack)."""
    if stack is None or not logical_id:
        return
    from moto.cloudformation.models import Event

    if resource is not None and not isinstance(resource, str):
        physical = getattr(resource, "physical_resource_id", "") or physical
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical or "",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


@contextlib.contextmanager
def failure_event(
    stack: Any, logical_id: str, resource_type: str, status: str, *, resource: Any = None
) -> Iterator[None]:
    """If the block raises, add the resource's `status` (a *_FAILED) event with the error as its
    reason, then let the error go on: the stack's rollback or failure is decided further up."""
    try:
        yield
    except Exception as exc:
        event(
            stack,
            logical_id,
            resource_type,
            status,
            resource=resource,
            physical=getattr(exc, "physical_resource_id", ""),
            reason=failure_reason(exc),
        )
        raise


def failed(stack: Any, status: str = "_FAILED") -> list[str]:
    """The stack's resources with an event whose status ends in `status`, sorted, each once:
    what AWS lists in "The following resource(s) failed to ...: [X, Y]"."""
    return sorted(
        {
            e.logical_resource_id
            for e in stack.events
            if e.resource_status.endswith(status) and e.logical_resource_id != stack.name
        }
    )
