"""The full scenario against local mode (emulator + pipeline engine + nspawn hosts), asserting on
what the services recorded and what the URL served. Runs inside `make test`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import boto3
import pytest
from rich.console import Console

from pipekit.e2e import decisions, web
from pipekit.e2e.scenario import Options, Scenario
from pipekit.e2e.target import preflight, resolve_target
from pipekit.e2e.waiting import Clients, list_executions

ROOT = Path(__file__).resolve().parent.parent
_MISSING = [
    m
    for m in ("pipekit.local.testing", "pipekit.samplechanges")
    if importlib.util.find_spec(m) is None
]

if not _MISSING:
    from pipekit.local.testing import local_stack  # a pytest fixture, used by name
else:

    @pytest.fixture
    def local_stack():
        pytest.skip(f"local mode is not available yet: {', '.join(_MISSING)} missing")


pytestmark = [pytest.mark.host, pytest.mark.slow]


def field(stack: Any, *names: str) -> Any:
    """The fixture's value under whichever name it uses (attribute or mapping key)."""
    for name in names:
        value = stack.get(name) if isinstance(stack, dict) else getattr(stack, name, None)
        if value:
            return value
    raise AssertionError(f"local_stack has none of {names}")


def test_full_scenario_on_local_mode(local_stack):
    endpoint = field(local_stack, "endpoint_url")
    region = field(local_stack, "region")

    def client(service: str):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    target, _ = resolve_target(
        env="local",
        stack_name=field(local_stack, "stack_name"),
        cfn=client("cloudformation"),
        codepipeline=client("codepipeline"),
        git_remote=str(field(local_stack, "git_remote", "git_remote_path", "remote")),
        app_url=field(local_stack, "app_url"),
    )
    connections = client("codeconnections") if target.connection_arn else None
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
    rollbacks = [
        s
        for s in runs
        if decisions.execution_type(s) == "ROLLBACK" and s["startTime"] >= broken_run["startTime"]
    ]
    assert rollbacks and rollbacks[-1]["trigger"]["triggerType"] == "AutomatedRollback"
    rollback_id = report.codedeploy_rollback["rollback_deployment_id"]
    info = cd.get_deployment(deploymentId=rollback_id)["deploymentInfo"]
    assert (info["creator"], info["status"]) == ("codeDeployRollback", "Succeeded")
    # What the URL serves now: the restore commit, still with the marker page.
    _, version = web.version(target.app_url)
    assert decisions.same_commit(decisions.served_commit(version), report.restore_commit)
