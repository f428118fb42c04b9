"""`CodeStarSourceConnection`: the commit of the connection's repository, from the local git
remote standing in for GitHub, as a CODE_ZIP artifact, with the action's output variables."""

from __future__ import annotations

import json
import time

from pipekit.gitcmd import GitError
from pipekit.iam import failures
from pipekit.local import wire
from pipekit.local.actions.base import ActionContext
from pipekit.local.wire import ActionFailed, ActionResult

CONNECTION_POLL_S = 0.5


def _wait_for_connection(ctx: ActionContext, arn: str) -> None:
    """A PENDING connection is waited for (up to `connection_wait_s`), so the CreatePipeline
    run survives the seconds before `local up` completes the handshake."""
    runners = ctx.runners
    status = runners.connection_status(arn) if arn else None
    deadline = time.monotonic() + runners.connection_wait_s
    while status not in (None, "AVAILABLE") and time.monotonic() < deadline:
        time.sleep(CONNECTION_POLL_S)
        status = runners.connection_status(arn)
    if status not in (None, "AVAILABLE"):
        raise ActionFailed(
            "JobFailed",
            f"Connection {arn} is not available (status {status}). Complete the connection "
            "handshake, then release a change.",
        )


def run(ctx: ActionContext) -> ActionResult:
    config, action, execution = ctx.config, ctx.action, ctx.execution
    repo_id = config.get("FullRepositoryId", "")
    branch = config.get("BranchName", "")
    arn = config.get("ConnectionArn", "")
    _wait_for_connection(ctx, arn)
    # CodePipeline fetches the commit through the connection, with the pipeline's role
    service = arn.split(":")[2] if arn.count(":") >= 5 else "codeconnections"
    ctx.authorize(
        "source.connection",
        {"connection_arn": arn, "connection_service": service},
        lambda denied: failures.source(denied, arn),
    )
    if not ctx.git.path(repo_id).exists():
        raise ActionFailed("JobFailed", f"Repository {repo_id} not found")
    revision = execution.source_revisions.get(action["name"]) or f"refs/heads/{branch}"
    try:
        commit = ctx.git.resolve(repo_id, revision)
    except GitError as exc:
        raise ActionFailed("JobFailed", f"Could not find branch {branch}: {exc}") from exc
    info = ctx.git.commit_info(repo_id, commit)
    zip_path = ctx.git.archive_zip(
        repo_id, commit, ctx.scratch(f"source-{action['name']}") / "source.zip"
    )
    outputs = {}
    for artifact in action.get("outputArtifacts", []):
        where = ctx.artifact_location(artifact["name"])
        ctx.authorize("source.upload", where, lambda denied: failures.source(denied, arn))
        outputs[artifact["name"]] = ctx.put_artifact(artifact["name"], zip_path, where["key"])
    variables = {
        "CommitId": commit,
        "BranchName": branch,
        "AuthorDate": info["AuthorDate"],
        "CommitMessage": info["CommitMessage"],
        "ConnectionArn": arn,
        "FullRepositoryName": repo_id,
    }
    summary = json.dumps({"ProviderType": "GitHub", "CommitMessage": info["CommitMessage"]})
    wire.record_source_revision(execution, ctx.definition, action, commit, summary, list(outputs))
    return ActionResult(outputs, variables, commit, summary)
