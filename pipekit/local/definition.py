"""Plain decisions over a deployed pipeline definition (the get_pipeline shape): which source
actions a push concerns, whether a trigger matches, how variables resolve, where artifacts go."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

SOURCE_PROVIDER = "CodeStarSourceConnection"
_VARIABLE = re.compile(r"#\{([A-Za-z0-9@\-_]+)\.([A-Za-z0-9@\-_]+)\}")


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """CodePipeline trigger globs: `**` crosses `/`, `*` does not, `?` is one character."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _matches_filter(value_list: list[str], spec: dict[str, Any] | None) -> bool:
    """A filter's includes/excludes over a list of values (any value may satisfy it)."""
    if not spec:
        return True
    includes = [glob_to_regex(p) for p in spec.get("includes") or []]
    excludes = [glob_to_regex(p) for p in spec.get("excludes") or []]

    def ok(value: str) -> bool:
        if any(x.match(value) for x in excludes):
            return False
        return not includes or any(x.match(value) for x in includes)

    return any(ok(v) for v in value_list)


def push_matches(push_filter: dict[str, Any], branch: str, changed_files: list[str]) -> bool:
    """One GitPushFilter against a branch push (tag filters never match a branch push)."""
    if push_filter.get("tags") and not push_filter.get("branches"):
        return False
    if not _matches_filter([branch], push_filter.get("branches")):
        return False
    return not push_filter.get("filePaths") or _matches_filter(
        changed_files, push_filter.get("filePaths")
    )


def source_actions(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action
        for stage in definition["stages"]
        for action in stage["actions"]
        if action["actionTypeId"]["provider"] == SOURCE_PROVIDER
    ]


def push_starts_execution(
    definition: dict[str, Any], repo_id: str, branch: str, changed_files: list[str]
) -> str | None:
    """The trigger type a push to `repo_id`/`branch` starts, or None if it starts nothing.

    With `triggers` for a source action, only those decide (a trigger disables default change
    detection for that source); otherwise the action's BranchName with DetectChanges."""
    triggers = definition.get("triggers") or []
    for action in source_actions(definition):
        config = action.get("configuration", {})
        if config.get("FullRepositoryId") != repo_id:
            continue
        own = [
            t
            for t in triggers
            if t.get("gitConfiguration", {}).get("sourceActionName") == action["name"]
        ]
        if own:
            for trigger in own:
                for push in trigger["gitConfiguration"].get("push") or []:
                    if push_matches(push, branch, changed_files):
                        return "WebhookV2"
            continue
        if str(config.get("DetectChanges", "true")).lower() != "false" and (
            config.get("BranchName") == branch
        ):
            return "Webhook"
    return None


def resolve(value: str, namespaces: dict[str, dict[str, str]]) -> str:
    """Substitute `#{namespace.Variable}`; an unknown reference is an error, as on AWS."""

    def sub(match: re.Match[str]) -> str:
        ns, name = match.group(1), match.group(2)
        if ns not in namespaces or name not in namespaces[ns]:
            raise KeyError(f"#{{{ns}.{name}}}")
        return namespaces[ns][name]

    return _VARIABLE.sub(sub, value)


def resolve_configuration(
    configuration: dict[str, str], namespaces: dict[str, dict[str, str]]
) -> dict[str, str]:
    return {k: resolve(v, namespaces) for k, v in configuration.items()}


def artifact_key(pipeline_name: str, artifact_name: str) -> str:
    """The S3 key CodePipeline gives an artifact: truncated pipeline and artifact names plus a
    random object name."""
    alphabet = string.ascii_letters + string.digits
    return f"{pipeline_name[:20]}/{artifact_name[:20]}/" + "".join(
        secrets.choice(alphabet) for _ in range(7)
    )


def stage_rolls_back(stage: dict[str, Any]) -> bool:
    return (stage.get("onFailure") or {}).get("result") == "ROLLBACK"
