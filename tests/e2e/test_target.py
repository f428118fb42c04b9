"""Target resolution and the e2e preflight, with Stubber clients (responses validated against
botocore's models), a real bare git remote and a real HTTP app."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from pipekit.e2e import decisions
from pipekit.e2e.target import checkout_remote_for, preflight, resolve_target
from pipekit.errors import UserError

PORT_BASE = 25090


def stubbed(service: str):
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def stack_response(
    status: str = "UPDATE_COMPLETE", url: str = "http://127.0.0.1:1", parameters=None
):
    outputs = {"AppUrl": url, "PipelineName": "pipekit-dev-pipeline", "ConnectionArn": ""}
    stack = {
        "StackName": "pipekit-dev",
        "CreationTime": datetime(2026, 11, 1, tzinfo=UTC),
        "StackStatus": status,
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
    }
    if parameters:
        stack["Parameters"] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()
        ]
    return {"Stacks": [stack]}


def pipeline_response(branch: str):
    return {
        "pipeline": {
            "name": "pipekit-dev-pipeline",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "artifactStore": {"type": "S3", "location": "bucket"},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {
                                "category": "Source",
                                "owner": "AWS",
                                "provider": "CodeStarSourceConnection",
                                "version": "1",
                            },
                            "configuration": {
                                "FullRepositoryId": "octo/app",
                                "BranchName": branch,
                            },
                        }
                    ],
                }
            ],
        }
    }


def resolve(
    status="UPDATE_COMPLETE",
    branch="e2e-test",
    url="http://127.0.0.1:1",
    env="dev",
    parameters=None,
    **kw,
):
    cfn, cfn_stub = stubbed("cloudformation")
    cp, cp_stub = stubbed("codepipeline")
    cfn_stub.add_response(
        "describe_stacks", stack_response(status, url, parameters), {"StackName": "pipekit-dev"}
    )
    cp_stub.add_response(
        "get_pipeline", pipeline_response(branch), {"name": "pipekit-dev-pipeline"}
    )
    with cfn_stub, cp_stub:
        return resolve_target(env=env, stack_name="pipekit-dev", cfn=cfn, codepipeline=cp, **kw)


@pytest.fixture
def remote(tmp_path: Path) -> str:
    bare = tmp_path / "octo" / "app.git"
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=e2e-test", str(bare)], check=True
    )
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "--initial-branch=e2e-test", str(seed)], check=True)
    (seed / "f").write_text("x")
    for args in (
        ["add", "f"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "s"],
        ["push", "-q", str(bare), "HEAD:refs/heads/e2e-test"],
    ):
        subprocess.run(["git", *args], cwd=seed, check=True)
    return str(bare)


@pytest.fixture
def app_url():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            body = json.dumps({"commit": "f" * 40}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    for port in range(PORT_BASE, PORT_BASE + 10):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{port}"
        server.shutdown()
        server.server_close()
        return
    pytest.skip("no free port in 25090-25099")


def test_target_comes_from_stack_outputs_and_source_action(remote):
    target, notes = resolve(git_remote=remote)
    assert (target.pipeline, target.branch, target.git_remote) == (
        "pipekit-dev-pipeline",
        "e2e-test",
        remote,
    )
    assert target.full_repository_id == "octo/app" and target.connection_arn is None
    assert notes == []


def test_deployment_mode_and_local_environments(remote):
    target, _ = resolve(git_remote=remote)
    assert (target.deployment_mode, target.fleet_size, target.local) == ("single", None, False)
    fleet = {"DeploymentMode": "fleet", "FleetSize": "2"}
    target, _ = resolve(git_remote=remote, env="local-fleet", parameters=fleet, branch="main")
    assert (target.deployment_mode, target.fleet_size, target.local) == ("fleet", 2, True)
    # a local mode's remote is a throwaway: main may take test commits
    assert decisions.branch_allowed("main", local=target.local, allow_branch=None)[0]


def test_degraded_stack_is_a_note_and_broken_stack_a_refusal(remote):
    _, notes = resolve(status="UPDATE_ROLLBACK_COMPLETE", git_remote=remote)
    assert "rolled back" in notes[0]
    with pytest.raises(UserError, match="ROLLBACK_COMPLETE"):
        resolve(status="ROLLBACK_COMPLETE", git_remote=remote)


def test_local_remote_is_found_under_the_local_git_root(remote, tmp_path):
    target, _ = resolve(git_remote=None, local_git_root=tmp_path)
    assert target.git_remote == str(tmp_path / "octo" / "app.git")


def test_no_remote_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git checkout: nothing to match FullRepositoryId
    with pytest.raises(UserError, match="--git-remote"):
        resolve(git_remote=None)


def test_checkout_remote_matching_full_repository_id(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, url in (
        ("other", "https://github.com/octo/other.git"),
        ("origin", "git@github.com:Octo/App.git"),
    ):
        subprocess.run(["git", "remote", "add", name, url], cwd=tmp_path, check=True)
    assert checkout_remote_for("octo/app", cwd=str(tmp_path)) == "git@github.com:Octo/App.git"
    assert checkout_remote_for("octo/none", cwd=str(tmp_path)) is None


def test_preflight_passes_and_refuses_an_untested_branch(remote, app_url):
    target, _ = resolve(git_remote=remote, url=app_url)
    notes = preflight(target, connections=None, allow_branch=None)
    assert any("app serves ffffffff" in n for n in notes)
    assert any("remote e2e-test at" in n for n in notes)
    main, _ = resolve(branch="main", git_remote=remote, url=app_url)
    with pytest.raises(UserError, match="--allow-branch main"):
        preflight(main, connections=None, allow_branch=None)
    # Explicitly allowed, it goes on to the next check: this remote has no `main` branch.
    with pytest.raises(UserError, match="branch main does not exist"):
        preflight(main, connections=None, allow_branch="main")


def test_preflight_refuses_a_silent_app_and_an_unreachable_remote(remote, app_url, tmp_path):
    silent, _ = resolve(git_remote=remote, url="http://127.0.0.1:9")
    with pytest.raises(UserError, match="does not answer /version"):
        preflight(silent, connections=None, allow_branch=None)
    gone, _ = resolve(git_remote=str(tmp_path / "gone.git"), url=app_url)
    with pytest.raises(UserError, match="not reachable"):
        preflight(gone, connections=None, allow_branch=None)
