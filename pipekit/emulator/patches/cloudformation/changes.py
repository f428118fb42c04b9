"""What an update or change set changes, worked out the way CloudFormation does.

moto saw a change only where a parameter was used through `Ref`. Here a parameter's new value
reaches everything that uses it: `${Param}` in Sub, conditions (transitively), and resources that
depend on a modified resource; a resource whose condition turns false is removed and one whose
condition turns true is added; `Replacement` is "True" when a create-only property (from the CFN
schemas) changes. ResourceMap.build_resource_diff (what an update acts on) answers from here.
"""

from __future__ import annotations

import re
from typing import Any

from pipekit.emulator.schemas import create_only_properties


def patch() -> None:
    from moto.cloudformation import parsing

    parsing.ResourceMap.build_resource_diff = build_resource_diff


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


def evaluate_conditions(stack: Any, template: dict[str, Any], parameters: dict[str, Any]) -> dict:
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


def apply_conditions(
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
