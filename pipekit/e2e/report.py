"""The run's report: a table for the human at the end, and the same facts as JSON in a file so
runs can be compared."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float | None = None
    detail: str = ""


@dataclass
class Report:
    env: str
    pipeline: str = ""
    app_url: str = ""
    branch: str = ""
    deployment_mode: str = "single"  # the stack's DeploymentMode: the probe's targets follow it
    scenario: str = "broken"  # the bad change: broken (ValidateService) or alarm
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    finished_at: str | None = None
    preflight: list[str] = field(default_factory=list)
    start_commit: str | None = None
    good_commit: str | None = None
    broken_commit: str | None = None
    restore_commit: str | None = None
    steps: list[Step] = field(default_factory=list)
    # Seconds per stage, per run: {"good": {"Source": 3.1, ...}, "broken": {...}, ...}
    stage_seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    commit_to_live_s: float | None = None
    failure_to_restored_s: float | None = None
    broken_push_to_restored_s: float | None = None
    restore_to_live_s: float | None = None
    probe: dict[str, Any] = field(default_factory=dict)
    # The broken commit's run: execution_id, status (Failed), failed_stage (the Deploy stage),
    # failed_action, deployment_id.
    broken_execution: dict[str, Any] = field(default_factory=dict)
    # CodeDeploy's rollback: the failed and the rollback deployment, creator, status, revision.
    codedeploy_rollback: dict[str, Any] = field(default_factory=dict)
    # The commit /version reported once CodeDeploy had rolled back (the good commit).
    live_commit: str | None = None
    problems: list[str] = field(default_factory=list)
    # The failing action's own error per run ("broken" is the expected one).
    failure_details: dict[str, list[str]] = field(default_factory=dict)
    restored: bool | None = None
    restore_note: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and all(s.ok for s in self.steps) and self.restored is not False

    def step(self, name: str, ok: bool, seconds: float | None = None, detail: str = "") -> None:
        self.steps.append(Step(name, ok, None if seconds is None else round(seconds, 1), detail))
        if not ok:
            self.problems.append(f"{name}: {detail}" if detail else name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def write_json(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = directory / f"e2e-{self.env}-{stamp}.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
        return path


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def summary_table(report: Report) -> Table:
    verdict = "PASSED" if report.ok else "FAILED"
    table = Table(
        title=f"e2e {report.env} ({report.deployment_mode} mode, {report.scenario}): {verdict}"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for run, stages in report.stage_seconds.items():
        for stage, seconds in stages.items():
            table.add_row(f"{run} run: {stage} stage", _secs(seconds))
    table.add_row("commit to live", _secs(report.commit_to_live_s))
    if report.broken_execution:
        b = report.broken_execution
        table.add_row("broken commit's run", f"{b.get('status')} at {b.get('failed_stage')}")
    table.add_row("failure to restored (CodeDeploy rollback)", _secs(report.failure_to_restored_s))
    if report.live_commit:
        table.add_row("live commit after the rollback", report.live_commit[:12])
    table.add_row("broken push to good version served", _secs(report.broken_push_to_restored_s))
    table.add_row("restore commit to live", _secs(report.restore_to_live_s))
    if report.probe:
        table.add_row(
            "probe: failed requests, whole run",
            f"{report.probe.get('failed', 0)} of {report.probe.get('requests', 0)}",
        )
        table.add_row(
            "probe: requests served by the broken version",
            str(report.probe.get("served_by_broken", 0)),
        )
    table.add_row("repository restored", {True: "yes", False: "NO", None: "-"}[report.restored])
    return table


def steps_table(report: Report) -> Table:
    table = Table(title="steps")
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    for s in report.steps:
        table.add_row(s.name, "ok" if s.ok else "FAILED", _secs(s.seconds), s.detail)
    return table


def probe_table(report: Report) -> Table:
    """Per phase of the run: what the probe's requests got (issue 12's per-phase report)."""
    probe = report.probe
    rate = probe.get("rate_per_s")
    title = f"probe: GET {probe.get('path', '/')}" + (f", {rate:g} a second" if rate else "")
    table = Table(title=title)
    for name in ("phase", "from", "to", "requests", "failed", "by broken", "two versions"):
        table.add_column(name, justify="left" if name == "phase" else "right")
    for phase, p in probe.get("phases", {}).items():
        two = p.get("two_versions")
        window = "-" if two is None else f"{two['seconds']:.1f}s ({two['first_s']:.1f}-"
        window += "" if two is None else f"{two['last_s']:.1f})"
        failed = str(p.get("failed", 0))
        if p.get("failed_by_commit"):
            failed += " (" + ", ".join(f"{n} by {c[:8]}" for c, n in p["failed_by_commit"].items())
            failed += ")"
        table.add_row(
            phase,
            _secs(p.get("started_s")),
            _secs(p.get("ended_s")),
            str(p.get("requests", 0)),
            failed,
            str(p.get("served_by_broken", 0)),
            window,
        )
    return table


def render(report: Report, console: Console) -> None:
    console.print(steps_table(report))
    console.print(summary_table(report))
    if report.probe.get("phases"):
        console.print(probe_table(report))
    if report.restore_note:
        console.print(report.restore_note)
    for problem in report.problems:
        console.print(f"[red]problem:[/red] {problem}")
