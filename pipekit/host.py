"""A real systemd Linux host on this machine: systemd-nspawn booting a cached Debian root.

The root filesystem is built once with debootstrap and cached under a directory named after a
hash of its package list; every host gets its own writable overlay on top of it, so booting a
fresh host costs a mount, not a copy. The container shares this machine's network namespace, so
a service listening on port P inside it answers on 127.0.0.1:P.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from pipekit.errors import UserError

SUITE = "bookworm"
# What an EC2 instance running our hooks needs: systemd as PID 1, python3.11 with venv for the
# release virtual environments, curl for ValidateService, procps for pgrep in ApplicationStop.
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-venv",
    "curl",
    "ca-certificates",
    "procps",
    "iproute2",
)
ROOTFS_FORMAT = 1
BOOT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pipekit"


def rootfs_key(packages: tuple[str, ...] = PACKAGES) -> str:
    text = f"{ROOTFS_FORMAT}:{SUITE}:{','.join(sorted(packages))}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The mirror this machine's apt uses (deb822 or one-line format), else deb.debian.org."""
    candidates = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in candidates:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                    return words[1]
                if words[:1] == ["deb"]:
                    uri = next((w for w in words[1:] if "://" in w), "")
                    if uri and "security" not in uri:
                        return uri
    return "http://deb.debian.org/debian"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _check_tools() -> None:
    missing = [t for t in ("debootstrap", "systemd-nspawn", "nsenter") if not shutil.which(t)]
    if missing:
        raise UserError(
            f"missing {', '.join(missing)}: run `make host-deps` "
            "(apt-get install systemd-container debootstrap)"
        )
    if os.geteuid() != 0:
        raise UserError("the local systemd host needs root (systemd-nspawn, mounts)")


def ensure_rootfs(cache_dir: Path | None = None) -> Path:
    """Return the cached Debian root, building it first if needed (once, under a file lock)."""
    cache_dir = cache_dir or default_cache_dir()
    target = cache_dir / f"rootfs-{rootfs_key()}"
    done = target / ".pipekit-rootfs-done"
    if done.exists():
        return target
    _check_tools()
    with _locked(cache_dir / f"rootfs-{rootfs_key()}.lock"):
        if done.exists():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        started = time.monotonic()
        proc = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(partial),
                debian_mirror(),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise UserError(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        _prepare_rootfs(partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        done.write_text(json.dumps({"seconds": round(time.monotonic() - started, 1)}) + "\n")
    return target


def rootfs_build_seconds(rootfs: Path) -> float | None:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return float(json.loads((rootfs / ".pipekit-rootfs-done").read_text())["seconds"])
    return None


def _prepare_rootfs(root: Path) -> None:
    # Units that only make sense on a real machine slow the boot or fail inside a container.
    for unit in ("systemd-timesyncd.service", "apt-daily.timer", "apt-daily-upgrade.timer"):
        link = root / "etc/systemd/system" / unit
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to("/dev/null")
    (root / "etc/hostname").write_text("pipekit-host\n")
    # apt caches are not needed inside and make the cache bigger.
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)


def _children(pid: int) -> list[int]:
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


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _pid_namespace(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _namespace_members(namespace: str) -> list[int]:
    members = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        for link in ("ns/pid", "ns/pid_for_children"):
            with contextlib.suppress(OSError):
                if os.readlink(proc / link) == namespace:
                    members.append(int(proc.name))
                    break
    return members


def _kill_pid_namespace(namespace: str | None, timeout: float = 10.0) -> None:
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


def _is_mounted(path: Path) -> bool:
    target = str(path.resolve())
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == target:
                return True
    return False


def _umount(path: Path) -> None:
    for _ in range(10):
        if not _is_mounted(path):
            return
        subprocess.run(["umount", str(path)], capture_output=True)
        if _is_mounted(path):
            time.sleep(0.2)
    if _is_mounted(path):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Host:
    """One booted container. Commands run inside it through nsenter into its PID 1."""

    def __init__(self, name: str, state_dir: Path, nspawn: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.state_dir = state_dir
        self._dir = state_dir / name
        self._nspawn = nspawn
        self.leader_pid: int | None = None
        self._stopped = False

    def root(self) -> Path:
        return self._dir / "root"

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
                kids = _children(self._nspawn.pid)
                if kids and "nspawn" not in _cmdline(kids[0]):
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
        namespace = _pid_namespace(self.leader_pid)
        _stop_nspawn(self._nspawn.pid, self._nspawn)
        _kill_pid_namespace(namespace)
        _umount(self.root())
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


def _stop_nspawn(pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
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


def boot_host(name: str, *, app_port: int, state_dir: Path, cache_dir: Path | None = None) -> Host:
    """Boot a fresh host named `name` with /etc/sample-app/env holding PORT=app_port."""
    _check_tools()
    base = ensure_rootfs(cache_dir)
    hdir = state_dir / name
    if hdir.exists():
        cleanup_stale(state_dir)
        if hdir.exists():
            raise UserError(f"a host named {name} is already running under {state_dir}")
    root, upper, work = hdir / "root", hdir / "upper", hdir / "work"
    for d in (root, upper, work):
        d.mkdir(parents=True)
    _make_root(base, root, upper, work)
    (root / "etc/sample-app").mkdir(parents=True, exist_ok=True)
    # Locally the app must only listen on loopback (the container shares this machine's network).
    (root / "etc/sample-app/env").write_text(f"PORT={app_port}\nBIND_ADDRESS=127.0.0.1\n")
    (root / "etc/hostname").write_text(f"{name}\n")
    log = open(hdir / "console.log", "wb")  # noqa: SIM115 - handed to the child process
    try:
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
                "--quiet",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError:
        _umount(root)
        shutil.rmtree(hdir, ignore_errors=True)
        raise
    finally:
        log.close()
    (hdir / "host.json").write_text(
        json.dumps({"name": name, "nspawn_pid": nspawn.pid, "owner_pid": os.getpid()}) + "\n"
    )
    host = Host(name, state_dir, nspawn)
    try:
        host._wait_booted(time.monotonic() + BOOT_TIMEOUT_S)
    except BaseException:
        host.stop()
        raise
    # cleanup_stale needs the container's init to reach processes left inside it
    meta = {"name": name, "nspawn_pid": nspawn.pid, "owner_pid": os.getpid()}
    (hdir / "host.json").write_text(json.dumps({**meta, "leader_pid": host.leader_pid}) + "\n")
    return host


def cleanup_stale(state_dir: Path) -> list[str]:
    """Remove hosts whose owning process is gone (a killed run): stop, unmount, delete."""
    removed: list[str] = []
    if not state_dir.is_dir():
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
        namespace = _pid_namespace(int(meta.get("leader_pid", 0)))
        if pid and "systemd-nspawn" in _cmdline(pid):
            _stop_nspawn(pid)
        _kill_pid_namespace(namespace)
        _umount(hdir / "root")
        shutil.rmtree(hdir, ignore_errors=True)
        removed.append(hdir.name)
    return removed
