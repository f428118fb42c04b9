"""A background prober: GETs the app's `/` at a fixed rate (5 a second by default) for the whole
scenario, and counts, per phase of the scenario (good deploy, broken deploy through rollback,
restore), requests, failed requests, requests the broken version served, and the window in which
two versions were served. `/` is the page users get and the load balancer's 5xx count sees; it
names the commit that served it (`<code id="commit">`), a failing answer too when its body does.

Requests start on a fixed schedule (a small pool of workers), so a slow answer does not lower
the rate; the probe is bounded in time (`max_seconds`) and in count (`max_requests`)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pipekit import appclient
from pipekit.e2e import decisions

Fetch = Callable[[str], appclient.Answer]
DEFAULT_INTERVAL = 0.2  # 5 requests a second (issue 12: at least 5)
DEFAULT_TIMEOUT = 3.0  # a request slower than this counts as failed
WORKERS = 4  # requests in flight at once, at most


@dataclass
class PhaseStats:
    """One phase's counts. Moments are seconds since the probe started (its monotonic clock)."""

    name: str
    started_s: float
    ended_s: float | None = None
    requests: int = 0
    failed: int = 0
    served_by_broken: int = 0
    commits: Counter[str] = field(default_factory=Counter)  # commit -> answers it served
    failed_by_commit: Counter[str] = field(default_factory=Counter)  # failing answers naming one
    errors: Counter[str] = field(default_factory=Counter)
    seen: dict[str, list[float]] = field(default_factory=dict)  # commit -> [first, last]

    def copy(self) -> PhaseStats:
        return PhaseStats(
            self.name,
            self.started_s,
            self.ended_s,
            self.requests,
            self.failed,
            self.served_by_broken,
            Counter(self.commits),
            Counter(self.failed_by_commit),
            Counter(self.errors),
            {c: list(span) for c, span in self.seen.items()},
        )

    def as_dict(self) -> dict[str, Any]:
        window = decisions.two_version_window({c: (a, b) for c, (a, b) in self.seen.items()})
        return {
            "started_s": round(self.started_s, 3),
            "ended_s": None if self.ended_s is None else round(self.ended_s, 3),
            "requests": self.requests,
            "failed": self.failed,
            "served_by_broken": self.served_by_broken,
            "commits": dict(self.commits),
            "failed_by_commit": dict(self.failed_by_commit),
            "errors": dict(self.errors.most_common(5)),
            "two_versions": None
            if window is None
            else {
                "first_s": round(window[0], 3),
                "last_s": round(window[1], 3),
                "seconds": round(window[1] - window[0], 3),
            },
        }


@dataclass
class ProbeResult:
    requests: int = 0
    failed: int = 0
    served_by_broken: int = 0
    commits: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    phases: dict[str, PhaseStats] = field(default_factory=dict)  # in the order they began
    interval: float = DEFAULT_INTERVAL
    path: str = "/"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "rate_per_s": round(1 / self.interval, 2) if self.interval > 0 else None,
            "requests": self.requests,
            "failed": self.failed,
            "served_by_broken": self.served_by_broken,
            "commits": dict(self.commits),
            "errors": dict(self.errors.most_common(5)),
            "phases": {name: p.as_dict() for name, p in self.phases.items()},
        }


class Probe:
    """Use as a context manager; it also stops by itself after `max_seconds` or
    `max_requests`. `phase(name)` starts a phase (requests before the first one count in
    "start"); `broken_commit` may be set once the broken commit exists."""

    def __init__(
        self,
        base_url: str,
        broken_commit: str | None = None,
        *,
        interval: float = DEFAULT_INTERVAL,
        max_seconds: float = 1800,
        max_requests: int | None = None,
        path: str = "/",
        timeout: float = DEFAULT_TIMEOUT,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval < 0 or max_seconds <= 0:
            raise ValueError("the probe needs interval >= 0 and max_seconds > 0")
        self.url = appclient.join(base_url, path)
        self.broken_commit = broken_commit
        self.interval = interval
        self.max_seconds = max_seconds
        # Bounded in count too: the schedule's requests, at most.
        limit = int(max_seconds / interval) + 1 if interval > 0 else 100_000
        self.max_requests = min(max_requests or limit, limit)
        self.timeout = timeout
        self.fetch = fetch or (lambda url: appclient.get(url, timeout=timeout))
        self.clock = clock
        self.started = clock()
        self.result = ProbeResult(interval=interval, path=path)
        self._current = self._open_phase("start")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._in_flight: Counter[str] = Counter()  # phase name -> requests sent, not answered
        self._thread = threading.Thread(target=self._run, name="e2e-probe", daemon=True)

    def __enter__(self) -> Probe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _open_phase(self, name: str) -> PhaseStats:
        stats = PhaseStats(name, self.clock() - self.started)
        self.result.phases[name] = stats
        return stats

    def phase(self, name: str) -> None:
        """From now on, requests count in phase `name` (a new one, or the same name again).
        Returns once the requests sent in the previous phase have answered (each is bounded by
        the probe's timeout): what the caller does next (a push) is then never charged to the
        previous phase by a request that was sent before it and answered after it."""
        with self._lock:
            previous = self._current
            now = self.clock() - self.started
            previous.ended_s = now
            if name in self.result.phases:
                self._current = self.result.phases[name]
                self._current.ended_s = None
            else:
                self._current = self._open_phase(name)
            if previous is not self._current:
                self._answered.wait_for(
                    lambda: not self._in_flight[previous.name], timeout=self.timeout + 1
                )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> ProbeResult:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=DEFAULT_TIMEOUT + 10)
        with self._lock:
            if self._current.ended_s is None:
                self._current.ended_s = self.clock() - self.started
        return self.snapshot()

    def snapshot(self) -> ProbeResult:
        with self._lock:
            r = self.result
            return ProbeResult(
                r.requests,
                r.failed,
                r.served_by_broken,
                Counter(r.commits),
                Counter(r.errors),
                {name: p.copy() for name, p in r.phases.items()},
                r.interval,
                r.path,
            )

    def record(
        self, answer: appclient.Answer, at: float | None = None, phase: PhaseStats | None = None
    ) -> None:
        """Count one answer in the phase its request started in (`phase`; the current one if
        None); `at` is when the request started (the probe's clock; now if None)."""
        moment = (self.clock() if at is None else at) - self.started
        commit = decisions.answer_commit(answer.body)
        failed = not answer.ok or commit is None
        with self._lock:
            current = phase or self._current
            broken = commit is not None and decisions.same_commit(commit, self.broken_commit)
            for stats in (self.result, current):
                stats.requests += 1
                stats.served_by_broken += broken
                if failed:
                    stats.failed += 1
                    stats.errors[answer.error or f"HTTP {answer.status} without a commit"] += 1
                else:
                    stats.commits[commit] += 1
            if commit is not None:
                span = current.seen.setdefault(commit, [moment, moment])
                span[0], span[1] = min(span[0], moment), max(span[1], moment)
                if failed:
                    current.failed_by_commit[commit] += 1

    def _one(self) -> None:
        with self._lock:  # the moment and phase the request starts in (a queued one: later)
            at, phase = self.clock(), self._current
            self._in_flight[phase.name] += 1
        try:
            answer = self.fetch(self.url)
        except Exception as exc:  # a probe request never takes the run down
            answer = appclient.Answer(None, "", f"{type(exc).__name__}: {exc}")
        self.record(answer, at, phase)
        with self._lock:
            self._in_flight[phase.name] -= 1
            self._answered.notify_all()

    def _run(self) -> None:
        deadline = self.started + self.max_seconds
        pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="e2e-probe")
        sent = 0
        try:
            while not self._stop.is_set() and sent < self.max_requests:
                due = self.started + sent * self.interval
                now = self.clock()
                if now >= deadline:
                    break
                if due > now:
                    self._stop.wait(due - now)
                    continue
                pool.submit(self._one)
                sent += 1
        finally:
            # Requests in flight finish (each bounded by its timeout); queued ones are dropped
            # when asked to stop, and sent when the schedule itself ended.
            pool.shutdown(wait=True, cancel_futures=self._stop.is_set())


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
