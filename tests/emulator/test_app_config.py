"""The app's configuration in the emulated Parameter Store, read with a session of the instance
role as templates/iam.yaml grants it: its own path (SecureStrings decrypted), nothing else, and
the refusal in AWS's words. Then scripts/app_config.sh itself, with the pinned AWS CLI, against
the emulator: what it writes, and how a refused read fails it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from pipekit.cfn.render import render
from pipekit.cfn.template import load_template
from pipekit.emulator import sessions
from tests.support.iam import service_role

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
REGION = "us-east-1"
MINE = "/pipekit/pipekit-t/app/"
OTHER = "/pipekit/pipekit-other/app/"
AWSCLI = ROOT / ".venv-awscli" / "bin" / "aws"


def instance_role_statements(path: str) -> list[dict]:
    """The instance role's Parameter Store statements exactly as the template renders them."""
    doc = render(
        load_template(ROOT / "templates" / "iam.yaml"),
        {"NamePrefix": "pipekit-t", "ArtifactBucketName": "pipekit-t-art", "AppConfigPath": path},
        {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT},
    )
    policies = doc["Resources"]["InstanceRole"]["Properties"]["Policies"]
    (policy,) = [p for p in policies if p["PolicyName"] == "app-config"]
    return policy["PolicyDocument"]["Statement"]


@pytest.fixture
def stored(aws):
    ssm = aws.client("ssm")
    ssm.put_parameter(Name=MINE + "GREETING", Value="Hello from SSM", Type="String")
    ssm.put_parameter(Name=MINE + "DB_PASSWORD", Value="s3cr3t", Type="SecureString")
    ssm.put_parameter(Name=OTHER + "DB_PASSWORD", Value="theirs", Type="SecureString")
    role = service_role(aws.client("iam"), "instance", ("ec2",), instance_role_statements(MINE))
    credentials = sessions.issue(ACCOUNT, role, "i-0123456789abcdef0")
    yield credentials
    sessions.revoke(credentials["AccessKeyId"])


def as_instance(aws, credentials):
    return boto3.client(
        "ssm",
        region_name=REGION,
        endpoint_url=aws.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def denied_message(action: str, resource: str) -> str:
    return (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/instance/i-0123456789abcdef0 is not "
        f"authorized to perform: {action} on resource: {resource} because no identity-based "
        f"policy allows the {action} action"
    )


def test_the_instance_reads_its_path_with_secrets_decrypted(aws, stored):
    ssm = as_instance(aws, stored)
    found = ssm.get_parameters_by_path(Path=MINE, WithDecryption=True, Recursive=False)
    values = {p["Name"]: (p["Type"], p["Value"]) for p in found["Parameters"]}
    assert values == {
        MINE + "GREETING": ("String", "Hello from SSM"),
        MINE + "DB_PASSWORD": ("SecureString", "s3cr3t"),
    }
    one = ssm.get_parameter(Name=MINE + "DB_PASSWORD", WithDecryption=True)["Parameter"]
    assert one["Value"] == "s3cr3t"
    both = ssm.get_parameters(Names=[MINE + "GREETING", MINE + "DB_PASSWORD"])
    assert len(both["Parameters"]) == 2


@pytest.mark.parametrize(
    "call,action,resource",
    [
        (
            lambda ssm: ssm.get_parameters_by_path(Path=OTHER, WithDecryption=True),
            "ssm:GetParametersByPath",
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{OTHER}",
        ),
        (
            lambda ssm: ssm.get_parameter(Name=OTHER + "DB_PASSWORD", WithDecryption=True),
            "ssm:GetParameter",
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{OTHER}DB_PASSWORD",
        ),
        (
            lambda ssm: ssm.get_parameters(Names=[MINE + "GREETING", OTHER + "DB_PASSWORD"]),
            "ssm:GetParameters",
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{OTHER}DB_PASSWORD",
        ),
    ],
)
def test_anything_outside_the_path_is_refused_in_aws_words(aws, stored, call, action, resource):
    with pytest.raises(ClientError) as caught:
        call(as_instance(aws, stored))
    error = caught.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == denied_message(action, resource)


def test_the_instance_may_not_write(aws, stored):
    with pytest.raises(ClientError) as caught:
        as_instance(aws, stored).put_parameter(
            Name=MINE + "GREETING", Value="x", Type="String", Overwrite=True
        )
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    value = aws.client("ssm").get_parameter(Name=MINE + "GREETING")["Parameter"]["Value"]
    assert value == "Hello from SSM"


# --- the hook itself -------------------------------------------------------------------------


def run_hook(aws, credentials, etc: Path, path: str) -> subprocess.CompletedProcess[str]:
    (etc / "env").write_text(f"PORT=8080\nAPP_CONFIG_PATH={path}\nAWS_REGION={REGION}\n")
    tools = etc.parent / "tools"
    tools.mkdir(exist_ok=True)
    if not (tools / "aws").exists():
        (tools / "aws").symlink_to(AWSCLI)
    env = {
        "PATH": f"{tools}:/usr/local/bin:/usr/bin:/bin",
        "SAMPLE_APP_CONFIG_DIR": str(etc),
        "LIFECYCLE_EVENT": "AfterInstall",
        # the instance role's session, as the instance's credential chain would find it
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_ENDPOINT_URL": aws.endpoint_url,
    }
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "app_config.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


needs_cli_and_root = pytest.mark.skipif(
    not AWSCLI.exists() or os.geteuid() != 0,
    reason="needs the pinned AWS CLI (make .venv-awscli/.stamp) and root (the hook chowns)",
)


@needs_cli_and_root
def test_the_hook_writes_the_instances_settings(aws, stored, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    result = run_hook(aws, stored, etc, MINE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (etc / "config.env").read_text() == ('DB_PASSWORD="s3cr3t"\nGREETING="Hello from SSM"\n')


@needs_cli_and_root
def test_a_refused_read_fails_the_hook_with_aws_words(aws, stored, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    result = run_hook(aws, stored, etc, OTHER)
    assert result.returncode != 0
    last = (result.stdout + result.stderr).strip().splitlines()[-1]
    assert last == (
        "An error occurred (AccessDeniedException) when calling the GetParametersByPath "
        "operation: "
        + denied_message(
            "ssm:GetParametersByPath", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{OTHER}"
        )
    )
    assert not (etc / "config.env").exists()
