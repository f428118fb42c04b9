"""A deployment stopped by the deployment group's alarms and rolled back
(DEPLOYMENT_STOP_ON_ALARM), through the engine and the emulated APIs (in-process runners, see
test_engine): the alarm set by SetAlarmState or by metric data and the evaluation tick; checked
as the deployment starts and between instances; CodeDeploy's rollback runs while the alarm is
still in ALARM."""

from __future__ import annotations

import threading
import time

from pipekit.emulator.alarms.tick import tick
from tests.support.alarms import FIVE_XX, dimensions, put_datum, template_alarms
from tests.support.engine_world import client
from tests.support.shapes import check_output

ACCOUNT, REGION = "123456789012", "us-east-1"
ALARM = FIVE_XX
DIMS = dimensions("app/lb/1", "targetgroup/tg/2")


def five_xx_alarm(cw) -> None:
    template_alarms(cw, DIMS, (ALARM,))


def assert_stopped_and_rolled_back(w, good: str) -> tuple[dict, dict]:
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Failed", "Succeeded"]
    rollback, stopped, _ = w.deployments()
    assert stopped["status"] == "Stopped"
    assert stopped["errorInformation"] == {
        "code": "ALARM_ACTIVE",
        "message": "One or more alarms have been activated according to the Amazon CloudWatch "
        f"metrics you selected, and the affected deployments have been stopped. Activated "
        f"alarms: <{ALARM}>",
    }
    assert stopped["rollbackInfo"]["rollbackDeploymentId"] == rollback["deploymentId"]
    # the rollback ran to the end with the alarm still in ALARM
    assert rollback["creator"] == "codeDeployRollback" and rollback["status"] == "Succeeded"
    assert (
        client(w.emu, "cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0][
            "StateValue"
        ]
        == "ALARM"
    )
    assert set(w.runner.serving.values()) == {good}
    for info in (stopped, rollback):
        check_output("codedeploy", "GetDeployment", {"deploymentInfo": info})
    return stopped, rollback


def test_an_alarm_set_by_metric_data_stops_the_next_deployment(world_factory):
    w = world_factory("p-alarm-metric", on_failure=False, auto_rollback=True, alarms=(ALARM,))
    cw = client(w.emu, "cloudwatch")
    five_xx_alarm(cw)
    good = w.push({"app.txt": "v1"}, "good")
    w.wait_idle()
    put_datum(cw, "HTTPCode_Target_5XX_Count", DIMS, 6)
    # from OK (plain moto) or INSUFFICIENT_DATA (once the emulator's patches are applied)
    assert [(name, new) for name, _, new in tick(ACCOUNT, REGION).changed] == [(ALARM, "ALARM")]
    deploys_before = len(w.runner.deploys)
    w.push({"app.txt": "v2"}, "stopped as it starts")
    stopped, _ = assert_stopped_and_rolled_back(w, good)
    # stopped before any instance: the new revision never reached one
    assert stopped["deploymentOverview"]["Skipped"] == 1
    assert stopped["deploymentOverview"]["Succeeded"] == 0
    assert len(w.runner.deploys) == deploys_before + 1  # only the rollback's


def test_an_alarm_between_instances_stops_the_rest(world_factory):
    w = world_factory(
        "p-alarm-between", on_failure=False, auto_rollback=True, alarms=(ALARM,), instances=2
    )
    cw = client(w.emu, "cloudwatch")
    five_xx_alarm(cw)
    good = w.push({"app.txt": "v1"}, "good")
    w.wait_idle()
    started = len(w.runner.deploys)
    w.runner.deploy_s = 0.5

    def alarm_once_the_first_instance_deploys() -> None:
        deadline = time.monotonic() + 30
        while len(w.runner.deploys) == started and time.monotonic() < deadline:
            time.sleep(0.02)
        cw.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="5xx under traffic")

    setter = threading.Thread(target=alarm_once_the_first_instance_deploys, daemon=True)
    setter.start()
    w.push({"app.txt": "v2"}, "stopped after its first instance")
    setter.join(timeout=30)
    stopped, rollback = assert_stopped_and_rolled_back(w, good)
    assert stopped["deploymentOverview"]["Succeeded"] == 1
    assert stopped["deploymentOverview"]["Skipped"] == 1
    assert rollback["deploymentOverview"]["Succeeded"] == 2
