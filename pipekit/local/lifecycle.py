"""`local up` and `local down` as functions: the CLI, the benchmark and the test fixture share
them. Everything lives under one state directory (default `<project>/.local`):

    state.json      endpoint_url, region, app_url, ports, service pid, machines, git remote
    service.log     the service process's log
    git/<owner>/<repo>.git   the remote standing in for GitHub
    machines/<instance-id>/  the nspawn hosts' overlays (removed by down)
    work/           scratch space of builds and deployments
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from pipekit import appclient
from pipekit.cfn.parameters import read_parameter_file
from pipekit.e2e import decisions
from pipekit.errors import UserError
from pipekit.gitcmd import GitError, git
from pipekit.harness.config import LOCAL_ENVIRONMENT, PROJECT_ROOT, Environment, is_local
from pipekit.local import control, loadbalancer
from pipekit.local.gitremote import GitRemote
from pipekit.local.runtime import netns
from pipekit.local.runtime.host import cleanup_stale
from pipekit.local.runtime.procs import mounts_under, nspawn_under, pid_alive, stop_nspawn
from pipekit.local.runtime.rootfs import ensure_rootfs
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
LIVE_TIMEOUT_S = 900.0

Say = Callable[[str], None]


def _say(message: str) -> None:
    print(message, flush=True)


def default_ports() -> tuple[int, int]:
    return (
        int(os.environ.get(PORT_ENV, DEFAULT_PORT)),
        int(os.environ.get(CONTROL_PORT_ENV, DEFAULT_CONTROL_PORT)),
    )


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
    failure = decisions.failing_action(details)
    where = f" in {failure.stage}/{failure.action}: {failure.message or ''}" if failure else ""
    return (
        f"the pipeline's run {runs[0]['pipelineExecutionId'][:8]} ended {runs[0]['status']}{where}"
    )


def parameter_file(root: Path, env: str = LOCAL_ENVIRONMENT) -> Path:
    return root / "parameters" / f"{env}.json"


def _dirty(root: Path) -> bool:
    try:
        return bool(git("status", "--porcelain", "--untracked-files=no", cwd=root).strip())
    except GitError:  # not a checkout: nothing uncommitted to warn about
        return False


def port_free(port: int) -> bool:
    """Whether a server can listen on 127.0.0.1:port now. The check binds as the servers do,
    with SO_REUSEADDR (Python's HTTP servers and gunicorn set it), so the connections a stopped
    local mode leaves in TIME-WAIT for a minute do not count as taken."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def environment(stack: LocalStack, root: Path = PROJECT_ROOT) -> Environment:
    """The harness's view of a running local mode (what `ENV=local` resolves to)."""
    return Environment(
        name=stack.env,
        parameter_file=parameter_file(root, stack.env),
        stack_name=stack.stack_name,
        protected=False,
        region=stack.region,
        endpoint_url=stack.endpoint_url,
        credentials=dict(LOCAL_CREDENTIALS),
        app_url=stack.app_url,
        root=root,
        local_state=asdict(stack),
    )


def deploy_stack(
    stack: LocalStack, root: Path, overrides: dict[str, str], say: Say
) -> dict[str, str]:
    """Deploy the real templates with parameters/<env>.json through the harness deploy code."""
    import boto3

    from pipekit.harness.deploy import deploy_environment
    from pipekit.harness.session import Clients

    env = environment(stack, root)
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
    stack_name: str | None = None,
    app_port: int | None = None,
    env: str = LOCAL_ENVIRONMENT,
    say: Say = _say,
) -> LocalStack:
    """Bring local mode up for ENV=`env` (parameters/<env>.json; idempotent) and return once
    the app serves the branch's commit. One local mode runs at a time per state directory."""
    if not is_local(env):
        raise UserError(
            f"local mode runs the local environments (local, local-*), not {env!r}: "
            "`make local` or `make local ENV=local-fleet`"
        )
    state_dir = (state_dir or default_state_dir(root)).resolve()
    stack_name = stack_name or f"pipekit-{env}"
    existing = read_state(state_dir)
    if existing is not None and control.is_running(existing):
        if existing.env != env:
            raise UserError(
                f"local mode is already running ENV={existing.env} (service pid "
                f"{existing.service_pid}); one local mode runs at a time: `make local-down`, "
                f"then `make local ENV={env}`"
            )
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
        if not port_free(p):
            raise UserError(f"port {p} for the {what} is taken: set {var} to a free port")
    where = f"parameters/{env}.json"
    params = read_parameter_file(parameter_file(root, env))
    app_port = app_port or int(params.get("AppPort", "80"))
    if not port_free(app_port):
        raise UserError(f"the app port {app_port} (AppPort in {where}) is taken")
    fleet = params.get("DeploymentMode", "single") == "fleet"
    if fleet:
        loadbalancer.check_fleet(params, where)
    repository = params.get("GitHubRepository", "")
    if "/" not in repository:
        raise UserError(f"{where} needs GitHubRepository as owner/repo")
    state_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.monotonic()
    say(
        "==> Preparing the host filesystem (debootstrap: about a minute the first time, "
        "then cached)"
    )
    ensure_rootfs()
    cleanup_stale(state_dir / "machines")
    say(f"==> Starting the local AWS endpoint and pipeline service on 127.0.0.1:{port} (~2 s)")
    pid = control.start_service(
        state_dir, port, control_port, app_port, cwd=PROJECT_ROOT, load_balancer=fleet
    )
    try:
        return _bring_up(
            root, state_dir, stack_name, port, control_port, app_port, pid, params, say, t0, env
        )
    except UserError as exc:
        raise UserError(
            f"{exc}\nLocal mode is left running so you can look: `make status ENV={env}`, "
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
    env: str,
) -> LocalStack:
    repository = params["GitHubRepository"]
    branch = params.get("BranchName", "main")
    health = control.call(f"http://127.0.0.1:{control_port}", "/health")
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
        env=env,
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

    say(f"==> Deploying the templates with parameters/{env}.json (~5-20 s)")
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
        control.call(stack.control_url, "/connection", {"arn": arn, "status": "AVAILABLE"})
    asg_name = outputs.get("AutoScalingGroupName", "")
    instance_ids: list[str] = []
    if asg_name:
        groups = stack.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[asg_name]
        )["AutoScalingGroups"]
        instance_ids = [i["InstanceId"] for g in groups for i in g.get("Instances", [])]
    say(f"==> Booting {len(instance_ids)} local host(s) {', '.join(instance_ids)} (~5 s each)")
    stack.machines = control.call(stack.control_url, "/hosts", {"instance_ids": instance_ids})[
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
            f"{exc}; see `make status ENV={env}` and {state_dir / 'service.log'}"
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
            f"Watch runs:     make status ENV={stack.env}",
            "Stop it all:    make local-down",
        ]
    )


def running(state_dir: Path | None = None, root: Path = PROJECT_ROOT) -> LocalStack | None:
    """The local mode running under `state_dir` (default `<root>/.local`), if one is."""
    stack = read_state(state_dir or default_state_dir(root))
    return stack if stack is not None and control.is_running(stack) else None


def info(state_dir: Path | None = None) -> str:
    """`local info`: what `local up` printed, or a UserError when local mode is not running."""
    stack = running(state_dir)
    if stack is None:
        raise UserError("local mode is not running: run `make local`")
    return describe(stack)


def down(*, root: Path = PROJECT_ROOT, state_dir: Path | None = None, say: Say = _say) -> None:
    """Stop hosts, the service and every mount; remove the state directory."""
    state_dir = (state_dir or default_state_dir(root)).resolve()
    stack = read_state(state_dir)
    if stack is None and not state_dir.exists():
        say("Local mode is not running: nothing to stop.")
        return
    if stack is not None and pid_alive(stack.service_pid):
        say(f"==> Stopping the local service (pid {stack.service_pid}) and its hosts")
        control.stop_service(stack)
    if stack is not None:
        control.reap(stack.service_pid)
    machines = state_dir / "machines"
    removed = cleanup_stale(machines)
    if removed:
        say(f"==> Removed leftover hosts: {', '.join(removed)}")
    for pid in nspawn_under(machines):
        say(f"==> Stopping a host left running (systemd-nspawn pid {pid})")
        stop_nspawn(pid)
    for pid in loadbalancer.stop_stale(state_dir):
        say(f"==> Stopped a load balancer left running (haproxy pid {pid})")
    for mount in sorted(mounts_under(state_dir), reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    left = mounts_under(state_dir) + [f"systemd-nspawn pid {p}" for p in nspawn_under(machines)]
    left += netns.left(machines)
    left += [f"haproxy pid {p}" for p in loadbalancer.stale_processes(state_dir)]
    if stack is not None and pid_alive(stack.service_pid):
        left.append(f"service pid {stack.service_pid}")
    if left:
        raise UserError(f"could not stop everything: {', '.join(left)}")
    shutil.rmtree(state_dir, ignore_errors=True)
    say("Local mode is stopped: no process, host, mount, network namespace or load balancer left.")
