"""Run a buildspec (version 0.2) on this machine the way CodeBuild runs it.

What is emulated, and why it matters for a buildspec that must also work in CodeBuild:
- CodeBuild's environment variables (CODEBUILD_BUILD_ID `<project>:<uuid>`, CODEBUILD_SRC_DIR,
  CODEBUILD_INITIATOR, CODEBUILD_START_TIME in ms, CODEBUILD_BUILD_SUCCEEDING, ...). Precedence:
  the buildspec's `env.variables` < the caller's variables (the pipeline action's and start-build
  overrides win over the buildspec in CodeBuild too).
- One shell for the whole build: in 0.2 a `cd` or `export` in one command is seen by the next
  command and by later phases. Each command runs in `env.shell` (default sh) started from the
  state the previous command left (exported variables and working directory).
- Phase order install, pre_build, build, post_build; a failing command ends its phase, the
  phase's `finally` block still runs. A failure in install or pre_build skips the remaining
  phases; a failure in build still runs post_build (CodeBuild's phase transitions); the artifact
  upload is attempted unless install/pre_build failed.
- `exported-variables` read after post_build; `artifacts` (files globs with `**`, base-directory,
  discard-paths) zipped with sorted entries and fixed timestamps; `reports` files collected.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
# Failure in these phases goes straight to FINALIZING (no later phases, no artifact upload).
PHASES_THAT_ABORT = ("install", "pre_build")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
SOURCE_IGNORE = (
    ".git",
    ".venv",
    ".venv-*",
    ".local",
    "build",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "taskcat_outputs",
)
COMMAND_TIMEOUT_S = 900.0


@dataclass
class PhaseResult:
    name: str  # CodeBuild phase name: INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS
    status: str  # SUCCEEDED | FAILED | SKIPPED
    duration_s: float
    message: str = ""


@dataclass
class BuildResult:
    status: str  # SUCCEEDED | FAILED
    phases: list[PhaseResult]
    artifact: Path | None
    exported_variables: dict[str, str]
    reports: dict[str, list[Path]]
    log: str
    build_id: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return sum(p.duration_s for p in self.phases)


class BuildspecError(ValueError):
    """The buildspec is not something CodeBuild would accept."""


def load_buildspec(path: Path) -> dict[str, Any]:
    spec = yaml.safe_load(path.read_text())
    if not isinstance(spec, dict):
        raise BuildspecError(f"{path}: not a mapping")
    if str(spec.get("version")) != "0.2":
        raise BuildspecError(f"{path}: version must be 0.2, got {spec.get('version')!r}")
    phases = spec.get("phases") or {}
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise BuildspecError(f"{path}: unknown phases {sorted(unknown)}")
    return spec


def codebuild_env(
    *,
    src_dir: Path,
    project: str = "sample-app-build",
    region: str = "us-east-1",
    account: str = "000000000000",
    initiator: str | None = None,
    build_number: int = 1,
    image: str = "aws/codebuild/amazonlinux-x86_64-standard:5.0",
) -> dict[str, str]:
    """The variables CodeBuild defines in every build (build-env-ref-env-vars)."""
    build_uuid = str(uuid.uuid4())
    build_id = f"{project}:{build_uuid}"
    return {
        "CODEBUILD_BUILD_ID": build_id,
        "CODEBUILD_BUILD_ARN": f"arn:aws:codebuild:{region}:{account}:build/{build_id}",
        "CODEBUILD_BUILD_NUMBER": str(build_number),
        "CODEBUILD_BUILD_IMAGE": image,
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "CODEBUILD_INITIATOR": initiator or f"codepipeline/{project}",
        "CODEBUILD_PROJECT_ARN": f"arn:aws:codebuild:{region}:{account}:project/{project}",
        "CODEBUILD_SRC_DIR": str(src_dir),
        "CODEBUILD_START_TIME": str(int(time.time() * 1000)),
        "CODEBUILD_LOG_PATH": build_uuid,
        "CODEBUILD_CI": "true",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_CACHE_DIR", "PIP_CONFIG_FILE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("LANG", "C.UTF-8")
    return env


def copy_source(source_dir: Path, dest: Path) -> None:
    """What a CODE_ZIP source artifact contains: the tree without .git and ignored build output."""
    shutil.copytree(source_dir, dest, symlinks=True, ignore=shutil.ignore_patterns(*SOURCE_IGNORE))


class _Shell:
    """Runs commands one at a time while carrying exported variables and cwd between them."""

    def __init__(self, shell: str, cwd: Path, env: dict[str, str], state_dir: Path) -> None:
        self.shell = shell
        self.cwd = cwd
        self.env = dict(env)
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def run(self, command: str, log: list[str]) -> int:
        self.count += 1
        cmd_file = self.state_dir / f"cmd-{self.count}.sh"
        env_file = self.state_dir / f"env-{self.count}"
        cwd_file = self.state_dir / f"cwd-{self.count}"
        cmd_file.write_text(command + "\n")
        # Run the command in the current shell (dot), then record what it left behind. `exit`
        # inside a command ends the shell before that: the state then stays as it was.
        wrapper = (
            f". {shlex.quote(str(cmd_file))}\n"
            "__pk_rc=$?\n"
            f"env -0 > {shlex.quote(str(env_file))}\n"
            f"pwd > {shlex.quote(str(cwd_file))}\n"
            "exit $__pk_rc\n"
        )
        log.append(f"[Container] Running command {command}")
        proc = subprocess.run(
            [self.shell, "-c", wrapper],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=COMMAND_TIMEOUT_S,
        )
        if proc.stdout:
            log.append(proc.stdout.rstrip("\n"))
        if env_file.exists():
            pairs = env_file.read_bytes().split(b"\0")
            new_env: dict[str, str] = {}
            for pair in pairs:
                if b"=" in pair:
                    key, _, value = pair.decode(errors="replace").partition("=")
                    if key not in ("PWD", "OLDPWD", "SHLVL", "_"):
                        new_env[key] = value
            self.env = new_env
            self.cwd = Path(cwd_file.read_text().strip() or self.cwd)
        return proc.returncode


def _run_block(shell: _Shell, commands: list[str], log: list[str]) -> tuple[bool, str]:
    for command in commands:
        rc = shell.run(str(command), log)
        if rc != 0:
            message = f"Error while executing command: {command}. Reason: exit status {rc}"
            log.append(f"[Container] Command did not exit successfully {command} exit status {rc}")
            return False, message
    return True, ""


def _glob_files(base: Path, patterns: list[str]) -> list[Path]:
    """CodeBuild-style globs relative to base: `**` crosses directories, files only."""
    all_files = sorted(
        p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file() or p.is_symlink()
    )
    chosen: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        pattern = pattern.removeprefix("./") if pattern not in (".", "./") else "**/*"
        regex = _glob_to_regex(pattern)
        chosen.extend(f for f in all_files if regex.fullmatch(f))
    return [base / f for f in sorted(set(chosen))]


def _glob_to_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out)


def write_zip(files: list[tuple[str, Path]], dest: Path) -> Path:
    """A reproducible zip: sorted names, fixed timestamps, unix modes kept (hooks need +x)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, path in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            mode = path.stat().st_mode
            info.external_attr = (stat.S_IFREG | (0o755 if mode & 0o111 else 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            zf.writestr(info, path.read_bytes())
    return dest


def package_artifacts(spec: dict[str, Any], src: Path, dest: Path) -> Path:
    section = spec.get("artifacts") or {}
    base = src / str(section.get("base-directory", "."))
    patterns = section.get("files") or []
    if isinstance(patterns, str):
        patterns = [patterns]
    files = _glob_files(base, patterns)
    if not files:
        raise BuildspecError(f"no artifact files matched {patterns} under {base}")
    discard = str(section.get("discard-paths", "no")).lower() in ("yes", "true")
    entries = [(f.name if discard else f.relative_to(base).as_posix(), f) for f in files]
    names = [n for n, _ in entries]
    if len(set(names)) != len(names):
        raise BuildspecError("discard-paths produced duplicate file names in the artifact")
    return write_zip(entries, dest)


def collect_reports(spec: dict[str, Any], src: Path) -> dict[str, list[Path]]:
    reports: dict[str, list[Path]] = {}
    for group, section in (spec.get("reports") or {}).items():
        section = section or {}
        base = src / str(section.get("base-directory", "."))
        patterns = section.get("files") or []
        reports[group] = _glob_files(base, patterns) if base.is_dir() else []
    return reports


def run_build(
    source_dir: Path,
    work_dir: Path,
    env: dict[str, str],
    buildspec: Path | None = None,
    *,
    project: str = "sample-app-build",
) -> BuildResult:
    """Copy source_dir into work_dir/src and run its buildspec there; the zip lands in work_dir."""
    work_dir.mkdir(parents=True, exist_ok=True)
    src = work_dir / "src"
    shutil.rmtree(src, ignore_errors=True)
    copy_source(source_dir, src)
    spec = load_buildspec(buildspec or src / "buildspec.yml")
    env_section = spec.get("env") or {}
    shell_name = str(env_section.get("shell", "sh"))
    shell_path = shutil.which(shell_name) or shell_name

    full_env = _base_env()
    full_env.update(codebuild_env(src_dir=src, project=project))
    full_env.update({str(k): str(v) for k, v in (env_section.get("variables") or {}).items()})
    full_env.update(env)
    build_id = full_env["CODEBUILD_BUILD_ID"]
    shell = _Shell(shell_path, src, full_env, work_dir / "shell-state")

    log: list[str] = [f"[Container] Build {build_id} in {src}"]
    for key in ("parameter-store", "secrets-manager"):
        if env_section.get(key):
            # Resolving these needs SSM/Secrets Manager: pass the values in `env` instead.
            log.append(f"[Container] env.{key} is not resolved locally; variables left unset")
    runtimes = ((spec.get("phases") or {}).get("install") or {}).get("runtime-versions")
    if runtimes:
        log.append(f"[Container] runtime-versions {runtimes}: using this machine's PATH")
    phases: list[PhaseResult] = []
    succeeding = True
    aborted = False
    for name in PHASES:
        section = (spec.get("phases") or {}).get(name)
        if aborted:
            phases.append(PhaseResult(name.upper(), "SKIPPED", 0.0))
            continue
        started = time.monotonic()
        if section is None:
            phases.append(PhaseResult(name.upper(), "SUCCEEDED", 0.0))
            continue
        log.append(f"[Container] Entering phase {name.upper()}")
        shell.env["CODEBUILD_BUILD_SUCCEEDING"] = "1" if succeeding else "0"
        ok, message = _run_block(shell, list(section.get("commands") or []), log)
        if section.get("finally"):
            fin_ok, fin_message = _run_block(shell, list(section["finally"]), log)
            if ok and not fin_ok:
                ok, message = fin_ok, fin_message
        status = "SUCCEEDED" if ok else "FAILED"
        log.append(f"[Container] Phase complete: {name.upper()} State: {status}")
        phases.append(PhaseResult(name.upper(), status, time.monotonic() - started, message))
        if not ok:
            succeeding = False
            on_failure = str(section.get("on-failure", "ABORT")).upper()
            if name in PHASES_THAT_ABORT and on_failure != "CONTINUE":
                aborted = True

    exported = {
        name: shell.env.get(name, "")
        for name in (env_section.get("exported-variables") or [])
        if not str(name).startswith("AWS_")
    }
    reports = collect_reports(spec, src)

    artifact: Path | None = None
    if not aborted and spec.get("artifacts"):
        started = time.monotonic()
        try:
            artifact = package_artifacts(spec, src, work_dir / "artifact.zip")
            phases.append(PhaseResult("UPLOAD_ARTIFACTS", "SUCCEEDED", time.monotonic() - started))
        except (BuildspecError, OSError) as exc:
            succeeding = False
            log.append(f"[Container] UPLOAD_ARTIFACTS failed: {exc}")
            phases.append(
                PhaseResult("UPLOAD_ARTIFACTS", "FAILED", time.monotonic() - started, str(exc))
            )
    status = "SUCCEEDED" if succeeding else "FAILED"
    log.append(f"[Container] Build {status}")
    return BuildResult(
        status=status,
        phases=phases,
        artifact=artifact,
        exported_variables=exported,
        reports=reports,
        log="\n".join(log),
        build_id=build_id,
        env=shell.env,
    )


def artifact_names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()
