"""CodeBuild's build APIs answered from the engine's records (moto has no builds of its own);
builds the engine never ran fall through to moto."""

from __future__ import annotations

from typing import Any

from moto.codebuild.responses import CodeBuildResponse
from moto.core.responses import ActionResult

from pipekit.emulator.records.overrides import context, original
from pipekit.emulator.records.store import Record, public


def batch_get_builds(self: CodeBuildResponse) -> Any:
    _, _, recs = context(self)
    ids = self._get_param("ids") or []
    with recs.lock:
        if not any(i in recs.builds for i in ids):
            return original("codebuild.batch_get_builds")(self)
        builds = [public(recs.builds[i]) for i in ids if i in recs.builds]
    missing = [i for i in ids if i not in recs.builds]
    result: Record = {"builds": builds}
    if missing:
        result["buildsNotFound"] = missing
    return ActionResult(result)


def list_builds_for_project(self: CodeBuildResponse) -> Any:
    _, _, recs = context(self)
    project = self._get_param("projectName")
    with recs.lock:
        ours = [
            r["id"]
            for r in sorted(recs.builds.values(), key=lambda r: r["startTime"], reverse=True)
            if r["projectName"] == project
        ]
    if not ours:
        return original("codebuild.list_builds_for_project")(self)
    return ActionResult({"ids": ours})


OVERRIDES = {
    "batch_get_builds": batch_get_builds,
    "list_builds_for_project": list_builds_for_project,
}
SERVICE = "codebuild"
RESPONSE = CodeBuildResponse
