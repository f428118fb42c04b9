"""A local build's own AWS credentials and tools: on AWS every build runs with its project's
service role (CodeBuild user guide, "Allow CodeBuild to interact with other AWS services": the
build's commands call AWS as that role) and CodeBuild's images ship the AWS CLI
(aws/aws-codebuild-docker-images). Locally a build gets a session of the role issued by the
emulator (`pipekit.emulator.sessions`), which the emulator authorizes its calls as
(`pipekit.emulator.authn`), the emulator's endpoint, and the pinned AWS CLI of `.venv-awscli`
first on its PATH.

The variables are the AWS CLI's and SDKs' own: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, and `AWS_ENDPOINT_URL` (botocore >= 1.31; on AWS there is none, the
default endpoints are used). CodeBuild hands the credentials over its container credentials
endpoint instead; the CLI's credential chain reads either the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipekit.emulator import sessions
from pipekit.harness.config import PROJECT_ROOT

AWSCLI_BIN = PROJECT_ROOT / ".venv-awscli" / "bin"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


class MissingTool(RuntimeError):
    """Local mode's copy of a tool CodeBuild's images have is not installed."""


def build_path(tools_dir: Path, base: str | None = None, awscli_bin: Path = AWSCLI_BIN) -> str:
    """The build's PATH: `tools_dir` holding the AWS CLI first, then this machine's. Only `aws`
    is put there, not the venv's bin: its python3 and pip would shadow the ones the buildspec
    means (a `pip install` would land in the CLI's venv)."""
    aws = awscli_bin / "aws"
    if not aws.exists():
        raise MissingTool(
            f"the AWS CLI local builds run ({aws}) is not installed: run `make setup`"
        )
    tools_dir.mkdir(parents=True, exist_ok=True)
    link = tools_dir / "aws"
    if not link.is_symlink():
        link.symlink_to(aws)  # the script's shebang names the venv's interpreter
    rest = base if base is not None else os.environ.get("PATH", DEFAULT_PATH)
    return f"{tools_dir}:{rest}"


@contextmanager
def role_session(
    account_id: str,
    role_arn: str,
    session_name: str,
    *,
    endpoint_url: str,
    duration_s: int = sessions.DEFAULT_DURATION_S,
) -> Iterator[dict[str, str]]:
    """A session of `role_arn` for the duration of the block, as environment variables for a
    process calling AWS (the emulator at `endpoint_url`); revoked when the block ends."""
    credentials = sessions.issue(account_id, role_arn, session_name, duration_s)
    key = str(credentials["AccessKeyId"])
    try:
        env = {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": str(credentials["SecretAccessKey"]),
            "AWS_SESSION_TOKEN": str(credentials["SessionToken"]),
        }
        if endpoint_url:  # none: an engine without an emulator endpoint (fake runners)
            env["AWS_ENDPOINT_URL"] = endpoint_url
        yield env
    finally:
        sessions.revoke(key)
