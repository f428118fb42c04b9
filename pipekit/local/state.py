"""`.local/state.json`, local mode's record of itself: the one reader and writer.

`local up` writes it step by step (`write_state`), `local down` removes it with the rest of the
state directory. The harness reads it to reach `ENV=local` (`read_state_data`: what it needs,
or a UserError saying what to run); local mode reads it whole (`read_state`: a `LocalStack`,
or None when there is none or it is not one)."""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipekit.errors import UserError
from pipekit.local.runtime.procs import pid_alive

STATE_DIR = ".local"  # under the project root, unless a caller names another
STATE_FILE = "state.json"
# Loopback answers or refuses at once; the bound only matters for an endpoint elsewhere.
CONNECT_TIMEOUT_S = 2.0
LOCAL_REGION = "us-east-1"
# moto accepts any credentials; fixed values keep the local account id stable.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class LocalStack:
    """What a running local mode offers; also the content of state.json."""

    state_dir: str
    endpoint_url: str
    region: str
    stack_name: str
    app_url: str
    app_port: int
    port: int
    control_port: int
    service_pid: int
    git_remote: str
    repository: str
    branch: str
    pipeline_name: str = ""
    seed_commit: str = ""  # the checkout's HEAD that `up` pushed to the branch
    machines: list[str] = field(default_factory=list)
    env: str = "local"  # the environment it runs: parameters/<env>.json, `ENV=<env>`

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url, **LOCAL_CREDENTIALS
        )


def default_state_dir(root: Path) -> Path:
    return root / STATE_DIR


def state_file(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def _load(state_dir: Path) -> Any:
    return json.loads(state_file(state_dir).read_text())


def read_state(state_dir: Path) -> LocalStack | None:
    try:
        return LocalStack(**_load(state_dir))
    except (OSError, ValueError, TypeError):
        return None


def read_state_data(state_dir: Path) -> dict[str, Any]:
    """The state as a dict with at least `endpoint_url`, or a UserError saying what to run."""
    path = state_file(state_dir)
    try:
        state = _load(state_dir)
    except FileNotFoundError:
        raise UserError("local mode is not running: run `make local`") from None
    except (OSError, ValueError) as exc:
        raise UserError(
            f"{path} is unreadable ({exc}): run `make local-down` then `make local`"
        ) from None
    if not isinstance(state, dict) or not state.get("endpoint_url"):
        raise UserError(f"{path} has no endpoint_url: run `make local-down` then `make local`")
    gone = service_gone(state)
    if gone:
        # decided here, before any call: a dead service otherwise surfaces as botocore's
        # EndpointConnectionError, which reads as a network problem
        raise UserError(
            f"local mode is not running (its service {gone}): run `make local-down && make local`"
        )
    return state


def service_gone(state: dict[str, Any]) -> str | None:
    """How the service a state file records is gone (its pid dead, or its endpoint refusing
    connections), or None while it serves."""
    endpoint = state["endpoint_url"]
    pid = state.get("service_pid")
    if isinstance(pid, int) and pid > 0 and not pid_alive(pid):
        return f"at {endpoint}, pid {pid}, is gone"
    where = urlsplit(endpoint)
    try:
        port = where.port or (443 if where.scheme == "https" else 80)
    except ValueError:
        return f"at {endpoint} is gone (not a URL with a port)"
    try:
        with socket.create_connection((where.hostname or "127.0.0.1", port), CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return f"at {endpoint} is gone: {exc.strerror or exc}"


def instance_urls(state: dict[str, Any], app_port: int | None = None) -> dict[str, str]:
    """Each local instance's app URL at its host's address (instance id -> URL), as the running
    service's control endpoint lists the hosts (`addresses`); {} when it does not answer."""
    import urllib.request

    port = app_port or state.get("app_port")
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{state['control_port']}/health", timeout=CONNECT_TIMEOUT_S
        ) as response:
            addresses = json.loads(response.read()).get("addresses") or {}
    except (OSError, ValueError, KeyError):
        return {}
    return {i: f"http://{a}:{port}/" for i, a in sorted(addresses.items())}


def write_state(state_dir: Path, stack: LocalStack) -> None:
    # written aside, then renamed: a reader never sees half a file
    tmp = state_dir / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(stack), indent=2) + "\n")
    tmp.replace(state_file(state_dir))
