"""Checks CloudFormation makes on a request before anything is created, which moto skips:
InsufficientCapabilitiesException (a harness that forgot capabilities would pass here and fail on
AWS) and the parameter checks of parameters.py.

IAM resources anywhere in the stack, nested templates included, need CAPABILITY_IAM; IAM
resources with custom names need CAPABILITY_NAMED_IAM; a Transform needs CAPABILITY_AUTO_EXPAND.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from moto.cloudformation.exceptions import CloudFormationError

from pipekit.emulator import parameters

# Type -> its name property (None: the type has none).
IAM_TYPES: dict[str, str | None] = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::UserToGroupAddition": None,
}
_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class InsufficientCapabilities(CloudFormationError):
    code = "InsufficientCapabilitiesException"

    def __init__(self, missing: list[str]):
        super().__init__(f"Requires capabilities : [{', '.join(missing)}]")


def _resolve(value: Any, names: dict[str, str]) -> str | None:
    """A TemplateURL as a plain string, when it only uses parameters and pseudo parameters."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        text = value["Fn::Sub"]
        if any(v not in names for v in _VARIABLE.findall(text)):
            return None
        return _VARIABLE.sub(lambda m: names[m.group(1)], text)
    return None


def required(
    template: dict[str, Any],
    parameters: dict[str, str],
    fetch: Callable[[str], dict[str, Any] | None],
    pseudo: dict[str, str],
    depth: int = 0,
) -> set[str]:
    need: set[str] = set()
    if template.get("Transform"):
        need.add("CAPABILITY_AUTO_EXPAND")
    defaults = {
        name: str(spec.get("Default"))
        for name, spec in (template.get("Parameters") or {}).items()
        if spec.get("Default") is not None
    }
    names = {**pseudo, **defaults, **parameters}
    for resource in (template.get("Resources") or {}).values():
        kind = resource.get("Type", "")
        props = resource.get("Properties") or {}
        if kind in IAM_TYPES:
            need.add("CAPABILITY_IAM")
            name_property = IAM_TYPES[kind]
            if name_property and name_property in props:
                need.add("CAPABILITY_NAMED_IAM")
        elif kind == "AWS::CloudFormation::Stack" and depth < 5:
            url = _resolve(props.get("TemplateURL"), names)
            child = fetch(url) if url else None
            if child is not None:
                # The child's parameters are expressions here: its defaults stand in for them.
                need |= required(child, {}, fetch, pseudo, depth + 1)
    return need


def missing(need: set[str], given: list[str]) -> list[str]:
    have = set(given)
    if "CAPABILITY_NAMED_IAM" in have:
        have.add("CAPABILITY_IAM")
    return sorted(need - have)


def patch() -> None:
    from moto.cloudformation.models import Stack
    from moto.cloudformation.responses import CloudFormationResponse

    def check(self: Any, template_body: str | None) -> None:
        if not template_body:
            return
        try:
            template = Stack.parse_template(template_body)
        except Exception:
            return  # moto reports template errors itself

        def fetch(url: str) -> dict[str, Any] | None:
            try:
                return Stack.parse_template(self._get_stack_from_s3_url(url))
            except Exception:
                return None

        params = {
            p["ParameterKey"]: p["ParameterValue"]
            for p in self._get_param("Parameters", [])
            if "ParameterValue" in p
        }
        pseudo = {
            "AWS::Region": self.region,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::Partition": "aws",
            "AWS::AccountId": self.current_account,
            "AWS::StackName": self._get_param("StackName") or "",
        }
        given: dict[str, str | None] = {
            p["ParameterKey"]: (None if p.get("UsePreviousValue") else p.get("ParameterValue"))
            for p in self._get_param("Parameters", [])
        }
        parameters.validate(template, given)
        need = required(template, params, fetch, pseudo)
        lacking = missing(need, self._get_param("Capabilities", []))
        if lacking:
            raise InsufficientCapabilities(lacking)

    def body(self: Any) -> str | None:
        text = self._get_param("TemplateBody")
        url = self._get_param("TemplateURL")
        if not text and not url and self._get_bool_param("UsePreviousTemplate", False):
            try:
                return self.cloudformation_backend.get_stack(self._get_param("StackName")).template
            except Exception:
                return None
        if not text and url:
            try:
                text = self._get_stack_from_s3_url(url)
            except Exception:
                return None
        return text

    for name in ("create_stack", "update_stack", "create_change_set"):
        original = getattr(CloudFormationResponse, name)

        def checked(self: Any, _original: Any = original) -> Any:
            check(self, body(self))
            return _original(self)

        setattr(CloudFormationResponse, name, checked)
