"""A background prober: GETs the app's `/version` about once a second while a deployment
happens, and counts failed requests and requests the broken version served."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipekit import appclient
from pipekit.e2e import decisions

Fetch = Callable[[str], tuple[appclient.Answer, dict[str, Any] | None]]


@dataclass
class ProbeResult:
    requests: int = 0
    failed: int = 0
    served_by_broken: int = 0
    commits: Counter[str] = field(default_factory=Counter)
    first_failure_at: float | None = None
    last_failure_at: float | None = None
    errors: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed": self.failed,
            "served_by_broken": self.served_by_broken,
            "commits": dict(self.commits),
            "errors": dict(self.errors.most_common(5)),
        }


class Probe:
    """Use as a context manager; it also stops by itself after `max_seconds`."""

    def __init__(
        self,
        base_url: str,
        broken_commit: str,
        *,
        interval: float = 1.0,
        max_seconds: float = 1800,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url
        self.broken_commit = broken_commit
        self.interval = interval
        self.max_seconds = max_seconds
        self.fetch = fetch or (lambda url: appclient.version(url, timeout=min(3.0, interval * 3)))
        self.clock = clock
        self.result = ProbeResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="e2e-probe", daemon=True)

    def __enter__(self) -> Probe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> ProbeResult:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        return self.snapshot()

    def snapshot(self) -> ProbeResult:
        with self._lock:
            r = self.result
            return ProbeResult(
                r.requests,
                r.failed,
                r.served_by_broken,
                Counter(r.commits),
                r.first_failure_at,
                r.last_failure_at,
                Counter(r.errors),
            )

    def record(self, answer: appclient.Answer, data: dict[str, Any] | None) -> None:
        now = self.clock()
        commit = decisions.served_commit(data)
        with self._lock:
            r = self.result
            r.requests += 1
            if not answer.ok or commit is None:
                r.failed += 1
                r.errors[answer.error or f"HTTP {answer.status} without a commit"] += 1
                r.first_failure_at = r.first_failure_at or now
                r.last_failure_at = now
                return
            r.commits[commit] += 1
            if decisions.same_commit(commit, self.broken_commit):
                r.served_by_broken += 1

    def _run(self) -> None:
        deadline = self.clock() + self.max_seconds
        while not self._stop.is_set() and self.clock() < deadline:
            started = self.clock()
            self.record(*self.fetch(self.base_url))
            self._stop.wait(max(0.0, self.interval - (self.clock() - started)))


class FirstServed:
    """The first moment the URL answers what `check` wants, polled in a thread from the push on.

    A run ends after the app is live (the Prune stage comes after Deploy) and the e2e waits for
    the run's verdict first: timing the URL only after that would time the run, not the release.
    With `after_miss`, an answer counts only once `check` has failed at least once (restored:
    the good commit is served before the broken push, too). Bounded by `timeout`."""

    def __init__(
        self,
        check: Callable[[], Any | None],
        *,
        interval: float,
        timeout: float,
        after_miss: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check, self.interval, self.timeout = check, interval, timeout
        self.after_miss, self.clock = after_miss, clock
        self.at: float | None = None
        self.data: Any | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-first-served", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        deadline, missed = self.clock() + self.timeout, not self.after_miss
        while not self._stop.is_set() and self.clock() < deadline:
            started = self.clock()
            found = self.check()
            if found is None:
                missed = True
            elif missed:
                self.at, self.data = started, found
                return
            self._stop.wait(max(0.0, self.interval - (self.clock() - started)))

    def result(self, timeout: float) -> tuple[float, Any] | None:
        """(when, what) once seen, waiting at most `timeout`; None if it was not seen."""
        self._thread.join(timeout)
        self._stop.set()
        return (self.at, self.data) if self.at is not None else None
