"""Stack operations where moto differs from CloudFormation:

- API calls are serialised (operations are synchronous, the server threaded);
- outputs only for stacks whose resources exist (moto re-created resources to evaluate them);
- a resource whose Condition is false is not part of the stack (moto listed a None);
- a delete that cannot delete every resource ends in DELETE_FAILED, reported on the stack, with
  the resources named (moto raised from the API call or silently left resources behind).
"""

from __future__ import annotations

import threading
from typing import Any

from pipekit.emulator.patches.cloudformation.events import failed

_cfn_lock = threading.RLock()

_STATUSES_WITH_OUTPUTS = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_FAILED",
}


def patch() -> None:
    _outputs()
    _stack_resources()
    _delete_stack()
    _serialise_calls()


def _serialise_calls() -> None:
    """The server is threaded and a stack operation runs inside its API call: a harness polling
    describe_stack_events while execute_change_set runs must not see a half-built stack."""
    from moto.cloudformation.responses import CloudFormationResponse

    original = CloudFormationResponse.call_action

    def call_action(self: Any) -> Any:
        with _cfn_lock:
            return original(self)

    CloudFormationResponse.call_action = call_action


def _safe_exports(stack: Any) -> list[Any]:
    try:
        return list(stack.exports)
    except Exception:
        return []


def _outputs() -> None:
    from moto.cloudformation.models import Stack

    def outputs(self: Any) -> list[dict[str, Any]] | None:
        # moto evaluates outputs lazily and, for a resource not (or no longer) there, creates it:
        # describing a rolled-back or deleted stack re-created its resources. AWS shows outputs
        # only for stacks whose resources exist.
        if self.status not in _STATUSES_WITH_OUTPUTS:
            return None
        exports = {e.value: e.name for e in _safe_exports(self)}
        found = []
        for key in self.output_map.outputs:
            try:
                output = self.output_map[key]
            except Exception:  # one unresolvable output must not hide the rest
                continue
            if output is not None:
                found.append(
                    {
                        "OutputKey": output.key,
                        "OutputValue": output.value,
                        "Description": output.description,
                        "ExportName": exports.get(output.value),
                    }
                )
        return found or None

    Stack.outputs = property(outputs)


def _stack_resources() -> None:
    from moto.cloudformation.models import Stack

    def stack_resources(self: Any) -> list[Any]:
        # Resources whose Condition is false are None in moto's map: not part of the stack.
        return [r for r in self.resource_map.values() if r is not None and not isinstance(r, str)]

    Stack.stack_resources = property(stack_resources)


def _delete_stack() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id)
        if stack is None:
            for candidate in list(self.stacks.values()):
                if candidate.name == name_or_stack_id:
                    stack = candidate
                    break
        if stack is None:
            return
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.status = "DELETE_IN_PROGRESS"
        try:
            stack.resource_map.delete()
        except Exception:  # AWS reports it on the stack, not on the call
            stack.status = "DELETE_FAILED"
            stack._add_stack_event(
                "DELETE_FAILED",
                resource_status_reason="The following resource(s) failed to delete: "
                f"[{', '.join(failed(stack, 'DELETE_FAILED'))}]. ",
            )
            return
        stack._add_stack_event("DELETE_COMPLETE")
        stack.status = "DELETE_COMPLETE"
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
        for name, export in list(self.exports.items()):
            if export.exporting_stack_id == stack.stack_id:
                self.exports.pop(name, None)

    CloudFormationBackend.delete_stack = delete_stack
