"""Git operations on a real bare repository, and the probe against a real HTTP server."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipekit import appclient
from pipekit.e2e import gitops
from pipekit.e2e.probe import Probe

PORT_BASE = 25010
GOOD, BROKEN = "9" * 40, "b" * 40


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def remote(tmp_path: Path) -> str:
    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch=e2e-test", str(bare))
    seed = tmp_path / "seed"
    git("init", "--quiet", "--initial-branch=e2e-test", str(seed))
    (seed / "app.txt").write_text("v1\n")
    git("add", "app.txt", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed", cwd=seed)
    git("push", "-q", str(bare), "HEAD:refs/heads/e2e-test", cwd=seed)
    return str(bare)


def test_clone_commit_push_revert_and_restore(remote: str, tmp_path: Path):
    start = gitops.remote_head(remote, "e2e-test")
    assert start is not None
    assert gitops.remote_head(remote, "no-such-branch") is None
    co = gitops.Checkout.clone(remote, "e2e-test", tmp_path / "work")
    assert co.head() == start

    (co.path / "app.txt").write_text("marker\n")
    good = co.commit_paths([co.path / "app.txt"], "marker")
    co.push()
    assert gitops.remote_head(remote, "e2e-test") == good

    (co.path / "broken.txt").write_text("boom\n")
    broken = co.commit_paths(["broken.txt"], "break")
    co.push()
    revert = co.revert(broken)
    co.push()
    assert gitops.remote_head(remote, "e2e-test") == revert
    assert co.tree_of(revert) == co.tree_of(good)

    # A midway failure undoes this run's commits with one new commit, never a force-push.
    restored = co.revert_all([good, broken, revert], "restore")
    co.push()
    assert co.tree_of(restored) == co.tree_of(start)
    assert git("merge-base", "--is-ancestor", revert, restored, cwd=co.path) == ""
    assert co.revert_all([], "again") is None  # nothing to undo: no empty commit


def test_undo_keeps_what_others_pushed_meanwhile(remote: str, tmp_path: Path):
    ours = gitops.Checkout.clone(remote, "e2e-test", tmp_path / "ours")
    (ours.path / "marker.txt").write_text("e2e\n")
    mine = ours.commit_paths(["marker.txt"], "marker")
    ours.push()
    theirs = gitops.Checkout.clone(remote, "e2e-test", tmp_path / "theirs")
    (theirs.path / "feature.txt").write_text("theirs\n")
    theirs.commit_paths(["feature.txt"], "their work")
    theirs.push()
    ours.sync()
    ours.revert_all([mine], "undo e2e")
    ours.push()
    assert not (ours.path / "marker.txt").exists()
    assert (ours.path / "feature.txt").read_text() == "theirs\n"


def test_push_after_someone_else_pushed_fails_loudly(remote: str, tmp_path: Path):
    ours = gitops.Checkout.clone(remote, "e2e-test", tmp_path / "ours")
    theirs = gitops.Checkout.clone(remote, "e2e-test", tmp_path / "theirs")
    (theirs.path / "x").write_text("x")
    theirs.commit_paths(["x"], "theirs")
    theirs.push()
    (ours.path / "y").write_text("y")
    ours.commit_paths(["y"], "ours")
    with pytest.raises(gitops.GitError, match="git push"):
        ours.push()


def test_unreachable_remote_is_a_git_error(tmp_path: Path):
    with pytest.raises(gitops.GitError):
        gitops.remote_head(str(tmp_path / "missing.git"), "main")


class _App:
    """A tiny stand-in app whose /version answer the test switches."""

    def __init__(self, port: int) -> None:
        self.commit: str | None = GOOD
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                if app.commit is None:
                    self.send_response(502)
                    self.end_headers()
                    return
                body = json.dumps({"commit": app.commit}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def app():
    for port in range(PORT_BASE, PORT_BASE + 20):
        try:
            served = _App(port)
        except OSError:
            continue
        yield served
        served.close()
        return
    pytest.skip("no free port in 25010-25029")


def test_probe_counts_failures_and_broken_answers(app):
    probe = Probe(app.url, BROKEN[:12], interval=0.05, max_seconds=30)
    with probe:
        for commit, polls in ((GOOD, 3), (None, 3), (BROKEN, 3), (GOOD, 3)):
            app.commit = commit
            target = probe.snapshot().requests + polls
            while probe.snapshot().requests < target:
                threading.Event().wait(0.02)
    result = probe.stop()
    assert result.failed >= 3
    assert result.served_by_broken >= 3
    assert result.commits[GOOD] >= 6
    assert result.requests == result.failed + sum(result.commits.values())
    assert "HTTP 502" in result.errors


def test_probe_counts_a_refused_connection_as_failed():
    answers = iter([appclient.Answer(None, "", "ConnectionRefusedError")] * 3)
    probe = Probe(
        "http://127.0.0.1:1",
        "broken",
        interval=0.0,
        max_seconds=60,
        fetch=lambda url: next(answers, appclient.Answer(200, '{"commit": "goodgood"}')),
    )
    for _ in range(5):
        probe.record(probe.fetch(probe.url))
    result = probe.snapshot()
    assert (result.requests, result.failed, result.served_by_broken) == (5, 3, 0)
    assert result.errors["ConnectionRefusedError"] == 3


def test_probe_stops_by_itself():
    ticks = iter(range(1000))
    probe = Probe(
        "http://x",
        "b",
        interval=0.0,
        max_seconds=5,
        clock=lambda: next(ticks),
        fetch=lambda url: appclient.Answer(200, '{"commit": "abcdefab"}'),
    )
    probe.start()
    probe._thread.join(timeout=5)
    assert not probe._thread.is_alive()
    assert 0 < probe.stop().requests < 10


def test_probe_is_bounded_in_count():
    probe = Probe(
        "http://x",
        interval=0.001,
        max_seconds=60,
        max_requests=7,
        fetch=lambda url: appclient.Answer(200, '{"commit": "abcdefab"}'),
    )
    probe.start()
    probe._thread.join(timeout=10)
    assert not probe._thread.is_alive()
    assert probe.stop().requests == 7


def test_probe_keeps_its_rate_when_answers_are_slow(app):
    """Five requests a second even when each answer takes longer than the interval."""
    slow = lambda url: (threading.Event().wait(0.5), appclient.get(url))[1]  # noqa: E731
    probe = Probe(app.url, interval=0.2, max_seconds=30, fetch=slow)
    with probe:
        threading.Event().wait(2.1)
    result = probe.stop()
    # 11 scheduled in 2.1 s (0, 0.2 .. 2.0): each counted once it answered, in flight ones too.
    assert 10 <= result.requests <= 12
    assert result.failed == 0 and result.commits[GOOD] == result.requests


def test_probe_phases_count_apart_with_the_two_version_window(app):
    probe = Probe(app.url, interval=0.02, max_seconds=30)
    probe.start()

    def wait_for(more: int) -> None:
        target = probe.snapshot().requests + more
        while probe.snapshot().requests < target:
            threading.Event().wait(0.01)

    probe.phase("good")
    wait_for(5)
    probe.broken_commit = BROKEN
    probe.phase("broken")
    wait_for(3)  # the good version, until the deployment reaches the instance
    app.commit = BROKEN
    wait_for(5)
    app.commit = None
    wait_for(3)
    app.commit = GOOD
    wait_for(5)
    probe.phase("restore")
    wait_for(3)
    result = probe.stop()
    phases = {name: p.as_dict() for name, p in result.phases.items()}
    assert list(phases)[-3:] == ["good", "broken", "restore"]
    good, broken, restore = phases["good"], phases["broken"], phases["restore"]
    assert good["failed"] == 0 and good["served_by_broken"] == 0
    assert good["two_versions"] is None  # one version all along
    assert broken["served_by_broken"] >= 4 and broken["failed"] >= 2
    assert broken["commits"][GOOD] >= 4  # the rollback's answers
    assert "HTTP 502" in broken["errors"] and broken["failed_by_commit"] == {}
    # The broken version's span lies inside the good one's (served before and after it).
    window = broken["two_versions"]
    assert window is not None and window["seconds"] > 0
    assert broken["started_s"] <= window["first_s"] <= window["last_s"] <= broken["ended_s"]
    assert restore["failed"] == 0 and restore["ended_s"] is not None
    total = sum(p["requests"] for p in phases.values())
    assert total == result.requests == result.failed + sum(result.commits.values())


def test_version_reads_json_and_reports_non_json(app):
    answer, data = appclient.version(app.url)
    assert answer.ok and data == {"commit": GOOD}
    app.commit = None
    answer, data = appclient.version(app.url)
    assert answer.status == 502 and data is None


def _answers(*values):
    """A check that answers `values` in turn (None = not served), then keeps the last one."""
    seq = list(values)
    calls: list[int] = []

    def check():
        calls.append(1)
        return seq[min(len(calls), len(seq)) - 1]

    return check, calls


def test_first_served_is_the_first_answer_not_the_moment_someone_asks():
    from pipekit.e2e.probe import FirstServed

    check, calls = _answers(None, None, {"commit": "c"})
    watch = FirstServed(check, interval=0.01, timeout=5)
    at, data = watch.result(timeout=5)
    assert data == {"commit": "c"} and len(calls) == 3
    assert watch.result(timeout=0) == (at, data)  # stays what was first seen


def test_first_served_after_a_miss_ignores_the_answers_before_it():
    from pipekit.e2e.probe import FirstServed

    check, calls = _answers({"commit": "good"}, {"commit": "good"}, None, {"commit": "good"})
    seen = FirstServed(check, interval=0.01, timeout=5, after_miss=True).result(timeout=5)
    assert seen is not None and len(calls) == 4
    never = FirstServed(lambda: {"commit": "good"}, interval=0.01, timeout=0.2, after_miss=True)
    assert never.result(timeout=1) is None


def test_a_new_phase_begins_once_the_previous_phases_requests_are_answered():
    """A request sent in the good phase and answered after the next push would charge the good
    phase with what the next deploy did: `phase` returns only once those requests answered."""
    release = threading.Event()
    started = threading.Event()

    def held(url: str) -> appclient.Answer:
        started.set()
        release.wait(5)
        return appclient.Answer(200, '{"commit": "abcdefab"}')

    probe = Probe("http://x", interval=0.0, max_seconds=60, max_requests=1, fetch=held)
    probe.phase("good")
    probe.start()
    assert started.wait(5)
    switched = threading.Event()
    threading.Thread(target=lambda: (probe.phase("broken"), switched.set()), daemon=True).start()
    assert not switched.wait(0.3)  # the good phase's request is still in flight
    release.set()
    assert switched.wait(5)
    phases = probe.stop().phases
    assert (phases["good"].requests, phases["broken"].requests) == (1, 0)


def test_a_phase_waits_for_its_predecessors_requests_no_longer_than_their_timeout():
    never, started = threading.Event(), threading.Event()
    probe = Probe(
        "http://x",
        interval=0.0,
        max_seconds=60,
        max_requests=1,
        timeout=0.2,
        fetch=lambda url: (started.set(), never.wait(2), appclient.Answer(200, "{}"))[2],
    )
    probe.start()
    assert started.wait(5)
    began = time.monotonic()
    probe.phase("next")
    assert time.monotonic() - began < 1.5
    never.set()
    probe.stop()
