"""Intrinsic functions moto resolves wrongly or not at all, fixed in its clean_json.

- `!GetAtt Child.Outputs.X` and `${Child.Outputs.X}` (500 in moto): the attribute is everything
  after the first dot, so a nested stack's output can be read (nested.py answers it); an unknown
  resource or attribute is CloudFormation's ValidationError.
- `Fn::Cidr` (500 in moto), `Fn::GetAZs ''` (always us-east-1 in moto): computed.
- `!Ref AWS::NoValue` as a list element (from an `!If`) left a null in the list: removed.
"""

from __future__ import annotations

import ipaddress
from typing import Any


def cidr(ip_block: str, count: int, cidr_bits: int) -> list[str]:
    """Fn::Cidr: the first `count` subnets with `cidr_bits` host bits inside `ip_block`."""
    network = ipaddress.ip_network(ip_block, strict=False)
    prefix = network.max_prefixlen - int(cidr_bits)
    subnets = network.subnets(new_prefix=prefix)
    return [str(next(subnets)) for _ in range(int(count))]


def patch() -> None:
    from moto.cloudformation import parsing
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
