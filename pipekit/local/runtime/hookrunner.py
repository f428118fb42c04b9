"""Do what the CodeDeploy agent does for one in-place deployment on one instance (a Host).

The agent's on-disk layout (`pipekit.local.runtime.agent`) is reproduced inside the host.
Behaviour kept from the agent: ApplicationStop runs the appspec and scripts of the last
SUCCESSFUL revision and is skipped on the first deployment; Install removes what the previous
install copied (the cleanup file), then copies the `files` section honouring
`file_exists_behavior` and applies `permissions` (`pipekit.local.runtime.install`); each hook
runs with its `timeout` (default 3600 s) as its `runas` user with the agent's environment
variables; the agent waits until the script's stdout/stderr close, so a background process
holding them runs the hook into its timeout; the first failing event fails the deployment and
the later events are skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from pipekit.local.runtime.agent import (
    AGENT_ROOT,
    EventFailure,
    HostLike,
    host_file,
    read_instruction,
    write_instruction,
)
from pipekit.local.runtime.install import install

EVENTS = (
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
)
AGENT_EVENTS = ("DownloadBundle", "Install")
DEFAULT_TIMEOUT_S = 3600
LOG_TAIL_BYTES = 4096
# The agent keeps this many deployment archives per group (max_revisions in its config).
MAX_REVISIONS = 5
FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")


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


def parse_appspec(text: str) -> dict[str, Any]:
    """The parts of an EC2/on-premises appspec the agent acts on, validated."""
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict):
        raise ValueError("appspec.yml is not a mapping")
    if str(spec.get("version")) != "0.0":
        raise ValueError(f"appspec version must be 0.0, got {spec.get('version')!r}")
    if spec.get("os") != "linux":
        raise ValueError(f"appspec os must be linux, got {spec.get('os')!r}")
    behavior = str(spec.get("file_exists_behavior", "DISALLOW")).upper()
    if behavior not in FILE_EXISTS_BEHAVIORS:
        raise ValueError(f"file_exists_behavior must be one of {FILE_EXISTS_BEHAVIORS}")
    spec["file_exists_behavior"] = behavior
    hooks = spec.get("hooks") or {}
    for event, entries in hooks.items():
        if event in AGENT_EVENTS or event not in EVENTS:
            raise ValueError(f"hooks: {event} is not a lifecycle event scripts can use")
        for entry in entries or []:
            if "location" not in entry:
                raise ValueError(f"hooks: {event} entry without location")
            if int(entry.get("timeout", DEFAULT_TIMEOUT_S)) > DEFAULT_TIMEOUT_S:
                raise ValueError(f"hooks: {event} timeout above {DEFAULT_TIMEOUT_S} s")
    return spec


def _unpack(bundle_zip: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with zipfile.ZipFile(bundle_zip) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            if not target.resolve().is_relative_to(dest.resolve()):
                raise ValueError(f"bundle entry escapes the archive: {info.filename}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            mode = (info.external_attr >> 16) & 0o7777
            target.chmod(mode or 0o644)


def _run_hooks(
    host: HostLike,
    event: str,
    archive: PurePosixPath,
    spec: dict[str, Any],
    env: dict[str, str],
    log_file: Path,
) -> str:
    """Run every script of one event; return its combined output or raise EventFailure."""
    output: list[str] = []
    for entry in (spec.get("hooks") or {}).get(event) or []:
        location = str(entry["location"]).lstrip("/")
        script = archive / location
        on_disk = host_file(host, script)
        timeout = float(entry.get("timeout", DEFAULT_TIMEOUT_S))
        runas = entry.get("runas")
        if not on_disk.is_file():
            raise EventFailure(
                "HOOK_EXECUTION_FAILURE",
                "ScriptMissing",
                f"Script does not exist at specified location: {script}",
                script=location,
            )
        if not os.access(on_disk, os.X_OK):
            raise EventFailure(
                "HOOK_EXECUTION_FAILURE",
                "ScriptNotExecutable",
                f"Script at specified location: {location} is not executable",
                script=location,
            )
        argv = [str(script)]
        if runas and runas != "root":
            # The agent uses `sudo su <user> -c`; runuser does the same without a PAM prompt.
            argv = ["runuser", "-u", str(runas), "--", str(script)]
        try:
            proc = host.run(argv, env=env, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            text = _text(exc.output) + _text(exc.stderr)
            _append_log(log_file, event, location, text)
            raise EventFailure(
                "HOOK_EXECUTION_FAILURE",
                "ScriptTimedOut",
                f"Script at specified location: {location} failed to complete in "
                f"{timeout:.0f} seconds",
                script=location,
                log="\n".join([*output, text]),
            ) from None
        text = _format_output(proc.stdout, proc.stderr)
        _append_log(log_file, event, location, text)
        output.append(text)
        if proc.returncode != 0:
            raise EventFailure(
                "HOOK_EXECUTION_FAILURE",
                "ScriptFailed",
                f"Script at specified location: {location} run as user {runas or 'root'} "
                f"failed with exit code {proc.returncode}",
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


def _prune_archives(host: HostLike, dg_id: str, keep: set[str]) -> None:
    group_dir = host_file(host, AGENT_ROOT / dg_id)
    dirs = sorted((d for d in group_dir.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime)
    for old in dirs[:-MAX_REVISIONS]:
        if str(AGENT_ROOT / dg_id / old.name) not in keep:
            shutil.rmtree(old, ignore_errors=True)


def deploy_to_host(
    host: HostLike,
    bundle_zip: Path,
    *,
    deployment_id: str,
    application_name: str,
    deployment_group_name: str,
    deployment_group_id: str,
    ignore_application_stop_failures: bool = False,
) -> DeploymentOutcome:
    """Run one in-place deployment of bundle_zip on host, event by event, like the agent."""
    dg_id = deployment_group_id
    deployment_dir = AGENT_ROOT / dg_id / deployment_id
    archive = deployment_dir / "deployment-archive"
    log_file = host_file(host, deployment_dir / "logs" / "scripts.log")
    last_successful = read_instruction(host, f"{dg_id}_last_successful_install")
    base_env = {
        "DEPLOYMENT_ID": deployment_id,
        "APPLICATION_NAME": application_name,
        "DEPLOYMENT_GROUP_NAME": deployment_group_name,
        "DEPLOYMENT_GROUP_ID": dg_id,
    }
    events: list[LifecycleEventResult] = []
    spec: dict[str, Any] = {}
    failure: EventFailure | None = None

    for name in EVENTS:
        if failure is not None:
            events.append(LifecycleEventResult(name, "Skipped"))
            continue
        result = LifecycleEventResult(name, "Succeeded", start=_now())
        env = {**base_env, "LIFECYCLE_EVENT": name}
        try:
            if name == "ApplicationStop":
                result.message, output = _application_stop(
                    host, last_successful, env, log_file, ignore_application_stop_failures
                )
                result.log_tail = output[-LOG_TAIL_BYTES:]
            elif name == "DownloadBundle":
                _download(host, bundle_zip, archive)
                spec = _load_spec(host, archive)
            elif name == "Install":
                write_instruction(host, f"{dg_id}_most_recent_install", str(deployment_dir))
                installed = install(host, archive, spec, dg_id)
                result.message = f"{len(installed)} paths installed"
            else:
                result.log_tail = _run_hooks(host, name, archive, spec, env, log_file)[
                    -LOG_TAIL_BYTES:
                ]
        except EventFailure as exc:
            failure = exc
            result.status = "Failed"
            result.diagnostics_code = exc.diagnostics_code
            result.script_name = exc.script
            result.message = exc.message
            result.log_tail = exc.log[-LOG_TAIL_BYTES:]
        result.end = _now()
        events.append(result)

    if failure is not None:
        return DeploymentOutcome(
            "Failed", failure.error_code, failure.message, events, str(deployment_dir)
        )
    write_instruction(host, f"{dg_id}_last_successful_install", str(deployment_dir))
    _prune_archives(host, dg_id, {str(deployment_dir), last_successful or ""})
    return DeploymentOutcome("Succeeded", None, None, events, str(deployment_dir))


def _download(host: HostLike, bundle_zip: Path, archive: PurePosixPath) -> None:
    try:
        _unpack(bundle_zip, host_file(host, archive))
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise EventFailure("INVALID_REVISION", "UnknownError", f"bad bundle: {exc}") from None


def _load_spec(host: HostLike, archive: PurePosixPath) -> dict[str, Any]:
    appspec = host_file(host, archive / "appspec.yml")
    if not appspec.is_file():
        raise EventFailure(
            "INVALID_REVISION",
            "UnknownError",
            "The CodeDeploy agent did not find an AppSpec file within the unpacked revision "
            "directory at revision-relative path appspec.yml",
        )
    try:
        return parse_appspec(appspec.read_text())
    except (ValueError, yaml.YAMLError) as exc:
        raise EventFailure("INVALID_REVISION", "UnknownError", f"appspec.yml: {exc}") from None


def _application_stop(
    host: HostLike,
    last_successful: str | None,
    env: dict[str, str],
    log_file: Path,
    ignore_failures: bool,
) -> tuple[str, str]:
    """Run the LAST SUCCESSFUL revision's ApplicationStop scripts; (message, output)."""
    if not last_successful:
        return "no previous successful revision: nothing to run", ""
    previous_archive = PurePosixPath(last_successful) / "deployment-archive"
    appspec = host_file(host, previous_archive / "appspec.yml")
    if not appspec.is_file():
        return f"previous revision {last_successful} is gone: nothing to run", ""
    try:
        spec = parse_appspec(appspec.read_text())
        output = _run_hooks(host, "ApplicationStop", previous_archive, spec, env, log_file)
    except EventFailure as exc:
        if ignore_failures:
            return "failed and ignored (ignoreApplicationStopFailures)", exc.log
        raise
    return f"ran the scripts of {last_successful}", output
