"""CloudFormation documents as plain data: templates, parameter constraints, parameter files.

`load_template` turns YAML short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt a.b`...) into the
long form (`{"Ref": ...}`, `{"Fn::GetAtt": ["a", "b"]}`) so callers walk one shape only.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from cfn_flip import load_yaml

from pipekit.errors import UserError

# The create-stack `--parameters file://` format: a list of these objects.
PARAMETER_FILE_FIELDS = {"ParameterKey", "ParameterValue", "UsePreviousValue", "ResolvedValue"}


def load_template(path: Path | str) -> dict[str, Any]:
    """A YAML or JSON template as plain dicts and lists, intrinsics in long form."""
    path = Path(path)
    text = path.read_text()
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else load_yaml(text)
    except Exception as exc:  # YAML and JSON raise unrelated types; both mean "not a template"
        raise UserError(f"{path} is not a readable template: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a template: its top level is not a mapping.")
    # cfn-flip returns ordered dict subclasses; a JSON round trip leaves only builtin types.
    return json.loads(json.dumps(data, default=str))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _items(param_type: str, value: str) -> list[str]:
    """The values a constraint applies to: each element for list types, else the value."""
    if param_type.startswith("List<") or param_type == "CommaDelimitedList":
        return [item.strip() for item in value.split(",")]
    return [value]


def _violation(param_type: str, definition: dict[str, Any], value: str) -> str | None:
    """Why `value` breaks the definition, as a phrase, or None when it does not."""
    is_number = param_type in ("Number", "List<Number>")
    for item in _items(param_type, value):
        if is_number and _number(item) is None:
            return f"{item!r} is not a number"
        allowed = definition.get("AllowedValues")
        if allowed is not None:
            choices = [_as_text(choice) for choice in allowed]
            matches = item in choices
            if not matches and is_number:
                matches = any(_number(c) == _number(item) for c in choices)
            if not matches:
                return f"it must be one of {', '.join(choices)}"
        pattern = definition.get("AllowedPattern")
        if pattern is not None and re.fullmatch(pattern, item) is None:
            return f"it must match the pattern {pattern}"
        if "MinLength" in definition and len(item) < int(definition["MinLength"]):
            return f"it must be at least {definition['MinLength']} characters long"
        if "MaxLength" in definition and len(item) > int(definition["MaxLength"]):
            return f"it must be at most {definition['MaxLength']} characters long"
        if is_number:
            number = _number(item)
            if "MinValue" in definition and number < float(definition["MinValue"]):
                return f"it must be at least {_as_text(definition['MinValue'])}"
            if "MaxValue" in definition and number > float(definition["MaxValue"]):
                return f"it must be at most {_as_text(definition['MaxValue'])}"
    return None


def check_parameter(name: str, definition: dict[str, Any], value: str) -> str | None:
    """One sentence saying why `value` violates the parameter's constraints, or None.

    Covers Type (numbers), AllowedValues, AllowedPattern (whole-value match, as CloudFormation
    does), MinLength/MaxLength and MinValue/MaxValue. The template's ConstraintDescription is
    used when present, because it is what the template author wrote for humans.
    """
    param_type = str(definition.get("Type", "String"))
    reason = _violation(param_type, definition, value)
    if reason is None:
        return None
    description = definition.get("ConstraintDescription")
    if description:
        return f"Parameter {name} has the invalid value {value!r}: {str(description).rstrip('.')}."
    return f"Parameter {name} has the invalid value {value!r}: {reason}."


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


# --- Rendering: a template as it would be for given parameter values ------------------------

NO_VALUE = object()


class _Resolver:
    """Evaluates Conditions, Fn::If and parameter Refs; other intrinsics are left as they are."""

    def __init__(self, template: dict[str, Any], values: dict[str, str], pseudo: dict[str, str]):
        self.template = template
        self.values = {**pseudo, **values}
        self.conditions: dict[str, bool] = {}

    def scalar(self, node: Any) -> Any:
        """The value of an expression made of Refs, Sub, Join, Select, Split (for conditions)."""
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                if arg not in self.values:
                    raise KeyError(f"no value for Ref {arg}")
                return self.values[arg]
            if key == "Fn::Sub" and isinstance(arg, str):
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self.values[m.group(1)]), arg)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(self.scalar(p)) for p in parts)
            if key == "Fn::Split":
                sep, text = arg
                return str(self.scalar(text)).split(sep)
            if key == "Fn::Select":
                index, items = arg
                return self.scalar(items)[int(self.scalar(index))]
            if key == "Fn::If":
                name, yes, no = arg
                return self.scalar(yes if self.condition(name) else no)
        if isinstance(node, list):
            return [self.scalar(item) for item in node]
        return node if isinstance(node, str) else _as_text(node)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = self.truth(self.template["Conditions"][name])
        return self.conditions[name]

    def truth(self, node: Any) -> bool:
        ((key, arg),) = node.items()
        if key == "Fn::Equals":
            left, right = (self.scalar(side) for side in arg)
            return _as_text(left) == _as_text(right)
        if key == "Fn::Not":
            return not self.truth(arg[0])
        if key == "Fn::And":
            return all(self.truth(item) for item in arg)
        if key == "Fn::Or":
            return any(self.truth(item) for item in arg)
        if key == "Condition":
            return self.condition(arg)
        raise ValueError(f"unsupported condition function {key}")

    def sub(self, arg: Any) -> Any:
        """Fn::Sub with every known variable filled in; a plain string once none is left."""
        text, local = (arg[0], self.walk(arg[1])) if isinstance(arg, list) else (arg, {})
        known = {**self.values, **{k: v for k, v in local.items() if isinstance(v, str)}}
        text = re.sub(r"\$\{([^}!]+)\}", lambda m: str(known.get(m.group(1), m.group(0))), text)
        unresolved = {k: v for k, v in local.items() if not isinstance(v, str)}
        if "${" not in text.replace("${!", ""):
            return text
        return {"Fn::Sub": [text, unresolved] if unresolved else text}

    def walk(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                if key == "Fn::If":
                    name, yes, no = arg
                    return self.walk(yes if self.condition(name) else no)
                if key == "Ref" and arg == "AWS::NoValue":
                    return NO_VALUE
                if key == "Ref" and arg in self.values:
                    return self.values[arg]
                if key == "Fn::Sub":
                    return self.sub(arg)
            out = {}
            for key, value in node.items():
                value = self.walk(value)
                if value is not NO_VALUE:
                    out[key] = value
            return out
        if isinstance(node, list):
            return [v for v in (self.walk(item) for item in node) if v is not NO_VALUE]
        return node


def parameter_values(template: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    """Given values over the template's defaults, as CloudFormation would see them."""
    values = {
        name: _as_text(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    values.update(given)
    return values


def render(
    template: dict[str, Any], given: dict[str, str], pseudo: dict[str, str] | None = None
) -> dict[str, Any]:
    """The template for these parameter values: conditions decided, Fn::If branches chosen,
    resources and outputs whose condition is false removed, parameter Refs replaced by values.
    Pseudo parameters (AWS::StackName...) are replaced only when given in `pseudo`.
    """
    resolver = _Resolver(template, parameter_values(template, given), pseudo or {})
    rendered: dict[str, Any] = {}
    for section in ("Resources", "Outputs"):
        kept = {
            name: body
            for name, body in template.get(section, {}).items()
            if "Condition" not in body or resolver.condition(body["Condition"])
        }
        rendered[section] = resolver.walk(kept)
    rendered["Conditions"] = {
        name: resolver.condition(name) for name in template.get("Conditions", {})
    }
    for section in ("Parameters", "Rules", "Metadata", "Description"):
        if section in template:
            rendered[section] = template[section]
    return rendered
