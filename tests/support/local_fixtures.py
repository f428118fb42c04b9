"""pytest fixture: one running local mode per test session, in its own state directory and on
free loopback ports, so tests never touch a user's `make local`.

    (tests/conftest.py loads it for every test)

It yields a `pipekit.local.state.LocalStack` (endpoint_url, region, stack_name, app_url,
git_remote, repository, branch, pipeline_name, state_dir, client(service)). Its teardown runs
`local down` and fails the session if a process or a mount is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipekit.local import lifecycle, loadbalancer
from pipekit.local.runtime import netns
from pipekit.local.runtime.procs import mounts_under, pid_alive
from pipekit.local.state import LocalStack

PORT_RANGE = (24000, 24999)
# what a failing test's report shows of the local mode it ran against (the state directory,
# where these live, is gone once `local down` ran)
LOGS = ("service.log", "haproxy.log")
LOG_TAIL_LINES = 60


def until(what: str, check: Callable[[], Any], timeout: float = 240.0) -> Any:
    """Poll `check` (bounded in time) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def idle(stack: LocalStack, timeout: float = 600) -> None:
    """Until no pipeline run and no deployment is active (earlier tests' pushes and rollbacks)."""
    cp, cd = stack.client("codepipeline"), stack.client("codedeploy")

    def quiet() -> bool:
        runs = cp.list_pipeline_executions(pipelineName=stack.pipeline_name, maxResults=10)
        busy = any(
            r["status"] in ("InProgress", "Stopping") for r in runs["pipelineExecutionSummaries"]
        )
        active = cd.list_deployments(
            includeOnlyStatuses=["Created", "Queued", "InProgress", "Ready"]
        )["deployments"]
        return not busy and not active

    until("local mode to be idle (no pipeline run, no deployment)", quiet, timeout)


def free_ports(count: int, lo: int = PORT_RANGE[0], hi: int = PORT_RANGE[1]) -> list[int]:
    """`count` distinct loopback ports free right now, from a random start in the range."""
    candidates = list(range(lo, hi + 1))
    start = random.randrange(len(candidates))
    found: list[int] = []
    for port in candidates[start:] + candidates[:start]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    raise RuntimeError(f"fewer than {count} free ports in {lo}-{hi}")


def _in_namespaces(proc: Path, namespaces: frozenset[str] | set[str]) -> bool:
    for link in ("ns/pid", "ns/pid_for_children"):
        with contextlib.suppress(OSError):
            if os.readlink(proc / link) in namespaces:
                return True
    return False


def _another_hosts(proc: Path, state_dir: Path) -> bool:
    """The process runs in another local mode's host: its root is a host root outside
    `state_dir`. A PID namespace's number is reused once it is gone, so a host booting for
    another test (another pytest worker) can sit in a namespace numbered as one of ours was."""
    try:
        root = os.readlink(proc / "root")
    except OSError:
        return False
    return root != "/" and not root.startswith(str(state_dir)) and Path(root).is_dir()


def host_namespaces(state_dir: Path) -> set[str]:
    """PID namespaces of the hosts running under a state directory: read them before `down`,
    so `leftovers` can check that nothing is left inside them."""
    found = set()
    for meta in (state_dir / "machines").glob("*/host.json"):
        with contextlib.suppress(OSError, ValueError):
            leader = int(json.loads(meta.read_text()).get("leader_pid") or 0)
            if leader:
                found.add(os.readlink(f"/proc/{leader}/ns/pid"))
    return found


def leftovers(
    state_dir: Path, service_pid: int, namespaces: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """What `local down` must not leave: the service process, host processes (found by their
    command line or by living in, or entering, one of the hosts' PID `namespaces`), mounts, the
    hosts' network namespaces and links, fleet mode's HAProxy."""
    problems = []
    if pid_alive(service_pid):
        problems.append(f"service pid {service_pid} still running")
    problems += [f"mount {m}" for m in mounts_under(state_dir)]
    problems += netns.left(state_dir / "machines")
    problems += [f"haproxy pid {p}" for p in loadbalancer.stale_processes(state_dir)]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(state_dir) in cmdline or (
            _in_namespaces(proc, namespaces) and not _another_hosts(proc, state_dir)
        ):
            problems.append(f"process {proc.name}: {cmdline[:120]}")
    if state_dir.exists():
        problems.append(f"state directory {state_dir} still exists")
    return problems


def start_local_stack(state_dir: Path, stack_name: str, env: str = "local") -> LocalStack:
    port, control_port, app_port = free_ports(3)
    try:
        return lifecycle.up(
            state_dir=state_dir,
            port=port,
            control_port=control_port,
            app_port=app_port,
            stack_name=stack_name,
            env=env,
        )
    except BaseException as exc:
        # `down` deletes the state directory: keep the service log beside it for the report
        log = state_dir / "service.log"
        kept = state_dir.parent / "service.log.failed"
        if log.exists():
            shutil.copy(log, kept)
        lifecycle.down(state_dir=state_dir)
        tail = (
            "\n".join(kept.read_text(errors="replace").splitlines()[-30:]) if kept.exists() else ""
        )
        raise RuntimeError(f"local up failed: {exc}\n--- {kept} (tail) ---\n{tail}") from exc


class _Shared:
    """Each test module that imports the fixture gets its own FixtureDef, hence its own session
    instance; this keeps them on one running local mode, stopped when the last one ends."""

    stack: LocalStack | None = None
    users = 0


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    if _Shared.stack is None:
        state_dir = (tmp_path_factory.mktemp("local-mode") / "state").resolve()
        _Shared.stack = start_local_stack(state_dir, "pipekit-localtest")
    stack = _Shared.stack
    _Shared.users += 1
    try:
        yield stack
    finally:
        _Shared.users -= 1
        namespaces = host_namespaces(Path(stack.state_dir))
        if _Shared.users == 0:
            _Shared.stack = None
            lifecycle.down(state_dir=Path(stack.state_dir))
    if _Shared.users == 0:
        problems = leftovers(Path(stack.state_dir), stack.service_pid, namespaces)
        assert not problems, "local down left: " + "; ".join(problems)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failing test that ran against a local mode (any fixture value that is a LocalStack)
    gets the tails of its logs in its report: a flaky failure in CI is then explained by the
    run that had it."""
    report = yield
    if report.failed and call.when in ("call", "setup"):
        funcargs = getattr(item, "funcargs", {})
        for stack in {id(v): v for v in funcargs.values() if isinstance(v, LocalStack)}.values():
            for name in LOGS:
                log = Path(stack.state_dir) / name
                with contextlib.suppress(OSError):
                    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                    report.sections.append((f"{log} (last {len(lines)} lines)", "\n".join(lines)))
    return report
