"""Fleet-mode verdicts (issue 12) over botocore-shaped records: the probe's per-phase targets,
the alarm scenario's stop-and-rollback, and what the probe reads from an answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipekit.e2e import decisions
from tests.e2e.test_decisions import shaped
from tests.unit.test_timing import EVENTS as TRAFFIC_ORDER  # in-place, with traffic control

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
GOOD, ALARM = "a" * 40, "e" * 40


def info(did, status, *, creator="CodePipeline", key="k", error=None, rollback=None, trig=None):
    data: dict[str, Any] = {
        "applicationName": "sample-app",
        "deploymentGroupName": "dg",
        "deploymentId": did,
        "status": status,
        "creator": creator,
        "createTime": T0,
        "completeTime": T0 + timedelta(minutes=3),
        "revision": {"revisionType": "S3", "s3Location": {"bucket": "b", "key": key}},
    }
    if error:
        data["errorInformation"] = {"code": error, "message": "alarm(s) in ALARM state"}
    if rollback:
        data["rollbackInfo"] = {"rollbackDeploymentId": rollback}
    if trig:
        data["rollbackInfo"] = {"rollbackTriggeringDeploymentId": trig}
    return shaped("codedeploy", "get_deployment", {"deploymentInfo": data}, deploymentId=did)


def instance(did: str, iid: str, done: int) -> dict[str, Any]:
    """An instanceTarget whose first `done` traffic-controlled events Succeeded, the rest
    Skipped (the deployment stopped before them)."""
    events = [
        {"lifecycleEventName": name, "status": "Succeeded" if i < done else "Skipped"}
        for i, name in enumerate(TRAFFIC_ORDER)
    ]
    return {
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {
            "deploymentId": did,
            "targetId": iid,
            "status": "Succeeded" if done == len(TRAFFIC_ORDER) else "Skipped",
            "lifecycleEvents": events,
        },
    }


def targets(did: str, *done: int) -> list[dict[str, Any]]:
    ids = [f"i-0{n}" for n in range(len(done))]
    return shaped(
        "codedeploy",
        "batch_get_deployment_targets",
        {"deploymentTargets": [instance(did, i, d) for i, d in zip(ids, done, strict=True)]},
        deploymentId=did,
        targetIds=ids,
    )["deploymentTargets"]


def page(commit: str) -> str:
    return f'<dl><dt>Commit</dt><dd><code id="commit">{commit}</code></dd></dl>'


def test_answer_commit_from_the_page_and_from_json():
    assert decisions.answer_commit(page(GOOD)) == GOOD
    assert decisions.answer_commit(json.dumps({"commit": GOOD, "build_id": "x"})) == GOOD
    assert decisions.answer_commit("<html>Bad Gateway</html>") is None
    assert decisions.answer_commit("{not json") is None
    assert decisions.answer_commit("") is None


@pytest.mark.parametrize(
    ("seen", "window"),
    [
        ({}, None),
        ({GOOD: (0.0, 9.0)}, None),
        ({GOOD: (0.0, 4.0), ALARM: (4.5, 9.0)}, None),  # a clean switch: never both
        ({GOOD: (0.0, 6.0), ALARM: (4.0, 9.0)}, (4.0, 6.0)),  # rolling: both from 4 to 6
        ({GOOD: (0.0, 9.0), ALARM: (3.0, 5.0)}, (3.0, 5.0)),  # broken served, then rolled back
        ({"x": (0.0, 3.0), "y": (2.0, 6.0), "z": (5.0, 8.0)}, (2.0, 6.0)),
    ],
)
def test_two_version_window(seen, window):
    assert decisions.two_version_window(seen) == window


def stats(requests=50, failed=0, broken=0, by_commit=None, errors=None) -> dict[str, Any]:
    return {
        "requests": requests,
        "failed": failed,
        "served_by_broken": broken,
        "failed_by_commit": by_commit or {},
        "errors": errors or {},
    }


def test_fleet_targets_zero_failed_and_zero_broken():
    assert decisions.probe_phase_verdict("fleet", "good", stats()).ok
    bad_good = decisions.probe_phase_verdict("fleet", "good", stats(failed=2))
    assert bad_good.problems == ["2 failed request(s) during the good deploy (target 0)"]
    assert decisions.probe_phase_verdict("fleet", "broken", stats()).ok
    broken = decisions.probe_phase_verdict("fleet", "broken", stats(failed=1, broken=3))
    assert len(broken.problems) == 2
    assert "3 request(s) served by the broken version" in broken.problems[1]
    assert not decisions.probe_phase_verdict("fleet", "restore", stats(failed=1)).ok


def test_single_mode_counts_with_no_target():
    # One instance deployed in place, nothing in front of it: counted, no target.
    single = decisions.probe_phase_verdict("single", "broken", stats(failed=13, broken=2))
    assert single.ok and (single.facts["failed"], single.facts["served_by_broken"]) == (13, 2)
    assert decisions.probe_phase_verdict("single", "good", stats(failed=4)).ok


def test_alarm_phase_wants_5xx_from_the_alarm_commit_only():
    ok = decisions.probe_phase_verdict(
        "fleet",
        "alarm",
        stats(failed=7, broken=20, by_commit={ALARM: 7}, errors={"HTTP 500": 7}),
        alarm_commit=ALARM,
    )
    assert ok.ok, ok.problems
    assert ok.facts["failed_by_alarm_commit"] == 7
    mixed = decisions.probe_phase_verdict(
        "fleet",
        "alarm",
        stats(failed=9, by_commit={ALARM: 7, GOOD: 1}, errors={"HTTP 500": 8, "timeout": 1}),
        alarm_commit=ALARM,
    )
    assert mixed.problems == [
        "2 failed request(s) not answered by the alarm commit ({'HTTP 500': 8, 'timeout': 1})"
    ]
    unseen = decisions.probe_phase_verdict("fleet", "alarm", stats(), alarm_commit=ALARM)
    assert unseen.problems == [
        "no 5xx from the alarm commit: the probe never saw what the alarm saw"
    ]


def test_alarm_stop_and_rollback_verdict_two_instances():
    good_revision = info("d-GOOD", "Succeeded", key="good")["deploymentInfo"]["revision"]
    stopped = info("d-ALARM", "Stopped", key="alarm", error="ALARM_ACTIVE", rollback="d-RB")
    rollback = info("d-RB", "Succeeded", creator="codeDeployRollback", key="good", trig="d-ALARM")
    # OneAtATime: the first instance took traffic with the alarm revision, the second was
    # stopped while it drained (BlockTraffic done, the rest Skipped).
    records = targets("d-ALARM", len(TRAFFIC_ORDER), 2)
    verdict = decisions.alarm_rollback_verdict(
        stopped, rollback, records, last_good_revision=good_revision
    )
    assert verdict.ok, verdict.problems
    assert verdict.facts["instances_given_traffic"] == ["i-00"]
    assert verdict.facts["error_code"] == "ALARM_ACTIVE"
    assert verdict.facts["rollback_creator"] == "codeDeployRollback"


def test_alarm_verdict_names_a_validate_failure_and_an_untrafficked_stop():
    failed = shaped(
        "codedeploy",
        "get_deployment",
        {
            "deploymentInfo": {
                "deploymentId": "d-X",
                "status": "Failed",
                "errorInformation": {"code": "HOOK_EXECUTION_FAILURE", "message": "hook"},
            }
        },
        deploymentId="d-X",
    )
    verdict = decisions.alarm_rollback_verdict(failed, None, targets("d-X", 3, 0))
    assert not verdict.ok
    assert "error code is HOOK_EXECUTION_FAILURE, not ALARM_ACTIVE (an alarm)" in verdict.problems
    assert any("no instance took traffic" in p for p in verdict.problems)
    assert "the failed deployment names no rollback deployment" in verdict.problems
