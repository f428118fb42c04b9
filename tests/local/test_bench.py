"""`make bench ARGS="--last 2"` on local mode (the shared `local_stack`): after a push, the table
and the JSON report carry exactly the numbers the services recorded (action executions, build
phases, lifecycle events), read here independently through the same APIs."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from pipekit.e2e.bench import bench
from pipekit.e2e.gitops import Checkout
from pipekit.harness.modeltables import measured_from_bench
from pipekit.local.lifecycle import environment
from pipekit.samplechanges import set_marker
from tests.local.test_why_redeploy import idle, push_and_wait

pytestmark = pytest.mark.host


def _seconds(start, end) -> str:
    return f"{(end - start).total_seconds():.2f}"


def test_bench_last_two_shows_the_records_numbers(local_stack, tmp_path):
    stack = local_stack
    idle(stack)
    checkout = Checkout.clone(stack.git_remote, stack.branch, tmp_path / "repo")
    pushed = push_and_wait(stack, checkout, set_marker(checkout.path, "bench-last"), "bench")
    assert pushed["status"] == "Succeeded"

    out = Console(record=True, width=240, force_terminal=False)
    status, result, path = bench(
        environment(stack),
        last=2,
        git_remote=stack.git_remote,
        app_url=stack.app_url,
        report_dir=tmp_path / "reports",
        console=out,
    )
    text = out.export_text()
    print(text)  # for the report
    assert status == 0 and path.name.startswith("bench-local-")
    assert json.loads(path.read_text())["runs"][0]["execution_id"] == pushed["pipelineExecutionId"]

    cp, cb, cd = (stack.client(s) for s in ("codepipeline", "codebuild", "codedeploy"))
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 3 and cells[0]:
            rows.setdefault(cells[0], []).append(cells[2])
    assert len(result["runs"]) == 2
    checked = 0
    for run in result["runs"]:
        details = cp.list_action_executions(
            pipelineName=stack.pipeline_name, filter={"pipelineExecutionId": run["execution_id"]}
        )["actionExecutionDetails"]
        for d in details:
            name = f"{d['stageName']}/{d['actionName']}"
            assert _seconds(d["startTime"], d["lastUpdateTime"]) in rows[name]
            ext = d.get("output", {}).get("executionResult", {}).get("externalExecutionId")
            provider = d["input"]["actionTypeId"]["provider"]
            if provider == "CodeBuild" and ext:
                (build,) = cb.batch_get_builds(ids=[ext])["builds"]
                for phase in build["phases"]:
                    if phase.get("endTime"):
                        assert (
                            _seconds(phase["startTime"], phase["endTime"])
                            in rows[phase["phaseType"]]
                        )
                        checked += 1
            if provider == "CodeDeploy" and ext:
                ids = cd.list_deployment_targets(deploymentId=ext)["targetIds"]
                targets = cd.batch_get_deployment_targets(deploymentId=ext, targetIds=ids)
                for t in targets["deploymentTargets"]:
                    for e in t["instanceTarget"]["lifecycleEvents"]:
                        if e.get("endTime"):
                            assert (
                                _seconds(e["startTime"], e["endTime"])
                                in rows[e["lifecycleEventName"]]
                            )
                            checked += 1
    assert checked >= 10  # build phases and lifecycle events of both runs were compared


def test_bench_push_mode_times_a_good_and_a_broken_commit(local_stack, tmp_path):
    """The default mode: the e2e's good and broken commits and the restore, each read back from
    the records; the totals from the /version poll, and the bench's own overhead."""
    stack = local_stack
    idle(stack)
    out = Console(record=True, width=240, force_terminal=False)
    _, result, path = bench(
        environment(stack),
        git_remote=stack.git_remote,
        app_url=stack.app_url,
        report_dir=tmp_path / "reports",
        console=out,
    )
    print(out.export_text())  # for the report
    assert result["scenario_ok"], result["problems"]
    assert [r["label"] for r in result["runs"]] == ["good", "broken", "restore"]
    broken = result["runs"][1]
    deploy = next(a for a in broken["actions"] if a["provider"] == "CodeDeploy")
    assert deploy["deployment"]["status"] == "Failed"
    assert deploy["rollback"]["status"] == "Succeeded"
    assert all(r["trigger_to_start_s"] is not None for r in result["runs"])
    totals, overhead = result["totals"], result["overhead"]
    assert totals["commit_to_live_s"] and totals["broken_to_restored_s"]
    assert overhead["measured_seconds"] and overhead["share"] is not None
    assert json.loads(path.read_text())["totals"] == totals

    # the README's "measured locally" column reads the same report (pipekit.harness.modeltables)
    measured = measured_from_bench(json.loads(path.read_text()))
    print(json.dumps(measured, indent=1))  # for the report
    good_build = next(a for a in result["runs"][0]["actions"] if a["provider"] == "CodeBuild")
    phases = {p["phase"]: p["seconds"] for p in good_build["build"]["phases"]}
    assert measured["release"]["Build: INSTALL"] == phases["INSTALL"]
    assert measured["release"]["AfterInstall"] > 0
    assert measured["release"]["total"] == totals["commit_to_live_s"]
    assert measured["broken"]["ValidateService fails (crash seen)"] > 0
    assert measured["broken"]["rollback: AfterInstall"] > 0
    assert measured["broken"]["total"] == totals["broken_to_restored_s"]
