"""Every bad input preflight guards against: its one-sentence error, and no mutating call.

The stubbed clients have only read-only responses queued (or none), so any create/update call
would fail with UnStubbedResponseError instead of the expected UserError."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from pipekit.errors import UserError
from pipekit.harness.config import resolve_environment
from pipekit.harness.preflight import parameter_problems, run_preflight
from pipekit.harness.session import clients_for
from tests.support.harness import (
    CONNECTION,
    StubbedClients,
    env_for,
    make_project,
    write_params,
)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


def identity(clients: StubbedClients) -> None:
    clients.stub("sts").add_response(
        "get_caller_identity",
        {"Account": "111122223333", "Arn": "arn:aws:iam::111122223333:user/dev", "UserId": "AID"},
    )


def connection(clients: StubbedClients, status: str, arn: str = CONNECTION) -> None:
    service = arn.split(":")[2]
    clients.stub(service, arn.split(":")[3]).add_response(
        "get_connection",
        {"Connection": {"ConnectionArn": arn, "ConnectionStatus": status}},
        {"ConnectionArn": arn},
    )


def stack(clients: StubbedClients, status: str | None) -> None:
    stub = clients.stub("cloudformation")
    if status is None:
        stub.add_client_error(
            "describe_stacks",
            "ValidationError",
            "Stack with id pipekit-dev does not exist",
            expected_params={"StackName": "pipekit-dev"},
        )
    else:
        stub.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "pipekit-dev",
                        "StackId": "arn:aws:cloudformation:eu-west-1:1:stack/pipekit-dev/x",
                        "CreationTime": "2026-01-01T00:00:00Z",
                        "StackStatus": status,
                    }
                ]
            },
            {"StackName": "pipekit-dev"},
        )


def local_failure(project_root, values, name="dev") -> str:
    """Preflight on a parameter file that must fail before any API call; returns the message."""
    if values is not None:
        write_params(project_root, name, values)
    clients = StubbedClients()  # nothing queued: any call at all would raise
    with pytest.raises(UserError) as caught:
        run_preflight(env_for(project_root, name), clients)
    assert all(not s._queue for s in clients.stubbers.values())
    return str(caught.value)


# ---- local: parameter file against the root template -----------------------------------------


def test_missing_parameter_file(project):
    (project / "parameters" / "dev.json").unlink()
    write_params(project, "qa", {"GitHubRepository": "acme/shop"})
    with pytest.raises(
        UserError, match=r"unknown environment 'dev'.*\(known environments: prod, qa\)"
    ):
        env_for(project, "dev")


def test_parameter_file_deleted_after_resolution(project):
    env = env_for(project)
    env.parameter_file.unlink()
    with pytest.raises(UserError, match=r"parameter file .*dev\.json is missing"):
        run_preflight(env, StubbedClients())


def test_malformed_json(project):
    message = local_failure(project, '[{"ParameterKey": "GitHubRepository",')
    assert "is not valid JSON" in message


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([{"ParameterKey": "GitHubRepository"}], "is missing ParameterValue"),
        ([{"Key": "GitHubRepository", "Value": "acme/shop"}], "has the unknown field 'Key'"),
        ([{"ParameterKey": "GitHubRepository", "ParameterValue": {"a": 1}}], "so quote it"),
        ([{"ParameterKey": "AppPort", "ParameterValue": 8080}], "so quote it"),
        (["GitHubRepository=acme/shop"], "must be an object with ParameterKey"),
    ],
)
def test_malformed_entries(project, entries, expected):
    message = local_failure(project, json.dumps(entries))
    assert "dev.json, entry 1 " in message and expected in message


def test_not_a_list(project):
    assert "must be a JSON list" in local_failure(project, '"GitHubRepository"')


def test_duplicate_key(project):
    entries = [{"ParameterKey": "BranchName", "ParameterValue": "main"}] * 2
    assert "entry 2 repeats the parameter BranchName" in local_failure(project, json.dumps(entries))


def test_unknown_key(project):
    message = local_failure(project, {"GitHubRepository": "acme/shop", "InstanceSize": "t3.micro"})
    assert "unknown parameter(s) InstanceSize" in message
    assert "parameters/dev.json does not fit templates/root.yaml" in message


def test_missing_required(project):
    assert "required parameter(s) GitHubRepository not set" in local_failure(
        project, {"BranchName": "main"}
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "DeploymentMode",
            "blue",
            "DeploymentMode has the invalid value 'blue': it must be one of single, fleet",
        ),
        ("FleetSize", "9", "FleetSize has the invalid value '9': it must be at most 6"),
        ("FleetSize", "0", "FleetSize has the invalid value '0': it must be at least 1"),
        ("FleetSize", "two", "'two' is not a number"),
        ("GitHubRepository", "just-a-name", "GitHubRepository has the invalid value 'just-a-name'"),
        ("BranchName", "", "BranchName has the invalid value '': it must be at least 1 char"),
        (
            "TemplateKeyPrefix",
            "pipekit",
            "TemplateKeyPrefix has the invalid value 'pipekit': it must match",
        ),
    ],
)
def test_constraint_violations(project, name, value, expected):
    values = {"GitHubRepository": "acme/shop", name: value}
    assert expected in local_failure(project, values)


def test_constraint_description_is_quoted(project):
    message = local_failure(project, {"GitHubRepository": "nope"})
    assert message.endswith("'nope': owner/repo")


def test_placeholder_repository_refused(project):
    message = local_failure(project, {"GitHubRepository": "example-org/sample-app"})
    assert "still the placeholder 'example-org/sample-app'" in message
    assert "set it to your repository" in message


def test_all_problems_reported_together(project):
    message = local_failure(project, {"Bogus": "1", "FleetSize": "99"})
    assert "Bogus" in message and "GitHubRepository not set" in message and "FleetSize" in message


def test_missing_root_template(project):
    (project / "templates" / "root.yaml").unlink()
    assert "root template" in local_failure(project, None)


def test_harness_parameters_need_not_be_in_the_file():
    definitions = {"TemplateBucketName": {"Type": "String"}, "GitHubRepository": {}}
    assert parameter_problems(definitions, {"GitHubRepository": "a/b"}) == []


# ---- environments ---------------------------------------------------------------------------


def test_local_without_state_says_run_make_local(project):
    write_params(project, "local", {"GitHubRepository": "local/sample-app"})
    with pytest.raises(UserError, match=r"local mode is not running: run `make local`"):
        resolve_environment("local", root=project)


def test_local_reads_state(project):
    write_params(project, "local", {"GitHubRepository": "local/sample-app"})
    (project / ".local").mkdir()
    with socket.socket() as service:  # the state's service must be listening
        service.bind(("127.0.0.1", 0))
        service.listen()
        url = f"http://127.0.0.1:{service.getsockname()[1]}"
        (project / ".local" / "state.json").write_text(
            json.dumps({"endpoint_url": url, "region": "us-east-1", "service_pid": os.getpid()})
        )
        env = resolve_environment("local", root=project)
    assert env.endpoint_url == url
    assert env.credentials and env.region == "us-east-1"
    assert env.stack_name == "pipekit-local" and not env.protected


def test_prod_is_protected_and_stack_name_overrides(project):
    assert env_for(project, "prod").protected
    assert env_for(project, "dev", stack_name="mine").stack_name == "mine"


# ---- credentials and region (no request is sent) ----------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")


def test_no_credentials(project, no_credentials):
    with pytest.raises(UserError, match="no AWS credentials found"):
        clients_for(env_for(project))


def test_no_region(project, no_credentials, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with pytest.raises(UserError, match="no AWS region configured"):
        clients_for(env_for(project))


# ---- read-only API checks -----------------------------------------------------------------------


def test_rejected_credentials(project):
    clients = StubbedClients()
    clients.stub("sts").add_client_error(
        "get_caller_identity",
        "ExpiredToken",
        "The security token included in the request is expired",
    )
    with pytest.raises(UserError, match=r"AWS rejected your credentials \(ExpiredToken\)"):
        run_preflight(env_for(project), clients)


def test_pending_connection_says_how_to_finish_the_handshake(project):
    clients = StubbedClients()
    identity(clients)
    connection(clients, "PENDING")
    with pytest.raises(UserError) as caught:
        run_preflight(env_for(project), clients)
    message = str(caught.value)
    assert "is PENDING" in message
    assert "https://eu-west-1.console.aws.amazon.com/codesuite/settings/connections" in message
    assert "Update pending connection" in message
    clients.assert_done()  # and no describe_stacks, let alone a change


def test_codestar_connection_uses_its_own_client(project):
    arn = "arn:aws:codestar-connections:us-east-2:111122223333:connection/ffff"
    write_params(project, "dev", {"GitHubRepository": "acme/shop", "ConnectionArn": arn})
    clients = StubbedClients()
    identity(clients)
    connection(clients, "AVAILABLE", arn)
    stack(clients, None)
    plan = run_preflight(env_for(project), clients)
    assert plan.connection_status == "AVAILABLE"
    assert "codestar-connections@us-east-2" in clients.clients
    clients.assert_done()


def test_connection_in_error(project):
    clients = StubbedClients()
    identity(clients)
    connection(clients, "ERROR")
    with pytest.raises(UserError, match="is ERROR: check it at https://"):
        run_preflight(env_for(project), clients)


def test_connection_not_found(project):
    clients = StubbedClients()
    identity(clients)
    clients.stub("codeconnections", "eu-west-1").add_client_error(
        "get_connection", "ResourceNotFoundException", "not found"
    )
    with pytest.raises(UserError, match="does not exist: fix ConnectionArn, or leave it empty"):
        run_preflight(env_for(project), clients)


def test_not_a_connection_arn(project):
    write_params(project, "dev", {"GitHubRepository": "acme/shop", "ConnectionArn": "abc"})
    clients = StubbedClients()
    identity(clients)
    with pytest.raises(UserError, match="is not a connection ARN"):
        run_preflight(env_for(project), clients)


def test_empty_connection_arn_warns_it_will_be_pending(project, capsys):
    write_params(project, "dev", {"GitHubRepository": "acme/shop"})
    clients = StubbedClients()
    identity(clients)
    stack(clients, None)
    plan = run_preflight(env_for(project), clients)
    out = capsys.readouterr().out
    assert "will create a connection, which starts PENDING" in out
    assert "account 111122223333, region eu-west-1" in out
    assert plan.change_set_type == "CREATE" and plan.connection_status is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            "ROLLBACK_COMPLETE",
            r"is ROLLBACK_COMPLETE: its first creation failed.*make destroy ENV=dev",
        ),
        ("UPDATE_IN_PROGRESS", r"is busy \(UPDATE_IN_PROGRESS\): wait for it"),
        ("UPDATE_ROLLBACK_FAILED", r"continue-update-rollback --stack-name pipekit-dev"),
        ("DELETE_FAILED", r"is DELETE_FAILED: run `make destroy ENV=dev` again"),
    ],
)
def test_stack_states_that_cannot_be_updated(project, status, expected):
    clients = StubbedClients()
    identity(clients)
    connection(clients, "AVAILABLE")
    stack(clients, status)
    with pytest.raises(UserError, match=expected):
        run_preflight(env_for(project), clients)
    clients.assert_done()


def test_rollback_complete_in_prod_offers_force(project):
    clients = StubbedClients()
    identity(clients)
    connection(clients, "AVAILABLE")
    stack(clients, "ROLLBACK_COMPLETE")
    with pytest.raises(UserError, match=r"make destroy ENV=prod ARGS='--force'"):
        run_preflight(env_for(project, "prod", stack_name="pipekit-dev"), clients)


@pytest.mark.parametrize(
    ("status", "change_set_type"),
    [
        (None, "CREATE"),
        ("REVIEW_IN_PROGRESS", "CREATE"),
        ("UPDATE_ROLLBACK_COMPLETE", "UPDATE"),
        ("CREATE_COMPLETE", "UPDATE"),
    ],
)
def test_updatable_states(project, status, change_set_type):
    clients = StubbedClients()
    identity(clients)
    connection(clients, "AVAILABLE")
    stack(clients, status)
    plan = run_preflight(env_for(project), clients)
    assert plan.change_set_type == change_set_type
    assert plan.parameters["GitHubRepository"] == "acme/shop"
    clients.assert_done()


def test_no_credentials_fails_in_seconds_from_the_command_line(project, no_credentials, tmp_path):
    """The deploy command, in a fresh interpreter as `make deploy` runs it. Timing is printed
    (see the report), not asserted: the assertion is on what the user reads."""
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "import pipekit.harness.config\n"
        f"pipekit.harness.config.PROJECT_ROOT = Path({str(project)!r})\n"
        "from pipekit import cli\n"
        "cli.COMMANDS = ['deploy']\n"
        "sys.exit(cli.main(['deploy', '--env', 'dev']))\n"
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    print(f"no-credentials deploy answered in {time.monotonic() - started:.2f}s")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no AWS credentials found"), result.stderr
    assert "Traceback" not in result.stderr


def test_the_real_root_template_refuses_a_fleet_of_one(tmp_path):
    """With FleetSize 1 a fleet's rolling update keeps 1 of MaxSize 1 in service, which Auto
    Scaling refuses on every update: the root template's Rules refuse it before anything
    changes, and preflight says so from the same rules."""
    real = Path(__file__).resolve().parents[2] / "templates" / "root.yaml"
    project = make_project(tmp_path)
    (project / "templates" / "root.yaml").write_text(real.read_text())
    values = {"GitHubRepository": "acme/shop", "DeploymentMode": "fleet", "FleetSize": "1"}
    message = local_failure(project, values)
    assert (
        "the template's Rules refuse these values: Fleet mode needs FleetSize 2 or more (with 1, "
        "every rolling update fails" in message
    )
    assert "use DeploymentMode single" in message
