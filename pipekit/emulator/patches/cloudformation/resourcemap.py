"""moto's ResourceMap (the resources of one stack operation), changed where it differs from AWS:

- every resource gets CREATE/UPDATE/DELETE _IN_PROGRESS/_COMPLETE/_FAILED events (moto wrote
  stack-level events only); to write them the map knows its stack;
- a resource whose Condition turns false on an update is deleted (moto updated it in place, e.g.
  fleet alarms survived a switch to single); a type moto cannot update in place is replaced
  instead of lost; an unknown type fails loudly instead of being skipped;
- a resource deleted and then wanted again (an update adding it back, a rollback) is created
  anew, not handed back as the stale object;
- generated physical names are shortened to the service limits, as CloudFormation does;
- an SSM parameter-type value that names no parameter is AWS's ValidationError.
"""

from __future__ import annotations

from typing import Any

from pipekit.emulator.patches.cloudformation.events import UPDATING, event, failure_event

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


def patch() -> None:
    from moto.cloudformation import parsing

    _create_with_events(parsing)
    _update_with_events(parsing)
    _delete_with_events(parsing)
    _shorten_generated_names(parsing)
    _recreate_deleted(parsing)
    _link_stack()
    _ssm_parameter_errors(parsing)


def _link_stack() -> None:
    """The map knows its stack, so the events of its resources land on it."""
    from moto.cloudformation.models import Stack

    original_create_resource_map = Stack._create_resource_map

    def _create_resource_map(self: Any) -> Any:
        resource_map = original_create_resource_map(self)
        resource_map.pipekit_stack = self
        return resource_map

    Stack._create_resource_map = _create_resource_map


def _create_with_events(parsing: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError

    original_create = parsing.parse_and_create_resource

    def parse_and_create_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, **kwargs: Any
    ) -> Any:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        stack = getattr(resources_map, "pipekit_stack", None)
        resource_type = resource_json["Type"]
        event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
        with failure_event(stack, logical_id, resource_type, "CREATE_FAILED"):
            resource = original_create(logical_id, resource_json, resources_map, **kwargs)
        if resource is None:
            # Unknown type: moto skips it silently; make the gap loud instead.
            reason = f"Resource type {resource_type} is not supported by the emulator"
            event(stack, logical_id, resource_type, "CREATE_FAILED", reason=reason)
            raise ValidationError(message=reason)
        event(stack, logical_id, resource_type, "CREATE_COMPLETE", resource=resource)
        return resource

    parsing.parse_and_create_resource = parse_and_create_resource


def _update_with_events(parsing: Any) -> None:
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
        event(stack, logical_id, resource_type, "UPDATE_IN_PROGRESS", resource=old)
        with failure_event(stack, logical_id, resource_type, "UPDATE_FAILED", resource=old):
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
                token = UPDATING.set((stack, logical_id))
                try:
                    new = original_update(logical_id, resource_json, resources_map, **kwargs)
                finally:
                    UPDATING.reset(token)
        event(stack, logical_id, resource_type, "UPDATE_COMPLETE", resource=new)
        return new

    parsing.parse_and_update_resource = parse_and_update_resource


def _delete_with_events(parsing: Any) -> None:
    original_delete_resource = parsing.ResourceMap._delete_resource

    def _delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        stack = getattr(self, "pipekit_stack", None)
        logical_id = getattr(parsed_resource, "logical_resource_id", "")
        resource_type = resource_json.get("Type", "")
        event(stack, logical_id, resource_type, "DELETE_IN_PROGRESS", resource=parsed_resource)
        with failure_event(
            stack, logical_id, resource_type, "DELETE_FAILED", resource=parsed_resource
        ):
            original_delete_resource(self, parsed_resource, resource_json)
        event(stack, logical_id, resource_type, "DELETE_COMPLETE", resource=parsed_resource)
        # moto keeps the deleted object in its map, so a later update that adds the resource
        # back (or a rollback) would get the stale object instead of a new resource.
        self.__dict__.setdefault("pipekit_deleted", set()).add(logical_id)

    parsing.ResourceMap._delete_resource = _delete_resource


def _shorten_generated_names(parsing: Any) -> None:
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


def _recreate_deleted(parsing: Any) -> None:
    original_getitem = parsing.ResourceMap.__getitem__

    def __getitem__(self: Any, key: str) -> Any:
        deleted = self.__dict__.get("pipekit_deleted")
        if deleted and key in deleted:
            deleted.discard(key)
            self._parsed_resources.pop(key, None)
        return original_getitem(self, key)

    parsing.ResourceMap.__getitem__ = __getitem__


def _ssm_parameter_errors(parsing: Any) -> None:
    from moto.cloudformation.exceptions import ValidationError

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

    parsing.ResourceMap.parse_ssm_parameter = parse_ssm_parameter
