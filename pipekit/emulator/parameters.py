"""Parameter checks CloudFormation makes before it touches anything, which moto skips: unknown
and missing parameters, AllowedValues/AllowedPattern/length/number constraints (reported with the
ConstraintDescription when there is one) and the template's Rules assertions."""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation.exceptions import ValidationError

# A value of None stands for UsePreviousValue: present, already accepted once.
Given = dict[str, str | None]


def validate(template: dict[str, Any], given: Given) -> None:
    declared = template.get("Parameters") or {}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ValidationError(
            message=f"Parameters: [{', '.join(unknown)}] do not exist in the template"
        )
    missing = sorted(n for n, spec in declared.items() if n not in given and "Default" not in spec)
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    values: dict[str, str | None] = {}
    for name, spec in declared.items():
        value = given[name] if name in given else spec.get("Default")
        values[name] = None if value is None else _text(value)
        if values[name] is not None:
            problem = constraint_problem(name, values[name] or "", spec)
            if problem:
                raise ValidationError(message=problem)
    for rule in (template.get("Rules") or {}).values():
        failed = _failed_assertion(rule, values)
        if failed is not None:
            raise ValidationError(message=failed)


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def constraint_problem(name: str, value: str, spec: dict[str, Any]) -> str | None:
    kind = str(spec.get("Type", "String"))
    if kind.startswith("AWS::SSM::Parameter"):
        return None  # the value is a parameter name; its value is checked where it is read
    described = spec.get("ConstraintDescription")

    def fail(default: str) -> str:
        if described:
            return f"Parameter '{name}' failed to satisfy constraint: {described}"
        return default

    is_list = kind.startswith("List<") or kind == "CommaDelimitedList"
    for item in value.split(",") if is_list else [value]:
        allowed = spec.get("AllowedValues")
        if allowed is not None and item not in [_text(a) for a in allowed]:
            return fail(f"Parameter '{name}' must be one of AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(pattern, item):
            return fail(f"Parameter '{name}' must match pattern {pattern}")
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            return fail(f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            return fail(f"Parameter '{name}' must contain at most {spec['MaxLength']} characters")
        if kind in ("Number", "List<Number>"):
            try:
                number = float(item)
            except ValueError:
                return f"Parameter '{name}' must be a number."
            if "MinValue" in spec and number < float(spec["MinValue"]):
                return fail(f"Parameter '{name}' must be a number not less than {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                return fail(
                    f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
                )
    return None


class _Unknown(Exception):
    """A rule uses something this evaluator does not know: the rule is not checked."""


def _evaluate(node: Any, values: dict[str, str | None]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref":
            if arg not in values or values[arg] is None:
                raise _Unknown(arg)
            return values[arg]
        if key == "Fn::Equals":
            left, right = (_evaluate(a, values) for a in arg)
            return _text(left) == _text(right)
        if key == "Fn::Not":
            return not _evaluate(arg[0], values)
        if key == "Fn::And":
            return all(_evaluate(a, values) for a in arg)
        if key == "Fn::Or":
            return any(_evaluate(a, values) for a in arg)
        if key == "Fn::Contains":
            candidates, item = _evaluate(arg[0], values), _evaluate(arg[1], values)
            return _text(item) in [_text(c) for c in candidates]
        raise _Unknown(key)
    if isinstance(node, list):
        return [_evaluate(item, values) for item in node]
    if isinstance(node, dict):
        raise _Unknown(str(node))
    return node


def _failed_assertion(rule: dict[str, Any], values: dict[str, str | None]) -> str | None:
    try:
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], values):
            return None
        for assertion in rule.get("Assertions", []):
            if not _evaluate(assertion["Assert"], values):
                return assertion.get("AssertDescription", "Assertion failed")
    except _Unknown:
        return None
    return None
