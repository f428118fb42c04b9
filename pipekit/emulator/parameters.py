"""Parameter checks CloudFormation makes before it touches anything, which moto skips, raised as
CloudFormation's ValidationError. The rules themselves are pipekit.cfn.parameters', the same code
preflight runs, so preflight cannot accept what the emulator (or AWS) rejects."""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError

from pipekit.cfn import parameters as rules

# A value of None stands for UsePreviousValue: present, already accepted once.
Given = dict[str, str | None]


def validate(template: dict[str, Any], given: Given) -> None:
    declared = template.get("Parameters") or {}
    unknown = rules.unknown_parameters(declared, given)
    if unknown:
        raise ValidationError(
            message=f"Parameters: [{', '.join(unknown)}] do not exist in the template"
        )
    missing = rules.missing_parameters(declared, given)
    if missing:
        raise ValidationError(message=f"Parameters: [{', '.join(missing)}] must have values")
    values = rules.effective_values(declared, given)
    for name, spec in declared.items():
        value = values[name]
        broken = None if value is None else rules.violation(name, spec or {}, value)
        if broken:
            raise ValidationError(message=broken.aws_message())
    failed = rules.failed_rule(template.get("Rules"), values)
    if failed is not None:
        raise ValidationError(message=failed)
