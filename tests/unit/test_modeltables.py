"""The README's release-time tables (pipekit/harness/modeltables.py): the model's numbers, and
the "measured locally" column read from a `make bench` report of AWS-shaped records."""

from __future__ import annotations

import json
from pathlib import Path

from pipekit.harness import model, modeltables, timing
from pipekit.harness.model import settings_from, totals
from pipekit.harness.runs import pipeline_executions, run_records
from tests.unit.test_timing import PIPELINE, records  # noqa: F401 - the fixture

ROOT_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "root.yaml"


def test_the_readme_tables_carry_the_models_numbers() -> None:
    after = model.root_defaults(ROOT_TEMPLATE)
    text = modeltables.readme_tables(model.BEFORE, after)
    for mode, size in modeltables.SCENARIOS:
        new = totals(settings_from(after, mode, size))
        label = "single mode" if mode == "single" else f"fleet of {size}"
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert f"**{new['commit_to_all_live_s']:g}**" in row
        assert f"**{new['broken_to_restored_s']:g}**" in row
    for key in model.SOURCES:
        assert f"- {key}: " in text
    totals_rows = [line for line in text.splitlines() if line.startswith("| **total** |")]
    assert len(totals_rows) == 2 * len(modeltables.SCENARIOS)
    # without a bench report the measured column is empty
    assert all(line.endswith("|  |") for line in totals_rows)


def _bench_report(clients) -> dict:
    """What `make bench` writes (reports/bench-<env>-<UTC>.json) for the fixture's run."""
    (execution,) = pipeline_executions(clients("codepipeline"), PIPELINE, 1)
    details, builds, deployments = run_records(
        clients("codepipeline"), clients("codebuild"), clients("codedeploy"), PIPELINE, execution
    )
    run = timing.run_timing(execution, details, builds, deployments)
    run |= {"label": "broken", "trigger_to_start_s": 1.25}
    result = {"runs": [run], "totals": {"commit_to_live_s": None, "broken_to_restored_s": 290.5}}
    return json.loads(json.dumps(result, default=str))  # as written: datetimes become strings


def test_the_measured_column_comes_from_a_bench_report(records) -> None:  # noqa: F811
    measured = modeltables.measured_from_bench(_bench_report(records))
    broken = measured["broken"]
    # the fixture: SUBMITTED 1 + QUEUED 8 + PROVISIONING 26 s; hand-off Source -> Build 1.5 s
    assert broken["Build: queued + provisioning"] == 35.0
    assert broken["Build: POST_BUILD..FINALIZING"] == 4.0
    assert broken["hand-off Source -> Build"] == 1.5
    assert broken["webhook -> execution start"] == 1.25
    assert broken["BlockTraffic (drain)"] == 30.0  # the drain on each instance
    assert broken["ValidateService fails (crash seen)"] == 3.0
    assert broken["Deploy: deployment created -> agent"] == 1.0  # created 61, first event 62
    assert broken["rollback deployment created"] == 0.0
    assert broken["rollback: AfterInstall"] == 3.0
    assert broken["total"] == 290.5
    assert "release" not in measured  # no good run in the report
    # the fleet-of-2 tables show them in the last column
    after = model.root_defaults(ROOT_TEMPLATE)
    text = modeltables.readme_tables(model.BEFORE, after, {("fleet", 2): measured})
    fleet = text[text.index("#### Fleet of 2: broken") :]
    row = next(line for line in fleet.splitlines() if line.startswith("| Build: queued"))
    assert row.endswith("| 35.0 |")
    summary = next(line for line in text.splitlines() if line.startswith("| fleet of 2 |"))
    assert summary.endswith("| broken 290.5 |")
