"""Change sets as CloudFormation makes them, where moto differs:

- the changes come from changes.py (parameters through `${Param}`, conditions, dependencies,
  Replacement), not from moto's Ref-only diff;
- an UPDATE change set without changes FAILs with AWS's wording; one for a stack in
  ROLLBACK_COMPLETE (or still in review) is refused; a CREATE one for a stack in review reuses it;
- executing a CREATE change set creates the stack as create_stack does, template, outputs and
  parameters included (moto's own path left it without them);
- list_change_sets lists the named stack's change sets (moto listed every stack's).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pipekit.emulator.patches.cloudformation.changes import (
    apply_conditions,
    changed_names,
    diff_resources,
    evaluate_conditions,
    replacement,
)


def patch() -> None:
    from moto.cloudformation import models

    _diff(models)
    _execute(models)
    _wrap_create_change_set(models)
    _list_per_stack()


def _diff(models: Any) -> None:
    Change = models.Change

    def diff(self: Any) -> list[Any]:
        resource_map = self.stack.resource_map
        old_template = resource_map._template or {}
        new_template = self.template_dict
        dirty = changed_names(
            old_template, new_template, resource_map.input_parameters, self.parameters
        )
        old_resources = resource_map._resource_json_map
        new_resources = new_template.get("Resources", {})
        actions = diff_resources(old_resources, new_resources, dirty)
        conditions = evaluate_conditions(self.stack, new_template, self.parameters)
        actions = apply_conditions(
            actions,
            new_resources,
            exists={
                name
                for name, value in resource_map._parsed_resources.items()
                if name in old_resources and value is not None and not isinstance(value, str)
            },
            conditions=conditions,
        )
        changes = []
        for action in ("Add", "Modify", "Remove"):
            for name in actions[action]:
                body = new_resources.get(name) or old_resources[name]
                change = Change(action, name, body["Type"])
                parsed = resource_map._parsed_resources.get(name)
                change.physical_resource_id = getattr(parsed, "physical_resource_id", None)
                change.scope = ["Properties"] if action == "Modify" else []
                change.details = []
                change.replacement = (
                    replacement(
                        body["Type"], old_resources.get(name), body, dirty | set(actions["Modify"])
                    )
                    if action == "Modify"
                    else None
                )
                changes.append(change)
        return changes

    models.ChangeSet.diff = diff


def _execute(models: Any) -> None:
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        from moto.cloudformation.exceptions import ValidationError

        change_set = self.describe_change_set(change_set_name)
        if change_set.execution_status != "AVAILABLE":
            raise ValidationError(
                message=f"ChangeSet [{change_set.change_set_id}] cannot be executed in its "
                f"current execution status of [{change_set.execution_status}]"
            )
        stack = self.stacks[change_set.stack_id]
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        if change_set.change_set_type == "CREATE":
            # Create exactly as create_stack does (dependency order, rollback on failure);
            # moto's own path left the stack without template, outputs or parameters.
            stack.template = change_set.template
            stack._parse_template()
            stack.description = stack.template_dict.get("Description")
            stack.parameters = change_set.parameters
            stack.resource_map = stack._create_resource_map()
            stack.output_map = stack._create_output_map()
            stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
            stack.create_resources()
            failed = stack.status != "CREATE_COMPLETE"
        else:
            stack.update(change_set.template, parameters=change_set.parameters)
            failed = stack.status != "UPDATE_COMPLETE"
        change_set.execution_status = "EXECUTE_FAILED" if failed else "EXECUTE_COMPLETE"
        if not failed:
            for export in stack.exports:
                self.exports[export.name] = export

    models.CloudFormationBackend.execute_change_set = execute_change_set


def _wrap_create_change_set(models: Any) -> None:
    original: Callable[..., Any] = models.CloudFormationBackend.create_change_set

    @functools.wraps(original)
    def create_change_set(self: Any, *args: Any, **kwargs: Any) -> Any:
        from moto.cloudformation.exceptions import AlreadyExistsException, ValidationError

        name = kwargs.get("stack_name") or args[0]
        live = [s for s in self.stacks.values() if s.name == name]
        if kwargs.get("change_set_type") == "CREATE" and live:
            if live[0].status != "REVIEW_IN_PROGRESS":
                raise AlreadyExistsException(f"Stack [{name}] already exists")
            # AWS reuses a stack still in review; moto would add a second one by that name.
            self.stacks.pop(live[0].stack_id)
        if (
            kwargs.get("change_set_type") == "UPDATE"
            and live
            and live[0].status
            in (
                "ROLLBACK_COMPLETE",
                "REVIEW_IN_PROGRESS",
            )
        ):
            raise ValidationError(
                message=f"Stack:{live[0].stack_id} is in {live[0].status} state and can not "
                "be updated."
            )
        change_set_id, stack_id = original(self, *args, **kwargs)
        change_set = self.change_sets[change_set_id]
        if (
            change_set.change_set_type == "UPDATE"
            and change_set.status == "CREATE_COMPLETE"
            and not change_set.changes
        ):
            change_set.status = "FAILED"
            change_set.execution_status = "UNAVAILABLE"
            change_set.status_reason = (
                "The submitted information didn't contain changes. "
                "Submit different information to create a change set."
            )
        return change_set_id, stack_id

    models.CloudFormationBackend.create_change_set = create_change_set


def _list_per_stack() -> None:
    from moto.cloudformation.responses import CloudFormationResponse

    original_list = CloudFormationResponse.list_change_sets

    def list_change_sets(self: Any) -> Any:
        # moto lists every stack's change sets; the API lists the named stack's.
        result = original_list(self)
        stack = self._get_param("StackName")
        summaries = result.result["Summaries"] if hasattr(result, "result") else None
        if stack and summaries is not None:
            result.result["Summaries"] = [
                c for c in summaries if stack in (c.stack_name, c.stack_id)
            ]
        return result

    CloudFormationResponse.list_change_sets = list_change_sets
