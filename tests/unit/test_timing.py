"""`make bench`'s numbers from AWS-shaped records: the readers through botocore's Stubber (which
checks every request and response against the service models), the timing functions over what
they return: a build with QUEUED and PROVISIONING phases as AWS reports them, a fleet deployment
with traffic events on each instance, and CodeDeploy's rollback deployment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipekit.e2e.bench import _rows
from pipekit.harness import timing
from pipekit.harness.runs import pipeline_executions, run_records
from tests.support.harness import StubbedClients

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
PIPELINE = "pipekit-dev-pipeline"
COMMIT = "4444444444444444444444444444444444444444"
BUILD_ID = "pipekit-dev-build:0f1e2d3c-aaaa-bbbb-cccc-111122223333"
PRUNE_ID = "pipekit-dev-prune:0f1e2d3c-aaaa-bbbb-cccc-444455556666"
FAILED, ROLLBACK = "d-FAILED0001", "d-ROLLBACK01"
INSTANCES = ("i-0aaa1111bbbb2222c", "i-0ddd3333eeee4444f")


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def action(
    stage: str,
    category: str,
    provider: str,
    start: float,
    end: float,
    ext: str,
    status: str = "Succeeded",
) -> dict:
    return {
        "pipelineExecutionId": "e-1",
        "actionExecutionId": f"a-{stage}",
        "pipelineVersion": 1,
        "stageName": stage,
        "actionName": stage,
        "startTime": at(start),
        "lastUpdateTime": at(end),
        "status": status,
        "input": {
            "actionTypeId": {
                "category": category,
                "owner": "AWS",
                "provider": provider,
                "version": "1",
            }
        },
        "output": {"executionResult": {"externalExecutionId": ext}},
    }


DETAILS = [
    action("Source", "Source", "CodeStarSourceConnection", 1.0, 3.0, COMMIT),
    action("Build", "Build", "CodeBuild", 4.5, 60.0, BUILD_ID),
    action("Deploy", "Deploy", "CodeDeploy", 61.0, 150.0, FAILED, status="Failed"),
]

# As AWS reports a build on on-demand EC2 compute: SUBMITTED and QUEUED, then PROVISIONING;
# durationInSeconds in whole seconds; COMPLETED without an end.
PHASES = [
    ("SUBMITTED", 5, 6),
    ("QUEUED", 6, 14),
    ("PROVISIONING", 14, 40),
    ("DOWNLOAD_SOURCE", 40, 42),
    ("INSTALL", 42, 50),
    ("PRE_BUILD", 50, 51),
    ("BUILD", 51, 55),
    ("POST_BUILD", 55, 56),
    ("UPLOAD_ARTIFACTS", 56, 58),
    ("FINALIZING", 58, 59),
]
BUILD = {
    "id": BUILD_ID,
    "buildStatus": "SUCCEEDED",
    "startTime": at(5),
    "endTime": at(59),
    "phases": [
        {
            "phaseType": name,
            "phaseStatus": "SUCCEEDED",
            "startTime": at(start),
            "endTime": at(end),
            "durationInSeconds": end - start,
        }
        for name, start, end in PHASES
    ]
    + [{"phaseType": "COMPLETED", "startTime": at(59)}],
}
EVENTS = [
    "BeforeBlockTraffic",
    "BlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
]


def target(deployment_id: str, instance: str, offset: float, fail_at: str | None = None) -> dict:
    """An instance's lifecycle events, 3 s each from `offset` (BlockTraffic 30 s: the drain)."""
    events, t = [], offset
    for name in EVENTS:
        length = 30.0 if name == "BlockTraffic" else 3.0
        status = "Succeeded"
        if fail_at and name == fail_at:
            status = "Failed"
        elif fail_at and EVENTS.index(name) > EVENTS.index(fail_at):
            status, length = "Skipped", 0.0
        event = {"lifecycleEventName": name, "status": status}
        if status != "Skipped":
            event |= {"startTime": at(t), "endTime": at(t + length)}
        events.append(event)
        t += length
    return {
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {
            "deploymentId": deployment_id,
            "targetId": instance,
            "targetArn": f"arn:aws:ec2:eu-west-1:111122223333:instance/{instance}",
            "status": "Failed" if fail_at else "Succeeded",
            "lastUpdatedAt": at(t),
            "lifecycleEvents": events,
        },
    }


def info(deployment_id: str, status: str, create: float, end: float, **extra) -> dict:
    return {
        "applicationName": "pipekit-dev-app",
        "deploymentGroupName": "pipekit-dev-group",
        "deploymentId": deployment_id,
        "status": status,
        "createTime": at(create),
        "completeTime": at(end),
        **extra,
    }


def stub_deployment(cd, deployment: dict, targets: list[dict]) -> None:
    deployment_id = deployment["deploymentId"]
    ids = [t["instanceTarget"]["targetId"] for t in targets]
    cd.add_response(
        "get_deployment", {"deploymentInfo": deployment}, {"deploymentId": deployment_id}
    )
    cd.add_response("list_deployment_targets", {"targetIds": ids}, {"deploymentId": deployment_id})
    cd.add_response(
        "batch_get_deployment_targets",
        {"deploymentTargets": targets},
        {"deploymentId": deployment_id, "targetIds": ids},
    )


@pytest.fixture
def records():
    clients = StubbedClients()
    cp, cb, cd = clients.stub("codepipeline"), clients.stub("codebuild"), clients.stub("codedeploy")
    # a ListPipelineExecutions summary: the record of the execution's start and last update
    execution = {
        "pipelineExecutionId": "e-1",
        "status": "Failed",
        "executionType": "STANDARD",
        "startTime": at(0),
        "lastUpdateTime": at(151),
        "sourceRevisions": [{"actionName": "Source", "revisionId": COMMIT}],
    }
    cp.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": [execution]},
        {"pipelineName": PIPELINE, "maxResults": 1},
    )
    cp.add_response(
        "list_action_executions",
        {"actionExecutionDetails": DETAILS},
        {"pipelineName": PIPELINE, "filter": {"pipelineExecutionId": "e-1"}},
    )
    cb.add_response("batch_get_builds", {"builds": [BUILD]}, {"ids": [BUILD_ID]})
    # A fleet of two, one at a time: the first fails in ValidateService, so CodeDeploy stops and
    # its rollback deployment redeploys the last good revision to both.
    failed = info(
        FAILED,
        "Failed",
        61,
        149,
        rollbackInfo={"rollbackDeploymentId": ROLLBACK, "rollbackMessage": "rolled back"},
    )
    stub_deployment(
        cd,
        failed,
        [
            target(FAILED, INSTANCES[0], 62, fail_at="ValidateService"),
            target(FAILED, INSTANCES[1], 62, fail_at="BlockTraffic"),
        ],
    )
    rollback = info(ROLLBACK, "Succeeded", 149, 290, creator="codeDeployRollback")
    stub_deployment(
        cd, rollback, [target(ROLLBACK, INSTANCES[1], 220), target(ROLLBACK, INSTANCES[0], 150)]
    )
    yield clients
    clients.assert_done()


def test_run_timing_reads_every_step_from_the_records(records):
    clients = records
    (execution,) = pipeline_executions(clients("codepipeline"), PIPELINE, 1)
    details, builds, deployments = run_records(
        clients("codepipeline"), clients("codebuild"), clients("codedeploy"), PIPELINE, execution
    )
    run = timing.run_timing(execution, details, builds, deployments)
    assert run["seconds"] == 151.0 and run["status"] == "Failed" and run["commit"] == COMMIT
    assert [(a["stage"], a["seconds"]) for a in run["actions"]] == [
        ("Source", 2.0),
        ("Build", 55.5),
        ("Deploy", 89.0),
    ]
    # the gaps between the records: trigger -> first action, each hand-off, last -> end
    assert [g["seconds"] for g in run["handoffs"]] == [1.0, 1.5, 1.0, 1.0]
    build = run["actions"][1]["build"]
    phases = {p["phase"]: p for p in build["phases"]}
    assert "COMPLETED" not in phases and build["seconds"] == 54.0
    assert phases["QUEUED"]["seconds"] == 8.0 and phases["PROVISIONING"]["seconds"] == 26.0
    assert phases["PROVISIONING"]["duration_in_seconds"] == 26
    deploy = run["actions"][2]
    assert deploy["deployment"]["seconds"] == 88.0 and deploy["deployment"]["status"] == "Failed"
    first = deploy["deployment"]["instances"][0]
    events = {e["event"]: e for e in first["events"]}
    assert events["BlockTraffic"]["seconds"] == 30.0 and events["BlockTraffic"]["traffic"]
    assert events["ValidateService"]["status"] == "Failed"
    assert events["AllowTraffic"]["seconds"] is None  # skipped: no start, no end
    assert not events["Install"]["traffic"]
    rollback = deploy["rollback"]
    assert rollback["id"] == ROLLBACK and rollback["creator"] == "codeDeployRollback"
    assert rollback["seconds"] == 141.0
    # instances in the order the deployment reached them, not the order the API listed them
    assert [i["instance"] for i in rollback["instances"]] == list(INSTANCES)
    assert rollback["instances"][0]["seconds"] == 30.0 + 12 * 3.0


def test_the_table_shows_the_records_numbers(records):
    clients = records
    (execution,) = pipeline_executions(clients("codepipeline"), PIPELINE, 1)
    details, builds, deployments = run_records(
        clients("codepipeline"), clients("codebuild"), clients("codedeploy"), PIPELINE, execution
    )
    rows = {
        step.strip(): seconds
        for step, _, seconds in _rows(timing.run_timing(execution, details, builds, deployments))
    }
    assert rows["Build/Build"] == "55.50" and rows["PROVISIONING"] == "26.00"
    assert rows["hand-off Build/Build -> Deploy/Deploy"] == "1.00"
    assert rows[f"CodeDeploy rollback {ROLLBACK}"] == "141.00"
    assert rows["BlockTraffic (traffic)"] == "30.00"


def test_an_action_still_running_has_no_end_and_no_closing_gap():
    running = {**DETAILS[1], "status": "InProgress"}
    spans = timing.action_spans([DETAILS[0], running])
    assert spans[1]["end"] is None and spans[1]["seconds"] is None
    gaps = timing.handoffs({"startTime": at(0), "status": "InProgress"}, spans)
    assert [g["to"] for g in gaps] == ["Source/Source", "Build/Build"]


def test_trigger_to_start_spans_two_clocks():
    assert timing.trigger_to_start(at(0), at(2.5)) == 2.5
    assert timing.trigger_to_start(None, at(2.5)) is None


def test_pipeline_executions_pages_and_stops_at_the_limit():
    clients = StubbedClients()
    cp = clients.stub("codepipeline")
    page = [
        {"pipelineExecutionId": f"e-{i}", "status": "Succeeded", "startTime": at(-i)}
        for i in range(3)
    ]
    cp.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": page[:2], "nextToken": "t"},
        {"pipelineName": PIPELINE, "maxResults": 3},
    )
    cp.add_response(
        "list_pipeline_executions",
        {"pipelineExecutionSummaries": page[2:], "nextToken": "u"},
        {"pipelineName": PIPELINE, "maxResults": 3, "nextToken": "t"},
    )
    found = pipeline_executions(clients("codepipeline"), PIPELINE, 3)
    assert [e["pipelineExecutionId"] for e in found] == ["e-0", "e-1", "e-2"]
    clients.assert_done()


TG_NAME = "pipekit-dev-app"
TG_ARN = (
    f"arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/{TG_NAME}/50dc6c495c0c9188"
)


def stub_traffic_settings(clients, *, delay: str = "30", interval: int = 10, healthy: int = 2):
    """GetDeploymentGroup naming the target group, and ELBv2's answers about it."""
    clients.stub("codedeploy").add_response(
        "get_deployment_group",
        {
            "deploymentGroupInfo": {
                "applicationName": "pipekit-dev-app",
                "deploymentGroupName": "pipekit-dev-group",
                "deploymentStyle": {
                    "deploymentType": "IN_PLACE",
                    "deploymentOption": "WITH_TRAFFIC_CONTROL",
                },
                "loadBalancerInfo": {"targetGroupInfoList": [{"name": TG_NAME}]},
            }
        },
        {"applicationName": "pipekit-dev-app", "deploymentGroupName": "pipekit-dev-group"},
    )
    elb = clients.stub("elbv2")
    elb.add_response(
        "describe_target_groups",
        {
            "TargetGroups": [
                {
                    "TargetGroupArn": TG_ARN,
                    "TargetGroupName": TG_NAME,
                    "Protocol": "HTTP",
                    "Port": 80,
                    "HealthCheckPath": "/health",
                    "HealthCheckIntervalSeconds": interval,
                    "HealthCheckTimeoutSeconds": 5,
                    "HealthyThresholdCount": healthy,
                    "UnhealthyThresholdCount": 2,
                    "TargetType": "instance",
                }
            ]
        },
        {"Names": [TG_NAME]},
    )
    elb.add_response(
        "describe_target_group_attributes",
        {
            "Attributes": [
                {"Key": "deregistration_delay.timeout_seconds", "Value": delay},
                {"Key": "stickiness.enabled", "Value": "false"},
            ]
        },
        {"TargetGroupArn": TG_ARN},
    )


def test_bench_splits_each_instance_into_block_traffic_hooks_allow_traffic(records):
    """Two instances with BlockTraffic/AllowTraffic events (a fleet of 2, one at a time): each
    gets BlockTraffic, the hooks and AllowTraffic, and beside them the drain and health checks
    the target group configures (read once for the group, not per deployment)."""
    from pipekit.e2e.bench import read_run
    from pipekit.e2e.waiting import Clients

    clients = records
    stub_traffic_settings(clients, delay="30", interval=10, healthy=3)
    (execution,) = pipeline_executions(clients("codepipeline"), PIPELINE, 1)
    services = Clients(
        clients("codepipeline"),
        clients("codedeploy"),
        clients("codebuild"),
        elbv2=clients("elbv2"),
    )
    run = read_run(services, PIPELINE, execution)
    rollback = run["actions"][2]["rollback"]
    assert rollback["waits"] == {
        "drain_s": 30.0,
        "health_checks_s": 30.0,
        "health_checks": "3 x 10 s",
    }
    for instance in rollback["instances"]:
        # 30 s BlockTraffic, 3 s AllowTraffic, 11 other events of 3 s (target() above)
        assert instance["breakdown"] == {
            "block_traffic_s": 30.0,
            "drain_configured_s": 30.0,
            "hooks_s": 33.0,
            "allow_traffic_s": 3.0,
            "health_checks_configured_s": 30.0,
        }
    failed = run["actions"][2]["deployment"]
    # the failed deployment's first instance stopped in ValidateService: no AllowTraffic time
    first = failed["instances"][0]["breakdown"]
    assert first["allow_traffic_s"] is None and first["block_traffic_s"] == 30.0
    rows = {step.strip(): seconds for step, _, seconds in _rows(run)}
    assert rows["= BlockTraffic"] == "30.00"
    assert rows["drain (deregistration delay, configured)"] == "30.00"
    assert rows["health checks (3 x 10 s, configured)"] == "30.00"
    assert rows["= hooks (every other event)"] == "33.00"


def test_configured_waits_without_a_load_balancer_or_with_two_groups():
    assert timing.configured_waits([]) is None
    groups = [
        (
            {"HealthCheckIntervalSeconds": 10, "HealthyThresholdCount": 2},
            [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
        ),
        (
            {"HealthCheckIntervalSeconds": 5, "HealthyThresholdCount": 5},
            [{"Key": "deregistration_delay.timeout_seconds", "Value": "120"}],
        ),
    ]
    waits = timing.configured_waits(groups)
    assert (waits["drain_s"], waits["health_checks_s"]) == (120.0, 25.0)
