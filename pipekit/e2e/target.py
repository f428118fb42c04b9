"""What the e2e acts on (pipeline, app URL, git remote and branch), read from the stack, and the
preflight that refuses to start when any of it is not ready."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipekit import appclient
from pipekit.e2e import decisions, gitops
from pipekit.errors import UserError
from pipekit.harness.config import is_local


@dataclass
class Target:
    env: str
    stack_name: str
    pipeline: str
    app_url: str
    git_remote: str
    branch: str
    connection_arn: str | None = None
    codedeploy_application: str | None = None
    deployment_group: str | None = None
    full_repository_id: str | None = None
    local: bool = False  # a local mode (ENV=local, local-fleet): the remote is a throwaway
    deployment_mode: str = "single"  # the stack's DeploymentMode parameter: single | fleet
    fleet_size: int | None = None  # its FleetSize parameter (fleet mode)


def stack_outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def stack_parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}


def source_configuration(pipeline: dict[str, Any]) -> dict[str, str]:
    """The source action's configuration (FullRepositoryId, BranchName, ConnectionArn)."""
    for stage in pipeline["pipeline"]["stages"]:
        for action in stage["actions"]:
            if action["actionTypeId"]["category"] == "Source":
                return dict(action.get("configuration", {}))
    raise UserError(f"pipeline {pipeline['pipeline']['name']} has no source action")


def checkout_remote_for(full_repository_id: str, cwd: str | None = None) -> str | None:
    """The user's checkout's remote URL that points at `owner/repo` on GitHub, if any, so the
    e2e pushes with the user's own git credentials."""
    try:
        out = subprocess.run(
            ["git", "remote", "-v"], cwd=cwd, capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    wanted = full_repository_id.lower().removesuffix(".git")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and "github.com" in parts[1]:
            path = parts[1].split("github.com", 1)[1].lstrip(":/").lower().removesuffix(".git")
            if path == wanted:
                return parts[1]
    return None


def resolve_target(
    *,
    env: str,
    stack_name: str,
    cfn: Any,
    codepipeline: Any,
    git_remote: str | None,
    app_url: str | None = None,
    local_state: dict[str, Any] | None = None,
    local_git_root: Path | None = None,
) -> tuple[Target, list[str]]:
    """The target and the preflight notes (warnings that do not stop the run). A stack that is
    missing or unhealthy is a UserError."""
    notes: list[str] = []
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # ClientError or endpoint down: one clear sentence
        raise UserError(
            f"stack {stack_name} is not readable ({exc}): deploy it first with "
            f"`make deploy ENV={env}`"
        ) from None
    usable, note = decisions.stack_health(stacks[0])
    if not usable:
        raise UserError(f"stack {stack_name} is {note}: fix it (make status ENV={env}) first")
    if note != stacks[0]["StackStatus"]:
        notes.append(f"stack {stack_name}: {note}")
    outputs = stack_outputs(stacks[0])
    parameters = stack_parameters(stacks[0])
    missing = [k for k in ("PipelineName", "AppUrl") if not outputs.get(k)]
    if missing and not (app_url and outputs.get("PipelineName")):
        raise UserError(f"stack {stack_name} has no output {', '.join(missing)}")
    pipeline = codepipeline.get_pipeline(name=outputs["PipelineName"])
    source = source_configuration(pipeline)
    repo = source.get("FullRepositoryId", "")
    remote = git_remote
    if remote is None and local_state:
        remote = local_state.get("git_remote") or local_state.get("git_remote_path")
    if remote is None and local_git_root is not None and repo:
        # `make local` serves owner/repo as a bare repository under .local/git/.
        candidate = local_git_root / f"{repo}.git"
        remote = str(candidate) if candidate.is_dir() else None
    if remote is None and repo:
        remote = checkout_remote_for(repo)
    if remote is None:
        raise UserError(
            f"no git remote for {repo or 'the pipeline repository'}: pass "
            "ARGS='--git-remote git@github.com:OWNER/REPO.git'"
        )
    target = Target(
        env=env,
        stack_name=stack_name,
        pipeline=outputs["PipelineName"],
        app_url=app_url or outputs["AppUrl"],
        git_remote=str(remote),
        branch=source.get("BranchName", "main"),
        connection_arn=source.get("ConnectionArn") or outputs.get("ConnectionArn") or None,
        codedeploy_application=outputs.get("CodeDeployApplicationName"),
        deployment_group=outputs.get("DeploymentGroupName"),
        full_repository_id=repo or None,
        local=is_local(env),
        # templates/root.yaml's default when the answer names no DeploymentMode
        deployment_mode=parameters.get("DeploymentMode") or "single",
        fleet_size=int(parameters["FleetSize"]) if parameters.get("FleetSize") else None,
    )
    return target, notes


def preflight(
    target: Target,
    *,
    connections: Any | None,
    allow_branch: str | None,
    url_timeout: float = 5.0,
) -> list[str]:
    """Refuse to start unless the connection is AVAILABLE, the app answers, the remote branch is
    reachable and the branch may take test commits. Returns notes for the report."""
    notes = []
    allowed, why = decisions.branch_allowed(
        target.branch, local=target.local, allow_branch=allow_branch
    )
    if not allowed:
        raise UserError(why)
    notes.append(f"branch {target.branch}: {why}")
    if target.connection_arn and connections is not None:
        from pipekit.harness.preflight import (
            connection_status,  # harness check: says how to fix PENDING
        )

        notes.append(f"connection: {connection_status(connections, target.connection_arn)}")
    answer, data = appclient.version(target.app_url, timeout=url_timeout)
    if not answer.ok or decisions.served_commit(data) is None:
        raise UserError(
            f"the app at {target.app_url} does not answer /version with a commit "
            f"({answer.error or answer.status}): check `make status ENV={target.env}`"
        )
    notes.append(f"app serves {decisions.served_commit(data)}")
    try:
        head = gitops.remote_head(target.git_remote, target.branch)
    except gitops.GitError as exc:
        raise UserError(f"the git remote is not reachable with your credentials: {exc}") from None
    if head is None:
        raise UserError(f"branch {target.branch} does not exist on {target.git_remote}")
    notes.append(f"remote {target.branch} at {head[:12]}")
    return notes


def add_target_arguments(parser) -> None:
    """The options that say where the scenario pushes and what it watches (e2e and bench)."""
    parser.add_argument(
        "--git-remote",
        help="the pipeline repository's git URL to push to (default: the local remote in local "
        "mode, else this checkout's remote matching the pipeline's FullRepositoryId)",
    )
    parser.add_argument(
        "--allow-branch",
        metavar="BRANCH",
        help="allow test commits on BRANCH even though it is not named for tests",
    )
    parser.add_argument("--app-url", help="override the stack's AppUrl output")
    parser.add_argument("--report-dir", default="reports", help="where the JSON report goes")
