"""Local mode's plain decisions and its git remote, without a host."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from pipekit.emulator.records import deployments
from pipekit.local import control, lifecycle
from pipekit.local import definition as defn
from pipekit.local.gitremote import ZERO, GitRemote
from pipekit.local.state import LocalStack, read_state, write_state
from tests.support.local_fixtures import free_ports, leftovers


def pipeline(triggers=None, detect="true"):
    d = {
        "name": "p",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Src",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "AWS",
                            "provider": "CodeStarSourceConnection",
                            "version": "1",
                        },
                        "configuration": {
                            "FullRepositoryId": "o/r",
                            "BranchName": "main",
                            "DetectChanges": detect,
                        },
                    }
                ],
            }
        ],
    }
    if triggers is not None:
        d["triggers"] = triggers
    return d


def push_trigger(**push):
    return [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "Src", "push": [push]},
        }
    ]


def test_default_change_detection_follows_branch_and_detectchanges():
    assert defn.push_starts_execution(pipeline(), "o/r", "main", ["a"]) == "Webhook"
    assert defn.push_starts_execution(pipeline(), "o/r", "dev", ["a"]) is None
    assert defn.push_starts_execution(pipeline(), "x/y", "main", ["a"]) is None
    assert defn.push_starts_execution(pipeline(detect="false"), "o/r", "main", ["a"]) is None


def test_triggers_replace_default_detection():
    d = pipeline(push_trigger(branches={"includes": ["release/**"], "excludes": ["release/old*"]}))
    assert defn.push_starts_execution(d, "o/r", "main", ["a"]) is None
    assert defn.push_starts_execution(d, "o/r", "release/1.0", ["a"]) == "WebhookV2"
    assert defn.push_starts_execution(d, "o/r", "release/old-1", ["a"]) is None


def test_file_path_filters():
    d = pipeline(
        push_trigger(
            branches={"includes": ["main"]},
            filePaths={"includes": ["app/**"], "excludes": ["**/*.md"]},
        )
    )
    assert defn.push_starts_execution(d, "o/r", "main", ["docs/x.md"]) is None
    assert defn.push_starts_execution(d, "o/r", "main", ["app/README.md"]) is None
    assert defn.push_starts_execution(d, "o/r", "main", ["app/a/b.py"]) == "WebhookV2"


def test_glob_single_star_stays_in_one_segment():
    assert defn.glob_to_regex("app/*.py").match("app/x.py")
    assert not defn.glob_to_regex("app/*.py").match("app/sub/x.py")
    assert defn.glob_to_regex("app/**").match("app/sub/x.py")


def test_variables_resolve_and_unknown_ones_fail():
    ns = {"SourceVariables": {"CommitId": "abc"}, "codepipeline": {"PipelineExecutionId": "e1"}}
    assert defn.resolve("#{SourceVariables.CommitId}-#{codepipeline.PipelineExecutionId}", ns) == (
        "abc-e1"
    )
    with pytest.raises(KeyError):
        defn.resolve("#{BuildVariables.X}", ns)


def test_artifact_key_truncates_names():
    key = defn.artifact_key("a-very-long-pipeline-name-indeed", "BuildOutputArtifactLong")
    pipeline_part, artifact_part, obj = key.split("/")
    assert pipeline_part == "a-very-long-pipeline"
    assert artifact_part == "BuildOutputArtifactL"
    assert len(obj) == 7


def test_rollback_decisions_read_the_definition():
    assert defn.stage_rolls_back({"onFailure": {"result": "ROLLBACK"}})
    assert not defn.stage_rolls_back({"onFailure": {"result": "FAIL"}})
    assert not defn.stage_rolls_back({})


def test_codedeploy_rolls_back_a_failed_deployment_only_when_it_can():
    on = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    failed = {"autoRollbackConfiguration": on, "creator": "user", "previousRevision": {"r": 1}}
    assert deployments.rolls_back(failed)
    assert not deployments.rolls_back(
        {**failed, "autoRollbackConfiguration": {**on, "enabled": False}}
    )
    alarm_only = {"enabled": True, "events": ["DEPLOYMENT_STOP_ON_ALARM"]}
    assert not deployments.rolls_back({**failed, "autoRollbackConfiguration": alarm_only})
    assert not deployments.rolls_back({**failed, "creator": "codeDeployRollback"})
    assert not deployments.rolls_back({k: v for k, v in failed.items() if k != "previousRevision"})
    # CloudFormation's casing of the group's setting reads the same
    assert deployments.rollback_config({"Enabled": True, "Events": ["DEPLOYMENT_FAILURE"]}) == on


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def test_git_remote_seed_hook_and_archive(tmp_path):
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"started": []}')

        def log_message(self, *args):
            pass

    port = free_ports(1)[0]
    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        checkout = tmp_path / "checkout"
        checkout.mkdir()
        git("init", "-q", "-b", "work", cwd=checkout)
        (checkout / "run.sh").write_text("#!/bin/sh\necho hi\n")
        (checkout / "run.sh").chmod(0o755)
        git("add", ".", cwd=checkout)
        git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "one", cwd=checkout)
        head = git("rev-parse", "HEAD", cwd=checkout).stdout.strip()

        remote = GitRemote(tmp_path / "git")
        path = remote.create("owner/repo", f"http://127.0.0.1:{port}/push")
        assert path == tmp_path / "git" / "owner" / "repo.git"
        assert remote.seed("owner/repo", checkout, "main") == head
        assert received == []  # seeding fires no hook: the first run is CreatePipeline's
        assert remote.repo_id(path) == "owner/repo"

        clone = tmp_path / "clone"
        git("clone", "-q", str(path), str(clone), cwd=tmp_path)
        (clone / "new.txt").write_text("x")
        git("add", ".", cwd=clone)
        git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "two", cwd=clone)
        git("push", "-q", "origin", "HEAD:main", cwd=clone)
        new = git("rev-parse", "HEAD", cwd=clone).stdout.strip()
        assert received == [
            {
                "repository": "owner/repo",
                "updates": [{"old": head, "new": new, "ref": "refs/heads/main"}],
            }
        ]
        assert remote.changed_files("owner/repo", head, new) == ["new.txt"]
        assert sorted(remote.changed_files("owner/repo", ZERO, new)) == ["new.txt", "run.sh"]
        info = remote.commit_info("owner/repo", new)
        assert info["CommitId"] == new and info["CommitMessage"] == "two"

        from pipekit.local.artifacts import extract_zip

        zip_path = remote.archive_zip("owner/repo", new, tmp_path / "src.zip")
        extract_zip(zip_path, tmp_path / "out")
        assert (tmp_path / "out" / "run.sh").stat().st_mode & 0o111  # run bit kept
    finally:
        server.shutdown()


def test_down_cleans_a_dead_local_mode(tmp_path):
    state = tmp_path / "state"
    (state / "machines").mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stack = LocalStack(
        state_dir=str(state),
        endpoint_url="http://localhost:1",
        region="us-east-1",
        stack_name="s",
        app_url="http://127.0.0.1:1/",
        app_port=1,
        port=1,
        control_port=1,
        service_pid=dead.pid,
        git_remote="",
        repository="o/r",
        branch="main",
    )
    write_state(state, stack)
    assert not control.is_running(read_state(state))
    lifecycle.down(state_dir=state, say=lambda _: None)
    assert leftovers(state, dead.pid) == []


def _leave_time_wait() -> int:
    """A loopback port whose only trace is a connection in TIME-WAIT, as `local down` leaves
    its ports: the server side closes first, then the listener goes."""
    import socket

    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the side that closes first keeps the TIME-WAIT entry
        client.recv(1)
        client.close()
    return port


def test_a_port_in_time_wait_is_free_for_a_restart():
    import socket

    port = _leave_time_wait()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # what the old check did: it called the port taken
    assert lifecycle.port_free(port)


def test_a_port_with_a_listener_is_taken():
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not lifecycle.port_free(listener.getsockname()[1])


def _project(tmp_path, **values):
    (tmp_path / "parameters").mkdir(parents=True)
    params = {"GitHubRepository": "local/sample-app", "DeploymentMode": "fleet", **values}
    (tmp_path / "parameters" / "local-fleet.json").write_text(
        json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    )
    return tmp_path


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"FleetSize": "5"}, "FleetSize 5 in parameters/local-fleet.json is more than local mode"),
        ({"FleetSize": "2"}, "HAProxy"),
    ],
)
def test_local_fleet_refusals_start_nothing(tmp_path, monkeypatch, values, message):
    """FleetSize above what the machine holds, HAProxy missing: a sentence, nothing started."""
    from pipekit.errors import UserError
    from pipekit.local import loadbalancer

    if values["FleetSize"] == "2":
        monkeypatch.setattr(loadbalancer, "haproxy_path", lambda: None)
    root = _project(tmp_path / "project", **values)
    state_dir = tmp_path / "state"
    ports = dict(zip(("port", "control_port", "app_port"), free_ports(3), strict=True))
    started = []
    monkeypatch.setattr(control, "start_service", lambda *a, **k: started.append(a))
    with pytest.raises(UserError, match=message):
        lifecycle.up(root=root, state_dir=state_dir, env="local-fleet", **ports)
    assert started == [] and not state_dir.exists()


def test_local_mode_runs_local_environments_only(tmp_path):
    from pipekit.errors import UserError

    with pytest.raises(UserError, match="not 'dev'"):
        lifecycle.up(root=tmp_path, state_dir=tmp_path / "state", env="dev")
    assert not (tmp_path / "state").exists()
