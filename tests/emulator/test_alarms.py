"""CloudWatch alarms in the emulator and CodeDeploy's alarm check, through real boto3 clients:
PutMetricAlarm's initial and updated state, the evaluation tick on the emulator clock, and
deployment_stop / the DEPLOYMENT_STOP_ON_ALARM rollback rule over the records."""

from __future__ import annotations

import json
from datetime import timedelta

from pipekit.emulator import clock
from pipekit.emulator.alarms.store import put_metric_data
from pipekit.emulator.alarms.tick import history, tick
from pipekit.emulator.records import alarms, deployments
from pipekit.emulator.records.deployments import group_of
from tests.support.alarms import FIVE_XX, dimensions, put_datum, template_alarms
from tests.support.emulator_fixtures import advance_clock
from tests.support.shapes import check_output

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/cd"
REVISION = {
    "revisionType": "S3",
    "s3Location": {"bucket": "bundles", "key": "app.zip", "bundleType": "zip"},
}
DIMS = dimensions("app/lb/1", "targetgroup/tg/2")


def five_xx_alarm(cw):
    template_alarms(cw, DIMS, (FIVE_XX,))


def state(cw, name):
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_put_metric_alarm_starts_insufficient_and_an_update_keeps_the_state(aws):
    cw = aws.client("cloudwatch")
    five_xx_alarm(cw)
    assert state(cw, "Target5xxAlarm")["StateValue"] == "INSUFFICIENT_DATA"
    assert state(cw, "Target5xxAlarm")["StateReason"] == "Unchecked: Initial alarm creation"
    cw.set_alarm_state(AlarmName="Target5xxAlarm", StateValue="ALARM", StateReason="by hand")
    five_xx_alarm(cw)  # an update
    assert state(cw, "Target5xxAlarm")["StateValue"] == "ALARM"
    check_output("cloudwatch", "DescribeAlarms", cw.describe_alarms())


def test_tick_follows_the_emulator_clock_and_records_history(aws):
    cw = aws.client("cloudwatch")
    five_xx_alarm(cw)
    put_datum(cw, "HTTPCode_Target_5XX_Count", DIMS, 9)
    assert tick(ACCOUNT, REGION).changed == [("Target5xxAlarm", "INSUFFICIENT_DATA", "ALARM")]
    assert tick(ACCOUNT, REGION).changed == []  # no transition, nothing written
    alarm = state(cw, "Target5xxAlarm")
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [9.0 (")
    # two minutes on (the emulator clock), the period holds no datapoint: notBreaching -> OK
    clock.advance(timedelta(minutes=2).total_seconds())
    assert tick(ACCOUNT, REGION).changed == [("Target5xxAlarm", "ALARM", "OK")]
    after = state(cw, "Target5xxAlarm")
    assert after["StateUpdatedTimestamp"] > alarm["StateUpdatedTimestamp"]
    items = history(ACCOUNT, REGION, "Target5xxAlarm")
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
    cw.set_alarm_state(AlarmName="Target5xxAlarm", StateValue="ALARM", StateReason="by hand")
    answer = cw.describe_alarm_history(AlarmName="Target5xxAlarm", HistoryItemType="StateUpdate")
    check_output("cloudwatch", "DescribeAlarmHistory", answer)
    got = answer["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in got] == [
        "Alarm updated from OK to ALARM",  # SetAlarmState's
        *(i["HistorySummary"] for i in items),
    ]
    assert json.loads(got[1]["HistoryData"])["newState"]["stateValue"] == "OK"
    oldest_first = cw.describe_alarm_history(
        AlarmName="Target5xxAlarm", ScanBy="TimestampAscending"
    )
    assert oldest_first["AlarmHistoryItems"] == list(reversed(got))


def test_in_process_put_reads_back_through_the_api(aws):
    cw = aws.client("cloudwatch")
    five_xx_alarm(cw)
    put_metric_data(
        ACCOUNT,
        REGION,
        "AWS/ApplicationELB",
        [{"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": DIMS, "Value": 8.0}],
    )
    now = clock.now()
    answer = cw.get_metric_statistics(
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=DIMS,
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )
    assert [p["Sum"] for p in answer["Datapoints"]] == [8.0]
    assert tick(ACCOUNT, REGION).changed == [(FIVE_XX, "INSUFFICIENT_DATA", "ALARM")]


def test_advancing_the_clock_evaluates_the_alarms(aws):
    cw = aws.client("cloudwatch")
    five_xx_alarm(cw)
    put_datum(cw, "HTTPCode_Target_5XX_Count", DIMS, 5)
    answer = advance_clock(aws, seconds=0)
    assert answer["alarms"] == [
        {
            "account": ACCOUNT,
            "region": REGION,
            "alarm": FIVE_XX,
            "from": "INSUFFICIENT_DATA",
            "to": "ALARM",
        }
    ]
    assert advance_clock(aws, seconds=120)["alarms"][0]["to"] == "OK"  # notBreaching


def alarmed_group(
    cd, *, ignore_poll_failure=False, events=("DEPLOYMENT_STOP_ON_ALARM",), name="dg"
):
    if "app" not in cd.list_applications()["applications"]:
        cd.create_application(applicationName="app", computePlatform="Server")
    cd.create_deployment_group(
        applicationName="app",
        deploymentGroupName=name,
        serviceRoleArn=ROLE,
        alarmConfiguration={
            "enabled": True,
            "ignorePollAlarmFailure": ignore_poll_failure,
            "alarms": [{"name": "Target5xxAlarm"}, {"name": "UnhealthyTargetsAlarm"}],
        },
        autoRollbackConfiguration={"enabled": True, "events": list(events)},
    )
    return group_of(ACCOUNT, REGION, "app", name)


def test_an_alarm_in_alarm_stops_the_deployment_with_aws_error(aws):
    cw, cd = aws.client("cloudwatch"), aws.client("codedeploy")
    template_alarms(cw, DIMS)
    group = alarmed_group(cd)
    assert alarms.deployment_stop(ACCOUNT, REGION, group) is None  # INSUFFICIENT_DATA: go on
    cw.set_alarm_state(AlarmName="Target5xxAlarm", StateValue="ALARM", StateReason="5xx")
    assert alarms.deployment_stop(ACCOUNT, REGION, group) == {
        "code": "ALARM_ACTIVE",
        "message": "One or more alarms have been activated according to the Amazon CloudWatch "
        "metrics you selected, and the affected deployments have been stopped. Activated "
        "alarms: <Target5xxAlarm>",
    }
    # CodeDeploy's own rollback is not stopped by the alarms
    assert alarms.deployment_stop(ACCOUNT, REGION, group, {"creator": "codeDeployRollback"}) is None


def test_unreadable_alarms_stop_unless_poll_failures_are_ignored(aws):
    cw, cd = aws.client("cloudwatch"), aws.client("codedeploy")
    five_xx_alarm(cw)  # UnhealthyTargetsAlarm does not exist
    stop = alarms.deployment_stop(ACCOUNT, REGION, alarmed_group(cd))
    assert stop["code"] == "ALARM_ACTIVE" and "<UnhealthyTargetsAlarm>" in stop["message"]
    group = alarmed_group(cd, ignore_poll_failure=True, name="tolerant")
    assert alarms.deployment_stop(ACCOUNT, REGION, group) is None


def test_a_deployment_stopped_on_alarm_is_stopped_and_rolls_back(aws):
    cw, cd = aws.client("cloudwatch"), aws.client("codedeploy")
    template_alarms(cw, DIMS)
    alarmed_group(cd)
    names = {"applicationName": "app", "deploymentGroupName": "dg"}
    good = cd.create_deployment(**names, revision=REVISION)["deploymentId"]
    deployments.start(ACCOUNT, REGION, good)
    assert deployments.finish(ACCOUNT, REGION, good, None) is None
    bad = cd.create_deployment(**names, revision=REVISION)["deploymentId"]
    deployments.start(ACCOUNT, REGION, bad)
    cw.set_alarm_state(AlarmName="UnhealthyTargetsAlarm", StateValue="ALARM", StateReason="x")
    error = alarms.deployment_stop(ACCOUNT, REGION, group_of(ACCOUNT, REGION, "app", "dg"))
    rollback = deployments.finish(ACCOUNT, REGION, bad, error)
    info = cd.get_deployment(deploymentId=bad)["deploymentInfo"]
    assert info["status"] == "Stopped"
    assert info["errorInformation"]["code"] == "ALARM_ACTIVE"
    assert rollback is not None and rollback["creator"] == "codeDeployRollback"
    assert info["rollbackInfo"]["rollbackDeploymentId"] == rollback["deploymentId"]
    check_output("codedeploy", "GetDeployment", {"deploymentInfo": info})


def test_no_alarm_rollback_without_deployment_stop_on_alarm(aws):
    cw, cd = aws.client("cloudwatch"), aws.client("codedeploy")
    template_alarms(cw, DIMS)
    alarmed_group(cd, events=("DEPLOYMENT_FAILURE",))
    names = {"applicationName": "app", "deploymentGroupName": "dg"}
    good = cd.create_deployment(**names, revision=REVISION)["deploymentId"]
    deployments.start(ACCOUNT, REGION, good)
    deployments.finish(ACCOUNT, REGION, good, None)
    bad = cd.create_deployment(**names, revision=REVISION)["deploymentId"]
    deployments.start(ACCOUNT, REGION, bad)
    cw.set_alarm_state(AlarmName="Target5xxAlarm", StateValue="ALARM", StateReason="x")
    error = alarms.deployment_stop(ACCOUNT, REGION, group_of(ACCOUNT, REGION, "app", "dg"))
    assert deployments.finish(ACCOUNT, REGION, bad, error) is None
    assert cd.get_deployment(deploymentId=bad)["deploymentInfo"]["status"] == "Stopped"
