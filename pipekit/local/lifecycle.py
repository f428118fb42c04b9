"""`local up` and `local down` as functions: the CLI, the benchmark and the test fixture share
them. Everything lives under one state directory (default `<project>/.local`):

    state.json      endpoint_url, region, app_url, ports, service pid, machines, git remote
    service.log     the service process's log
    git/<owner>/<repo>.git   the remote standing in for GitHub
    machines/<instance-id>/  the nspawn hosts' overlays (removed by down)
    work/           scratch space of builds and deployments
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from pipekit import appclient
from pipekit.errors import UserError
from pipekit.gitcmd import GitError, git
from pipekit.harness.config import PROJECT_ROOT, Environment
from pipekit.local.gitremote import GitRemote
from pipekit.local.runtime.procs import pid_alive
from pipekit.local.state import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    LocalStack,
    default_state_dir,
    read_state,
    write_state,
)

# Fixed defaults for the user's `make local`, away from common development ports
# (LocalStack's 4566, 8000-8080, 5000...); override with these environment variables.
DEFAULT_PORT = 47_860
DEFAULT_CONTROL_PORT = 47_861
PORT_ENV = "PIPEKIT_LOCAL_PORT"
CONTROL_PORT_ENV = "PIPEKIT_LOCAL_CONTROL_PORT"
SERVICE_START_TIMEOUT_S = 60.0
LIVE_TIMEOUT_S = 900.0

Say = Callable[[str], None]


def _say(message: str) -> None:
    print(message, flush=True)


def default_ports() -> tuple[int, int]:
    return (
        int(os.environ.get(PORT_ENV, DEFAULT_PORT)),
        int(os.environ.get(CONTROL_PORT_ENV, DEFAULT_CONTROL_PORT)),
    )


def control(url: str, path: str, body: dict | None = None, timeout: float = 300) -> dict:
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
        control(stack.control_url, "/health", timeout=3)
    except (OSError, urllib.error.URLError):
        return False
    return True


def wait_live(
    app_url: str,
    commit: str,
    timeout: float,
    sleep: float = 0.25,
    failed: Callable[[], str | None] | None = None,
) -> float:
    """Seconds until the app's /version reports `commit`; raises UserError on timeout, or as
    soon as `failed()` explains why it never will."""
    start = time.monotonic()
    last_check = 0.0
    while time.monotonic() - start < timeout:
        version = appclient.version_data(app_url, timeout=2.0)
        if version and version.get("commit") == commit:
            return time.monotonic() - start
        if failed is not None and time.monotonic() - last_check > 2:
            last_check = time.monotonic()
            reason = failed()
            if reason:
                raise UserError(reason)
        time.sleep(sleep)
    raise UserError(
        f"the app at {app_url} did not serve commit {commit[:12]} within {timeout:.0f} s"
    )


def first_run_failure(stack: LocalStack) -> str | None:
    """Why the pipeline's runs so far did not deploy, once none is left in progress."""
    if not stack.pipeline_name:
        return None
    try:
        cp = stack.client("codepipeline")
        runs = cp.list_pipeline_executions(pipelineName=stack.pipeline_name)[
            "pipelineExecutionSummaries"
        ]
        if not runs or any(r["status"] in ("InProgress", "Stopping") for r in runs):
            return None
        if runs[0]["status"] == "Succeeded":
            return None
        details = cp.list_action_executions(
            pipelineName=stack.pipeline_name,
            filter={"pipelineExecutionId": runs[0]["pipelineExecutionId"]},
        )["actionExecutionDetails"]
    except Exception:  # the endpoint is ours; a hiccup here must not hide the real wait
        return None
    failed = [d for d in details if d["status"] == "Failed"]
    where = ""
    if failed:
        error = failed[0].get("output", {}).get("executionResult", {}).get("errorDetails", {})
        where = (
            f" in {failed[0]['stageName']}/{failed[0]['actionName']}: {error.get('message', '')}"
        )
    return (
        f"the pipeline's run {runs[0]['pipelineExecutionId'][:8]} ended {runs[0]['status']}{where}"
    )


def _parameters(root: Path) -> dict[str, str]:
    path = root / "parameters" / "local.json"
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    return {e["ParameterKey"]: str(e["ParameterValue"]) for e in entries}


def _start_service(state_dir: Path, port: int, control_port: int, app_port: int) -> int:
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
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(PROJECT_ROOT),
        )
    finally:
        log.close()
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(
                f"the local service exited at start (code {proc.returncode}); "
                f"see {state_dir / 'service.log'}"
            )
        try:
            control(f"http://127.0.0.1:{control_port}", "/health", timeout=2)
            return proc.pid
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    proc.terminate()
    raise UserError(f"the local service did not answer in time; see {state_dir / 'service.log'}")


def _dirty(root: Path) -> bool:
    try:
        return bool(git("status", "--porcelain", "--untracked-files=no", cwd=root).strip())
    except GitError:  # not a checkout: nothing uncommitted to warn about
        return False


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def deploy_stack(
    stack: LocalStack, root: Path, overrides: dict[str, str], say: Say
) -> dict[str, str]:
    """Deploy the real templates with parameters/local.json through the harness deploy code."""
    import boto3

    from pipekit.harness.deploy import deploy_environment
    from pipekit.harness.session import Clients

    env = Environment(
        name="local",
        parameter_file=root / "parameters" / "local.json",
        stack_name=stack.stack_name,
        protected=False,
        region=stack.region,
        endpoint_url=stack.endpoint_url,
        credentials=dict(LOCAL_CREDENTIALS),
        app_url=stack.app_url,
        root=root,
    )
    clients = Clients(
        session=boto3.Session(region_name=stack.region, **LOCAL_CREDENTIALS),
        endpoint_url=stack.endpoint_url,
    )
    _, outputs = deploy_environment(
        env,
        clients,
        overrides=overrides,
        assume_yes=True,
        interactive=False,
        ask=lambda _: True,
        interval=0.5,
    )
    return outputs


def up(
    *,
    root: Path = PROJECT_ROOT,
    state_dir: Path | None = None,
    port: int | None = None,
    control_port: int | None = None,
    stack_name: str = "pipekit-local",
    app_port: int | None = None,
    say: Say = _say,
) -> LocalStack:
    """Bring local mode up (idempotent) and return once the app serves the branch's commit."""
    state_dir = (state_dir or default_state_dir(root)).resolve()
    existing = read_state(state_dir)
    if existing is not None and is_running(existing):
        say(f"Local mode is already running (service pid {existing.service_pid}).")
        return existing
    if existing is not None:
        say("Found the remains of an earlier local mode that is not running: cleaning up first.")
        down(state_dir=state_dir, say=say)
    default_port, default_control = default_ports()
    port, control_port = port or default_port, control_port or default_control
    for p, what, var in (
        (port, "emulated AWS endpoint", PORT_ENV),
        (control_port, "control endpoint", CONTROL_PORT_ENV),
    ):
        if not _port_free(p):
            raise UserError(f"port {p} for the {what} is taken: set {var} to a free port")
    params = _parameters(root)
    app_port = app_port or int(params.get("AppPort", "80"))
    if not _port_free(app_port):
        raise UserError(f"the app port {app_port} (AppPort in parameters/local.json) is taken")
    if params.get("DeploymentMode", "single") != "single":
        raise UserError(
            "local mode runs DeploymentMode=single only: its hosts share this machine's network, "
            "so several instances cannot all listen on AppPort; set it in parameters/local.json"
        )
    repository = params.get("GitHubRepository", "")
    if "/" not in repository:
        raise UserError("parameters/local.json needs GitHubRepository as owner/repo")
    state_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.monotonic()
    say(
        "==> Preparing the host filesystem (debootstrap: about a minute the first time, "
        "then cached)"
    )
    from pipekit.local.runtime.host import cleanup_stale
    from pipekit.local.runtime.rootfs import ensure_rootfs

    ensure_rootfs()
    cleanup_stale(state_dir / "machines")
    say(f"==> Starting the local AWS endpoint and pipeline service on 127.0.0.1:{port} (~2 s)")
    pid = _start_service(state_dir, port, control_port, app_port)
    try:
        return _bring_up(
            root, state_dir, stack_name, port, control_port, app_port, pid, params, say, t0
        )
    except UserError as exc:
        raise UserError(
            f"{exc}\nLocal mode is left running so you can look: `make status ENV=local`, "
            f"{state_dir / 'service.log'}; `make local-down` stops it."
        ) from None


def _bring_up(
    root: Path,
    state_dir: Path,
    stack_name: str,
    port: int,
    control_port: int,
    app_port: int,
    pid: int,
    params: dict[str, str],
    say: Say,
    t0: float,
) -> LocalStack:
    repository = params["GitHubRepository"]
    branch = params.get("BranchName", "main")
    health = control(f"http://127.0.0.1:{control_port}", "/health")
    stack = LocalStack(
        state_dir=str(state_dir),
        endpoint_url=health["endpoint_url"],
        region=LOCAL_REGION,
        stack_name=stack_name,
        app_url=f"http://127.0.0.1:{app_port}/",
        app_port=app_port,
        port=port,
        control_port=control_port,
        service_pid=pid,
        git_remote="",
        repository=repository,
        branch=branch,
    )
    write_state(state_dir, stack)

    say(
        f"==> Creating the local git remote for {repository} (branch {branch}) "
        "from this checkout's HEAD"
    )
    remote = GitRemote(state_dir / "git")
    path = remote.create(repository, f"{stack.control_url}/push")
    try:
        commit = remote.seed(repository, root, branch)
    except GitError as exc:
        raise UserError(
            f"cannot seed the local git remote from {root} (is it a git clone with a commit?): "
            f"{exc}"
        ) from None
    if _dirty(root):
        say(
            "    note: uncommitted changes in this checkout are not in the local remote; "
            f"commit them and `git push local HEAD:{branch}` to deploy them"
        )
    stack.git_remote = str(path)
    stack.seed_commit = commit
    write_state(state_dir, stack)

    say("==> Deploying the templates with parameters/local.json (~5-20 s)")
    overrides = (
        {} if app_port == int(params.get("AppPort", "0") or 0) else {"AppPort": str(app_port)}
    )
    outputs = deploy_stack(stack, root, overrides, say)
    stack.pipeline_name = outputs.get("PipelineName", "")
    arn = outputs.get("ConnectionArn", "")
    if arn:
        say(
            f"==> Connection {arn} is PENDING, as on AWS. Local mode stands in for the console "
            "handshake and marks it AVAILABLE."
        )
        control(stack.control_url, "/connection", {"arn": arn, "status": "AVAILABLE"})
    asg_name = outputs.get("AutoScalingGroupName", "")
    instance_ids: list[str] = []
    if asg_name:
        groups = stack.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[asg_name]
        )["AutoScalingGroups"]
        instance_ids = [i["InstanceId"] for g in groups for i in g.get("Instances", [])]
    say(f"==> Booting {len(instance_ids)} local host(s) {', '.join(instance_ids)} (~5 s each)")
    stack.machines = control(stack.control_url, "/hosts", {"instance_ids": instance_ids})[
        "machines"
    ]
    write_state(state_dir, stack)
    say(
        f"==> Waiting for the pipeline's first run to deploy {commit[:12]} "
        "(build and deploy: usually 10-60 s)"
    )
    try:
        wait_live(
            stack.app_url,
            commit,
            LIVE_TIMEOUT_S,
            failed=lambda: first_run_failure(stack),
        )
    except UserError as exc:
        raise UserError(
            f"{exc}; see `make status ENV=local` and {state_dir / 'service.log'}"
        ) from None
    say(f"Local mode is up in {time.monotonic() - t0:.0f} s.")
    return stack


def describe(stack: LocalStack) -> str:
    return "\n".join(
        [
            f"App:            {stack.app_url}  (serves the local remote's {stack.branch})",
            f"AWS endpoint:   {stack.endpoint_url}  (region {stack.region}, any credentials)",
            f"Git remote:     {stack.git_remote}  (stands in for github.com/{stack.repository})",
            "Push a commit and watch it go live:",
            f"    git remote add local {stack.git_remote}   # once",
            f"    git commit ... && git push local HEAD:{stack.branch}",
            "Watch runs:     make status ENV=local",
            "Stop it all:    make local-down",
        ]
    )


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target == prefix or target.startswith(prefix + "/"):
                found.append(target)
    return found


def _nspawn_under(machines: Path) -> list[int]:
    """systemd-nspawn processes booting a root under this state's machines directory: ours."""
    prefix = str(machines.resolve()) + "/"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if (
            words
            and words[0].endswith("systemd-nspawn")
            and any(w.startswith(prefix) for w in words)
        ):
            found.append(int(proc.name))
    return found


def _stop_process(pid: int, timeout: float = 20.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)  # nspawn asks the container's systemd to power off
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def down(*, root: Path = PROJECT_ROOT, state_dir: Path | None = None, say: Say = _say) -> None:
    """Stop hosts, the service and every mount; remove the state directory."""
    state_dir = (state_dir or default_state_dir(root)).resolve()
    stack = read_state(state_dir)
    if stack is None and not state_dir.exists():
        say("Local mode is not running: nothing to stop.")
        return
    if stack is not None and pid_alive(stack.service_pid):
        say(f"==> Stopping the local service (pid {stack.service_pid}) and its hosts")
        with contextlib.suppress(OSError, urllib.error.URLError):
            control(stack.control_url, "/shutdown", {}, timeout=10)
        deadline = time.monotonic() + 60
        while pid_alive(stack.service_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(stack.service_pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(stack.service_pid, signal.SIGTERM)
            time.sleep(3)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(stack.service_pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(stack.service_pid, os.WNOHANG)
    if stack is not None:
        # when this process started the service (tests), its corpse stays a zombie until
        # reaped, and the host manager would take it for a live owner of the hosts
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(stack.service_pid, os.WNOHANG)
    from pipekit.local.runtime.host import cleanup_stale

    machines = state_dir / "machines"
    removed = cleanup_stale(machines)
    if removed:
        say(f"==> Removed leftover hosts: {', '.join(removed)}")
    for pid in _nspawn_under(machines):
        say(f"==> Stopping a host left running (systemd-nspawn pid {pid})")
        _stop_process(pid)
    for mount in sorted(_mounts_under(state_dir), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    left = _mounts_under(state_dir) + [f"systemd-nspawn pid {p}" for p in _nspawn_under(machines)]
    if stack is not None and pid_alive(stack.service_pid):
        left.append(f"service pid {stack.service_pid}")
    if left:
        raise UserError(f"could not stop everything: {', '.join(left)}")
    shutil.rmtree(state_dir, ignore_errors=True)
    say("Local mode is stopped: no process, host or mount left.")
