"""Check a parsed boto3 response against its botocore output shape: no member the model does not
have, required members present, enums respected, types right. Stricter than boto3's parser,
which silently drops unknown members and never checks enums."""

from __future__ import annotations

import datetime

import botocore.session

_SESSION = botocore.session.get_session()


def check_output(service: str, operation: str, response: dict) -> None:
    model = _SESSION.get_service_model(service).operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    errors: list[str] = []
    _check(model, body, operation, errors)
    assert not errors, "\n".join(errors)


def _check(shape, value, path: str, errors: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected structure, got {type(value).__name__}")
            return
        for key, item in value.items():
            if key not in shape.members:
                errors.append(f"{path}.{key}: not in shape {shape.name}")
                continue
            _check(shape.members[key], item, f"{path}.{key}", errors)
        for key in shape.required_members:
            if key not in value:
                errors.append(f"{path}.{key}: required by {shape.name}, missing")
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected list")
            return
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected map")
            return
        for key, item in value.items():
            _check(shape.value, item, f"{path}[{key}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected string, got {value!r}")
        elif shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in enum {shape.name}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected integer, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean, got {value!r}")
    elif kind == "timestamp" and not isinstance(value, datetime.datetime):
        errors.append(f"{path}: expected timestamp, got {value!r}")
