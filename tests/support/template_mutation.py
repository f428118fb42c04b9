"""Copies of the templates with one permission taken away: an action removed from the policy
statement (named by its policy and Sid) that grants it, or an AWS-managed policy detached.

A statement left with no action goes, and a policy left with no statement goes too (an
AWS::IAM::Policy resource with every DependsOn on it, or the role's inline policy), since IAM
refuses an empty one: what remains is what a template without that permission would be. The
copies are JSON (intrinsics in long form, `pipekit.cfn.template.load_template`) under the same
file names, which CloudFormation reads as YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipekit.cfn.template import load_template

NO_VALUE = {"Ref": "AWS::NoValue"}


@dataclass(frozen=True)
class Grant:
    """Where a role gets a permission: an inline or attached policy's statement (`sid`), or an
    AWS-managed policy (`policy` is its ARN's name, `sid` empty)."""

    template: str
    policy: str
    sid: str = ""

    def __str__(self) -> str:
        where = f"{self.policy}/{self.sid}" if self.sid else f"managed {self.policy}"
        return f"{self.template} {where}"


def _drop_action(actions: Any, action: str) -> Any:
    """`actions` (a string, a list, an Fn::If of either) without `action`; None if empty."""
    if isinstance(actions, str):
        return None if actions.lower() == action.lower() else actions
    if isinstance(actions, list):
        kept = [a for a in actions if not (isinstance(a, str) and a.lower() == action.lower())]
        return kept or None
    if isinstance(actions, dict) and "Fn::If" in actions:
        condition, yes, no = actions["Fn::If"]
        yes, no = _drop_action(yes, action), _drop_action(no, action)
        if yes is None and no is None:
            return None
        return {
            "Fn::If": [condition, yes if yes is not None else no, no if no is not None else yes]
        }
    return actions


def _statement(entry: Any) -> dict[str, Any] | None:
    """The statement of a Statement list entry, looking through `Fn::If [c, s, NoValue]`."""
    if isinstance(entry, dict) and "Fn::If" in entry:
        return next((b for b in entry["Fn::If"][1:] if isinstance(b, dict) and "Sid" in b), None)
    return entry if isinstance(entry, dict) else None


def _edit_document(document: dict[str, Any], sid: str, action: str) -> bool:
    """Remove `action` from the statement `sid`; True if the document has a statement left."""
    statements = document["Statement"]
    for entry in list(statements):
        statement = _statement(entry)
        if statement is None or statement.get("Sid") != sid:
            continue
        actions = _drop_action(statement["Action"], action)
        if actions is None:
            statements.remove(entry)
        else:
            statement["Action"] = actions
        return bool(statements)
    raise LookupError(f"no statement {sid} in the policy")


def _without_policy(template: dict[str, Any], logical_id: str) -> None:
    del template["Resources"][logical_id]
    for resource in template["Resources"].values():
        depends = resource.get("DependsOn")
        if depends == logical_id:
            del resource["DependsOn"]
        elif isinstance(depends, list) and logical_id in depends:
            resource["DependsOn"] = [d for d in depends if d != logical_id] or None
            if resource["DependsOn"] is None:
                del resource["DependsOn"]


def mutate(template: dict[str, Any], grant: Grant, action: str) -> None:
    """Take `action` (or, for a managed grant, the managed policy) away, in place."""
    for logical_id, resource in list(template["Resources"].items()):
        props = resource.get("Properties", {})
        if not grant.sid:
            arns = props.get("ManagedPolicyArns") or []
            kept = [a for a in arns if not json.dumps(a).rstrip('"}').endswith(f"/{grant.policy}")]
            if len(kept) != len(arns):
                props["ManagedPolicyArns"] = kept
                return
            continue
        if resource["Type"] == "AWS::IAM::Policy" and props.get("PolicyName") == grant.policy:
            if not _edit_document(props["PolicyDocument"], grant.sid, action):
                _without_policy(template, logical_id)
            return
        for inline in list(props.get("Policies") or []):
            if inline.get("PolicyName") == grant.policy:
                if not _edit_document(inline["PolicyDocument"], grant.sid, action):
                    props["Policies"].remove(inline)
                return
    raise LookupError(f"{grant} is not in the template")


def template_of(templates: Path, grant_policy: str, managed: bool) -> str:
    """The file whose resources hold the policy named `grant_policy` (or attach the managed
    policy of that name)."""
    for path in sorted(templates.glob("*.yaml")):
        text = path.read_text()
        if (managed and f"/{grant_policy}" in text) or f"PolicyName: {grant_policy}\n" in text:
            return path.name
    raise LookupError(f"no template holds the policy {grant_policy}")


def mutated_copy(templates: Path, dest: Path, grants: frozenset[Grant], action: str) -> Path:
    """`dest` with every template, those holding `grants` without `action`."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(templates.glob("*.yaml")):
        target = dest / path.name
        mine = [g for g in grants if g.template == path.name]
        if not mine:
            target.write_bytes(path.read_bytes())
            continue
        template = load_template(path)
        for grant in mine:
            mutate(template, grant, action)
        target.write_text(json.dumps(template, indent=1))
    return dest
