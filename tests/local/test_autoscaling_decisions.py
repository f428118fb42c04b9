"""Local mode's Auto Scaling decisions (pipekit/local/autoscaling.py) as plain functions: which
Elastic IP the user data claims, whether and how long it waits for InService before it signals,
CodeDeploy's answer to the launch hook, the size local hosts allow."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from pipekit.cfn.template import load_template
from pipekit.local.autoscaling import (
    allocation_id,
    answer,
    app_env,
    claims_when_in_service,
    in_service_wait,
    signal_after_wait,
    too_many,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_user_data_names_the_elastic_ip_it_claims() -> None:
    script = "#!/bin/bash\nSTACK='s'\nALLOCATION_ID='eipalloc-0abc123'\nSTEP=start\n"
    assert allocation_id(script) == "eipalloc-0abc123"
    assert allocation_id("ALLOCATION_ID=''\n") is None  # fleet mode: no address to claim
    assert allocation_id("") is None
    # the template's user data still has that line (what the local claim reads)
    template = load_template(ROOT / "templates" / "ec2.yaml")
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script = data["UserData"]["Fn::Base64"]["Fn::Sub"][0]
    assert "\nALLOCATION_ID='${AllocationId}'\n" in script


def _template_user_data() -> str:
    template = load_template(ROOT / "templates" / "ec2.yaml")
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    return data["UserData"]["Fn::Base64"]["Fn::Sub"][0]


def test_the_user_data_says_whether_it_waits_for_in_service() -> None:
    # the template's user data waits (what local mode's signal follows), bounded
    assert in_service_wait(_template_user_data()) == 540.0
    # a user data that signals once the agent runs (the template before the step) does not
    old = 'STEP=codedeploy-agent-running\nSTEP=signal\nsignal 0 "CodeDeploy agent running"\n'
    assert in_service_wait(old) is None
    assert in_service_wait("") is None


def test_the_user_data_claims_the_elastic_ip_once_in_service() -> None:
    # the template's: the address moves only to an instance that serves the last good revision
    assert claims_when_in_service(_template_user_data())
    # the template before: claimed at boot, ahead of the wait (or with no wait at all)
    before = "STEP=claim-elastic-ip\nSTEP=install-codedeploy-agent\nSTEP=wait-in-service\n"
    assert not claims_when_in_service(before)
    assert not claims_when_in_service("STEP=claim-elastic-ip\nSTEP=signal\n")
    assert not claims_when_in_service("")


def test_the_wait_signals_success_in_service_failure_past_its_bound_none_once_gone() -> None:
    assert signal_after_wait("InService", 0.0, 540.0) == "SUCCESS"
    assert signal_after_wait("Pending:Wait", 10.0, 540.0) is None  # CodeDeploy still deploying
    assert signal_after_wait("Pending:Wait", 540.0, 540.0) == "FAILURE"  # the step's trap
    # abandoned and terminated: its user data stopped with it, nothing is signalled
    assert signal_after_wait(None, 10.0, 540.0) is None
    assert signal_after_wait(None, 600.0, 540.0) is None


def test_codedeploys_answer_to_the_launch_hook() -> None:
    revision = {"deploymentId": "d-1", "revision": {}}
    assert answer(None, None) == "CONTINUE"  # no successful revision yet: nothing to deploy
    assert answer(revision, {"status": "Succeeded"}) == "CONTINUE"
    assert answer(revision, {"status": "Failed"}) == "ABANDON"
    assert answer(revision, None) == "ABANDON"


def test_local_mode_holds_up_to_four_instances_per_group() -> None:
    assert too_many(0) is None and too_many(2) is None and too_many(4) is None
    assert too_many(5) == (
        "local mode runs at most 4 instances per Auto Scaling group: each is a host booted on "
        "this machine, which holds no more (asked for 5)"
    )


def _signal_with(monkeypatch, booted, states: list[str | None], timeout: float = 5.0):
    """Launches.signal for an instance booted as `booted` whose lifecycle state reads `states`
    one poll after another (the last one repeats)."""
    from pipekit.local import autoscaling

    seen = list(states)
    monkeypatch.setattr(
        autoscaling, "lifecycle_state", lambda *_: seen.pop(0) if len(seen) > 1 else seen[0]
    )
    monkeypatch.setattr(autoscaling, "POLL_S", 0.01)
    launches = autoscaling.Launches(hosts=None, deployer=None)
    if booted is not None:
        launches._signals["i-1"] = booted
    return launches.signal("123456789012", "us-east-1", "i-1", timeout)


def test_the_signal_follows_the_user_data(monkeypatch) -> None:
    now = time.monotonic()
    waiting = ["Pending", "Pending:Wait", "Pending:Wait"]
    # with the wait-in-service step: only once the group put it InService (CodeDeploy's CONTINUE)
    assert _signal_with(monkeypatch, ("SUCCESS", 540.0, now), [*waiting, "InService"]) == "SUCCESS"
    # abandoned and terminated while it waited: no signal, and no use waiting for one
    started = time.monotonic()
    assert _signal_with(monkeypatch, ("SUCCESS", 540.0, now), [*waiting, None], 30.0) is None
    assert time.monotonic() - started < 5
    # still Pending:Wait past the step's bound: its trap signals FAILURE
    assert _signal_with(monkeypatch, ("SUCCESS", 540.0, now - 541), ["Pending:Wait"]) == "FAILURE"
    # still waiting when the caller's time is up (PauseTime): no signal
    assert _signal_with(monkeypatch, ("SUCCESS", 540.0, now), ["Pending:Wait"], 0.1) is None
    # without the step (older user data): at boot, whatever CodeDeploy is doing
    assert _signal_with(monkeypatch, ("SUCCESS", None, now), ["Pending:Wait"]) == "SUCCESS"
    # a host that could not boot: the failed step's FAILURE, wait or not
    assert _signal_with(monkeypatch, ("FAILURE", 540.0, now), ["Pending:Wait"]) == "FAILURE"
    # not booted within the time: nothing
    assert _signal_with(monkeypatch, None, ["Pending:Wait"], 0.1) is None


def test_local_hosts_get_the_environment_file_the_user_data_writes(tmp_path: Path) -> None:
    """app_env reads the write-app-config step's file; running that step with bash writes the
    same lines, so a local host's /etc/sample-app/env is the instance's."""
    from tests.unit.test_templates import _user_data

    for mode in ("single", "fleet"):
        script = _user_data(mode)
        expected = {
            "PORT": "8080",
            "VALIDATE_SECONDS": "30",
            "APP_CONFIG_PATH": "/pipekit/team-env7/app/",
            "AWS_REGION": "eu-central-1",
        }
        assert app_env(script) == expected
        step = script[
            script.index("STEP=write-app-config") : script.index("STEP=install-codedeploy")
        ]
        step = step.replace("/etc/sample-app", str(tmp_path / mode))
        subprocess.run(["bash", "-euo", "pipefail", "-c", step], check=True, timeout=10)
        written = (tmp_path / mode / "env").read_text().splitlines()
        assert dict(line.split("=", 1) for line in written) == expected
    # older templates wrote the port alone with printf: nothing to add to the host's PORT
    assert app_env("printf 'PORT=%s\\n' '80' > /etc/sample-app/env\n") == {}
