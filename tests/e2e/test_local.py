"""The full scenario against local mode (emulator + pipeline engine + nspawn hosts), asserting on
what the services recorded and what the URL served. Runs inside `make test`."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from pipekit import appclient
from pipekit.e2e import decisions
from pipekit.e2e.scenario import Options, Scenario
from pipekit.e2e.target import preflight, resolve_target
from pipekit.e2e.waiting import Clients, list_executions

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.host, pytest.mark.slow]


def test_full_scenario_on_local_mode(local_stack):
    client = local_stack.client
    target, _ = resolve_target(
        env="local",
        stack_name=local_stack.stack_name,
        cfn=client("cloudformation"),
        codepipeline=client("codepipeline"),
        git_remote=local_stack.git_remote,
        app_url=local_stack.app_url,
    )
    connections = None
    if target.connection_arn:
        connections = client(target.connection_arn.split(":")[2])  # codeconnections or codestar
    preflight(target, connections=connections, allow_branch=None)
    clients = Clients(
        client("codepipeline"), client("codedeploy"), client("codebuild"), client("logs")
    )
    report = Scenario(
        clients,
        target,
        options=Options(execution_timeout=900, deployment_timeout=600, url_timeout=180),
        console=Console(width=160),
    ).run()
    path = report.write_json(ROOT / "reports")
    print(f"report: {path}")
    assert report.ok, report.problems

    # What the services recorded, read again independently of the runner's own verdicts.
    cp, cd = clients.codepipeline, clients.codedeploy
    runs = list_executions(cp, target.pipeline)
    assert decisions.find_commit_execution(runs, report.good_commit)["status"] == "Succeeded"
    broken_run = decisions.find_commit_execution(runs, report.broken_commit)
    assert broken_run["status"] == "Failed"
    assert decisions.find_commit_execution(runs, report.restore_commit)["status"] == "Succeeded"
    assert report.broken_execution["failed_stage"] == "Deploy"
    # One rollback layer: CodeDeploy's own deployment of the last good revision, no stage
    # rollback execution.
    assert all(decisions.execution_type(s) == "STANDARD" for s in runs)
    rollback_id = report.codedeploy_rollback["rollback_deployment_id"]
    info = cd.get_deployment(deploymentId=rollback_id)["deploymentInfo"]
    assert (info["creator"], info["status"]) == ("codeDeployRollback", "Succeeded")
    good_deployment = report.codedeploy_rollback["last_good_deployment_id"]
    good_info = cd.get_deployment(deploymentId=good_deployment)["deploymentInfo"]
    assert info["revision"] == good_info["revision"]
    failed = cd.get_deployment(deploymentId=report.broken_execution["deployment_id"])
    assert failed["deploymentInfo"]["rollbackInfo"]["rollbackDeploymentId"] == rollback_id
    assert decisions.same_commit(report.live_commit, report.good_commit)
    # What the URL serves now: the restore commit, still with the marker page.
    _, version = appclient.version(target.app_url)
    assert decisions.same_commit(decisions.served_commit(version), report.restore_commit)
