"""Parameter files and CloudFormation's parameter rules: the one implementation that preflight
(before anything is sent) and the emulator (as CloudFormation answers a request) both use.

The rules are CloudFormation's, from the template's `Parameters` and `Rules` sections:
unknown and missing parameters, `Type: Number`, `AllowedValues`, `AllowedPattern` (a whole-value
match), `MinLength`/`MaxLength`, `MinValue`/`MaxValue`, and `Rules` assertions
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html,
.../rules-section-structure.html). A broken rule is a `Violation`, which words itself two ways:
`sentence()` for a person reading preflight, `aws_message()` as CloudFormation's ValidationError.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipekit.cfn.template import as_text
from pipekit.errors import UserError

# The create-stack `--parameters file://` format: a list of these objects.
PARAMETER_FILE_FIELDS = {"ParameterKey", "ParameterValue", "UsePreviousValue", "ResolvedValue"}

# --- Parameter files ------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {list: "list", dict: "object"}.get(type(value), type(value).__name__)


def read_parameter_file(path: Path | str) -> dict[str, str]:
    """Key -> value from a create-stack parameter file, or a UserError naming the problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"Cannot read the parameter file {path}: {exc.strerror}.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc
    if not isinstance(data, list):
        raise UserError(
            f"{path} must be a JSON list of "
            '{"ParameterKey": ..., "ParameterValue": ...} objects, '
            f"not a JSON {_json_type(data)}."
        )
    values: dict[str, str] = {}
    for index, item in enumerate(data, start=1):
        where = f"{path}, entry {index}"
        if not isinstance(item, dict):
            raise UserError(f"{where} must be an object with ParameterKey and ParameterValue.")
        unknown = sorted(set(item) - PARAMETER_FILE_FIELDS)
        if unknown:
            raise UserError(
                f"{where} has the unknown field {unknown[0]!r} "
                "(allowed: ParameterKey, ParameterValue, UsePreviousValue, ResolvedValue)."
            )
        for field in ("ParameterKey", "ParameterValue"):
            if field not in item:
                raise UserError(f"{where} is missing {field}.")
        key, value = item["ParameterKey"], item["ParameterValue"]
        if not isinstance(key, str) or not key:
            raise UserError(f"{where} has a ParameterKey that is not a non-empty string.")
        if not isinstance(value, str):
            raise UserError(
                f"{where} ({key}) has a {_json_type(value)} ParameterValue; "
                "CloudFormation takes only strings, so quote it."
            )
        if key in values:
            raise UserError(f"{where} repeats the parameter {key}.")
        values[key] = value
    return values


def parameter_entries(values: Mapping[str, str]) -> list[dict[str, str]]:
    """{key: value} as the API's (and the parameter file's) list of ParameterKey/Value objects."""
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def write_parameter_file(path: Path, values: Mapping[str, str]) -> None:
    """A parameter file that `read_parameter_file` reads back as `values`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(parameter_entries(values), indent=2) + "\n")


# --- Constraints ----------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def is_list_type(param_type: str) -> bool:
    return param_type.startswith("List<") or param_type == "CommaDelimitedList"


@dataclass(frozen=True)
class Violation:
    """One broken constraint: `rule` is the template key (or "Type" for a non-number)."""

    name: str
    value: str
    item: str
    rule: str
    limit: Any
    description: str | None

    def _phrase(self) -> str:
        if self.rule == "Type":
            return f"{self.item!r} is not a number"
        if self.rule == "AllowedValues":
            return "it must be one of " + ", ".join(as_text(c) for c in self.limit)
        limit = as_text(self.limit)
        return {
            "AllowedPattern": f"it must match the pattern {limit}",
            "MinLength": f"it must be at least {limit} characters long",
            "MaxLength": f"it must be at most {limit} characters long",
            "MinValue": f"it must be at least {limit}",
            "MaxValue": f"it must be at most {limit}",
        }[self.rule]

    def sentence(self) -> str:
        """For preflight: the template's ConstraintDescription when it has one, since that is
        what its author wrote for humans."""
        reason = str(self.description).rstrip(".") if self.description else self._phrase()
        return f"Parameter {self.name} has the invalid value {self.value!r}: {reason}."

    def aws_message(self) -> str:
        """CloudFormation's ValidationError message for this violation."""
        if self.rule == "Type":
            return f"Parameter '{self.name}' must be a number."
        if self.description:
            return f"Parameter '{self.name}' failed to satisfy constraint: {self.description}"
        limit = as_text(self.limit)
        return {
            "AllowedValues": f"Parameter '{self.name}' must be one of AllowedValues",
            "AllowedPattern": f"Parameter '{self.name}' must match pattern {limit}",
            "MinLength": f"Parameter '{self.name}' must contain at least {limit} characters",
            "MaxLength": f"Parameter '{self.name}' must contain at most {limit} characters",
            "MinValue": f"Parameter '{self.name}' must be a number not less than {limit}",
            "MaxValue": f"Parameter '{self.name}' must be a number not greater than {limit}",
        }[self.rule]


def violation(name: str, spec: Mapping[str, Any], value: str) -> Violation | None:
    """The first constraint of the parameter `spec` that `value` breaks, or None.

    SSM parameter types are not checked: their value is a parameter *name*, and CloudFormation
    checks the value it resolves where it reads it. List types are checked item by item.
    AllowedValues compares text, the stricter reading, since the docs say nothing of numbers."""
    param_type = str(spec.get("Type", "String"))
    if param_type.startswith("AWS::SSM::Parameter"):
        return None
    is_number = param_type in ("Number", "List<Number>")
    items = [i.strip() for i in value.split(",")] if is_list_type(param_type) else [value]
    description = spec.get("ConstraintDescription") or None

    def broken(item: str, rule: str, limit: Any = None) -> Violation:
        return Violation(name, value, item, rule, limit, description)

    for item in items:
        number = _number(item)
        if is_number and number is None:
            return broken(item, "Type")
        allowed = spec.get("AllowedValues")
        if allowed is not None and item not in [as_text(c) for c in allowed]:
            return broken(item, "AllowedValues", allowed)
        pattern = spec.get("AllowedPattern")
        if pattern is not None and re.fullmatch(str(pattern), item) is None:
            return broken(item, "AllowedPattern", pattern)
        if "MinLength" in spec and len(item) < int(spec["MinLength"]):
            return broken(item, "MinLength", spec["MinLength"])
        if "MaxLength" in spec and len(item) > int(spec["MaxLength"]):
            return broken(item, "MaxLength", spec["MaxLength"])
        if is_number and number is not None:
            if "MinValue" in spec and number < float(spec["MinValue"]):
                return broken(item, "MinValue", spec["MinValue"])
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                return broken(item, "MaxValue", spec["MaxValue"])
    return None


def check_parameter(name: str, spec: Mapping[str, Any], value: str) -> str | None:
    """One sentence saying why `value` violates the parameter's constraints, or None."""
    broken = violation(name, spec, value)
    return broken.sentence() if broken else None


def unknown_parameters(declared: Mapping[str, Any], given: Iterable[str]) -> list[str]:
    return sorted(set(given) - set(declared))


def missing_parameters(
    declared: Mapping[str, Any], given: Iterable[str], supplied: Iterable[str] = ()
) -> list[str]:
    """Parameters with no Default and no value; `supplied` ones are filled in by someone else."""
    have = set(given) | set(supplied)
    return sorted(n for n, spec in declared.items() if n not in have and "Default" not in spec)


# --- Rules ----------------------------------------------------------------------------------


class _Unknown(Exception):
    """A rule uses something this evaluator does not know: the rule is not checked."""


def _evaluate(node: Any, values: Mapping[str, str | None]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref":
            if arg not in values or values[arg] is None:
                raise _Unknown(arg)
            return values[arg]
        if key == "Fn::Equals":
            left, right = (_evaluate(a, values) for a in arg)
            return as_text(left) == as_text(right)
        if key == "Fn::Not":
            return not _evaluate(arg[0], values)
        if key == "Fn::And":
            return all(_evaluate(a, values) for a in arg)
        if key == "Fn::Or":
            return any(_evaluate(a, values) for a in arg)
        if key == "Fn::Contains":
            candidates, item = _evaluate(arg[0], values), _evaluate(arg[1], values)
            return as_text(item) in [as_text(c) for c in candidates]
        raise _Unknown(key)
    if isinstance(node, list):
        return [_evaluate(item, values) for item in node]
    if isinstance(node, dict):
        raise _Unknown(str(node))
    return node


def failed_rule(rules: Mapping[str, Any] | None, values: Mapping[str, str | None]) -> str | None:
    """The AssertDescription of the first Rules assertion `values` fail, or None.

    A value of None is one not known here (UsePreviousValue): rules that need it, and rules using
    functions this evaluator does not know, are not checked rather than guessed."""
    for rule in (rules or {}).values():
        try:
            if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], values):
                continue
            for assertion in rule.get("Assertions", []):
                if not _evaluate(assertion["Assert"], values):
                    return assertion.get("AssertDescription", "Assertion failed")
        except _Unknown:
            continue
    return None


def effective_values(
    declared: Mapping[str, Any], given: Mapping[str, str | None]
) -> dict[str, str | None]:
    """Every declared parameter's value: the given one, else its Default as text."""
    values: dict[str, str | None] = {}
    for name, spec in declared.items():
        value = given[name] if name in given else (spec or {}).get("Default")
        values[name] = None if value is None else as_text(value)
    return values
