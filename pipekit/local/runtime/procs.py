"""Processes, PID namespaces and mounts, read from /proc: what the host manager and `local down`
need to stop a container and to prove that nothing of it is left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

STOP_TIMEOUT_S = 20.0


def _pids() -> Iterator[Path]:
    """/proc/<pid> of every process."""
    return (proc for proc in Path("/proc").iterdir() if proc.name.isdigit())


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def pid_alive(pid: int) -> bool:
    """Whether pid is a live process; a zombie (dead, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return False
    return True


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def pid_namespace(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _namespace_members(namespace: str) -> list[int]:
    members = []
    for proc in _pids():
        for link in ("ns/pid", "ns/pid_for_children"):
            with contextlib.suppress(OSError):
                if os.readlink(proc / link) == namespace:
                    members.append(int(proc.name))
                    break
    return members


def kill_pid_namespace(namespace: str | None, timeout: float = 10.0) -> None:
    """SIGKILL every process in a container's PID namespace, and every process (such as an
    orphaned nsenter) about to fork into it, then wait until they are gone. Killing nspawn alone
    is not enough: its container init is reparented and lingers in systemd-shutdown while a hook
    process inside is stopped."""
    if namespace is None:
        return
    deadline = time.monotonic() + timeout
    while members := _namespace_members(namespace):
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # our own children (an nsenter started by this process) must be reaped here
        for pid in members:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


def nspawn_under(machines: Path) -> list[int]:
    """systemd-nspawn processes booting a root under this state's machines directory: ours."""
    prefix = str(machines.resolve()) + "/"
    found = []
    for proc in _pids():
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


def stop_nspawn(pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
    # SIGTERM makes nspawn ask the container's systemd for a clean poweroff.
    if not pid_alive(pid):
        if popen is not None:
            popen.poll()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            return
        if popen is None and not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if popen is not None:
        popen.wait(timeout=10)


def _mount_points() -> list[str]:
    points = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1:
                points.append(fields[1].replace("\\040", " "))
    return points


def is_mounted(path: Path) -> bool:
    return str(path.resolve()) in _mount_points()


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path`."""
    prefix = str(path.resolve())
    return [p for p in _mount_points() if p == prefix or p.startswith(prefix + "/")]


def umount(path: Path) -> None:
    for _ in range(10):
        if not is_mounted(path):
            return
        subprocess.run(["umount", str(path)], capture_output=True)
        if is_mounted(path):
            time.sleep(0.2)
    if is_mounted(path):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
