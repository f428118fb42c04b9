"""`make status`: one reader behind the tables and `--output json`
(docs/schemas/status.schema.json), and tables that keep the commit and the status whole on an
80-column terminal."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from pipekit import appclient
from pipekit.harness import status
from tests.support.harness import STACK_ID, StubbedClients, env_for, make_project

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "schemas" / "status.schema.json").read_text()
)
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PIPELINE = "pipekit-dev-pipeline"
OUTPUTS = {
    "PipelineName": PIPELINE,
    "CodeDeployApplicationName": "pipekit-dev-app",
    "DeploymentGroupName": "pipekit-dev-group",
    "AppUrl": "http://203.0.113.10",
}
# (id, commit, status, trigger, type, seconds): the widest values each column meets
RUNS = [
    ("e1111111-aaaa", "a" * 40, "InProgress", "StartPipelineExecution", "STANDARD", None),
    ("e2222222-bbbb", "b" * 40, "Succeeded", "AutomatedRollback", "ROLLBACK", 3725),
    ("e3333333-cccc", "c" * 40, "Superseded", "PutActionRevision", "STANDARD", 61),
    ("e4444444-dddd", "d" * 40, "Failed", "WebhookV2", "STANDARD", 12),
]


@pytest.fixture
def env(tmp_path):
    return env_for(make_project(tmp_path))


@pytest.fixture(autouse=True)
def app_answers(monkeypatch):
    body = {"commit": "b" * 40, "build_id": "pipekit-dev-build:1", "pipeline_execution_id": "e2"}
    monkeypatch.setattr(
        appclient, "version", lambda url, timeout: (appclient.Answer(200, ""), body)
    )


@pytest.fixture
def screen(monkeypatch):
    """status's console as an 80-column terminal with no COLUMNS set (a pipe)."""
    console = Console(
        width=80, file=io.StringIO(), color_system=None, highlight=False, soft_wrap=True
    )
    monkeypatch.setattr(status, "console", console)
    return console.file


def summaries() -> list[dict]:
    out = []
    for i, (execution, commit, state, trigger, kind, seconds) in enumerate(RUNS):
        entry = {
            "pipelineExecutionId": execution,
            "status": state,
            "startTime": T0 - timedelta(minutes=10 * i),
            "lastUpdateTime": T0 - timedelta(minutes=10 * i) + timedelta(seconds=seconds or 5),
            "sourceRevisions": [{"actionName": "Source", "revisionId": commit}],
            "trigger": {"triggerType": trigger},
            "executionType": kind,
        }
        if kind == "ROLLBACK":
            entry["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": "e0000000-good"}
        out.append(entry)
    return out


def stub_everything(clients: StubbedClients, outputs: dict[str, str] = OUTPUTS) -> None:
    """A healthy stack, four runs (the newest in progress), four stages, one deployment."""
    for _ in range(2):
        clients.stub("cloudformation").add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "pipekit-dev",
                        "StackId": STACK_ID,
                        "CreationTime": T0,
                        "StackStatus": "UPDATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
                    }
                ]
            },
            {"StackName": "pipekit-dev"},
        )
    cp = clients.stub("codepipeline")
    cp.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": summaries()},
        {"pipelineName": PIPELINE, "maxResults": 5},
    )
    stages = [
        {
            "stageName": name,
            "latestExecution": {"pipelineExecutionId": "e1111111-aaaa", "status": s},
        }
        for name, s in [
            ("Source", "Succeeded"),
            ("Build", "Succeeded"),
            ("Deploy", "InProgress"),
        ]
    ] + [{"stageName": "Prune"}]
    cp.add_response("get_pipeline_state", {"pipelineName": PIPELINE, "stageStates": stages})
    cd = clients.stub("codedeploy")
    cd.add_response(
        "list_deployments",
        {"deployments": ["d-ROLLBACK1"]},
        {"applicationName": "pipekit-dev-app", "deploymentGroupName": "pipekit-dev-group"},
    )
    cd.add_response(
        "get_deployment",
        {
            "deploymentInfo": {
                "deploymentId": "d-ROLLBACK1",
                "status": "Succeeded",
                "createTime": T0,
                "startTime": T0,
                "completeTime": T0 + timedelta(seconds=42),
                "creator": "codeDeployRollback",
                "rollbackInfo": {"rollbackTriggeringDeploymentId": "d-FAILED01"},
            }
        },
        {"deploymentId": "d-ROLLBACK1"},
    )


def test_status_json_follows_the_schema(env, screen):
    clients = StubbedClients()
    stub_everything(clients)
    data = status.show_status(env, clients, output="json")
    clients.assert_done()
    printed = json.loads(screen.getvalue())
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(printed, SCHEMA)
    assert printed == json.loads(json.dumps(data))  # what was printed is the data read
    assert printed["stack"] == {
        "name": "pipekit-dev",
        "status": "UPDATE_COMPLETE",
        "last_failure": None,
    }
    runs = printed["pipeline"]["runs"]
    assert [(r["commit"], r["status"]) for r in runs] == [(c[:12], s) for _, c, s, *_ in RUNS]
    assert runs[0]["duration_s"] is None and runs[1]["duration_s"] == 3725
    assert runs[1]["type"] == "ROLLBACK to e0000000"
    assert runs[1]["started"] == (T0 - timedelta(minutes=10)).isoformat()
    assert printed["pipeline"]["stages"][-1] == {
        "name": "Prune",
        "status": "not run",
        "execution_id": "-",
        "failure": None,
    }
    assert printed["deployment_group"]["last_deployment"]["rollback_of"] == "d-FAILED01"
    assert printed["app"] == {
        "url": OUTPUTS["AppUrl"],
        "answering": True,
        "commit": "b" * 12,
        "build_id": "pipekit-dev-build:1",
        "pipeline_execution_id": "e2",
    }


def test_status_json_a_stack_with_no_outputs_yet_and_an_app_not_answering(env, screen, monkeypatch):
    monkeypatch.setattr(
        appclient, "version", lambda url, timeout: (appclient.Answer(None, "", "refused"), None)
    )
    clients = StubbedClients()
    stacks = {
        "Stacks": [
            {
                "StackName": "pipekit-dev",
                "StackId": STACK_ID,
                "CreationTime": T0,
                "StackStatus": "CREATE_IN_PROGRESS",
                "Outputs": [{"OutputKey": "AppUrl", "OutputValue": OUTPUTS["AppUrl"]}],
            }
        ]
    }
    for _ in range(2):
        clients.stub("cloudformation").add_response(
            "describe_stacks", stacks, {"StackName": "pipekit-dev"}
        )
    data = status.show_status(env, clients, output="json")
    jsonschema.validate(data, SCHEMA)
    assert data["pipeline"] is None and data["deployment_group"] is None
    assert data["app"] == {"url": OUTPUTS["AppUrl"], "answering": False, "error": "refused"}


def test_status_tables_fit_80_columns_with_commit_and_status_whole(env, screen):
    clients = StubbedClients()
    stub_everything(clients)
    status.show_status(env, clients)
    clients.assert_done()
    lines = screen.getvalue().splitlines()
    table = [line for line in lines if line.startswith("e")]
    assert len(table) == len(RUNS), lines
    for (execution, commit, state, trigger, *_), line in zip(RUNS, table, strict=True):
        assert len(line) <= 80
        assert line.split()[:3] == [execution[:8], commit[:12], state], line
        assert trigger in line  # the widest trigger name is whole too
    assert any("ROLLBACK to" in line for line in lines)
    assert "Last deployment: d-ROLLBACK1 Succeeded, in 42s, by codeDeployRollback" in lines[-2]
    assert lines[-1] == f"App: answering at {OUTPUTS['AppUrl']}: commit {'b' * 12}, build " + (
        "pipekit-dev-build:1, pipeline execution e2"
    )


def test_status_fleet_instances_with_target_health_and_served_commit(env, screen, monkeypatch):
    """Fleet mode: each instance's lifecycle state, its target health, and what it serves where
    this machine reaches it (local mode's hosts); the JSON keeps the schema."""
    from pipekit.harness.config import Environment

    group, tg = (
        "pipekit-dev-asg",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1",
    )
    urls = {"i-0aaa": "http://10.247.0.2:18090/"}
    monkeypatch.setattr(Environment, "instance_urls", lambda self: urls)
    clients = StubbedClients()
    stub_everything(clients, {**OUTPUTS, "AutoScalingGroupName": group})
    clients.stub("autoscaling").add_response(
        "describe_auto_scaling_groups",
        {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": group,
                    "MinSize": 2,
                    "MaxSize": 2,
                    "DesiredCapacity": 2,
                    "DefaultCooldown": 300,
                    "AvailabilityZones": ["us-east-1a"],
                    "HealthCheckType": "ELB",
                    "CreatedTime": T0,
                    "TargetGroupARNs": [tg],
                    "Instances": [
                        {
                            "InstanceId": i,
                            "AvailabilityZone": "us-east-1a",
                            "LifecycleState": state,
                            "HealthStatus": "Healthy",
                            "ProtectedFromScaleIn": False,
                        }
                        for i, state in (("i-0bbb", "Pending:Wait"), ("i-0aaa", "InService"))
                    ],
                }
            ]
        },
        {"AutoScalingGroupNames": [group]},
    )
    clients.stub("elbv2").add_response(
        "describe_target_health",
        {
            "TargetHealthDescriptions": [
                {"Target": {"Id": "i-0aaa", "Port": 18090}, "TargetHealth": {"State": "healthy"}}
            ]
        },
        {"TargetGroupArn": tg},
    )
    data = status.show_status(env, clients, output="json")
    clients.assert_done()
    jsonschema.validate(data, SCHEMA)
    first, second = data["instances"]
    assert (first["id"], first["lifecycle_state"]) == ("i-0aaa", "InService")
    assert first["target_health"] == {"state": "healthy", "reason": None}
    assert first["app"]["url"] == urls["i-0aaa"] and first["app"]["commit"] == "b" * 12
    assert second["target_health"] is None and second["app"] is None
    line = status.instance_line(first)
    assert "i-0aaa" in line and "target healthy" in line and "serves " + "b" * 12 in line
