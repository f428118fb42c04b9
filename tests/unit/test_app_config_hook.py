"""scripts/app_config.sh with a fake `aws` on PATH: what it asks for, what it writes, how it fails.

The script runs as the CodeDeploy agent runs it (root, bash, LIFECYCLE_EVENT set); its
directory is a temporary one through SAMPLE_APP_CONFIG_DIR (scripts/common.sh)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "app_config.sh"
PATH_PREFIX = "/pipekit/pipekit-dev/app/"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="the hook runs as root (chown root, install -o root)"
)

# Answers the way the AWS CLI does: the response JSON on stdout, or its error line on stderr
# and exit status 254 (a service error).
FAKE_AWS = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_AWS_CALLS"
if [ -n "${FAKE_AWS_ERROR:-}" ]; then
  printf '%s\\n' "$FAKE_AWS_ERROR" >&2
  exit 254
fi
cat "$FAKE_AWS_ANSWER"
"""


def parameter(name: str, value: str, kind: str = "String") -> dict:
    return {
        "Name": PATH_PREFIX + name,
        "Type": kind,
        "Value": value,
        "Version": 1,
        "ARN": f"arn:aws:ssm:us-east-1:123456789012:parameter{PATH_PREFIX}{name}",
        "DataType": "text",
    }


@pytest.fixture
def box(tmp_path: Path) -> dict:
    etc = tmp_path / "etc"
    etc.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS)
    aws.chmod(0o755)
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"Parameters": []}))
    return {"etc": etc, "bin": bin_dir, "answer": answer, "calls": tmp_path / "calls"}


def run_hook(box: dict, *, error: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{box['bin']}:{os.environ['PATH']}",
        "SAMPLE_APP_CONFIG_DIR": str(box["etc"]),
        "LIFECYCLE_EVENT": "AfterInstall",
        "FAKE_AWS_CALLS": str(box["calls"]),
        "FAKE_AWS_ANSWER": str(box["answer"]),
        "FAKE_AWS_ERROR": error,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def write_env(box: dict, text: str) -> None:
    (box["etc"] / "env").write_text(text)


def test_writes_each_parameter_as_an_upper_cased_name_root_only(box: dict) -> None:
    write_env(box, f"PORT=8080\nAPP_CONFIG_PATH={PATH_PREFIX}\nAWS_REGION=eu-west-1\n")
    box["answer"].write_text(
        json.dumps(
            {
                "Parameters": [
                    parameter("greeting", "Hello there"),
                    parameter("DB_PASSWORD", 's3cr"et $HOME `x` \\n', "SecureString"),
                ]
            }
        )
    )
    result = run_hook(box)
    assert result.returncode == 0, result.stderr + result.stdout
    calls = box["calls"].read_text().splitlines()
    assert calls == [
        f"ssm get-parameters-by-path --region eu-west-1 --path {PATH_PREFIX} "
        "--with-decryption --no-recursive --output json"
    ]
    written = box["etc"] / "config.env"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert written.stat().st_uid == 0
    lines = written.read_text().splitlines()
    assert lines == ['DB_PASSWORD="s3cr\\"et \\$HOME \\`x\\` \\\\n"', 'GREETING="Hello there"']
    # the instance's own file is left alone
    assert (box["etc"] / "env").read_text().startswith("PORT=8080\n")


def test_values_read_back_by_systemd_rules_are_the_originals(box: dict) -> None:
    """The quoting undone as systemd's EnvironmentFile parser does (a backslash inside double
    quotes escapes " \\ ` $), here by bash, whose double-quote rules are the same for these."""
    original = 'a"b\\c`d$e f'
    write_env(box, f"APP_CONFIG_PATH={PATH_PREFIX}\n")
    box["answer"].write_text(json.dumps({"Parameters": [parameter("TRICKY", original)]}))
    assert run_hook(box).returncode == 0
    line = (box["etc"] / "config.env").read_text()
    echoed = subprocess.run(
        ["bash", "-c", line.strip() + '; printf %s "$TRICKY"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert echoed == original


def test_idempotent_and_a_removed_parameter_disappears(box: dict) -> None:
    write_env(box, f"APP_CONFIG_PATH={PATH_PREFIX}\n")
    box["answer"].write_text(json.dumps({"Parameters": [parameter("A", "1"), parameter("B", "2")]}))
    assert run_hook(box).returncode == 0
    first = (box["etc"] / "config.env").read_text()
    assert run_hook(box).returncode == 0
    assert (box["etc"] / "config.env").read_text() == first
    box["answer"].write_text(json.dumps({"Parameters": [parameter("A", "1")]}))
    assert run_hook(box).returncode == 0
    assert (box["etc"] / "config.env").read_text() == 'A="1"\n'
    assert sorted(p.name for p in box["etc"].iterdir()) == ["config.env", "env"]


def test_names_that_are_no_environment_variable_are_skipped_and_said(box: dict) -> None:
    write_env(box, f"APP_CONFIG_PATH={PATH_PREFIX}\n")
    box["answer"].write_text(
        json.dumps(
            {
                "Parameters": [
                    parameter("feature.flag", "on"),
                    parameter("9LIVES", "x"),
                    parameter("MULTI", "a\nb"),
                    parameter("OK", "yes"),
                ]
            }
        )
    )
    result = run_hook(box)
    assert result.returncode == 0
    assert (box["etc"] / "config.env").read_text() == 'OK="yes"\n'
    assert f"skipping {PATH_PREFIX}feature.flag: not an environment variable name" in result.stderr
    assert f"skipping {PATH_PREFIX}MULTI: its value has several lines" in result.stderr


def test_without_a_path_no_call_and_an_empty_file(box: dict) -> None:
    """An instance whose user data predates AppConfigPath (or a first boot without one)."""
    write_env(box, "PORT=80\n")
    result = run_hook(box)
    assert result.returncode == 0, result.stderr
    assert not box["calls"].exists()
    assert (box["etc"] / "config.env").read_text() == ""
    assert "no APP_CONFIG_PATH" in result.stdout


def test_first_deploy_without_any_file(box: dict) -> None:
    shutil.rmtree(box["etc"])
    result = run_hook(box)
    assert result.returncode == 0, result.stderr
    assert (box["etc"] / "config.env").read_text() == ""


def test_access_denied_fails_the_hook_with_aws_words_and_keeps_the_old_file(box: dict) -> None:
    write_env(box, f"APP_CONFIG_PATH={PATH_PREFIX}\n")
    (box["etc"] / "config.env").write_text('OLD="kept"\n')
    denied = (
        "An error occurred (AccessDeniedException) when calling the GetParametersByPath "
        "operation: User: arn:aws:sts::123456789012:assumed-role/r/i-0 is not authorized to "
        "perform: ssm:GetParametersByPath on resource: arn:aws:ssm:us-east-1:123456789012:"
        "parameter/pipekit/pipekit-dev/app/ because no identity-based policy allows the "
        "ssm:GetParametersByPath action"
    )
    result = run_hook(box, error=denied)
    assert result.returncode != 0
    # the last line of the hook's output is AWS's sentence (what make why shows as the tail)
    assert (result.stdout + result.stderr).strip().splitlines()[-1] == denied
    assert (box["etc"] / "config.env").read_text() == 'OLD="kept"\n'
    assert sorted(p.name for p in box["etc"].iterdir()) == ["config.env", "env"]
