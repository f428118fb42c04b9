"""`local up` -> the app serves the branch's commit -> a pushed commit goes live by itself ->
`local down` leaves no process and no mount (checked by the fixture's teardown)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from pipekit.local import control, lifecycle
from pipekit.local.runtime.procs import mounts_under
from pipekit.local.state import read_state

pytestmark = pytest.mark.host


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_up_serves_branch_commit_and_a_push_goes_live(local_stack, tmp_path):
    stack = local_stack
    # the branch's commit is what the app serves (other tests sharing this local mode may have
    # pushed since `up`: their last push must go live too)
    head = git("rev-parse", f"refs/heads/{stack.branch}", cwd=Path(stack.git_remote))
    lifecycle.wait_live(stack.app_url, head, timeout=300)

    cp = stack.client("codepipeline")
    runs = cp.list_pipeline_executions(pipelineName=stack.pipeline_name)[
        "pipelineExecutionSummaries"
    ]
    first = runs[-1]
    assert first["trigger"]["triggerType"] == "CreatePipeline"
    assert first["sourceRevisions"][0]["revisionId"] == stack.seed_commit
    # seeded from this checkout's HEAD (which may have moved on since)
    git("merge-base", "--is-ancestor", stack.seed_commit, "HEAD", cwd=lifecycle.PROJECT_ROOT)

    # each instance's host has the environment file its user data writes (templates/ec2.yaml,
    # write-app-config): the stack's ValidateServiceSeconds as VALIDATE_SECONDS
    cfn = stack.client("cloudformation")
    described = cfn.describe_stacks(StackName=stack.stack_name)["Stacks"][0]["Parameters"]
    params = {p["ParameterKey"]: p["ParameterValue"] for p in described}
    machines = control.call(stack.control_url, "/health")["machines"]
    assert machines
    for name in machines:
        env = (Path(stack.state_dir) / "machines" / name / "root/etc/sample-app/env").read_text()
        assert f"VALIDATE_SECONDS={params['ValidateServiceSeconds']}" in env.splitlines()

    # a second `local up` finds it running and changes nothing
    again = lifecycle.up(state_dir=Path(stack.state_dir))
    assert again.service_pid == stack.service_pid

    clone = tmp_path / "clone"
    git("clone", "-q", "--branch", stack.branch, stack.git_remote, str(clone), cwd=tmp_path)
    git("config", "user.email", "test@pipekit.invalid", cwd=clone)
    git("config", "user.name", "pipekit test", cwd=clone)
    from pipekit.samplechanges import set_marker

    set_marker(clone, f"test_local {time.time()}")
    git("commit", "-qam", "test_local: marker", cwd=clone)
    commit = git("rev-parse", "HEAD", cwd=clone)
    git("push", "-q", "origin", f"HEAD:{stack.branch}", cwd=clone)

    lifecycle.wait_live(stack.app_url, commit, timeout=300)
    runs = cp.list_pipeline_executions(pipelineName=stack.pipeline_name)[
        "pipelineExecutionSummaries"
    ]
    pushed = [r for r in runs if r["sourceRevisions"][0]["revisionId"] == commit]
    assert pushed, "the push started no execution"
    assert pushed[0]["trigger"]["triggerType"] in ("WebhookV2", "Webhook")


def test_down_cleans_up_after_a_killed_service(tmp_path):
    """A crashed service leaves its hosts running; `local down` still leaves nothing."""
    import os
    import signal

    from pipekit.local.runtime import netns
    from tests.support.local_fixtures import host_namespaces, leftovers, start_local_stack

    state = (tmp_path / "state").resolve()
    stack = start_local_stack(state, "pipekit-killtest")
    try:
        assert stack.machines
        os.kill(stack.service_pid, signal.SIGKILL)
        time.sleep(0.5)
        assert mounts_under(state), "the hosts' mounts outlive the service"
        assert netns.left(state / "machines"), "the hosts' network namespaces outlive it too"
        assert not control.is_running(read_state(state))
        namespaces = host_namespaces(state)
        assert namespaces, "no host PID namespace found to check after down"
    finally:
        lifecycle.down(state_dir=state, say=lambda _: None)
    assert leftovers(state, stack.service_pid, namespaces) == []
