"""pytest fixtures for anyone who needs the emulated AWS endpoint.

tests/conftest.py loads this module for every test, so it imports moto (through
pipekit.emulator) only inside the fixtures: tests that use neither run without moto.

`emulator` is one server per test session; `aws` resets every emulated service before the test
and hands back the Emulator, whose `.client(name)` makes boto3 clients pointed at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipekit.cfn.parameters import parameter_entries, read_parameter_file

if TYPE_CHECKING:
    from pipekit.emulator.server import Emulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def publish_templates(s3: Any, bucket: str, prefix: str, templates: Path) -> str:
    """Upload templates/*.yaml under <prefix>templates/ as a publish does; the root's URL."""
    for path in sorted(templates.glob("*.yaml")):
        s3.put_object(Bucket=bucket, Key=f"{prefix}templates/{path.name}", Body=path.read_bytes())
    return f"https://{bucket}.s3.us-east-1.amazonaws.com/{prefix}templates/root.yaml"


def local_parameters(ssm: Any, bucket: str, prefix: str, **overrides: str) -> list[dict[str, str]]:
    """parameters/local.json with what a deploy fills in: the template location, and the AMI
    read from the emulator's public parameter as pipekit.harness.ami does (and any overrides)."""
    from pipekit.harness.ami import latest_ami

    values = read_parameter_file(PROJECT_ROOT / "parameters" / "local.json")
    values.update(
        TemplateBucketName=bucket,
        TemplateKeyPrefix=prefix,
        TemplateBucketRegion="us-east-1",
        AmiId=latest_ami(ssm),
    )
    values.update(overrides)
    return parameter_entries(values)


def advance_clock(emulator: Emulator, *, days: float = 0, seconds: float = 0) -> dict[str, Any]:
    """Move the emulator's clock forward (POST /_pipekit/clock), which applies every bucket's
    lifecycle rules as S3 would by the new time; the answer: the new time, the clock's offset
    and what expired."""
    import json
    import urllib.request

    body = json.dumps({"advance_seconds": days * 86400 + seconds}).encode()
    request = urllib.request.Request(
        f"{emulator.endpoint_url}/_pipekit/clock",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    from pipekit.emulator.server import start

    server = start()
    yield server
    server.stop()


@pytest.fixture
def aws(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A clean emulator, with AWS_* variables pointing code under test (and subprocesses) at it."""
    emulator.reset()
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield emulator
    # moto's backends are process-wide: what a test leaves would be seen by later modules that
    # start their own server (a leftover pipeline watching the same branch, for one)
    emulator.reset()
