"""The systemd-nspawn host manager: cached root, boot, run, files, teardown, stale cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from pipekit.errors import UserError
from pipekit.local.runtime import host as hostmod
from pipekit.local.runtime import netns, procs
from pipekit.local.runtime.host import boot_host, cleanup_stale
from pipekit.local.runtime.rootfs import (
    debian_mirror,
    ensure_rootfs,
    rootfs_build_seconds,
    rootfs_key,
)

REPO = Path(__file__).resolve().parents[2]


def test_rootfs_key_depends_on_the_package_list() -> None:
    assert rootfs_key(("a", "b")) == rootfs_key(("b", "a"))
    assert rootfs_key(("a", "b")) != rootfs_key(("a", "b", "c"))


def test_debian_mirror_reads_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text(
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://one.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://one.example/debian"


def test_debian_mirror_default(tmp_path: Path) -> None:
    assert debian_mirror(tmp_path) == "http://deb.debian.org/debian"


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    return [
        line.split()[1]
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1].startswith(prefix)
    ]


def _nspawn_pids_for(path: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"systemd-nspawn -D {path}"], capture_output=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture(scope="session")
def rootfs() -> Path:
    return ensure_rootfs()


@pytest.mark.host
def test_rootfs_is_cached_and_complete(rootfs: Path) -> None:
    assert rootfs.name == f"rootfs-{rootfs_key()}"
    assert ensure_rootfs() == rootfs
    for tool in ("usr/lib/systemd/systemd", "usr/bin/python3.11", "usr/bin/curl", "usr/bin/pgrep"):
        assert (rootfs / tool).exists(), tool
    assert rootfs_build_seconds(rootfs) is not None


@pytest.mark.host
def test_boot_run_put_file_and_stop(rootfs: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    # what the user data writes besides the port (templates/ec2.yaml, write-app-config)
    settings = {"VALIDATE_SECONDS": "7", "PORT": "1"}
    h = boot_host("pk-b-host1", app_port=21010, state_dir=state, env=settings)
    try:
        assert h.system_state() in ("running", "degraded")
        # Really inside: its own PID 1 is systemd and its hostname is the host's name.
        assert h.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
        assert h.run(["hostname"]).stdout.strip() == "pk-b-host1"
        env_file = h.run(["cat", "/etc/sample-app/env"]).stdout
        # the host's port is the one it listens on, whatever else the settings say
        assert env_file.splitlines() == ["PORT=21010", "VALIDATE_SECONDS=7"]
        h.put_file("/tmp/pk/x.sh", b'#!/bin/sh\necho "$GREETING from $(id -un)"\n', 0o755)
        out = h.run(["/tmp/pk/x.sh"], env={"GREETING": "hello"})
        assert out.stdout.strip() == "hello from root"
        failed = h.run(["sh", "-c", "exit 7"], check=False)
        assert failed.returncode == 7
        with pytest.raises(subprocess.CalledProcessError):
            h.run(["false"])
        with pytest.raises(subprocess.TimeoutExpired):
            h.run(["sleep", "30"], timeout=1)
        # The base image is untouched: writes go to this host's overlay.
        h.put_file("/etc/pk-b-marker", b"x")
        assert not (rootfs / "etc/pk-b-marker").exists()
        assert (h.root() / "etc/pk-b-marker").exists()
        # A service in the container is reachable from here at the host's own address, and
        # not on this machine's loopback: the host has a network of its own.
        h.run(["systemd-run", "--unit=pk-http", "python3", "-m", "http.server", "21011"])
        body = _fetch(f"http://{h.address}:21011/", attempts=50)
        assert "Directory listing" in body
        assert _refused("http://127.0.0.1:21011/")
        # inside, its own loopback answers (what ValidateService's curl uses)
        inside = h.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "127.0.0.1:21011"])
        assert inside.stdout == "200"
        assert netns.left(state) != []
    finally:
        h.stop()
    h.stop()  # idempotent
    assert netns.left(state) == []
    assert _mounts_under(state) == []
    assert _nspawn_pids_for(state / "pk-b-host1" / "root") == []
    assert not (state / "pk-b-host1").exists()


def _refused(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=2).close()
    except (urllib.error.URLError, ConnectionError):
        return True
    return False


def _fetch(url: str, attempts: int) -> str:
    import urllib.error
    import urllib.request

    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.mark.host
def test_cleanup_stale_removes_hosts_of_a_killed_run(rootfs: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(REPO)!r})
        from pipekit.local.runtime.host import boot_host
        boot_host("pk-b-stale", app_port=21012, state_dir=Path({str(state)!r}))
        print("booted", flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "booted"
        root = state / "pk-b-stale" / "root"
        assert _nspawn_pids_for(root)
        # A live owner's host is not touched.
        assert cleanup_stale(state) == []
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert _mounts_under(state), "the killed run should have left its overlay mounted"
        assert netns.left(state), "the killed run should have left its network namespace"
        # booting the same host again clears what the killed run left (as `local up` does)
        assert cleanup_stale(state) == ["pk-b-stale"]
        assert _mounts_under(state) == []
        assert netns.left(state) == []
        assert _nspawn_pids_for(root) == []
        assert not (state / "pk-b-stale").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        cleanup_stale(state)


@pytest.mark.host
def test_writable_root_falls_back_to_a_copy_without_overlayfs(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "os-release").write_text("ID=debian\n")
    root, upper = tmp_path / "root", tmp_path / "upper"
    root.mkdir()
    upper.mkdir()
    # overlayfs refuses an upper and a work directory on different filesystems.
    with tempfile.TemporaryDirectory(dir="/dev/shm") as work:
        assert hostmod._make_root(base, root, upper, Path(work)) == "copy"
    assert (root / "etc" / "os-release").read_text() == "ID=debian\n"
    assert _mounts_under(root) == []
    root2 = tmp_path / "root2"
    root2.mkdir()
    work2 = tmp_path / "work2"
    work2.mkdir()
    try:
        assert hostmod._make_root(base, root2, upper, work2) == "overlay"
        (root2 / "new").write_text("x")
        assert not (base / "new").exists()
    finally:
        procs.umount(root2)


@pytest.mark.host
def test_two_hosts_listen_on_the_same_port_each_at_its_own_address(
    rootfs: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    hosts = [boot_host(f"pk-b-twin{i}", app_port=21013, state_dir=state) for i in (1, 2)]
    try:
        assert hosts[0].address != hosts[1].address
        for h in hosts:
            page = f"/tmp/www/{h.name}"
            h.put_file(page, h.name.encode())
            h.run(["systemd-run", "--unit=pk-http", "python3", "-m", "http.server", "-d",
                   "/tmp/www", "21013"])  # fmt: skip
        for h in hosts:
            assert _fetch(f"http://{h.address}:21013/{h.name}", attempts=50) == h.name
        # no route out: a host reaches nothing beyond its own link
        out = hosts[0].run(["ip", "-4", "route"]).stdout
        assert "default" not in out
    finally:
        for h in hosts:
            h.stop()
    assert netns.left(state) == []


@pytest.mark.host
def test_a_namespace_left_by_a_crash_is_in_the_way_until_cleanup_removes_it(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    network = netns.create(state, "pk-b-crashed")  # its host directory is gone
    try:
        with pytest.raises(UserError) as err:
            netns.create(state, "pk-b-crashed")
        assert str(err.value) == (
            f"the network namespace {network.namespace} and network link {network.link} of host "
            "pk-b-crashed, left by a crashed run, are in the way: run `make local-down` (or "
            f"`ip link delete {network.link}; ip netns delete {network.namespace}`)"
        )
        assert netns.left(state) == [
            f"network namespace {network.namespace}",
            f"network link {network.link}",
        ]
        assert cleanup_stale(state) == []  # no host to remove, but its namespace goes
        assert netns.left(state) == []
    finally:
        netns.remove(state, "pk-b-crashed")
