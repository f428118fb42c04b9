"""The harness commands as the Makefile calls them: one sentence and exit 2 for what the user
must fix, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from pipekit import cli
from pipekit.errors import UserError
from pipekit.harness import config
from pipekit.harness.preflight import lint_parameter_files
from tests.support.harness import make_project, write_params

HARNESS_COMMANDS = ["lint", "publish", "deploy", "status", "destroy"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = make_project(tmp_path)
    monkeypatch.setattr(config, "PROJECT_ROOT", root)
    monkeypatch.setattr(cli, "COMMANDS", HARNESS_COMMANDS)  # others' commands may be in flight
    return root


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_committed_parameter_files_fit_the_root_template():
    lines = lint_parameter_files(config.PROJECT_ROOT)
    assert {line.split()[1] for line in lines} == {
        f"parameters/{p.name}" for p in (config.PROJECT_ROOT / "parameters").glob("*.json")
    }


def test_lint_names_every_bad_file(project, capsys):
    write_params(project, "qa", {"GitHubRepository": "acme/shop", "Nope": "1"})
    (project / "parameters" / "broken.json").write_text("{")
    code, out, err = run_cli(capsys, "lint")
    assert code == 2
    assert (
        "FAIL" in out
        and "qa.json does not fit templates/root.yaml: unknown parameter(s) Nope" in out
    )
    assert "broken.json is not valid JSON" in out
    assert "ok   parameters/dev.json" in out
    assert err.startswith("error: 2 parameter file(s) do not fit") and "Traceback" not in err


@pytest.mark.parametrize("command", ["publish", "deploy", "status", "destroy"])
def test_unknown_environment_lists_the_known_ones(project, capsys, command):
    code, _, err = run_cli(capsys, command, "--env", "staging")
    assert code == 2
    assert err == (
        "error: unknown environment 'staging': there is no parameters/staging.json "
        "(known environments: dev, prod)\n"
    )


@pytest.mark.parametrize("command", ["publish", "deploy", "status", "destroy"])
def test_local_without_the_local_service(project, capsys, command):
    write_params(project, "local", {"GitHubRepository": "local/sample-app"})
    code, _, err = run_cli(capsys, command, "--env", "local")
    assert (code, err) == (2, "error: local mode is not running: run `make local`\n")


def test_protected_destroy_without_force(project, capsys):
    code, _, err = run_cli(capsys, "destroy", "--env", "prod")
    assert code == 2 and "prod is protected" in err and "ARGS='--force'" in err


def test_malformed_local_state(project, capsys):
    write_params(project, "local", {"GitHubRepository": "local/sample-app"})
    (project / ".local").mkdir()
    (project / ".local" / "state.json").write_text(json.dumps({"region": "us-east-1"}))
    with pytest.raises(UserError, match="has no endpoint_url"):
        config.resolve_environment("local")


# ---- ENV=local with a crashed service -----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def write_local_state(project, **state) -> None:
    write_params(project, "local", {"GitHubRepository": "local/sample-app"})
    (project / ".local").mkdir()
    (project / ".local" / "state.json").write_text(json.dumps({"region": "us-east-1", **state}))


@pytest.mark.parametrize("command", ["status", "why", "redeploy", "deploy", "destroy", "e2e"])
def test_local_with_a_crashed_service_says_so_before_any_call(
    project, monkeypatch, capsys, command
):
    port = closed_port()
    write_local_state(project, endpoint_url=f"http://127.0.0.1:{port}", service_pid=dead_pid())
    monkeypatch.setattr(cli, "COMMANDS", [command])
    code, out, err = run_cli(capsys, command, "--env", "local")
    assert code == 2, (out, err)
    assert err.startswith(
        f"error: local mode is not running (its service at http://127.0.0.1:{port}, pid "
    ), err
    assert err.rstrip().endswith("is gone): run `make local-down && make local`"), err
    assert "network" not in err and "Traceback" not in err


def test_local_with_a_live_pid_but_a_closed_port_is_not_running(project):
    port = closed_port()
    write_local_state(project, endpoint_url=f"http://127.0.0.1:{port}", service_pid=os.getpid())
    with pytest.raises(UserError) as caught:
        config.resolve_environment("local")
    assert str(caught.value).startswith(
        f"local mode is not running (its service at http://127.0.0.1:{port} is gone: "
    )
    assert str(caught.value).endswith("): run `make local-down && make local`")


def test_local_with_its_service_listening_resolves(project):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        write_local_state(project, endpoint_url=url, service_pid=os.getpid())
        assert config.resolve_environment("local").endpoint_url == url
