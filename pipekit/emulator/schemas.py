"""What the CloudFormation resource schemas say about a type, read from the copy cfn-lint ships.

moto has no notion of create-only properties: it updates in place what AWS replaces. Models use
this to decide when an update replaces the resource, change sets to report `Replacement`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _schema_index() -> dict[str, Any]:
    import cfnlint

    base = Path(cfnlint.__file__).parent / "data" / "schemas"
    return {"base": base, "index": json.loads((base / "providers" / "us-east-1.json").read_text())}


@cache
def create_only_properties(resource_type: str) -> tuple[str, ...]:
    """Top-level properties whose change replaces the resource (CFN schema createOnlyProperties)."""
    info = _schema_index()
    entry = info["index"].get(resource_type)
    if not isinstance(entry, str):
        return ()
    schema = json.loads((info["base"] / "resources" / f"{entry}.json").read_text())
    names = {p.split("/")[2] for p in schema.get("createOnlyProperties", [])}
    return tuple(sorted(names))
