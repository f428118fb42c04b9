"""`config`: settings under the stack's AppConfigPath output; each bad input one sentence, exit 2,
and no PutParameter made (Stubber: responses the botocore models accept; an unexpected call
fails the test)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipekit import cli
from pipekit.commands import config as config_command
from pipekit.errors import UserError
from pipekit.harness import config
from pipekit.harness.config_params import (
    MASK,
    list_parameters,
    rows,
    set_parameter,
    setting_name,
)
from tests.support import harness as support
from tests.support.harness import StubbedClients, env_for, make_project

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PATH = "/pipekit/pipekit-dev/app/"


@pytest.fixture
def env(tmp_path):
    return env_for(make_project(tmp_path))


def stub_stack(clients, outputs=None, exists: bool = True) -> None:
    support.stub_stack(
        clients, {"AppConfigPath": PATH} if outputs is None else outputs, exists=exists
    )


def param(name: str, value: str, kind: str = "String", version: int = 1) -> dict:
    return {
        "Name": PATH + name,
        "Type": kind,
        "Value": value,
        "Version": version,
        "LastModifiedDate": T0,
        "ARN": f"arn:aws:ssm:eu-west-1:111122223333:parameter{PATH}{name}",
        "DataType": "text",
    }


def stub_listing(clients, parameters: list[dict]) -> None:
    clients.stub("ssm").add_response(
        "get_parameters_by_path",
        {"Parameters": parameters},
        {"Path": PATH, "Recursive": False, "WithDecryption": False},
    )


@pytest.mark.parametrize("secure", [False, True])
def test_set_writes_under_the_stack_path(env, capsys, secure):
    clients = StubbedClients()
    stub_stack(clients)
    stub_listing(clients, [param("OTHER", "x")])
    kind = "SecureString" if secure else "String"
    clients.stub("ssm").add_response(
        "put_parameter",
        {"Version": 3, "Tier": "Standard"},
        {"Name": PATH + "GREETING", "Value": "Hello", "Type": kind, "Overwrite": True},
    )
    assert set_parameter(env, clients, "GREETING", "Hello", secure=secure) == PATH + "GREETING"
    clients.assert_done()
    out = capsys.readouterr().out
    shown = MASK if secure else "Hello"
    assert f"{PATH}GREETING = {shown} ({kind}, version 3)" in out
    assert "make redeploy ENV=dev" in out
    if secure:
        assert "Hello" not in out


def test_a_full_name_under_the_path_is_accepted():
    assert setting_name(PATH + "GREETING", PATH) == PATH + "GREETING"


@pytest.mark.parametrize(
    "name,words",
    [
        ("/pipekit/pipekit-prod/app/GREETING", "outside this environment's configuration path"),
        ("../GREETING", "outside this environment's configuration path"),
        ("sub/GREETING", "outside this environment's configuration path"),
        ("feature.flag", "is not an environment variable name"),
        ("9LIVES", "is not an environment variable name"),
        ("port", "PORT is the instance's own setting"),
        ("APP_CONFIG_PATH", "the instance's own setting"),
    ],
)
def test_names_the_hook_would_not_write_are_refused_and_nothing_is_put(env, name, words):
    clients = StubbedClients()
    stub_stack(clients)
    with pytest.raises(UserError, match=words):
        set_parameter(env, clients, name, "v", secure=False)
    clients.assert_done()  # no put_parameter was stubbed: none was made


@pytest.mark.parametrize(
    "value,words",
    [
        ("", "empty"),
        ("a\nb", "several lines"),
        ("x" * 4097, "at most 4096"),
        ("{{ssm:/x}}", "refuses such values"),
    ],
)
def test_bad_values_are_refused_before_any_call(env, value, words):
    clients = StubbedClients()
    with pytest.raises(UserError, match=words):
        set_parameter(env, clients, "GREETING", value, secure=False)
    clients.assert_done()


def test_a_secret_is_not_overwritten_as_plain_text(env):
    clients = StubbedClients()
    stub_stack(clients)
    stub_listing(clients, [param("DB_PASSWORD", "AQICAH...", "SecureString")])
    with pytest.raises(UserError, match="is a SecureString: set it with --secure"):
        set_parameter(env, clients, "DB_PASSWORD", "plain", secure=False)
    clients.assert_done()


def test_list_masks_secrets(env, capsys):
    clients = StubbedClients()
    stub_stack(clients)
    stub_listing(
        clients,
        [param("GREETING", "Hello"), param("DB_PASSWORD", "AQICAHciphertext", "SecureString", 2)],
    )
    found = list_parameters(env, clients)
    clients.assert_done()
    out = capsys.readouterr().out
    assert [(r.name, r.type, r.value) for r in found] == [
        ("DB_PASSWORD", "SecureString", MASK),
        ("GREETING", "String", "Hello"),
    ]
    assert "AQICAH" not in out and "Hello" in out and MASK in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_rows_keep_names_relative():
    (row,) = rows([param("A", "1", version=4)], PATH)
    assert (row.name, row.version, row.modified) == ("A", 4, "2026-12-01 08:00")


def test_list_empty_says_how_to_add_one(env, capsys):
    clients = StubbedClients()
    stub_stack(clients)
    stub_listing(clients, [])
    assert list_parameters(env, clients) == []
    assert "make config ENV=dev ARGS='set GREETING Hello'" in capsys.readouterr().out


def test_missing_stack_is_one_sentence(env):
    clients = StubbedClients()
    stub_stack(clients, exists=False)
    with pytest.raises(UserError, match="the stack pipekit-dev does not exist: deploy it"):
        list_parameters(env, clients)
    clients.assert_done()


def test_a_stack_without_the_output_says_to_update_it(env):
    clients = StubbedClients()
    stub_stack(clients, outputs={"PipelineName": "p"})
    with pytest.raises(UserError, match="has no AppConfigPath output: update it with"):
        set_parameter(env, clients, "GREETING", "x", secure=False)
    clients.assert_done()


def test_cli_unknown_environment_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "PROJECT_ROOT", make_project(tmp_path))
    monkeypatch.setattr(cli, "COMMANDS", ["config"])
    assert cli.main(["config", "--env", "staging", "set", "GREETING", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown environment 'staging'") and "Traceback" not in err


def test_cli_name_outside_the_path_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "PROJECT_ROOT", make_project(tmp_path))
    clients = StubbedClients()
    stub_stack(clients)
    monkeypatch.setattr(config_command, "clients_for", lambda env: clients)
    monkeypatch.setattr(cli, "COMMANDS", ["config"])
    assert cli.main(["config", "--env", "dev", "set", "/other/GREETING", "x", "--secure"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: '/other/GREETING' is outside this environment's configuration")
    clients.assert_done()
