"""`make why` and `make redeploy` on local mode (the shared `local_stack`: the real templates, the
real pipeline, the real hooks on a systemd host): a failing build explained by its command and
log; the ApplicationStop trap end to end (a revision with a failing stop script deploys, the next
push fails in ApplicationStop, `why` names the trap and the command out, `redeploy` with
--ignore-application-stop-failures gets the good version live, and pushes deploy again)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from pipekit import appclient
from pipekit.e2e.gitops import Checkout
from pipekit.e2e.waiting import find_commit_execution, wait_execution
from pipekit.errors import UserError
from pipekit.harness.redeploy import redeploy
from pipekit.harness.why import show_why
from pipekit.local.lifecycle import environment
from pipekit.progress import console
from pipekit.samplechanges import STOP_PATH, break_application_stop, set_marker
from tests.support.local_fixtures import idle

pytestmark = pytest.mark.host

BROKEN_TEST = Path("app/tests/test_why_broken.py")


def push_and_wait(stack, checkout: Checkout, paths, message: str) -> dict:
    commit = checkout.commit_paths(paths, message)
    checkout.push()
    cp = stack.client("codepipeline")
    run = find_commit_execution(
        cp, stack.pipeline_name, commit, not_before=None, timeout=120, interval=0.5
    )
    execution, _ = wait_execution(
        cp,
        stack.pipeline_name,
        run["pipelineExecutionId"],
        stages=[],
        timeout=600,
        console=Console(quiet=True),
        label=message,
        interval=0.5,
    )
    execution["commit"] = commit
    return execution


def screen(env, clients, capsys, **kwargs):
    capsys.readouterr()
    d = show_why(env, clients, **kwargs)
    text = capsys.readouterr().out
    with capsys.disabled():
        print(f"\n--- make why ---\n{text}--- end ---")  # for the report
    return d, text


def live_commit(stack) -> str | None:
    data = appclient.version_data(stack.app_url, 5.0)
    return data.get("commit") if data else None


def test_why_explains_a_failing_build_and_the_application_stop_trap(local_stack, tmp_path, capsys):
    stack = local_stack
    env = environment(stack)
    clients = lambda service, region=None: stack.client(service)  # noqa: E731
    width = console.width
    console.width = 200
    try:
        idle(stack)
        good = live_commit(stack)
        assert good
        checkout = Checkout.clone(stack.git_remote, stack.branch, tmp_path / "repo")

        # 1. A failing unit test fails the build: why shows the command and the last log line.
        (checkout.path / BROKEN_TEST).write_text(
            "def test_deliberately_broken():\n"
            '    assert False, "why-redeploy: deliberately broken"\n'
        )
        failed = push_and_wait(stack, checkout, [BROKEN_TEST], "a failing unit test")
        assert failed["status"] == "Failed"
        d, text = screen(env, clients, capsys)
        assert d.execution_id == failed["pipelineExecutionId"]
        assert d.failure.category == "Build"
        assert "command: python3 -m pytest app/tests" in text
        assert d.log_tail and d.log_tail[-1] in text
        assert "why-redeploy: deliberately broken" in "\n".join(d.log_tail)

        # 2. Remove the test and break the stop script: this revision deploys (its own stop
        # script only runs in the NEXT deployment).
        (checkout.path / BROKEN_TEST).unlink()
        checkout.git("rm", "--quiet", "--cached", str(BROKEN_TEST))
        bad_stop = push_and_wait(
            stack,
            checkout,
            break_application_stop(checkout.path),
            "a failing ApplicationStop script",
        )
        assert bad_stop["status"] == "Succeeded"
        assert live_commit(stack) == bad_stop["commit"]

        # 3. The next push fails in ApplicationStop, and so does CodeDeploy's rollback.
        trapped = push_and_wait(
            stack, checkout, set_marker(checkout.path, "after the trap"), "a marker change"
        )
        assert trapped["status"] == "Failed"
        idle(stack)
        d, text = screen(env, clients, capsys)
        assert d.execution_id == trapped["pipelineExecutionId"]
        assert d.trap is not None and d.trap.name == "the ApplicationStop trap"
        assert [e.event for e in d.events] == ["ApplicationStop"]
        assert d.events[0].script == str(STOP_PATH)
        command = (
            f'make redeploy ENV=local ARGS="--commit {good[:12]} '
            '--ignore-application-stop-failures"'
        )
        assert d.trap.command == command and command in text
        assert "ApplicationStop deliberately broken" in text  # the script's log tail
        assert f"the live revision (commit {bad_stop['commit'][:12]})'s" in d.trap.explanation

        # Bad input changes nothing: a commit that never built, one whose build failed.
        with pytest.raises(UserError, match="never built in"):
            redeploy(env, clients, commit="0" * 40, interval=0.5)
        with pytest.raises(UserError, match="ended FAILED: there is no bundle to deploy"):
            redeploy(env, clients, commit=failed["commit"], interval=0.5)

        # 4. The way out: the good commit, ignoring the failing stop script.
        info = redeploy(
            env, clients, commit=good[:12], ignore_application_stop_failures=True, interval=0.5
        )
        assert info["status"] == "Succeeded" and info["ignoreApplicationStopFailures"]
        assert live_commit(stack) == good

        # 5. Pushes deploy again once the stop script is fixed.
        checkout.git("checkout", good, "--", str(STOP_PATH))
        fixed = push_and_wait(stack, checkout, [STOP_PATH], "the stop script fixed")
        assert fixed["status"] == "Succeeded"
        assert live_commit(stack) == fixed["commit"]
        idle(stack)  # leave no deployment running for the tests after this one
        cd = stack.client("codedeploy")
        with capsys.disabled():
            for i in cd.batch_get_deployments(
                deploymentIds=cd.list_deployments()["deployments"][:10]
            )["deploymentsInfo"]:
                print(i["deploymentId"], i["creator"], i["status"], i.get("description", ""))
    finally:
        console.width = width
