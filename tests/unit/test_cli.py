"""The harness commands as the Makefile calls them: one sentence and exit 2 for what the user
must fix, never a traceback."""

from __future__ import annotations

import json

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
