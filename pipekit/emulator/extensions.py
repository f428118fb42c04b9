"""Fixes to moto's CloudFormation engine, applied once before a server starts.

What moto 5.2.5 gets wrong for our templates, and what each patch does instead:
- YAML short-form tags (`!Condition`, mapping values, `!GetAtt A.B.C`): see yamlfix.
- `!GetAtt Child.Outputs.X` and `${Child.Outputs.X}` (500 in moto): read the child's output.
- `Fn::Cidr` (500 in moto), `Fn::GetAZs ''` (always us-east-1 in moto): computed.
- `!Ref AWS::NoValue` as a list element (from an `!If`) left a null in the list: removed.
- A nested stack's Ref is its stack ID (moto: its name), as on AWS.
- Updating a nested stack replaces it and leaks the old child's resources: updated in place.
- Updates only notice parameters used through `Ref`: `${Param}` in Sub, conditions and
  dependencies on modified resources count too; change sets see parameter changes and say
  whether a change replaces the resource (create-only properties, from the CFN schemas).
- A resource type without update support is lost on update: it is replaced instead.
- Only stack-level events: every resource gets IN_PROGRESS/COMPLETE/FAILED events, nested
  stacks with the child's stack ID as PhysicalResourceId.
- A failing resource leaves the stack CREATE_IN_PROGRESS forever: it rolls back to
  ROLLBACK_COMPLETE and the parent of a failed child reports "Embedded stack ... was not
  successfully created: ..." as AWS does.
- Executing a CREATE change set left the stack without outputs or description.
- No capability check: InsufficientCapabilitiesException as on AWS (see capabilities).
- TemplateURLs: dotted bucket names, and AWS's ValidationErrors for a missing template
  (see templateurl).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

from pipekit.emulator.schemas import create_only_properties

_lock = threading.Lock()
_applied = False


def apply_extensions() -> None:
    """Register every extension into moto. Safe to call more than once."""
    global _applied
    with _lock:
        if _applied:
            return
        from moto.cloudformation import models, parsing, responses, utils

        from pipekit.emulator import (
            capabilities,
            resources,
            templateurl,
            yamlfix,
        )
        from pipekit.emulator import models as _models  # noqa: F401 (importing registers them)

        for module in (utils, models, responses):
            module.yaml_tag_constructor = yamlfix.yaml_tag_constructor  # type: ignore[attr-defined]
            module.get_stack_from_s3_url = templateurl.get_stack_from_s3_url  # type: ignore[attr-defined]
        _patch_parsing(parsing)
        _patch_stack(models)
        _patch_change_sets(models)
        resources.patch_services()
        capabilities.patch()
        _serialise_cloudformation_calls(responses)
        # moto caches its CloudFormationModel registry; our models must be seen.
        parsing.get_model_list.cache_clear()
        parsing.get_model_map.cache_clear()
        parsing.get_name_type_map.cache_clear()
        _applied = True


# Longest names the services accept, for names CloudFormation generates.
NAME_LIMITS = {
    "AWS::IAM::Role": 64,
    "AWS::IAM::User": 64,
    "AWS::IAM::Group": 128,
    "AWS::IAM::InstanceProfile": 128,
    "AWS::IAM::ManagedPolicy": 128,
    "AWS::Events::Rule": 64,
    "AWS::CodePipeline::Pipeline": 100,
    "AWS::CodeConnections::Connection": 32,
    "AWS::CodeStarConnections::Connection": 32,
    "AWS::EC2::LaunchTemplate": 128,
    "AWS::SNS::Topic": 256,
    "AWS::CloudWatch::Alarm": 255,
    "AWS::AutoScaling::AutoScalingGroup": 255,
    "AWS::CodeBuild::Project": 150,
}

_cfn_lock = threading.RLock()


def _serialise_cloudformation_calls(responses: Any) -> None:
    """The server is threaded and a stack operation runs inside its API call: a harness polling
    describe_stack_events while execute_change_set runs must not see a half-built stack."""
    original = responses.CloudFormationResponse.call_action

    def call_action(self: Any) -> Any:
        with _cfn_lock:
            return original(self)

    responses.CloudFormationResponse.call_action = call_action


# --- intrinsic functions -----------------------------------------------------------------------


def cidr(ip_block: str, count: int, cidr_bits: int) -> list[str]:
    """Fn::Cidr: the first `count` subnets with `cidr_bits` host bits inside `ip_block`."""
    network = ipaddress.ip_network(ip_block, strict=False)
    prefix = network.max_prefixlen - int(cidr_bits)
    subnets = network.subnets(new_prefix=prefix)
    return [str(next(subnets)) for _ in range(int(count))]


def _patch_parsing(parsing: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError

    original_clean_json = parsing.clean_json

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict):
            if "Fn::GetAtt" in resource_json:
                target = resource_json["Fn::GetAtt"]
                if isinstance(target, str):
                    target = target.split(".", 1)
                name = clean_json(target[0], resources_map)
                attribute = ".".join(str(clean_json(t, resources_map)) for t in target[1:])
                resource = resources_map.get(name)
                if resource is None:
                    raise ValidationError(
                        message="Template error: instance of Fn::GetAtt references "
                        f"undefined resource {name}"
                    )
                try:
                    return resource.get_cfn_attribute(attribute)
                except NotImplementedError as exc:
                    raise ValidationError(
                        message=f"Template error: resource {name} does not support attribute "
                        f"type {attribute} in Fn::GetAtt ({exc})"
                    ) from None
            if "Fn::Cidr" in resource_json:
                block, count, bits = clean_json(resource_json["Fn::Cidr"], resources_map)
                return cidr(block, count, bits)
            if "Fn::GetAZs" in resource_json:
                region = clean_json(resource_json["Fn::GetAZs"], resources_map)
                region = region or resources_map["AWS::Region"]
                return [f"{region}{zone}" for zone in "abcdef"]
        if isinstance(resource_json, list):
            # `!Ref AWS::NoValue` (e.g. from an !If) removes a list element; moto left a null,
            # which broke, for one, IAM policies with conditional statements.
            cleaned = (clean_json(item, resources_map) for item in resource_json)
            return [item for item in cleaned if item is not None]
        return original_clean_json(resource_json, resources_map)

    parsing.clean_json = clean_json

    original_create = parsing.parse_and_create_resource

    def parse_and_create_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, **kwargs: Any
    ) -> Any:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        stack = getattr(resources_map, "pipekit_stack", None)
        resource_type = resource_json["Type"]
        _event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
        try:
            resource = original_create(logical_id, resource_json, resources_map, **kwargs)
        except Exception as exc:
            _event(
                stack,
                logical_id,
                resource_type,
                "CREATE_FAILED",
                physical=getattr(exc, "physical_resource_id", ""),
                reason=_reason(exc),
            )
            raise
        if resource is None:
            # Unknown type: moto skips it silently; make the gap loud instead.
            reason = f"Resource type {resource_type} is not supported by the emulator"
            _event(stack, logical_id, resource_type, "CREATE_FAILED", reason=reason)
            raise ValidationError(message=reason)
        _event(stack, logical_id, resource_type, "CREATE_COMPLETE", resource=resource)
        return resource

    parsing.parse_and_create_resource = parse_and_create_resource

    original_update = parsing.parse_and_update_resource

    def parse_and_update_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, **kwargs: Any
    ) -> Any:
        stack = getattr(resources_map, "pipekit_stack", None)
        resource_type = resource_json["Type"]
        cls = parsing.resource_class_from_type(resource_type)
        old = resources_map._parsed_resources.get(logical_id)
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            # Its condition turned false: the resource goes (moto updated it in place).
            if old is not None and not isinstance(old, str):
                resources_map._delete_resource(old, resource_json)
            resources_map._parsed_resources.pop(logical_id, None)
            return None
        _event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS", resource=old)
        try:
            if old is None or isinstance(old, str):
                resources_map._parsed_resources.pop(logical_id, None)
                new = resources_map[logical_id]
            elif cls is None or hasattr(
                cls.update_from_cloudformation_json, "__isabstractmethod__"
            ):
                # moto cannot update this type in place: replace it rather than lose it.
                resources_map._delete_resource(old, resource_json)
                resources_map._parsed_resources.pop(logical_id, None)
                new = resources_map[logical_id]
            else:
                new = original_update(logical_id, resource_json, resources_map, **kwargs)
        except Exception as exc:
            _event(
                stack,
                logical_id,
                resource_type,
                "UPDATE_FAILED",
                resource=old,
                physical=getattr(exc, "physical_resource_id", ""),
                reason=_reason(exc),
            )
            raise
        _event(stack, logical_id, resource_type, "UPDATE_COMPLETE", resource=new)
        return new

    parsing.parse_and_update_resource = parse_and_update_resource

    original_delete_resource = parsing.ResourceMap._delete_resource

    def _delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        stack = getattr(self, "pipekit_stack", None)
        logical_id = getattr(parsed_resource, "logical_resource_id", "")
        resource_type = resource_json.get("Type", "")
        _event(stack, logical_id, resource_type, "DELETE_IN_PROGRESS", resource=parsed_resource)
        try:
            original_delete_resource(self, parsed_resource, resource_json)
        except Exception as exc:
            _event(
                stack,
                logical_id,
                resource_type,
                "DELETE_FAILED",
                resource=parsed_resource,
                reason=_reason(exc),
            )
            raise
        _event(stack, logical_id, resource_type, "DELETE_COMPLETE", resource=parsed_resource)
        # moto keeps the deleted object in its map, so a later update that adds the resource
        # back (or a rollback) would get the stale object instead of a new resource.
        self.__dict__.setdefault("pipekit_deleted", set()).add(logical_id)

    parsing.ResourceMap._delete_resource = _delete_resource

    original_generate = parsing.generate_resource_name

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        # CloudFormation shortens generated names to what the service accepts; moto did so only
        # for buckets and load balancers (a nested stack's role name came out at 65 characters).
        name = original_generate(resource_type, stack_name, logical_id)
        limit = NAME_LIMITS.get(resource_type)
        if limit is None or len(name) <= limit:
            return name
        prefix, suffix = name.rsplit("-", 1)
        return f"{prefix[: limit - len(suffix) - 1].rstrip('-')}-{suffix}"

    parsing.generate_resource_name = generate_resource_name

    original_getitem = parsing.ResourceMap.__getitem__

    def __getitem__(self: Any, key: str) -> Any:
        deleted = self.__dict__.get("pipekit_deleted")
        if deleted and key in deleted:
            deleted.discard(key)
            self._parsed_resources.pop(key, None)
        return original_getitem(self, key)

    parsing.ResourceMap.__getitem__ = __getitem__
    parsing.ResourceMap.build_resource_diff = build_resource_diff


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(message)


def _event(
    stack: Any,
    logical_id: str,
    resource_type: str,
    status: str,
    *,
    resource: Any = None,
    physical: str = "",
    reason: str | None = None,
) -> None:
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


# --- change detection --------------------------------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def references(node: Any) -> set[str]:
    """Names a template fragment depends on: Ref, GetAtt and Sub targets, and conditions."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value.split(".", 1)[0] if isinstance(value, str) else value[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    found |= {v.split(".", 1)[0] for v in _SUB_VARIABLE.findall(text)}
                if isinstance(value, list) and len(value) > 1:
                    found |= references(value[1])
            elif key == "Fn::If" and isinstance(value, list) and value:
                found.add(f"Condition::{value[0]}")
                found |= references(value[1:])
            elif key in ("Condition",) and isinstance(value, str):
                found.add(f"Condition::{value}")
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def _parameter_values(template: dict[str, Any], given: dict[str, Any]) -> dict[str, str]:
    values = {}
    for name, spec in (template.get("Parameters") or {}).items():
        value = given.get(name, spec.get("Default"))
        values[name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return values


def changed_names(
    old_template: dict[str, Any],
    new_template: dict[str, Any],
    old_parameters: dict[str, Any],
    new_parameters: dict[str, Any],
) -> set[str]:
    """Parameters whose value changes, and conditions that depend on them (transitively)."""
    old_values = _parameter_values(old_template, old_parameters)
    new_values = _parameter_values(new_template, new_parameters)
    dirty = {n for n in set(old_values) | set(new_values) if old_values.get(n) != new_values.get(n)}
    conditions = new_template.get("Conditions") or {}
    old_conditions = old_template.get("Conditions") or {}
    grew = True
    while grew:
        grew = False
        for name, body in conditions.items():
            key = f"Condition::{name}"
            if key in dirty:
                continue
            refs = references(body)
            refs |= {f"Condition::{c}" for c in _condition_refs(body)}
            if refs & dirty or body != old_conditions.get(name):
                dirty.add(key)
                grew = True
    return dirty


def _condition_refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Condition" and isinstance(value, str):
                found.add(value)
            else:
                found |= _condition_refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _condition_refs(item)
    return found


def diff_resources(
    old_resources: dict[str, Any], new_resources: dict[str, Any], dirty: set[str]
) -> dict[str, list[str]]:
    """Add/Modify/Remove by logical ID. A resource is modified when its definition changes,
    when something it uses changes (parameter, condition), or when a resource it uses is."""
    add = [n for n in new_resources if n not in old_resources]
    remove = [n for n in old_resources if n not in new_resources]
    modify = [
        n
        for n in new_resources
        if n in old_resources and _normal(new_resources[n]) != _normal(old_resources[n])
    ]
    dirty = set(dirty) | set(modify) | set(add) | set(remove)
    grew = True
    while grew:
        grew = False
        for name, body in new_resources.items():
            if name in old_resources and name not in modify:
                uses = references(body)
                if body.get("DependsOn"):
                    depends = body["DependsOn"]
                    uses |= {depends} if isinstance(depends, str) else set(depends)
                if uses & dirty:
                    modify.append(name)
                    dirty.add(name)
                    grew = True
    return {"Add": add, "Modify": modify, "Remove": remove}


def _normal(resource: dict[str, Any]) -> dict[str, Any]:
    # moto adds "Properties: {}" to the templates it has parsed.
    return {k: v for k, v in resource.items() if not (k == "Properties" and not v)}


def build_resource_diff(
    self: Any, other_template: dict[str, Any], parameters: dict[str, Any] | None = None
) -> dict[str, list[str]]:
    new_parameters = self.input_parameters if parameters is None else parameters
    dirty = changed_names(self._template, other_template, self.input_parameters, new_parameters)
    return diff_resources(self._resource_json_map, other_template.get("Resources", {}), dirty)


def replacement(
    resource_type: str, old: dict[str, Any] | None, new: dict[str, Any], dirty: set[str]
) -> str:
    """ResourceChange.Replacement for a Modify: "True" when a create-only property changes."""
    old_props = (old or {}).get("Properties") or {}
    new_props = new.get("Properties") or {}
    for name in create_only_properties(resource_type):
        if old_props.get(name) != new_props.get(name):
            return "True"
        if references(new_props.get(name)) & dirty:
            return "True"
    return "False"


# --- stacks ------------------------------------------------------------------------------------


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


_STATUSES_WITH_OUTPUTS = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "DELETE_FAILED",
}


def _safe_exports(stack: Any) -> list[Any]:
    try:
        return list(stack.exports)
    except Exception:
        return []


def _patch_stack(models: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    from pipekit.emulator import parameters

    Stack = models.Stack

    original_create_resource_map = Stack._create_resource_map

    def _create_resource_map(self: Any) -> Any:
        resource_map = original_create_resource_map(self)
        resource_map.pipekit_stack = self
        return resource_map

    Stack._create_resource_map = _create_resource_map
    Stack.physical_resource_id = property(lambda self: self.stack_id)

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

    Stack.get_cfn_attribute = get_cfn_attribute

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

    def parse_ssm_parameter(self: Any, value: str, value_type: str) -> Any:
        from moto.ssm.models import ssm_backends

        parameter = ssm_backends[self._account_id][self._region_name].get_parameter(value)
        if parameter is None:
            raise ValidationError(
                message=f"Unable to fetch parameters [{value}] from parameter store for this "
                "account. (A parameter of type AWS::SSM::Parameter::Value<...> takes the name "
                "of an SSM parameter, not its value.)"
            )
        actual = parameter.value
        return actual.split(",") if value_type.find("List") > 0 else actual

    from moto.cloudformation import parsing

    parsing.ResourceMap.parse_ssm_parameter = parse_ssm_parameter

    def _template_for(properties: dict[str, Any], account_id: str, region_name: str) -> str:
        return get_stack_from_s3_url(
            properties["TemplateURL"], account_id=account_id, partition=get_partition(region_name)
        )

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
        template = _template_for(properties, account_id, region_name)
        child_parameters = _stringify_parameters(properties.get("Parameters", {}))
        parameters.validate(Stack.parse_template(template), dict(child_parameters))
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
            failed = [
                e.logical_resource_id
                for e in child.events
                if e.resource_status == "CREATE_FAILED" and e.logical_resource_id != child.name
            ]
            error = ValidationError(
                message=f"Embedded stack {child.stack_id} was not successfully created: "
                f"The following resource(s) failed to create: [{', '.join(failed)}]. "
            )
            error.physical_resource_id = child.stack_id
            # The parent's rollback deletes the failed child too, as on AWS.
            backend.delete_stack(child.stack_id)
            raise error
        return child

    Stack.create_from_cloudformation_json = create_from_cloudformation_json

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
        properties = cloudformation_json["Properties"]
        template = _template_for(properties, account_id, region_name)
        child_parameters = _stringify_parameters(properties.get("Parameters", {}))
        parameters.validate(Stack.parse_template(template), dict(child_parameters))
        original_resource.update(template, parameters=child_parameters)
        if original_resource.status != "UPDATE_COMPLETE":
            error = ValidationError(
                message=f"Embedded stack {original_resource.stack_id} was not successfully "
                "updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS with reason: The following "
                f"resource(s) failed to update: [{', '.join(_failed(original_resource))}]."
            )
            error.physical_resource_id = original_resource.stack_id
            raise error
        return original_resource

    Stack.update_from_cloudformation_json = update_from_cloudformation_json

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
            failed = sorted(
                {
                    e.logical_resource_id
                    for e in child.events
                    if e.resource_status == "DELETE_FAILED" and e.logical_resource_id != child.name
                }
            )
            raise ValidationError(
                message=f"Embedded stack {child.stack_id} was not successfully deleted: "
                f"The following resource(s) failed to delete: [{', '.join(failed)}]. "
            )

    Stack.delete_from_cloudformation_json = delete_from_cloudformation_json

    original_create_resources = Stack.create_resources

    def create_resources(self: Any) -> None:
        try:
            original_create_resources(self)
        except Exception:
            _roll_back(self)

    Stack.create_resources = create_resources

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
                f"[{', '.join(_failed(self))}]. ({_reason(exc)})",
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
        f"[{', '.join(_failed(stack))}]. Rollback requested by user.",
    )
    with contextlib.suppress(Exception):
        stack.resource_map.delete()
    stack.status = "ROLLBACK_COMPLETE"
    stack._add_stack_event("ROLLBACK_COMPLETE")


def _failed(stack: Any) -> list[str]:
    return sorted(
        {
            e.logical_resource_id
            for e in stack.events
            if e.resource_status.endswith("_FAILED") and e.logical_resource_id != stack.name
        }
    )


def _conditions(stack: Any, template: dict[str, Any], parameters: dict[str, Any]) -> dict:
    """The template's conditions evaluated with these parameters (nothing is created)."""
    from moto.cloudformation import parsing

    if not template.get("Conditions"):
        return {}
    probe = parsing.ResourceMap(
        stack.stack_id,
        stack.name,
        parameters,
        {},
        region_name=stack.region_name,
        account_id=stack.account_id,
        template=template,
        cross_stack_resources={},
    )
    probe.load_mapping()
    probe.load_parameters()
    probe.load_conditions()
    return {name: bool(probe.lazy_condition_map[name]) for name in template["Conditions"]}


def _apply_conditions(
    actions: dict[str, list[str]],
    new_resources: dict[str, Any],
    exists: set[str],
    conditions: dict[str, bool],
) -> dict[str, list[str]]:
    """What really happens to each resource once conditions are evaluated: a Modify whose
    condition turned false is a Remove, one whose condition turned true is an Add."""

    def wanted(name: str) -> bool:
        condition = new_resources[name].get("Condition")
        return not condition or conditions.get(condition, False)

    add = [n for n in actions["Add"] if wanted(n)]
    remove = [n for n in actions["Remove"] if n in exists]
    modify = []
    for name in actions["Modify"]:
        if name in exists and wanted(name):
            modify.append(name)
        elif name in exists:
            remove.append(name)
        elif wanted(name):
            add.append(name)
    return {"Add": add, "Modify": modify, "Remove": remove}


# --- change sets -------------------------------------------------------------------------------


def _patch_change_sets(models: Any) -> None:
    ChangeSet = models.ChangeSet
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
        conditions = _conditions(self.stack, new_template, self.parameters)
        actions = _apply_conditions(
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

    ChangeSet.diff = diff

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
    _wrap_create_change_set(models)


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
