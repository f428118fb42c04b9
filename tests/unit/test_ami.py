"""Which AMI a deploy passes as AmiId: the latest public Amazon Linux 2023 image when the stack is
created, the stack's own image on every other update, a new one only with --update-ami. Driven
through botocore's Stubber (every request and response checked against the SSM and
CloudFormation models)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipekit.errors import UserError
from pipekit.harness.ami import PUBLIC_PARAMETER, choose_ami
from pipekit.harness.preflight import Plan
from tests.support.harness import STACK_ID, StubbedClients, env_for, make_project

OLD, NEW = "ami-0aaaaaaaaaaaaaaaa", "ami-0bbbbbbbbbbbbbbbb"


@pytest.fixture
def env(tmp_path):
    return env_for(make_project(tmp_path))


def plan(status: str | None, **parameters: str) -> Plan:
    return Plan("111122223333", "eu-west-1", {"GitHubRepository": "acme/shop", **parameters},
                status, None)  # fmt: skip


def latest(clients: StubbedClients, ami: str = NEW) -> None:
    clients.stub("ssm").add_response(
        "get_parameter",
        {"Parameter": {"Name": PUBLIC_PARAMETER, "Type": "String", "Value": ami, "Version": 9}},
        {"Name": PUBLIC_PARAMETER},
    )


def stack_parameters(clients: StubbedClients, *parameters: dict) -> None:
    stack = {
        "StackName": "pipekit-dev",
        "StackId": STACK_ID,
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "StackStatus": "UPDATE_COMPLETE",
        "Parameters": [
            {"ParameterKey": "GitHubRepository", "ParameterValue": "acme/shop"},
            *parameters,
        ],
    }
    clients.stub("cloudformation").add_response(
        "describe_stacks", {"Stacks": [stack]}, {"StackName": "pipekit-dev"}
    )


def test_a_new_stack_gets_the_latest_public_image(env):
    clients = StubbedClients()
    latest(clients)
    choice = choose_ami(clients, env, plan(None), update=False)
    assert choice.ami_id == NEW and choice.change_note() is None
    assert PUBLIC_PARAMETER in choice.describe(env)
    clients.assert_done()


def update_of_a_stack_on(env, current: str, *, update: bool):
    """choose_ami for an update of a stack whose AmiId is `current` (the latest is NEW)."""
    clients = StubbedClients()
    stack_parameters(clients, {"ParameterKey": "AmiId", "ParameterValue": current})
    latest(clients)
    choice = choose_ami(clients, env, plan("UPDATE_COMPLETE"), update=update)
    clients.assert_done()
    return choice


def test_an_update_keeps_the_stacks_image_and_says_how_to_move(env):
    choice = update_of_a_stack_on(env, OLD, update=False)
    assert choice.ami_id == OLD
    assert choice.change_note() is None  # an unrelated deploy replaces nothing
    text = choice.describe(env)
    assert f"keeping {OLD}" in text and NEW in text
    assert "make deploy ENV=dev ARGS='--update-ami'" in text


def test_update_ami_moves_to_the_latest_and_the_change_set_says_so(env):
    choice = update_of_a_stack_on(env, OLD, update=True)
    assert choice.ami_id == NEW
    assert choice.change_note() == f"replaces the instances: AMI {OLD} → {NEW}"


def test_update_ami_when_already_on_the_latest_replaces_nothing(env):
    choice = update_of_a_stack_on(env, NEW, update=True)
    assert choice.ami_id == NEW and choice.change_note() is None
    assert "already the latest" in choice.describe(env)


def test_a_stack_from_the_ssm_typed_parameter_keeps_its_resolved_image(env):
    """Before AmiId the root had LatestAmiId (an SSM-typed parameter); DescribeStacks reports
    the image it resolved to as ResolvedValue, so moving to AmiId replaces nothing."""
    clients = StubbedClients()
    stack_parameters(
        clients,
        {
            "ParameterKey": "LatestAmiId",
            "ParameterValue": PUBLIC_PARAMETER,
            "ResolvedValue": OLD,
        },
    )
    latest(clients)
    choice = choose_ami(clients, env, plan("UPDATE_COMPLETE"), update=False)
    assert choice.ami_id == OLD and choice.change_note() is None


def test_an_update_that_cannot_read_the_public_parameter_still_keeps_the_image(env):
    clients = StubbedClients()
    stack_parameters(clients, {"ParameterKey": "AmiId", "ParameterValue": OLD})
    clients.stub("ssm").add_client_error("get_parameter", "AccessDeniedException", "denied")
    choice = choose_ami(clients, env, plan("UPDATE_COMPLETE"), update=False)
    assert choice.ami_id == OLD
    assert "could not check" in choice.describe(env)


def test_a_create_that_cannot_read_the_public_parameter_is_one_sentence(env):
    clients = StubbedClients()
    clients.stub("ssm").add_client_error("get_parameter", "AccessDeniedException", "denied")
    with pytest.raises(UserError, match=r"AccessDeniedException.*ssm:GetParameter"):
        choose_ami(clients, env, plan(None), update=False)


def test_an_image_set_in_the_parameter_file_wins_and_update_ami_is_refused(env):
    clients = StubbedClients()
    stack_parameters(clients, {"ParameterKey": "AmiId", "ParameterValue": OLD})
    choice = choose_ami(clients, env, plan("UPDATE_COMPLETE", AmiId=NEW), update=False)
    assert choice.ami_id == NEW
    assert choice.change_note() == f"replaces the instances: AMI {OLD} → {NEW}"
    assert "parameters/dev.json" in choice.describe(env)
    stack_parameters(clients, {"ParameterKey": "AmiId", "ParameterValue": OLD})
    with pytest.raises(UserError, match=r"parameters/dev\.json sets AmiId"):
        choose_ami(clients, env, plan("UPDATE_COMPLETE", AmiId=NEW), update=True)
