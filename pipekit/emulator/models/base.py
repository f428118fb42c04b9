"""The one base class of every CloudFormation model this package adds to moto.

moto drives a model through classmethods (create/update/delete_from_cloudformation_json) and a few
attributes; `Model` turns those into three instance methods a model writes: `create`, `update`
and `delete`, with `props` already the template's Properties. Ref and GetAtt follow the
CloudFormation return values of each type (resource schemas' readOnlyProperties and
primaryIdentifier): `NAME_PROPERTY`, `ATTRIBUTES` and `attribute()`.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

from pipekit.emulator.schemas import create_only_properties


def tags(props: dict[str, Any], key: str = "key", value: str = "value") -> list[dict[str, str]]:
    """The template's Tags in the spelling the service's backend takes."""
    return [{key: t["Key"], value: t["Value"]} for t in props.get("Tags") or []]


class Model:
    """Shared plumbing; each concrete class also derives from CloudFormationModel directly,
    because moto finds models through CloudFormationModel.__subclasses__()."""

    ATTRIBUTES: tuple[str, ...] = ()
    NAME_PROPERTY = ""

    def __init__(self, name: str, props: dict[str, Any], account_id: str, region_name: str):
        self.name = name
        self.props = props
        self.account_id = account_id
        self.region_name = region_name

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return self.attribute(attribute_name)

    def attribute(self, name: str) -> Any:
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        props = cloudformation_json.get("Properties") or {}
        model = cls(resource_name, props, account_id, region_name)
        model.create()
        return model

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        props = cloudformation_json.get("Properties") or {}
        if original_resource.replaced_by(props):
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        original_resource.props = props
        original_resource.update()
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        props = cloudformation_json.get("Properties") or {}
        cls(resource_name, props, account_id, region_name).delete(account_id, region_name)

    def replaced_by(self, props: dict[str, Any]) -> bool:
        """Whether updating to `props` replaces the resource: a create-only property changes."""
        return any(
            self.props.get(name) != props.get(name)
            for name in create_only_properties(self.cloudformation_type())  # type: ignore[attr-defined]
        )

    def create(self) -> None:
        raise NotImplementedError

    def update(self) -> None:
        self.delete(self.account_id, self.region_name)
        self.create()

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError
