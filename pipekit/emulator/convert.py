"""CloudFormation properties -> service API request shapes, guided by the botocore models.

CloudFormation spells members in PascalCase where most of these APIs use camelCase; otherwise the
structures mostly match. Walking the botocore shape keeps the conversion exact: members the API
does not know (CloudFormation-only properties) are dropped, map keys are kept as written, and
scalars are coerced to the API's types (e.g. `DetectChanges: false` -> "false").
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.loaders
import botocore.model


@cache
def service_model(service: str) -> botocore.model.ServiceModel:
    raw = botocore.loaders.Loader().load_service_model(service, "service-2")
    return botocore.model.ServiceModel(raw, service_name=service)


def shape(service: str, name: str) -> botocore.model.Shape:
    return service_model(service).shape_for(name)


def to_api(value: Any, target: botocore.model.Shape) -> Any:
    kind = target.type_name
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        members = {name.lower(): name for name in target.members}
        out = {}
        for key, item in value.items():
            name = members.get(key.lower())
            if name is not None:
                converted = to_api(item, target.members[name])
                if converted is not None:
                    out[name] = converted
        return out
    if kind == "list":
        return [to_api(item, target.member) for item in value]
    if kind == "map":
        return {key: to_api(item, target.value) for key, item in value.items()}
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else str(value)
    if kind in ("integer", "long"):
        return int(value)
    if kind in ("float", "double"):
        return float(value)
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).lower() == "true"
    return value


def convert(service: str, shape_name: str, value: Any) -> Any:
    return to_api(value, shape(service, shape_name))
