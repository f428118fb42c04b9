"""Local-mode speed: push a commit and time it to live, per stage; push a broken one and time it
to restored (the app serving the previous commit again); then put the branch back.

Numbers come from the records the engine wrote (action executions' start/end) plus wall-clock
polling of the app, so they are what a user of `make status` and the app would see."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipekit import gitcmd
from pipekit.appclient import version_data
from pipekit.e2e import decisions
from pipekit.errors import UserError
from pipekit.local import lifecycle
from pipekit.local.state import LocalStack

POLL_S = 0.2
TIMEOUT_S = 600.0
TARGET_LIVE_S = 20.0
TARGET_RESTORED_S = 30.0


@dataclass
class Run:
    label: str
    commit: str
    execution_id: str = ""
    status: str = ""
    stages: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    push_to_start_s: float = 0.0
    total_s: float = 0.0  # push -> live (or -> restored)
    rollback: dict[str, Any] = field(default_factory=dict)


def git(*args: str, cwd: Path) -> str:
    return gitcmd.git(*args, cwd=cwd).strip()


def _clone(stack: LocalStack, into: Path) -> Path:
    git("clone", "-q", "--branch", stack.branch, stack.git_remote, str(into), cwd=into.parent)
    git("config", "user.email", "bench@pipekit.invalid", cwd=into)
    git("config", "user.name", "pipekit bench", cwd=into)
    return into


def _commit_and_push(clone: Path, branch: str, message: str) -> tuple[str, float]:
    git("add", "-A", cwd=clone)
    git("commit", "-q", "-m", message, cwd=clone)
    sha = git("rev-parse", "HEAD", cwd=clone)
    pushed_at = time.monotonic()
    git("push", "-q", "origin", f"HEAD:{branch}", cwd=clone)
    return sha, pushed_at


def _execution_for(cp: Any, pipeline: str, commit: str, execution_type: str) -> dict | None:
    summaries = cp.list_pipeline_executions(pipelineName=pipeline, maxResults=20)[
        "pipelineExecutionSummaries"
    ]
    for summary in summaries:
        revisions = [r.get("revisionId") for r in summary.get("sourceRevisions", [])]
        if commit in revisions and summary.get("executionType", "STANDARD") == execution_type:
            return summary
    return None


def _wait(predicate: Any, timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(POLL_S)
    raise TimeoutError("timed out")


def stage_seconds(cp: Any, pipeline: str, execution_id: str) -> dict[str, float]:
    """Per stage: from its first action's start to its last action's last update."""
    details = cp.list_action_executions(
        pipelineName=pipeline, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    return decisions.stage_durations(details)


def _settled(cp: Any, pipeline: str, commit: str, execution_type: str) -> dict | None:
    found = _execution_for(cp, pipeline, commit, execution_type)
    if found and found["status"] not in ("InProgress", "Stopping"):
        return found
    return None


def measure_live(stack: LocalStack, clone: Path, label: str, marker: str) -> Run:
    from pipekit.samplechanges import set_marker

    cp = stack.client("codepipeline")
    set_marker(clone, marker)
    commit, pushed = _commit_and_push(clone, stack.branch, f"bench: {marker}")
    run = Run(label, commit)
    started = _wait(lambda: _execution_for(cp, stack.pipeline_name, commit, "STANDARD"))
    run.push_to_start_s = time.monotonic() - pushed
    run.execution_id = started["pipelineExecutionId"]
    _wait(lambda: (version_data(stack.app_url, 1.0) or {}).get("commit") == commit)
    run.total_s = time.monotonic() - pushed
    final = _wait(lambda: _settled(cp, stack.pipeline_name, commit, "STANDARD"))
    run.status = final["status"]
    run.stages = stage_seconds(cp, stack.pipeline_name, run.execution_id)
    return run


def measure_restore(stack: LocalStack, clone: Path, good_commit: str) -> Run:
    """Push a commit that breaks at runtime; time until the app serves `good_commit` again
    after the broken deployment has failed."""
    from pipekit.samplechanges import break_at_runtime

    cp = stack.client("codepipeline")
    break_at_runtime(clone)
    commit, pushed = _commit_and_push(clone, stack.branch, "bench: break at runtime")
    run = Run("broken commit -> restored", commit)
    failed = _wait(lambda: _settled(cp, stack.pipeline_name, commit, "STANDARD"))
    run.execution_id, run.status = failed["pipelineExecutionId"], failed["status"]
    run.push_to_start_s = 0.0
    _wait(lambda: (version_data(stack.app_url, 1.0) or {}).get("commit") == good_commit)
    run.total_s = time.monotonic() - pushed
    run.stages = stage_seconds(cp, stack.pipeline_name, run.execution_id)
    run.rollback = codedeploy_rollback(stack, run.execution_id)
    return run


def codedeploy_rollback(stack: LocalStack, execution_id: str) -> dict[str, Any]:
    """CodeDeploy's rollback of the execution's failed deployment (a deployment of its own,
    creator codeDeployRollback), once it has ended: its id, status and seconds."""
    cp, cd = stack.client("codepipeline"), stack.client("codedeploy")
    details = cp.list_action_executions(
        pipelineName=stack.pipeline_name, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    deploy_stage = next((d["stageName"] for d in details if d["status"] == "Failed"), None)
    failed_id = decisions.external_execution_id(details, deploy_stage) if deploy_stage else None
    if not failed_id:
        return {"codedeploy_rollback_deployment": None}
    info = cd.get_deployment(deploymentId=failed_id)["deploymentInfo"]
    rollback_id = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
    if not rollback_id:
        return {"codedeploy_rollback_deployment": None}

    def ended() -> dict | None:
        found = cd.get_deployment(deploymentId=rollback_id)["deploymentInfo"]
        return found if found["status"] in decisions.TERMINAL_DEPLOYMENT else None

    rollback = _wait(ended, 120)
    return {
        "codedeploy_rollback_deployment": rollback_id,
        "codedeploy_rollback_status": rollback["status"],
        "codedeploy_rollback_s": (
            rollback["completeTime"] - rollback["createTime"]
        ).total_seconds(),
    }


def run_bench(stack: LocalStack, say: Any = print) -> dict[str, Any]:
    if version_data(stack.app_url, 2.0) is None:
        raise RuntimeError(f"the app at {stack.app_url} does not answer: is local mode up?")
    results: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="pipekit-bench-") as tmp:
        clone = _clone(stack, Path(tmp) / "repo")
        stamp = time.strftime("%H:%M:%S")
        say("==> Pushing a marker change and waiting for it to go live")
        live = measure_live(stack, clone, "commit -> live", f"bench {stamp}")
        results.append(live)
        say(f"    live in {live.total_s:.1f} s")
        say("==> Pushing a commit that breaks at runtime and waiting for the previous one again")
        broken = measure_restore(stack, clone, live.commit)
        results.append(broken)
        say(f"    restored in {broken.total_s:.1f} s")
        say("==> Reverting the broken commit so the branch builds again")
        git("revert", "--no-edit", "HEAD", cwd=clone)
        git("commit", "--amend", "-q", "-m", "bench: revert the runtime break", cwd=clone)
        fixed_commit = git("rev-parse", "HEAD", cwd=clone)
        pushed = time.monotonic()
        git("push", "-q", "origin", f"HEAD:{stack.branch}", cwd=clone)
        _wait(lambda: (version_data(stack.app_url, 1.0) or {}).get("commit") == fixed_commit)
        fixed = Run("revert -> live", fixed_commit, total_s=time.monotonic() - pushed)
        results.append(fixed)
    return {
        "targets": {"commit_to_live_s": TARGET_LIVE_S, "broken_to_restored_s": TARGET_RESTORED_S},
        "commit_to_live_s": round(live.total_s, 2),
        "broken_to_restored_s": round(broken.total_s, 2),
        "runs": [asdict(r) for r in results],
    }


def run_and_report(state_dir: Path | None, json_path: Path, say: Any = print) -> None:
    """`pipekit bench`: run the benchmark on the local mode under `state_dir`, print the table
    and write the JSON report to `json_path`."""
    stack = lifecycle.running(state_dir)
    if stack is None:
        raise UserError("local mode is not running: run `make local` first")
    try:
        report = run_bench(stack)
    except (TimeoutError, RuntimeError) as exc:
        raise UserError(f"benchmark aborted: {exc}; see `make status ENV=local`") from None
    say(table(report))
    say(f"Results: {write_json(report, json_path)}")


def table(report: dict[str, Any]) -> str:
    lines = [f"{'run':<28}{'stage':<12}{'seconds':>9}"]
    for run in report["runs"]:
        lines.append(f"{run['label']:<28}{'(total)':<12}{run['total_s']:>9.1f}")
        if run["push_to_start_s"]:
            lines.append(f"{'':<28}{'push->start':<12}{run['push_to_start_s']:>9.1f}")
        for stage, seconds in run["stages"].items():
            lines.append(f"{'':<28}{stage:<12}{seconds:>9.1f}")
        rollback = run.get("rollback") or {}
        if rollback.get("codedeploy_rollback_s") is not None:
            lines.append(f"{'':<28}{'CD rollback':<12}{rollback['codedeploy_rollback_s']:>9.1f}")
    t = report["targets"]
    lines.append(
        f"commit to live {report['commit_to_live_s']:.1f} s "
        f"(target <= {t['commit_to_live_s']:.0f}); "
        f"broken to restored {report['broken_to_restored_s']:.1f} s "
        f"(target <= {t['broken_to_restored_s']:.0f})"
    )
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
