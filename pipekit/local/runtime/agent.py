"""The CodeDeploy agent's on-disk layout inside a host, reproduced because the hook scripts
(and people debugging them) rely on it:
  /opt/codedeploy-agent/deployment-root/<dg-id>/<deployment-id>/deployment-archive/  the bundle
  /opt/codedeploy-agent/deployment-root/<dg-id>/<deployment-id>/logs/scripts.log
  /opt/codedeploy-agent/deployment-root/deployment-instructions/<dg-id>_last_successful_install
  /opt/codedeploy-agent/deployment-root/deployment-instructions/<dg-id>_most_recent_install
  /opt/codedeploy-agent/deployment-root/deployment-instructions/<dg-id>-cleanup
and what the agent's lifecycle events share: the host they act on, how one of them fails, and
how the instance reads its bundle from S3 (`GetObject`; local mode passes
`pipekit.local.instance_s3.instance_get_object`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

AGENT_ROOT = PurePosixPath("/opt/codedeploy-agent/deployment-root")
INSTRUCTIONS = AGENT_ROOT / "deployment-instructions"


class HostLike(Protocol):
    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        check: bool = True,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]: ...

    def root(self) -> Path: ...


@dataclass(frozen=True)
class S3Object:
    """What S3 GetObject returned to the instance: the body and its ETag."""

    body: bytes
    etag: str
    version_id: str | None = None


class S3Error(Exception):
    """S3 refused the read: S3's error code (NoSuchKey, NoSuchBucket, AccessDenied, ...) and
    message ("The specified key does not exist."), which the agent reports as they are."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class GetObject(Protocol):
    """S3 GetObject as the instance calls it (with its instance role): bucket, key, version."""

    def __call__(self, bucket: str, key: str, version_id: str | None) -> S3Object: ...


class EventFailure(Exception):
    """One lifecycle event failed: the deployment's error code and the event's diagnostics."""

    def __init__(
        self,
        error_code: str,
        diagnostics_code: str,
        message: str,
        *,
        script: str | None = None,
        log: str = "",
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.diagnostics_code = diagnostics_code
        self.message = message
        self.script = script
        self.log = log


def host_file(host: HostLike, path: PurePosixPath | str) -> Path:
    """The file at `path` inside the host, as this machine sees it (through the host's root)."""
    return host.root() / str(path).lstrip("/")


def read_instruction(host: HostLike, name: str) -> str | None:
    path = host_file(host, INSTRUCTIONS / name)
    try:
        value = path.read_text().strip()
    except OSError:
        return None
    return value or None


def write_instruction(host: HostLike, name: str, value: str) -> None:
    path = host_file(host, INSTRUCTIONS / name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n")
