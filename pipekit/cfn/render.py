"""A template as it would be for given parameter values: conditions decided, `Fn::If` branches
chosen, parameter Refs replaced (what the template tests and the contract checks look at)."""

from __future__ import annotations

import re
from typing import Any

from pipekit.cfn.template import as_text as _as_text

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
