"""The README's "How long a release takes" tables, computed from the model
(pipekit.harness.model) and, for the "measured locally" column, from `make bench` reports:

    .venv/bin/python -m pipekit.harness.modeltables \\
        [--local reports/bench-local-<UTC>.json] \\
        [--local-fleet reports/bench-local-fleet-<UTC>.json]

prints the section's generated part (markdown) to paste between its markers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pipekit.harness.model import (
    BEFORE,
    ESTIMATE,
    LAMBDA_WHAT_IF,
    SOURCES,
    Settings,
    broken,
    release,
    root_defaults,
    settings_from,
    total,
    totals,
)

SCENARIOS = (("single", 1), ("fleet", 2), ("fleet", 10))


def _label(mode: str, size: int) -> str:
    return "single mode" if mode == "single" else f"fleet of {size}"


def _fmt(value: float) -> str:
    return f"{value:g}"


def step_table(
    before: Settings,
    after: Settings,
    which: str = "release",
    measured: Mapping[str, float] | None = None,
) -> list[str]:
    """Markdown rows: step, governed by (after), before s, after s, source, measured locally
    (`measured`: step name -> seconds, from a bench report; see measured_from_bench)."""
    measured = measured or {}
    make = release if which == "release" else broken
    old, new = make(before), make(after)
    lines = [
        "| step | governed by (file: setting = value, new default) | before (s) | after (s) "
        "| source | measured locally (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    old_by_name = {step.name: step for step in old}
    for step in new:
        was = old_by_name.get(step.name)
        times = f" x {step.times}" if step.times > 1 else ""
        before_s = (
            f"{_fmt(was.seconds)}{f' x {was.times}' if was.times > 1 else ''}" if was else "-"
        )
        lines.append(
            f"| {step.name} | {step.governed_by} | {before_s} | {_fmt(step.seconds)}{times} "
            f"| {step.source} | {_measured(measured.get(step.name))} |"
        )
    lines.append(
        f"| **total** |  | **{_fmt(total(old))}** | **{_fmt(total(new))}** |  "
        f"| {_measured(measured.get('total'))} |"
    )
    return lines


def _measured(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def summary_table(
    before: Mapping[str, str],
    after: Mapping[str, str],
    measured: Mapping[tuple[str, int], Mapping[str, Any]] | None = None,
) -> list[str]:
    lines = [
        "| deployment | commit -> live (s) | commit -> all live (s) | broken -> restored (s) "
        "| never-healthy -> restored (s) | measured locally (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for mode, size in SCENARIOS:
        old = totals(settings_from(before, mode, size))
        new = totals(settings_from(after, mode, size))
        cells = [
            f"{_fmt(old[k])} -> **{_fmt(new[k])}**"
            for k in (
                "commit_to_live_s",
                "commit_to_all_live_s",
                "broken_to_restored_s",
                "unhealthy_to_restored_s",
            )
        ]
        local = ((measured or {}).get((mode, size)) or {}).get("totals") or {}
        seen = [
            f"{k.split('_to_')[0].replace('commit', 'live')} {_measured(local[k])}"
            for k in ("commit_to_live_s", "broken_to_restored_s")
            if local.get(k) is not None
        ]
        lines.append(f"| {_label(mode, size)} | " + " | ".join(cells) + f" | {', '.join(seen)} |")
    return lines


def readme_tables(
    before: Mapping[str, str],
    after: Mapping[str, str],
    measured: Mapping[tuple[str, int], Mapping[str, Any]] | None = None,
) -> str:
    """The README section's generated part: the summary, then each scenario's steps, then the
    sources. `measured`: (mode, size) -> measured_from_bench's answer, for the local column."""
    measured = measured or {}
    out = [
        "Totals, before -> **after** the new defaults:",
        "",
        *summary_table(before, after, measured),
    ]
    single = settings_from(after, "single", 1)
    lam = totals(replace(single, build_compute=LAMBDA_WHAT_IF))
    out += [
        "",
        f"What Lambda compute would give (CodeBuildComputeType {LAMBDA_WHAT_IF}, not offered: "
        'see "Which CodeBuild image, and why"): single mode commit -> live '
        f"{_fmt(lam['commit_to_live_s'])} s, broken -> restored "
        f"{_fmt(lam['broken_to_restored_s'])} s.",
    ]
    for mode, size in SCENARIOS:
        old, new = settings_from(before, mode, size), settings_from(after, mode, size)
        out += ["", f"#### {_label(mode, size).capitalize()}: commit -> all live", ""]
        local = measured.get((mode, size)) or {}
        out += step_table(old, new, "release", local.get("release"))
        out += ["", f"#### {_label(mode, size).capitalize()}: broken commit -> restored", ""]
        out += step_table(old, new, "broken", local.get("broken"))
    out += ["", "Sources:", ""]
    out += [f"- {key}: {text}" for key, text in SOURCES.items()]
    out.append(f"- {ESTIMATE}: no AWS number; this project's estimate (pipekit/harness/model.py)")
    return "\n".join(out) + "\n"


# --- Measured: the same steps from a `make bench` report (reports/bench-<env>-<UTC>.json) ----

_BUILD_STEPS = {
    "Build: queued + provisioning": ("SUBMITTED", "QUEUED", "PROVISIONING"),
    "Build: DOWNLOAD_SOURCE": ("DOWNLOAD_SOURCE",),
    "Build: INSTALL": ("INSTALL",),
    "Build: PRE_BUILD": ("PRE_BUILD",),
    "Build: BUILD": ("BUILD",),
    "Build: POST_BUILD..FINALIZING": ("POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING"),
}
_EVENT_STEPS = {"BlockTraffic": "BlockTraffic (drain)"}


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _gap(start: Any, end: Any) -> float | None:
    a, b = _moment(start), _moment(end)
    return None if a is None or b is None else (b - a).total_seconds()


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _deployment_steps(deployment: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Each lifecycle event's mean seconds over the deployment's instances, under the model's
    step names; a failed ValidateService is the failure step."""
    names: dict[str, list[float]] = {}
    firsts = []
    for instance in deployment.get("instances", []):
        starts = [e["start"] for e in instance["events"] if e.get("start")]
        firsts.append(min((_moment(x) for x in starts), default=None))
        for event in instance["events"]:
            if event.get("seconds") is None or event.get("status") == "Skipped":
                continue
            name = _EVENT_STEPS.get(event["event"], event["event"])
            if name == "AllowTraffic":
                name = "AllowTraffic (first health check)"
            if name == "ValidateService" and event.get("status") == "Failed":
                name = "ValidateService fails (crash seen)"
            names.setdefault(prefix + name, []).append(event["seconds"])
    steps = {name: _mean(values) for name, values in names.items()}
    first = min((f for f in firsts if f is not None), default=None)
    if first is not None and not prefix:
        steps["Deploy: deployment created -> agent"] = _gap(deployment.get("create"), first)
    return {k: v for k, v in steps.items() if v is not None}


def measured_from_bench(result: Mapping[str, Any]) -> dict[str, Any]:
    """A bench report's runs under the model's step names: {"release": {step: s}, "broken":
    {step: s}, "totals": {...}}, from the good and the broken run (without labels, `--last N`:
    the newest succeeded and failed ones); steps the records do not have are left out."""
    out: dict[str, Any] = {"totals": dict(result.get("totals") or {})}
    for run in result.get("runs", []):
        # pushed runs are labelled; `--last N` runs go by their status (newest first)
        label = run.get("label") or {"Succeeded": "good", "Failed": "broken"}.get(run["status"])
        table = {"good": "release", "broken": "broken"}.get(label or "")
        if table is None or table in out:
            continue
        steps: dict[str, float | None] = {
            "webhook -> execution start": run.get("trigger_to_start_s")
        }
        for gap in run.get("handoffs", []):
            if gap["from"].startswith("Source/") and gap["to"].startswith("Build/"):
                steps["hand-off Source -> Build"] = gap["seconds"]
            if gap["from"].startswith("Build/") and gap["to"].startswith("Deploy/"):
                steps["hand-off Build -> Deploy"] = gap["seconds"]
        for action in run.get("actions", []):
            if action["stage"] == "Source":
                steps["Source (CodeConnections, CODE_ZIP)"] = action["seconds"]
            phases = {p["phase"]: p["seconds"] for p in action.get("build", {}).get("phases", [])}
            if action["stage"] == "Build":
                for name, kinds in _BUILD_STEPS.items():
                    found = [phases[k] for k in kinds if phases.get(k) is not None]
                    steps[name] = sum(found) if found else None
            deployment = action.get("deployment")
            if action["stage"] == "Deploy" and deployment:
                steps.update(_deployment_steps(deployment))
                steps["Deploy action sees the deployment end"] = _gap(
                    deployment.get("end"), action.get("end")
                )
                rollback = action.get("rollback")
                if rollback:
                    steps["rollback deployment created"] = _gap(
                        deployment.get("end"), rollback.get("create")
                    )
                    steps.update(_deployment_steps(rollback, "rollback: "))
        key = "commit_to_live_s" if table == "release" else "broken_to_restored_s"
        steps["total"] = out["totals"].get(key)
        out[table] = {k: v for k, v in steps.items() if v is not None}
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="The README's release-time tables.")
    parser.add_argument("--local", help="make bench ENV=local report: single mode's column")
    parser.add_argument("--local-fleet", help="make bench ENV=local-fleet report (fleet of 2)")
    args = parser.parse_args(argv)
    measured = {}
    for path, scenario in ((args.local, ("single", 1)), (args.local_fleet, ("fleet", 2))):
        if path:
            measured[scenario] = measured_from_bench(json.loads(Path(path).read_text()))
    root = Path(__file__).resolve().parents[2] / "templates" / "root.yaml"
    print(readme_tables(BEFORE, root_defaults(root), measured), end="")


if __name__ == "__main__":
    main()
