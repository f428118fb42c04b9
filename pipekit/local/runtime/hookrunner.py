"""Do what the CodeDeploy agent does for one in-place deployment on one instance (a Host).

The agent's on-disk layout (`pipekit.local.runtime.agent`) is reproduced inside the host.
Behaviour kept from aws-codedeploy-agent (`lib/instance_agent/plugins/codedeploy/`):
ApplicationStop runs the appspec and scripts of the LAST SUCCESSFUL install and is skipped on the
first deployment (hook_executor.rb); DownloadBundle reads the revision from S3 by its location
(`pipekit.local.runtime.download`); Install removes what the previous install copied, copies
the `files` honouring `file_exists_behavior` and applies `permissions`
(`pipekit.local.runtime.install`), then records this deployment as the last successful install
at once, whatever the later events do (command_executor.rb, update_last_successful_install);
each hook runs with its `timeout` (default 3600 s) as its `runas` user with the agent's
environment variables; the agent waits until the script's stdout/stderr close, so a background
process holding them runs the hook into its timeout; the first failing event fails the
deployment and the later events are skipped, except a failing ApplicationStop,
BeforeBlockTraffic or AfterBlockTraffic under `ignoreApplicationStopFailures` (recorded Failed,
the deployment goes on).

With `traffic` (a group WITH_TRAFFIC_CONTROL and target groups), the in-place events are wrapped
in BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic ... BeforeAllowTraffic, AllowTraffic,
AfterAllowTraffic. BlockTraffic and AllowTraffic are CodeDeploy's own work
(`pipekit.local.traffic`, called here so the events keep one order, one clock and one failure
rule); the Before/After events run appspec hooks like the others, Before/AfterBlockTraffic from
the last successful revision like ApplicationStop (botocore
CreateDeploymentInput.ignoreApplicationStopFailures), so they run nothing on a first deployment.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from pipekit.local.runtime.agent import (
    AGENT_ROOT,
    EventFailure,
    GetObject,
    HostLike,
    host_file,
    read_instruction,
    write_instruction,
)
from pipekit.local.runtime.appspec import (
    DEFAULT_TIMEOUT_S,
    EVENTS,
    PREVIOUS_REVISION_EVENTS,
    find_appspec,
    lifecycle_events,
    parse_appspec,
)
from pipekit.local.runtime.download import download_bundle
from pipekit.local.runtime.install import install

__all__ = ["EVENTS", "DeploymentOutcome", "LifecycleEventResult", "deploy_to_host", "parse_appspec"]

LOG_TAIL_BYTES = 4096


@dataclass
class LifecycleEventResult:
    name: str
    status: str  # Succeeded | Failed | Skipped
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    log_tail: str = ""
    diagnostics_code: str | None = None  # LifecycleErrorCode: ScriptFailed, ScriptTimedOut, ...
    script_name: str | None = None
    message: str | None = None

    @property
    def duration_s(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return (self.end - self.start).total_seconds()


@dataclass
class DeploymentOutcome:
    status: str  # Succeeded | Failed
    error_code: str | None  # ErrorInformation.code, e.g. HOOK_EXECUTION_FAILURE
    message: str | None
    events: list[LifecycleEventResult] = field(default_factory=list)
    deployment_dir: str = ""

    @property
    def log_tail(self) -> str:
        return "\n".join(e.log_tail for e in self.events if e.log_tail)[-LOG_TAIL_BYTES:]

    def event(self, name: str) -> LifecycleEventResult:
        return next(e for e in self.events if e.name == name)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _run_hooks(
    host: HostLike,
    event: str,
    archive: PurePosixPath,
    spec: dict[str, Any],
    env: dict[str, str],
    log_file: Path,
) -> str:
    """Run every script of one event; return its combined output or raise EventFailure, with
    the agent's codes and wording (hook_executor.rb, execute and execute_script)."""
    output: list[str] = []
    for entry in (spec.get("hooks") or {}).get(event) or []:
        location = str(entry["location"]).strip()
        script = archive / location.lstrip("/")
        on_disk = host_file(host, script)
        timeout = int(entry.get("timeout") or DEFAULT_TIMEOUT_S)
        runas = entry.get("runas")
        runas = str(runas).strip() if runas is not None else None
        if not on_disk.is_file():
            raise EventFailure(
                "HOOK_EXECUTION_FAILURE",
                "ScriptMissing",
                f"Script does not exist at specified location: {script}",
                script=location,
            )
        if not os.access(on_disk, os.X_OK):
            # The agent makes it executable and runs it; it fails only if that is refused.
            try:
                on_disk.chmod(on_disk.stat().st_mode | 0o111)
            except OSError:
                raise EventFailure(
                    "HOOK_EXECUTION_FAILURE",
                    "ScriptNotExecutable",
                    f"Unable to set script at specified location: {location} as executable",
                    script=location,
                ) from None
        argv = [str(script)]
        if runas and runas != "root":
            # The agent uses `sudo su <user> -c`; runuser does the same without a PAM prompt.
            argv = ["runuser", "-u", runas, "--", str(script)]
        try:
            proc = host.run(argv, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            text = _text(exc.output) + _text(exc.stderr)
            _append_log(log_file, event, location, text)
            raise EventFailure(
                "HOOK_EXECUTION_FAILURE",
                "ScriptTimedOut",
                f"Script at specified location: {location} failed to complete in {timeout} seconds",
                script=location,
                log="\n".join([*output, text]),
            ) from None
        text = _format_output(proc.stdout, proc.stderr)
        _append_log(log_file, event, location, text)
        output.append(text)
        if proc.returncode != 0:
            prefix = f"Script at specified location: {location}"
            if runas is not None:
                prefix += f" run as user {runas}"
            raise EventFailure(
                "HOOK_EXECUTION_FAILURE",
                "ScriptFailed",
                f"{prefix} failed with exit code {proc.returncode}",
                script=location,
                log="\n".join(output),
            )
    return "\n".join(output)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value or "")


def _format_output(stdout: str, stderr: str) -> str:
    lines = [f"[stdout]{line}" for line in stdout.splitlines()]
    lines += [f"[stderr]{line}" for line in stderr.splitlines()]
    return "\n".join(lines)


def _append_log(log_file: Path, event: str, location: str, text: str) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    stamp = _now().strftime("%Y-%m-%d %H:%M:%S")
    with log_file.open("a") as fh:
        fh.write(f"{stamp} LifecycleEvent - {event}\n{stamp} Script - {location}\n")
        if text:
            fh.write(text + "\n")


def deploy_to_host(
    host: HostLike,
    revision: dict[str, Any],
    *,
    get_object: GetObject,
    deployment_id: str,
    application_name: str,
    deployment_group_name: str,
    deployment_group_id: str,
    ignore_application_stop_failures: bool = False,
    file_exists_behavior: str = "DISALLOW",
    traffic: Any = None,
    instance_id: str | None = None,
    env: dict[str, str] | None = None,
    stop: Callable[[], dict[str, str] | None] | None = None,
) -> DeploymentOutcome:
    """Run one in-place deployment of `revision` (RevisionLocation-shaped) on host, event by
    event, like the agent; the bundle is read with `get_object` in DownloadBundle. `traffic`:
    CodeDeploy's BlockTraffic/AllowTraffic for `instance_id` (pipekit.local.traffic), or None.
    `env`: what the agent's environment adds for its hook processes (local mode: the instance
    role's credentials and endpoint, pipekit.local.instance_aws). `stop`: CodeDeploy's check
    before each event (the group's alarms: ErrorInformation when the deployment is stopped);
    a stopped instance's remaining events are Skipped."""
    dg_id = deployment_group_id
    deployment_dir = AGENT_ROOT / dg_id / deployment_id
    archive = deployment_dir / "deployment-archive"
    log_file = host_file(host, deployment_dir / "logs" / "scripts.log")
    last_successful = read_instruction(host, f"{dg_id}_last_successful_install")
    base_env = {
        **(env or {}),
        "DEPLOYMENT_ID": deployment_id,
        "APPLICATION_NAME": application_name,
        "DEPLOYMENT_GROUP_NAME": deployment_group_name,
        "DEPLOYMENT_GROUP_ID": dg_id,
    }
    events: list[LifecycleEventResult] = []
    spec: dict[str, Any] = {}
    failure: EventFailure | None = None

    for name in lifecycle_events(traffic is not None):
        stopped = stop() if stop is not None and failure is None else None
        if stopped is not None:
            # local: AWS documents no per-event record of a stop; the events not run are Skipped
            failure = EventFailure(stopped["code"], "UnknownError", stopped["message"])
        if failure is not None:
            events.append(LifecycleEventResult(name, "Skipped"))
            continue
        result = LifecycleEventResult(name, "Succeeded", start=_now())
        env = {**base_env, "LIFECYCLE_EVENT": name}
        try:
            if name in PREVIOUS_REVISION_EVENTS:
                result.message, output = _previous_hooks(host, name, last_successful, env, log_file)
                result.log_tail = output[-LOG_TAIL_BYTES:]
            elif name == "BlockTraffic":
                result.message = traffic.block(instance_id)
            elif name == "AllowTraffic":
                result.message = traffic.allow(instance_id)
            elif name == "DownloadBundle":
                download_bundle(
                    host,
                    revision,
                    get_object,
                    deployment_group_id=dg_id,
                    deployment_dir=deployment_dir,
                )
            elif name == "Install":
                installed = install(host, archive, spec, dg_id)
                # The agent records the last successful install when Install succeeds.
                write_instruction(host, f"{dg_id}_last_successful_install", str(deployment_dir))
                result.message = f"{len(installed)} paths installed"
            else:
                if name == "BeforeInstall":
                    spec = _load_spec(host, archive, file_exists_behavior)
                result.log_tail = _run_hooks(host, name, archive, spec, env, log_file)[
                    -LOG_TAIL_BYTES:
                ]
        except EventFailure as exc:
            result.status = "Failed"
            result.diagnostics_code = exc.diagnostics_code
            result.script_name = exc.script
            result.message = exc.message
            result.log_tail = exc.log[-LOG_TAIL_BYTES:]
            # ignoreApplicationStopFailures: CodeDeploy goes on with DownloadBundle (botocore
            # CreateDeploymentInput.ignoreApplicationStopFailures); the event stays as failed
            # as the agent reported it.
            if not (name in PREVIOUS_REVISION_EVENTS and ignore_application_stop_failures):
                failure = exc
        result.end = _now()
        events.append(result)

    if failure is not None:
        return DeploymentOutcome(
            "Failed", failure.error_code, failure.message, events, str(deployment_dir)
        )
    return DeploymentOutcome("Succeeded", None, None, events, str(deployment_dir))


def _load_spec(host: HostLike, archive: PurePosixPath, file_exists_behavior: str) -> dict[str, Any]:
    try:
        spec = parse_appspec(find_appspec(host_file(host, archive)).read_text())
    except (ValueError, yaml.YAMLError) as exc:
        raise EventFailure("INVALID_REVISION", "UnknownError", str(exc)) from None
    # The appspec's file_exists_behavior wins over the deployment's (installer.rb).
    spec["file_exists_behavior"] = spec.get("file_exists_behavior") or file_exists_behavior
    return spec


def _previous_hooks(
    host: HostLike, event: str, last_successful: str | None, env: dict[str, str], log_file: Path
) -> tuple[str, str]:
    """Run the LAST SUCCESSFUL install's scripts for `event` (ApplicationStop,
    Before/AfterBlockTraffic); (message, output)."""
    if not last_successful:
        return "no previous successful revision: nothing to run", ""
    previous_archive = PurePosixPath(last_successful) / "deployment-archive"
    try:
        # A last successful install without its archive fails here, as with the agent.
        spec = parse_appspec(find_appspec(host_file(host, previous_archive)).read_text())
    except (ValueError, yaml.YAMLError) as exc:
        raise EventFailure("INVALID_REVISION", "UnknownError", str(exc)) from None
    output = _run_hooks(host, event, previous_archive, spec, env, log_file)
    return f"ran the scripts of {last_successful}", output
