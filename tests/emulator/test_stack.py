"""The real templates, deployed into the emulator the way a publish + deploy does it: templates
uploaded under a version prefix, the root created from its S3 URL through a change set, then
updated and deleted. Assertions read what each service's own API then holds."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from pipekit.emulator.inventory import inventory
from tests.support.emulator_fixtures import local_parameters, publish_templates

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(os.environ.get("PIPEKIT_TEST_TEMPLATES", ROOT / "templates"))
BUCKET = "pipekit-templates-test"
STACK = "pipekit-local"
CHILDREN = ("network", "iam", "artifacts", "ec2", "pipeline")


def publish(em: Any, prefix: str) -> str:
    s3 = em.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    return publish_templates(s3, BUCKET, prefix, TEMPLATES)


def parameters(em: Any, prefix: str, **overrides: str) -> list[dict[str, str]]:
    return local_parameters(em.client("ssm"), BUCKET, prefix, **overrides)


def change_set(em: Any, name: str, kind: str, url: str, params: list[dict[str, str]]) -> dict:
    """Create a change set and wait for it; the waiter fails for a FAILED one (as on AWS)."""
    cfn = em.client("cloudformation")
    cfn.create_change_set(
        StackName=STACK,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=url,
        Parameters=params,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    with contextlib.suppress(WaiterError):
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=STACK, ChangeSetName=name, WaiterConfig={"Delay": 1}
        )
    return cfn.describe_change_set(StackName=STACK, ChangeSetName=name)


def first_failure(cfn: Any, stack: str) -> str:
    """The first FAILED event, followed into the nested stack that failed."""
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    for event in reversed(events):
        if event["ResourceStatus"].endswith("_FAILED") and event["StackId"] != event.get(
            "PhysicalResourceId"
        ):
            if event["ResourceType"] == "AWS::CloudFormation::Stack" and event.get(
                "PhysicalResourceId", ""
            ).startswith("arn:"):
                return first_failure(cfn, event["PhysicalResourceId"])
            reason = event.get("ResourceStatusReason")
            return f"{event['LogicalResourceId']}: {reason}"
    return "no failed event"


def execute(em: Any, name: str, waiter: str) -> dict[str, str]:
    cfn = em.client("cloudformation")
    cfn.execute_change_set(StackName=STACK, ChangeSetName=name)
    try:
        cfn.get_waiter(waiter).wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    except WaiterError:
        pytest.fail(f"{STACK} failed: {first_failure(cfn, STACK)}")
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def deploy(em: Any, prefix: str = "v1/", **overrides: str) -> dict[str, str]:
    url = publish(em, prefix)
    change_set(em, "create", "CREATE", url, parameters(em, prefix, **overrides))
    return execute(em, "create", "stack_create_complete")


@pytest.fixture
def deployed(aws: Any) -> tuple[Any, dict[str, set[str]], dict[str, str]]:
    before = inventory(aws)
    publish(aws, "v1/")
    before = inventory(aws)  # the template bucket is not the stack's
    outputs = deploy(aws)
    return aws, before, outputs


def test_create_builds_root_and_five_nested_stacks(deployed: Any) -> None:
    em, _, outputs = deployed
    cfn = em.client("cloudformation")
    resources = cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    nested = [r for r in resources if r["ResourceType"] == "AWS::CloudFormation::Stack"]
    assert len(nested) == len(CHILDREN)
    for resource in nested:
        child = cfn.describe_stacks(StackName=resource["PhysicalResourceId"])["Stacks"][0]
        assert child["StackStatus"] == "CREATE_COMPLETE"
        assert child["StackId"] == resource["PhysicalResourceId"]
    for key in (
        "AppUrl",
        "PipelineName",
        "PipelineConsoleUrl",
        "ConnectionArn",
        "ArtifactBucketName",
        "BuildProjectName",
        "CodeDeployApplicationName",
        "DeploymentGroupName",
        "AutoScalingGroupName",
        "NotificationTopicArn",
    ):
        assert outputs.get(key), key


def test_pipeline_holds_the_templates_definition(deployed: Any) -> None:
    em, _, outputs = deployed
    pipeline = em.client("codepipeline").get_pipeline(name=outputs["PipelineName"])["pipeline"]
    assert pipeline["pipelineType"] == "V2"
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy", "Prune"]
    stages = {s["name"]: s for s in pipeline["stages"]}
    assert "onFailure" not in stages["Deploy"]  # CodeDeploy's rollback is the one layer
    source = stages["Source"]["actions"][0]
    assert source["actionTypeId"]["provider"] == "CodeStarSourceConnection"
    assert source["configuration"]["ConnectionArn"] == outputs["ConnectionArn"]
    assert source["configuration"]["FullRepositoryId"] == "local/sample-app"
    assert source["namespace"] == "SourceVariables"
    build = stages["Build"]["actions"][0]
    assert build["configuration"]["ProjectName"] == outputs["BuildProjectName"]
    variables = json.loads(build["configuration"]["EnvironmentVariables"])
    assert {"name": "COMMIT_ID", "value": "#{SourceVariables.CommitId}", "type": "PLAINTEXT"} in (
        variables
    )
    push = pipeline["triggers"][0]["gitConfiguration"]["push"][0]
    assert push["branches"]["includes"] == ["main"]


def test_connection_is_created_pending(deployed: Any) -> None:
    em, _, outputs = deployed
    arn = outputs["ConnectionArn"]
    assert arn.split(":")[2] in ("codeconnections", "codestar-connections")
    client = em.client(arn.split(":")[2])
    assert client.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"] == "PENDING"


def test_deployment_group_and_build_project(deployed: Any) -> None:
    em, _, outputs = deployed
    group = em.client("codedeploy").get_deployment_group(
        applicationName=outputs["CodeDeployApplicationName"],
        deploymentGroupName=outputs["DeploymentGroupName"],
    )["deploymentGroupInfo"]
    assert group["autoRollbackConfiguration"]["enabled"] is True
    assert "DEPLOYMENT_FAILURE" in group["autoRollbackConfiguration"]["events"]
    assert group["deploymentStyle"]["deploymentType"] == "IN_PLACE"
    assert [g["name"] for g in group["autoScalingGroups"]] == [outputs["AutoScalingGroupName"]]
    project = em.client("codebuild").batch_get_projects(names=[outputs["BuildProjectName"]])[
        "projects"
    ][0]
    assert project["source"]["type"] == "CODEPIPELINE"
    assert project["artifacts"]["type"] == "CODEPIPELINE"
    assert project["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"


def test_artifact_bucket_is_private_encrypted_and_expires(deployed: Any) -> None:
    em, _, outputs = deployed
    s3, bucket = em.client("s3"), outputs["ArtifactBucketName"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    assert any(
        s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in policy["Statement"]
    )
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert any(r.get("Expiration", {}).get("Days") for r in rules)
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership[0]["ObjectOwnership"] == "BucketOwnerEnforced"


def test_single_mode_has_no_fleet_resources(deployed: Any) -> None:
    em, before, _ = deployed
    now = inventory(em)
    assert now["load_balancers"] == before["load_balancers"]
    assert now["alarms"] == before["alarms"]
    assert len(now["addresses"] - before["addresses"]) == 1


def test_update_to_fleet_changes_mode_and_branch_in_place(deployed: Any) -> None:
    em, _, outputs = deployed
    cfn = em.client("cloudformation")
    nested_before = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    url = publish(em, "v2/")
    described = change_set(
        em,
        "fleet",
        "UPDATE",
        url,
        parameters(em, "v2/", DeploymentMode="fleet", BranchName="release"),
    )
    actions = {
        c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in described["Changes"]
    }
    assert actions and all(a["Action"] == "Modify" for a in actions.values())
    assert {"Ec2Stack", "PipelineStack"} <= set(actions)
    updated = execute(em, "fleet", "stack_update_complete")
    nested_after = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    assert nested_after == nested_before  # children updated, not replaced
    pipeline = em.client("codepipeline").get_pipeline(name=updated["PipelineName"])["pipeline"]
    assert pipeline["triggers"][0]["gitConfiguration"]["push"][0]["branches"]["includes"] == [
        "release"
    ]
    assert pipeline["stages"][0]["actions"][0]["configuration"]["BranchName"] == "release"
    assert pipeline["version"] == 2
    alarms = em.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarms
    group = em.client("codedeploy").get_deployment_group(
        applicationName=updated["CodeDeployApplicationName"],
        deploymentGroupName=updated["DeploymentGroupName"],
    )["deploymentGroupInfo"]
    assert group["alarmConfiguration"]["enabled"] is True
    assert {a["name"] for a in group["alarmConfiguration"]["alarms"]} <= {
        a["AlarmName"] for a in alarms
    }
    assert em.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert updated["AppUrl"] != outputs["AppUrl"]


def test_update_without_changes_is_reported_as_aws_words_it(deployed: Any) -> None:
    em, _, _ = deployed
    url = publish(em, "v1/")
    described = change_set(em, "same", "UPDATE", url, parameters(em, "v1/"))
    with pytest.raises(WaiterError):  # what the harness sees first
        em.client("cloudformation").get_waiter("change_set_create_complete").wait(
            StackName=STACK, ChangeSetName="same", WaiterConfig={"Delay": 1}
        )
    assert described["Status"] == "FAILED"
    assert described["ExecutionStatus"] == "UNAVAILABLE"
    assert described["StatusReason"] == (
        "The submitted information didn't contain changes. "
        "Submit different information to create a change set."
    )


def test_delete_removes_everything_and_only_that(deployed: Any) -> None:
    em, before, outputs = deployed
    cfn = em.client("cloudformation")
    cfn.delete_stack(StackName=STACK)
    cfn.get_waiter("stack_delete_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1})
    after = inventory(em)
    leaked = {kind: names - before[kind] for kind, names in after.items() if names - before[kind]}
    assert leaked == {}
    removed = {kind: before[kind] - names for kind, names in after.items() if before[kind] - names}
    assert removed == {}
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in cfn.list_stacks()["StackSummaries"])
    assert outputs["ArtifactBucketName"] not in after["buckets"]


def test_delete_fails_on_a_non_empty_artifact_bucket(deployed: Any) -> None:
    em, _, outputs = deployed
    s3, cfn = em.client("s3"), em.client("cloudformation")
    s3.put_object(Bucket=outputs["ArtifactBucketName"], Key="pipeline/artifact.zip", Body=b"x")
    cfn.delete_stack(StackName=STACK)
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert "ArtifactBucket" in first_failure(cfn, STACK)
    assert "not empty" in first_failure(cfn, STACK)


def test_create_in_fleet_mode_with_notifications(aws: Any) -> None:
    outputs = deploy(
        aws, DeploymentMode="fleet", FleetSize="3", NotificationEmail="ops@example.com"
    )
    group = aws.client("codedeploy").get_deployment_group(
        applicationName=outputs["CodeDeployApplicationName"],
        deploymentGroupName=outputs["DeploymentGroupName"],
    )["deploymentGroupInfo"]
    assert group["deploymentStyle"]["deploymentOption"] == "WITH_TRAFFIC_CONTROL"
    target_groups = aws.client("elbv2").describe_target_groups()["TargetGroups"]
    assert [t["TargetGroupName"] for t in target_groups] == [
        t["name"] for t in group["loadBalancerInfo"]["targetGroupInfoList"]
    ]
    alarms = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert {a["name"] for a in group["alarmConfiguration"]["alarms"]} == {
        a["AlarmName"] for a in alarms
    }
    dimensions = {d["Name"]: d["Value"] for a in alarms for d in a["Dimensions"]}
    assert dimensions.get("LoadBalancer", "").startswith("app/")
    assert_alarms_as_the_template_declares(alarms)
    sns = aws.client("sns")
    subscriptions = sns.list_subscriptions()["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"], s["TopicArn"]) for s in subscriptions] == [
        ("email", "ops@example.com", outputs["NotificationTopicArn"])
    ]
    policy = json.loads(
        sns.get_topic_attributes(TopicArn=outputs["NotificationTopicArn"])["Attributes"]["Policy"]
    )
    publishers = [s["Principal"] for s in policy["Statement"] if s["Action"] == "sns:Publish"]
    assert {"Service": "events.amazonaws.com"} in publishers
    groups = aws.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["AutoScalingGroupName"]]
    )["AutoScalingGroups"]
    assert groups[0]["DesiredCapacity"] == 3
    assert outputs["AppUrl"].startswith("http://") and ".elb.amazonaws.com" in outputs["AppUrl"]


def assert_alarms_as_the_template_declares(alarms: list[dict[str, Any]]) -> None:
    """Every property the pipeline template gives its alarms reads back through DescribeAlarms,
    metric-math Metrics (Expression included) too, and each starts in INSUFFICIENT_DATA as
    PutMetricAlarm creates it."""
    from pipekit.cfn.template import load_template

    resources = load_template(TEMPLATES / "pipeline.yaml")["Resources"]
    declared = {k: v for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert len(alarms) == len(declared)
    for alarm in alarms:
        name = alarm["AlarmName"]
        props = next(
            p["Properties"] for k, p in declared.items() if name.startswith(k) or k in name
        )
        for key, value in props.items():
            if key in ("Dimensions", "AlarmDescription"):
                continue  # intrinsic values, checked above
            if key == "Metrics":
                got = {q["Id"]: q for q in alarm["Metrics"]}
                for query in value:
                    assert got[query["Id"]]["ReturnData"] == query["ReturnData"]
                    if "Expression" in query:
                        assert got[query["Id"]]["Expression"] == query["Expression"]
                        assert got[query["Id"]]["Label"] == query["Label"]
                    else:
                        stat, declared_stat = got[query["Id"]]["MetricStat"], query["MetricStat"]
                        assert (stat["Period"], stat["Stat"]) == (
                            declared_stat["Period"],
                            declared_stat["Stat"],
                        )
                        assert stat["Metric"]["MetricName"] == declared_stat["Metric"]["MetricName"]
                        assert len(stat["Metric"]["Dimensions"]) == 2
            else:
                assert alarm[key] == value, (name, key)
        assert alarm["StateValue"] == "INSUFFICIENT_DATA"


def test_update_back_to_single_removes_the_fleet_resources(aws: Any) -> None:
    before = inventory(aws)
    publish(aws, "v1/")
    before = inventory(aws)
    deploy(aws, DeploymentMode="fleet")
    url = publish(aws, "v2/")
    described = change_set(
        aws, "single", "UPDATE", url, parameters(aws, "v2/", DeploymentMode="single")
    )
    assert {c["ResourceChange"]["Action"] for c in described["Changes"]} == {"Modify"}
    execute(aws, "single", "stack_update_complete")
    now = inventory(aws)
    for kind in ("load_balancers", "target_groups", "alarms"):
        assert now[kind] == before[kind], kind
    assert len(now["addresses"] - before["addresses"]) == 1
    group = aws.client("codedeploy").get_deployment_group(
        applicationName=outputs_of(aws)["CodeDeployApplicationName"],
        deploymentGroupName=outputs_of(aws)["DeploymentGroupName"],
    )["deploymentGroupInfo"]
    assert group["deploymentStyle"]["deploymentOption"] == "WITHOUT_TRAFFIC_CONTROL"
    assert not group["alarmConfiguration"].get("enabled")


def outputs_of(em: Any) -> dict[str, str]:
    stack = em.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DeploymentMode": "fleet", "FleetSize": "1"}, "Fleet mode needs FleetSize 2 or more"),
        ({"GitHubRepository": "no-slash"}, "'GitHubRepository' failed to satisfy constraint"),
        ({"TemplateBucketRegion": ""}, "TemplateBucketRegion is required"),
    ],
)
def test_the_root_templates_constraints_and_rules_are_enforced(
    aws: Any, overrides: dict[str, str], message: str
) -> None:
    url = publish(aws, "v1/")
    cfn = aws.client("cloudformation")
    with pytest.raises(cfn.exceptions.ClientError, match=message):
        change_set(aws, "bad", "CREATE", url, parameters(aws, "v1/", **overrides))
    assert cfn.list_stacks()["StackSummaries"] == []


def test_generated_names_fit_the_services_limits(deployed: Any) -> None:
    em, _, _ = deployed
    roles = em.client("iam").list_roles()["Roles"]
    assert roles and all(len(r["RoleName"]) <= 64 for r in roles)
    rules = em.client("events").list_rules()["Rules"]
    assert rules and all(len(r["Name"]) <= 64 for r in rules)


def test_an_update_to_a_fleet_of_one_is_refused_before_anything_changes(deployed: Any) -> None:
    """A fleet of one would fail every rolling update ("MinInstancesInService must be less than
    the autoscaling group's MaxSize"): the root's Rules refuse the update with its
    AssertDescription, as CloudFormation does, and the stack is left as it was."""
    em, _, _ = deployed
    cfn = em.client("cloudformation")
    before = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    url = publish(em, "v2/")
    with pytest.raises(cfn.exceptions.ClientError) as caught:
        change_set(
            em,
            "fleet-of-one",
            "UPDATE",
            url,
            parameters(em, "v2/", DeploymentMode="fleet", FleetSize="1"),
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"].startswith("Fleet mode needs FleetSize 2 or more")
    with pytest.raises(cfn.exceptions.ClientError, match="Fleet mode needs FleetSize 2 or more"):
        cfn.update_stack(
            StackName=STACK,
            TemplateURL=url,
            Parameters=parameters(em, "v2/", DeploymentMode="fleet", FleetSize="1"),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    after = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert (after["StackStatus"], after["Parameters"]) == (
        before["StackStatus"],
        before["Parameters"],
    )
    names = [c["ChangeSetName"] for c in cfn.list_change_sets(StackName=STACK)["Summaries"]]
    assert "fleet-of-one" not in names
