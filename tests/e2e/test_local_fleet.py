"""Fleet mode end to end (issue 12): `make local ENV=local-fleet` (FleetSize 2 behind the load
balancer), then `make test-e2e ENV=local-fleet` as a user runs it, judged from its JSON report:
0 failed requests and 0 served by the broken version during the broken deploy, 0 failed during
the good deploys, the probe at 5 requests a second; then the alarm scenario. Runs inside
`make test`.

It runs in this checkout's local mode (`.local/`, what `make test-e2e ENV=local-fleet` reads),
so it refuses to start while a local mode runs here."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipekit.local import state
from pipekit.local.state import LocalStack
from tests.support.local_fixtures import free_ports

ROOT = Path(__file__).resolve().parents[2]
ENV = "local-fleet"
FLEET_SIZE = 2
PROBE_RATE = 5.0
pytestmark = [
    pytest.mark.host,
    pytest.mark.slow,
]


def make(*args: str, timeout: float, env: dict[str, str] | None = None):
    return subprocess.run(
        ["make", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def fleet() -> Iterator[LocalStack | None]:
    parameters = ROOT / "parameters" / f"{ENV}.json"
    if not parameters.exists():
        pytest.fail(f"{parameters} is missing: fleet mode has not landed (fleet-lb makes it)")
    values = {p["ParameterKey"]: p["ParameterValue"] for p in json.loads(parameters.read_text())}
    assert values.get("DeploymentMode") == "fleet"
    assert int(values.get("FleetSize", FLEET_SIZE)) == FLEET_SIZE
    if (ROOT / ".local" / "state.json").exists():
        pytest.fail(f"a local mode runs in {ROOT} (.local/state.json): `make local-down` first")
    port, control_port = free_ports(2)
    ports = {"PIPEKIT_LOCAL_PORT": str(port), "PIPEKIT_LOCAL_CONTROL_PORT": str(control_port)}
    up = make("local", f"ENV={ENV}", timeout=1200, env=ports)
    try:
        assert up.returncode == 0, (up.stdout[-3000:], up.stderr[-3000:])
        # a failing test's report gets this local mode's logs (tests/support/local_fixtures.py)
        yield state.read_state(state.default_state_dir(ROOT))
    finally:
        down = make("local-down", f"ENV={ENV}", timeout=600)
        assert down.returncode == 0, down.stderr[-3000:]
        assert not (ROOT / ".local" / "state.json").exists()


def run_e2e(*args: str) -> dict:
    started = time.time()
    extra = f"ARGS={' '.join(args)}" if args else "ARGS="
    done = make("test-e2e", f"ENV={ENV}", extra, timeout=3000)
    reports = sorted(
        (p for p in (ROOT / "reports").glob(f"e2e-{ENV}-*.json") if p.stat().st_mtime >= started),
        key=lambda p: p.stat().st_mtime,
    )
    assert reports, (done.stdout[-3000:], done.stderr[-3000:])
    report = json.loads(reports[-1].read_text())
    assert done.returncode == 0, (report["problems"], done.stdout[-3000:])
    return report


def check_probe_rate(report: dict) -> None:
    probe = report["probe"]
    assert probe["rate_per_s"] >= PROBE_RATE
    for name, phase in probe["phases"].items():
        seconds = (phase["ended_s"] or 0) - phase["started_s"]
        # the schedule's requests, all sent (a few in flight at a phase's edges)
        assert phase["requests"] >= PROBE_RATE * seconds - 5, (name, phase)


def test_make_test_e2e_local_fleet_meets_the_fleet_targets(fleet) -> None:
    report = run_e2e()
    assert report["ok"] and report["deployment_mode"] == "fleet"
    phases = report["probe"]["phases"]
    for name in ("good", "broken", "restore"):
        assert phases[name]["requests"] > 0
        assert phases[name]["failed"] == 0, (name, phases[name]["errors"])
    assert phases["broken"]["served_by_broken"] == 0
    # a rolling deploy serves the old and the new version side by side for a while
    assert phases["good"]["two_versions"] is not None
    check_probe_rate(report)
    assert report["codedeploy_rollback"]["failed_events"] == ["ValidateService"]


@pytest.mark.alarm_e2e
def test_make_test_e2e_local_fleet_alarm_scenario(fleet) -> None:
    report = run_e2e("--scenario", "alarm")
    assert report["ok"] and report["scenario"] == "alarm"
    rollback = report["codedeploy_rollback"]
    assert rollback["error_code"] == "ALARM_ACTIVE"
    assert rollback["rollback_creator"] == "codeDeployRollback"
    # one at a time: one instance took traffic with the release before the alarm stopped it
    assert len(rollback["instances_given_traffic"]) == 1
    alarm = report["probe"]["phases"]["alarm"]
    assert alarm["failed"] == alarm["failed_by_commit"][report["broken_commit"]] > 0
    assert report["probe"]["phases"]["good"]["failed"] == 0
    check_probe_rate(report)
