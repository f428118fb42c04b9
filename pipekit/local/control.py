"""The local service seen from outside its process: start it, call its loopback control
endpoint (`pipekit.local.service` documents the calls), tell whether it runs, stop it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipekit.errors import UserError
from pipekit.local.runtime.procs import pid_alive
from pipekit.local.state import LocalStack

START_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 60.0


def call(url: str, path: str, body: dict | None = None, timeout: float = 300) -> dict:
    """POST `body` (GET without one) to the control endpoint at `url`; its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"{}")


def is_running(stack: LocalStack) -> bool:
    if not pid_alive(stack.service_pid):
        return False
    try:
        call(stack.control_url, "/health", timeout=3)
    except (OSError, urllib.error.URLError):
        return False
    return True


def start_service(
    state_dir: Path,
    port: int,
    control_port: int,
    app_port: int,
    cwd: Path,
    load_balancer: bool = False,
) -> int:
    """Start the service in the background (its own session, logging to service.log) and
    return its pid once its control endpoint answers. `load_balancer`: fleet mode, the app port
    on loopback is the load balancer's (else the Elastic IP's)."""
    log = open(state_dir / "service.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipekit.local.service",
                "--state-dir",
                str(state_dir),
                "--port",
                str(port),
                "--control-port",
                str(control_port),
                "--app-port",
                str(app_port),
                *(["--load-balancer"] if load_balancer else []),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(cwd),
        )
    finally:
        log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(
                f"the local service exited at start (code {proc.returncode}); "
                f"see {state_dir / 'service.log'}"
            )
        try:
            call(f"http://127.0.0.1:{control_port}", "/health", timeout=2)
            return proc.pid
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    proc.terminate()
    raise UserError(f"the local service did not answer in time; see {state_dir / 'service.log'}")


def stop_service(stack: LocalStack) -> None:
    """Ask the service to shut down (it stops its hosts first); past the timeout, signal its
    whole process group."""
    with contextlib.suppress(OSError, urllib.error.URLError):
        call(stack.control_url, "/shutdown", {}, timeout=10)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S
    while pid_alive(stack.service_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(stack.service_pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.service_pid, signal.SIGTERM)
        time.sleep(3)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stack.service_pid, signal.SIGKILL)


def reap(pid: int) -> None:
    # when this process started the service (tests), its corpse stays a zombie until
    # reaped, and the host manager would take it for a live owner of the hosts
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
