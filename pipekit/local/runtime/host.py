"""A real systemd Linux host on this machine: systemd-nspawn booting a cached Debian root.

The root filesystem is built once (`pipekit.local.runtime.rootfs`); every host gets its own
writable overlay on top of it, so booting a fresh host costs a mount, not a copy. Each host boots
in a network namespace of its own (`pipekit.local.runtime.netns`), as an instance has its own
network: a service listening on port P inside it answers on `host.address`:P, from this machine
only, and every host can use the same P.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from pipekit.errors import UserError
from pipekit.local.runtime import netns
from pipekit.local.runtime.procs import (
    children,
    cmdline,
    kill_pid_namespace,
    pid_alive,
    pid_namespace,
    stop_nspawn,
    umount,
)
from pipekit.local.runtime.rootfs import check_tools, ensure_rootfs

BOOT_TIMEOUT_S = 60.0
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Host:
    """One booted container. Commands run inside it through nsenter into its PID 1."""

    def __init__(
        self,
        name: str,
        state_dir: Path,
        nspawn: subprocess.Popen[bytes],
        network: netns.Network,
    ) -> None:
        self.name = name
        self.network = network
        self.state_dir = state_dir
        self._dir = state_dir / name
        self._nspawn = nspawn
        self.leader_pid: int | None = None
        self._stopped = False

    def root(self) -> Path:
        return self._dir / "root"

    @property
    def address(self) -> str:
        """Where this machine reaches the host (its eth0)."""
        return self.network.address

    @property
    def console_log(self) -> Path:
        return self._dir / "console.log"

    def _nsenter(self, argv: list[str], env: dict[str, str] | None) -> list[str]:
        if self.leader_pid is None:
            raise RuntimeError(f"host {self.name} is not running")
        full_env = {"PATH": CONTAINER_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        full_env.update(env or {})
        return [
            "nsenter",
            f"--target={self.leader_pid}",
            "--mount",
            "--net",
            "--uts",
            "--ipc",
            "--pid",
            "--root",
            "--",
            "/usr/bin/env",
            "--chdir=/",
            "-i",
            *(f"{k}={v}" for k, v in full_env.items()),
            *argv,
        ]

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        check: bool = True,
        input: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside the host as root; stdout/stderr captured as text.

        On timeout the whole process group is killed and subprocess.TimeoutExpired is raised.
        """
        proc = subprocess.Popen(
            self._nsenter(argv, env),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(
                argv, timeout or 0, output=out.decode(errors="replace"), stderr=err
            ) from None
        result = subprocess.CompletedProcess(
            argv, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, argv, result.stdout, result.stderr
            )
        return result

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write a file inside the host (as root); parent directories are created.

        Written from inside, not through root(): /tmp and /run are mounts of the container's
        own that the overlay on disk does not see.
        """
        script = (
            'mkdir -p "$(dirname "$1")" && cat > "$1.pipekit-tmp"'
            ' && chmod "$2" "$1.pipekit-tmp" && mv -f "$1.pipekit-tmp" "$1"'
        )
        self.run(["sh", "-c", script, "sh", path, f"{mode:o}"], input=data, timeout=60)

    def system_state(self) -> str:
        res = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
        return res.stdout.strip()

    def _wait_booted(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise UserError(
                    f"host {self.name} exited while booting; see {self.console_log}:\n"
                    + _tail(self.console_log)
                )
            if self.leader_pid is None:
                kids = children(self._nspawn.pid)
                if kids and "nspawn" not in cmdline(kids[0]):
                    self.leader_pid = kids[0]
            if self.leader_pid is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    state = self.system_state()
                    if state in ("running", "degraded"):
                        return
            time.sleep(0.2)
        raise UserError(
            f"host {self.name} did not finish booting in {BOOT_TIMEOUT_S:.0f} s; "
            f"see {self.console_log}"
        )

    def stop(self) -> None:
        """Shut the container down and remove its overlay; safe to call more than once."""
        if self._stopped:
            return
        namespace = pid_namespace(self.leader_pid)
        stop_nspawn(self._nspawn.pid, self._nspawn)
        kill_pid_namespace(namespace)
        netns.remove(self.state_dir, self.name)
        umount(self.root())
        shutil.rmtree(self._dir, ignore_errors=True)
        self._stopped = True

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _make_root(base: Path, root: Path, upper: Path, work: Path) -> str:
    """The host's writable root: an overlay on the cached base (instant), or a copy (~2 s for
    the 260 MB base) where overlayfs is unavailable, e.g. when state_dir is itself on overlayfs."""
    mount = subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={base},upperdir={upper},workdir={work}",
            str(root),
        ],
        capture_output=True,
        text=True,
    )
    if mount.returncode == 0:
        return "overlay"
    root.rmdir()
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    return "copy"


def boot_host(
    name: str,
    *,
    app_port: int,
    state_dir: Path,
    cache_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    bind_ro: tuple[tuple[Path, str], ...] = (),
) -> Host:
    """Boot a fresh host named `name` with /etc/sample-app/env holding PORT=app_port and the
    other settings the instance's user data writes there (`env`, e.g. VALIDATE_SECONDS);
    `bind_ro` mounts (this machine's path, the host's) read-only."""
    check_tools()
    base = ensure_rootfs(cache_dir)
    hdir = state_dir / name
    if hdir.exists() or netns.in_the_way(state_dir, name):
        cleanup_stale(state_dir)
        if hdir.exists():
            raise UserError(f"a host named {name} is already running under {state_dir}")
        problem = netns.in_the_way(state_dir, name)
        if problem:
            raise UserError(problem)
    root, upper, work = hdir / "root", hdir / "upper", hdir / "work"
    for d in (root, upper, work):
        d.mkdir(parents=True)
    _make_root(base, root, upper, work)
    (root / "etc/sample-app").mkdir(parents=True, exist_ok=True)
    # what the user data writes (templates/ec2.yaml, write-app-config): the port (the app binds
    # every address of its own network, as on the instance) and the hooks' settings
    lines = [f"PORT={app_port}"] + [f"{k}={v}" for k, v in (env or {}).items() if k != "PORT"]
    (root / "etc/sample-app/env").write_text("\n".join(lines) + "\n")
    (root / "etc/hostname").write_text(f"{name}\n")
    # the owner first: a run killed from here on leaves a host that cleanup_stale removes
    (hdir / "host.json").write_text(json.dumps({"name": name, "owner_pid": os.getpid()}) + "\n")
    log = open(hdir / "console.log", "wb")  # noqa: SIM115 - handed to the child process
    try:
        network = netns.create(state_dir, name)
        nspawn = subprocess.Popen(
            [
                "systemd-nspawn",
                "-D",
                str(root),
                "-b",
                "--register=no",
                "--keep-unit",
                "--console=pipe",
                f"--machine={name}",
                f"--network-namespace-path={network.path}",
                *(f"--bind-ro={src}:{dst}" for src, dst in bind_ro),
                "--quiet",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except BaseException:
        netns.remove(state_dir, name)
        umount(root)
        shutil.rmtree(hdir, ignore_errors=True)
        raise
    finally:
        log.close()
    meta = {"name": name, "nspawn_pid": nspawn.pid, "owner_pid": os.getpid()}
    (hdir / "host.json").write_text(json.dumps({**meta, "address": network.address}) + "\n")
    host = Host(name, state_dir, nspawn, network)
    try:
        host._wait_booted(time.monotonic() + BOOT_TIMEOUT_S)
    except BaseException:
        host.stop()
        raise
    # cleanup_stale needs the container's init to reach processes left inside it
    meta.update(address=network.address, leader_pid=host.leader_pid)
    (hdir / "host.json").write_text(json.dumps(meta) + "\n")
    return host


def cleanup_stale(state_dir: Path) -> list[str]:
    """Remove hosts whose owning process is gone (a killed run): stop, unmount, delete, and
    their network namespaces, also those whose host directory is already gone."""
    removed: list[str] = []
    if not state_dir.is_dir():
        netns.remove_orphans(state_dir, keep=set())
        return removed
    for hdir in sorted(p for p in state_dir.iterdir() if p.is_dir()):
        meta_path = hdir / "host.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        owner = int(meta.get("owner_pid", 0))
        if owner and owner != os.getpid() and pid_alive(owner):
            continue
        if owner == os.getpid():
            continue
        pid = int(meta.get("nspawn_pid", 0))
        namespace = pid_namespace(int(meta.get("leader_pid", 0)))
        if pid and "systemd-nspawn" in cmdline(pid):
            stop_nspawn(pid)
        kill_pid_namespace(namespace)
        netns.remove(state_dir, hdir.name)
        umount(hdir / "root")
        shutil.rmtree(hdir, ignore_errors=True)
        removed.append(hdir.name)
    netns.remove_orphans(state_dir, keep={p.name for p in state_dir.iterdir() if p.is_dir()})
    return removed
