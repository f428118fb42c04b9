"""Templates as plain data.

`load_template` turns YAML short-form intrinsics (`!Ref`, `!Sub`, `!GetAtt a.b`...) into the
long form (`{"Ref": ...}`, `{"Fn::GetAtt": ["a", "b"]}`) so callers walk one shape only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cfn_flip import load_yaml

from pipekit.errors import UserError


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


def as_text(value: Any) -> str:
    """A template scalar as CloudFormation passes it on: booleans lower case, lists joined."""
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
