"""Failed stack operations roll back, as on AWS, and say so on the stack rather than in the call.

moto left a stack whose resource failed CREATE_IN_PROGRESS forever; here it rolls back what was
created and ends in ROLLBACK_COMPLETE. A failed update (nested ones too) re-applies the previous
template and parameters and ends in UPDATE_ROLLBACK_COMPLETE.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

from pipekit.emulator.patches.cloudformation.events import failed, failure_reason


def patch() -> None:
    _roll_back_failed_creates()
    _roll_back_failed_updates()


def _roll_back_failed_creates() -> None:
    from moto.cloudformation.models import Stack

    original_create_resources = Stack.create_resources

    def create_resources(self: Any) -> None:
        try:
            original_create_resources(self)
        except Exception:
            _roll_back(self)

    Stack.create_resources = create_resources


def _roll_back_failed_updates() -> None:
    from moto.cloudformation.models import Stack

    original_update = Stack.update

    def update(self: Any, template: str, *args: Any, **kwargs: Any) -> None:
        # As on AWS, a failed update rolls back to the previous template and parameters and is
        # reported on the stack (UPDATE_ROLLBACK_COMPLETE), not by the API call.
        old_template, old_parameters = self.template, dict(self.parameters)
        try:
            original_update(self, template, *args, **kwargs)
        except Exception as exc:
            self.status = "UPDATE_ROLLBACK_IN_PROGRESS"
            self._add_stack_event(
                "UPDATE_ROLLBACK_IN_PROGRESS",
                resource_status_reason="The following resource(s) failed to update: "
                f"[{', '.join(failed(self))}]. ({failure_reason(exc)})",
            )
            self.template = old_template
            self._parse_template()
            with contextlib.suppress(Exception), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "never created": the resource that failed
                self.resource_map.update(self.template_dict, old_parameters)
            self.parameters = old_parameters
            self.output_map = self._create_output_map()
            self.status = "UPDATE_ROLLBACK_COMPLETE"
            self._add_stack_event("UPDATE_ROLLBACK_COMPLETE")

    Stack.update = update


def _roll_back(stack: Any) -> None:
    """A failed create: roll back what was created, end in ROLLBACK_COMPLETE (as AWS does)."""
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event(
        "ROLLBACK_IN_PROGRESS",
        resource_status_reason="The following resource(s) failed to create: "
        f"[{', '.join(failed(stack))}]. Rollback requested by user.",
    )
    with contextlib.suppress(Exception):
        stack.resource_map.delete()
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")
