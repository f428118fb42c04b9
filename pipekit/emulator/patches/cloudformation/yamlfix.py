"""CloudFormation YAML short-form tags, parsed the way CloudFormation parses them.

moto's constructor turns every `!Tag value` into `{"Fn::Tag": scalar-or-list}`, which breaks
`!Condition X` (it must become `{"Condition": X}`), any short tag whose value is a mapping
(`!Base64 {Fn::Sub: ...}` crashes), and `!GetAtt A.B.C` (split on every dot; CloudFormation
splits on the first dot only, so `!GetAtt Child.Outputs.X` is `[Child, Outputs.X]`).
"""

from __future__ import annotations

from typing import Any

import yaml


def yaml_tag_constructor(loader: Any, tag: str, node: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    if tag == "!Ref":
        return {"Ref": value}
    if tag == "!Condition":
        return {"Condition": value}
    if tag == "!GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag[1:]}": value}


def patch() -> None:
    """moto's modules each imported the constructor by name: replace it in every one."""
    from moto.cloudformation import models, responses, utils

    for module in (utils, models, responses):
        module.yaml_tag_constructor = yaml_tag_constructor  # type: ignore[attr-defined]
