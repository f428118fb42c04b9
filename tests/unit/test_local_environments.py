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
from pipekit.harness.config import is_local_environment, read_local_state, resolve_environment


@pytest.fixture
def listening() -> Iterator[int]:
    """A port that accepts connections (local mode's endpoint answers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def project(tmp_path: Path, port: int, stack: str) -> Path:
    for env in ("local", "local-fleet", "dev"):
        (tmp_path / "parameters").mkdir(exist_ok=True)
        (tmp_path / "parameters" / f"{env}.json").write_text("[]")
    state = {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "region": "us-east-1",
        "stack_name": stack,
        "app_url": "http://127.0.0.1:8081",
        "service_pid": os.getpid(),
    }
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "state.json").write_text(json.dumps(state))
    return tmp_path


def test_which_environments_are_local():
    assert is_local_environment("local") and is_local_environment("local-fleet")
    assert not is_local_environment("dev") and not is_local_environment("localish")


def test_local_fleet_resolves_through_the_state(tmp_path: Path, listening: int):
    root = project(tmp_path, listening, "pipekit-local-fleet")
    env = resolve_environment("local-fleet", root=root)
    assert env.stack_name == "pipekit-local-fleet"
    assert env.endpoint_url == f"http://127.0.0.1:{listening}"
    assert env.app_url == "http://127.0.0.1:8081" and env.credentials is not None
    assert resolve_environment("dev", root=root).credentials is None


def test_the_state_of_another_local_environment_is_refused(tmp_path: Path, listening: int):
    root = project(tmp_path, listening, "pipekit-local")
    with pytest.raises(
        UserError,
        match=r"runs stack pipekit-local, not pipekit-local-fleet.*"
        r"make local ENV=local-fleet",
    ):
        resolve_environment("local-fleet", root=root)
    assert read_local_state(root, "local")["stack_name"] == "pipekit-local"
    # --stack-name names the stack the state must hold
    assert resolve_environment("local-fleet", root=root, stack_name="pipekit-local").app_url
