"""The cached Debian root filesystem every local host boots from.

Built once with debootstrap and cached under a directory named after a hash of its package list,
so changing the list builds a new one; building takes a file lock, so concurrent callers wait for
one build instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
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
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created with its parents) across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_tools() -> None:
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
    check_tools()
    with file_lock(cache_dir / f"rootfs-{rootfs_key()}.lock"):
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
