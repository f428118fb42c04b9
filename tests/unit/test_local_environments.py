"""ENV=local and its variants (local-fleet) resolve through local mode's state: endpoint,
credentials, app URL; a state of another local environment is refused with the way out."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipekit.errors import UserError
from pipekit.harness.config import is_local, resolve_environment


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that accepts connections (local mode's endpoint answers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def project(tmp_path: Path, port: int, env: str) -> Path:
    for name in ("local", "local-fleet", "dev"):
        (tmp_path / "parameters").mkdir(exist_ok=True)
        (tmp_path / "parameters" / f"{name}.json").write_text("[]")
    state = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "region": "us-east-1",
        "stack_name": f"pipekit-{env}",
        "env": env,
        "app_url": "http://127.0.0.1:8081",
        "service_pid": os.getpid(),
    }
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "state.json").write_text(json.dumps(state))
    return tmp_path


def test_which_environments_are_local():
    assert is_local("local") and is_local("local-fleet")
    assert not is_local("dev") and not is_local("localish")


def test_local_fleet_resolves_through_the_state(tmp_path: Path, listening: int):
    root = project(tmp_path, listening, "local-fleet")
    env = resolve_environment("local-fleet", root=root)
    assert env.stack_name == "pipekit-local-fleet"
    assert env.endpoint_url == f"http://127.0.0.1:{listening}"
    assert env.app_url == "http://127.0.0.1:8081" and env.credentials is not None
    assert resolve_environment("dev", root=root).credentials is None


def test_the_state_of_another_local_environment_is_refused(tmp_path: Path, listening: int):
    root = project(tmp_path, listening, "local")
    with pytest.raises(
        UserError,
        match=r"local mode runs ENV=local, not ENV=local-fleet .*make local ENV=local-fleet",
    ):
        resolve_environment("local-fleet", root=root)
    assert resolve_environment("local", root=root).stack_name == "pipekit-local"
