"""Nested stacks (AWS::CloudFormation::Stack) as CloudFormation runs them, where moto differs:

- a nested stack's Ref (and its events' PhysicalResourceId) is its stack ID (moto: its name),
  `!GetAtt Child.Outputs.X` reads the child's output, and describe_stacks shows
  ParentId/RootId;
- the child's parameters are checked as a top-level stack's are (parameters.py), passed as
  strings, and its template is read through templateurl.py (dotted bucket names, AWS's errors);
- a child that fails makes the parent fail with "Embedded stack ... was not successfully
  created/updated/deleted: The following resource(s) failed to ...: [X]." while the child keeps
  the real cause; a failed child is deleted with the parent's rollback;
- an update updates the child in place (moto replaced it and leaked the old child's resources).
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.utilities.utils import get_partition

from pipekit.emulator import parameters
from pipekit.emulator.patches.cloudformation.events import failed
from pipekit.emulator.patches.cloudformation.templateurl import get_stack_from_s3_url


def patch() -> None:
    from moto.cloudformation import models

    _ref_and_attributes(models.Stack)
    _create(models)
    _update(models.Stack)
    _delete(models)


def _stringify_parameters(parameters: dict[str, Any]) -> dict[str, str]:
    # A parent passes parameters to a child as strings, as CloudFormation does.
    out = {}
    for key, value in parameters.items():
        if isinstance(value, list):
            out[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def _template_for(properties: dict[str, Any], account_id: str, region_name: str) -> str:
    return get_stack_from_s3_url(
        properties["TemplateURL"], account_id=account_id, partition=get_partition(region_name)
    )


def _checked_child(
    properties: dict[str, Any], stack_class: Any, account_id: str, region: str
) -> tuple[str, dict[str, str]]:
    """The child's template and parameters, checked as CloudFormation checks a stack's."""
    template = _template_for(properties, account_id, region)
    child_parameters = _stringify_parameters(properties.get("Parameters", {}))
    parameters.validate(stack_class.parse_template(template), dict(child_parameters))
    return template, child_parameters


def _ref_and_attributes(stack_class: Any) -> None:
    stack_class.physical_resource_id = property(lambda self: self.stack_id)

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name.startswith("Outputs."):
            key = attribute_name.split(".", 1)[1]
            for output in self.outputs or []:
                if output["OutputKey"] == key:
                    return output["OutputValue"]
            raise ValidationError(message=f"Template error: stack {self.name} has no output {key}")
        if attribute_name == "StackId":
            return self.stack_id
        raise NotImplementedError(f"Stack attribute {attribute_name}")

    stack_class.get_cfn_attribute = get_cfn_attribute


def _create(models: Any) -> None:
    stack_class = models.Stack

    @classmethod  # type: ignore[misc]
    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        backend = models.cloudformation_backends[account_id][region_name]
        properties = cloudformation_json["Properties"]
        template, child_parameters = _checked_child(
            properties, stack_class, account_id, region_name
        )
        child = backend.create_stack(
            name=resource_name,
            template=template,
            parameters=child_parameters,
            tags={t["Key"]: t["Value"] for t in properties.get("Tags", [])},
            timeout_in_mins=properties.get("TimeoutInMinutes"),
        )
        # describe_stacks shows ParentId/RootId for nested stacks.
        parent_id = kwargs.get("StackId")
        if parent_id:
            parent = backend.stacks.get(parent_id)
            child.parent_id = parent_id
            child.root_id = getattr(parent, "root_id", None) or parent_id
        if child.status != "CREATE_COMPLETE":
            failed_here = [
                e.logical_resource_id
                for e in child.events
                if e.resource_status == "CREATE_FAILED" and e.logical_resource_id != child.name
            ]
            error = ValidationError(
                message=f"Embedded stack {child.stack_id} was not successfully created: "
                f"The following resource(s) failed to create: [{', '.join(failed_here)}]. "
            )
            error.physical_resource_id = child.stack_id
            # The parent's rollback deletes the failed child too, as on AWS.
            backend.delete_stack(child.stack_id)
            raise error
        return child

    stack_class.create_from_cloudformation_json = create_from_cloudformation_json


def _update(stack_class: Any) -> None:
    @classmethod  # type: ignore[misc]
    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        # Update the child in place, as CloudFormation does, instead of replacing it.
        template, child_parameters = _checked_child(
            cloudformation_json["Properties"], stack_class, account_id, region_name
        )
        original_resource.update(template, parameters=child_parameters)
        if original_resource.status != "UPDATE_COMPLETE":
            error = ValidationError(
                message=f"Embedded stack {original_resource.stack_id} was not successfully "
                "updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS with reason: The following "
                f"resource(s) failed to update: [{', '.join(failed(original_resource))}]."
            )
            error.physical_resource_id = original_resource.stack_id
            raise error
        return original_resource

    stack_class.update_from_cloudformation_json = update_from_cloudformation_json


def _delete(models: Any) -> None:
    @classmethod  # type: ignore[misc]
    def delete_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = models.cloudformation_backends[account_id][region_name]
        backend.delete_stack(resource_name)
        child = backend.stacks.get(resource_name)
        if child is not None and child.status == "DELETE_FAILED":
            raise ValidationError(
                message=f"Embedded stack {child.stack_id} was not successfully deleted: "
                "The following resource(s) failed to delete: "
                f"[{', '.join(failed(child, 'DELETE_FAILED'))}]. "
            )

    models.Stack.delete_from_cloudformation_json = delete_from_cloudformation_json
