"""Shared helpers for the harness tests: a throw-away project (root template + parameter files)
and clients whose every call is checked by botocore's Stubber against the service model."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from botocore.stub import Stubber

from pipekit.harness.config import resolve_environment

ROOT_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  TemplateBucketName: {Type: String, Default: ''}
  TemplateKeyPrefix: {Type: String, Default: 'pipekit/', AllowedPattern: '^$|.*/$'}
  TemplateBucketRegion: {Type: String, Default: ''}
  DeploymentMode: {Type: String, Default: single, AllowedValues: [single, fleet]}
  FleetSize: {Type: Number, Default: 2, MinValue: 1, MaxValue: 6}
  AppPort: {Type: Number, Default: 80}
  ConnectionArn: {Type: String, Default: ''}
  GitHubRepository:
    Type: String
    AllowedPattern: '[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+'
    ConstraintDescription: owner/repo
  BranchName: {Type: String, Default: main, MinLength: 1}
Conditions:
  HasConnection: !Not [!Equals [!Ref ConnectionArn, '']]
Resources:
  Topic: {Type: AWS::SNS::Topic}
Outputs:
  AppUrl: {Value: !Sub 'http://${AWS::Region}.example'}
"""

CONNECTION = "arn:aws:codeconnections:eu-west-1:111122223333:connection/abcd-1234"
STACK_ID = "arn:aws:cloudformation:eu-west-1:111122223333:stack/pipekit-dev/11111111-2222"


def write_params(root: Path, name: str, values: dict | list | str) -> Path:
    path = root / "parameters" / f"{name}.json"
    if isinstance(values, dict):
        values = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    path.write_text(values if isinstance(values, str) else json.dumps(values))
    return path


def make_project(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "parameters").mkdir()
    (tmp_path / "templates" / "root.yaml").write_text(ROOT_TEMPLATE)
    (tmp_path / "templates" / "network.yaml").write_text("Resources: {}\n")
    write_params(tmp_path, "dev", {"GitHubRepository": "acme/shop", "ConnectionArn": CONNECTION})
    write_params(tmp_path, "prod", {"GitHubRepository": "acme/shop", "ConnectionArn": CONNECTION})
    return tmp_path


def env_for(root: Path, name: str = "dev", **kwargs):
    return resolve_environment(name, root=root, **kwargs)


def stub_stack(clients, outputs: dict[str, str], *, exists: bool = True, times: int = 2) -> None:
    """describe_stacks of pipekit-dev (UPDATE_COMPLETE, these outputs) answered `times` times
    (a command's existence check, then its outputs read), or its does-not-exist error once."""
    from datetime import UTC, datetime

    cfn = clients.stub("cloudformation")
    if not exists:
        cfn.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id pipekit-dev does not exist"
        )
        return
    stack = {
        "StackName": "pipekit-dev",
        "StackId": STACK_ID,
        "CreationTime": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
    }
    for _ in range(times):
        cfn.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "pipekit-dev"})


class StubbedClients:
    """Stands in for session.Clients: one stubbed client per (service, region)."""

    def __init__(self, region: str = "eu-west-1") -> None:
        self.region = region
        self.clients: dict[str, object] = {}
        self.stubbers: dict[str, Stubber] = {}

    def stub(self, service: str, region: str | None = None) -> Stubber:
        key = f"{service}@{region or self.region}"
        if key not in self.stubbers:
            client = boto3.client(
                service,
                region_name=region or self.region,
                aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="secret",
            )
            self.clients[key] = client
            self.stubbers[key] = Stubber(client)
            self.stubbers[key].activate()
        return self.stubbers[key]

    def __call__(self, service: str, region: str | None = None):
        self.stub(service, region)
        return self.clients[f"{service}@{region or self.region}"]

    def assert_done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()
