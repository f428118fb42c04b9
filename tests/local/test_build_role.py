"""A local build's own AWS calls run as its project's service role, as on AWS: the real build
runner runs the pushed buildspec with the pinned AWS CLI (.venv-awscli) against the emulator,
signed with a session of the role (pipekit.local.rolecreds), and the emulator refuses what the
role's policies do not allow (pipekit.emulator.authn). The role is the real templates'
CodeBuildRole, created by CloudFormation from templates/iam.yaml."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pipekit.emulator import records, sessions
from pipekit.local import rolecreds
from pipekit.local.service import _build
from tests.support.engine_world import client, make_world

ROOT = Path(__file__).resolve().parents[2]
NAME = "p-role"
BUCKET = f"{NAME}-artifacts"
RUNS = itertools.count(1)


def buildspec(*commands: str) -> str:
    lines = "\n".join(f"      - {json.dumps(c)}" for c in commands)
    return (
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        f"{lines}\n"
        '      - printf %s "$COMMIT_ID" > COMMIT\n'
        "artifacts:\n  files:\n    - '**/*'\n"
    )


@pytest.fixture
def world(aws, tmp_path):
    """The engine world with the real build runner, the emulator's endpoint, and the templates'
    CodeBuildRole (NamePrefix = the world's name, so its log group and bucket are the world's)."""
    cfn = client(aws, "cloudformation")
    cfn.create_stack(
        StackName=f"{NAME}-iam",
        TemplateBody=(ROOT / "templates" / "iam.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "NamePrefix", "ParameterValue": NAME},
            {"ParameterKey": "ArtifactBucketName", "ParameterValue": BUCKET},
            {"ParameterKey": "AppConfigPath", "ParameterValue": f"/pipekit/{NAME}/app/"},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    outputs = cfn.describe_stacks(StackName=f"{NAME}-iam")["Stacks"][0]["Outputs"]
    role = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "CodeBuildRoleArn")
    records.install()
    w = make_world(aws, tmp_path, NAME, on_failure=False, auto_rollback=False, build_role=role)
    w.engine.runners.build = _build
    w.engine.runners.endpoint_url = aws.endpoint_url
    yield w, role
    records.set_controller(None)
    w.engine.close()


def run_build(w, spec: str) -> tuple[dict, str]:
    """Push a commit whose buildspec is `spec`; the build's record and its log."""
    run = str(next(RUNS))
    w.push({"buildspec.yml": spec, "run.txt": run}, f"run {run}")
    summary = w.wait_idle(timeout=120)[0]
    details = w.cp().list_action_executions(
        pipelineName=w.pipeline, filter={"pipelineExecutionId": summary["pipelineExecutionId"]}
    )["actionExecutionDetails"]
    build_action = next(d for d in details if d["stageName"] == "Build")
    build_id = build_action["output"]["executionResult"]["externalExecutionId"]
    build = client(w.emu, "codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    events = client(w.emu, "logs").get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
    )["events"]
    return build, "\n".join(e["message"] for e in events)


def test_a_build_calls_aws_as_its_role_and_is_refused_what_the_role_does_not_allow(world):
    w, role = world
    role_name = role.rsplit("/", 1)[-1]
    build, log = run_build(
        w,
        buildspec(
            "aws sts get-caller-identity --query Arn --output text",
            'aws s3api head-object --bucket "$BUCKET" --key "${CODEBUILD_SOURCE_VERSION#*:::*/}"',
        ).replace("$BUCKET", BUCKET),
    )
    assert build["buildStatus"] == "SUCCEEDED", log
    session = build["id"].split(":", 1)[1]
    assert f"arn:aws:sts::123456789012:assumed-role/{role_name}/AWSCodeBuild-{session}" in log
    assert '"ContentLength"' in log  # the role may read its input artifact (s3:GetObject)

    # the templates' CodeBuildRole has no s3:ListBucket on the artifact bucket
    build, log = run_build(w, buildspec(f"aws s3api list-objects-v2 --bucket {BUCKET}"))
    assert build["buildStatus"] == "FAILED"
    assert (
        "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: User: "
        f"arn:aws:sts::123456789012:assumed-role/{role_name}/AWSCodeBuild-"
    ) in log
    assert (
        f'is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::{BUCKET}" '
        "because no identity-based policy allows the s3:ListBucket action"
    ) in log

    # with the permission the same build lists the bucket
    client(w.emu, "iam").put_role_policy(
        RoleName=role_name,
        PolicyName="list",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:ListBucket",
                        "Resource": f"arn:aws:s3:::{BUCKET}",
                    }
                ],
            }
        ),
    )
    build, log = run_build(w, buildspec(f"aws s3api list-objects-v2 --bucket {BUCKET}"))
    assert build["buildStatus"] == "SUCCEEDED", log
    assert '"Key": ' in log


def test_a_builds_session_ends_with_the_build(world, monkeypatch):
    w, _ = world
    issued: list[str] = []
    issue = sessions.issue

    def recording_issue(*args, **kwargs):
        credentials = issue(*args, **kwargs)
        issued.append(credentials["AccessKeyId"])
        return credentials

    monkeypatch.setattr(sessions, "issue", recording_issue)
    build, log = run_build(
        w,
        buildspec(
            "echo key=$AWS_ACCESS_KEY_ID endpoint=$AWS_ENDPOINT_URL",
            'echo "python=$(command -v python3) aws=$(command -v aws)"',
        ),
    )
    assert build["buildStatus"] == "SUCCEEDED", log
    assert len(issued) == 1 and f"key={issued[0]} endpoint={w.emu.endpoint_url}" in log
    tools = next(line for line in log.splitlines() if line.startswith("python="))
    assert ".venv-awscli" not in tools.split()[0] and tools.endswith("-tools/aws"), tools
    assert sessions.lookup(issued[0]) is None and sessions.revoked(issued[0])


def test_a_build_without_the_aws_cli_fails_naming_make_setup(tmp_path):
    with pytest.raises(rolecreds.MissingTool, match=r"run `make setup`"):
        rolecreds.build_path(tmp_path / "tools", "/usr/bin", awscli_bin=tmp_path / "missing")


def test_only_the_aws_cli_comes_first_on_the_builds_path(tmp_path):
    """The CLI's venv's python3 and pip must not shadow the machine's (the buildspec's
    `python3 -m pip install` would install into the CLI's venv)."""
    path = rolecreds.build_path(tmp_path / "tools", "/usr/bin")
    assert path == f"{tmp_path / 'tools'}:/usr/bin"
    assert [p.name for p in (tmp_path / "tools").iterdir()] == ["aws"]
    assert (tmp_path / "tools" / "aws").resolve() == (rolecreds.AWSCLI_BIN / "aws").resolve()
