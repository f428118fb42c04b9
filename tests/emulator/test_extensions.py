"""One test per fix the emulator makes to moto (each of these fails on moto 5.2.5 alone: see the
docstrings in pipekit/emulator/patches/ and pipekit/emulator/models/, and ../shared/offline.md)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from pipekit.emulator.inventory import inventory

BUCKET = "ext-templates"


def outputs(em: Any, stack: str, region: str = "us-east-1") -> dict[str, str]:
    found = em.client("cloudformation", region).describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def status(em: Any, stack: str) -> str:
    return em.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]


def upload(em: Any, key: str, body: str) -> str:
    s3 = em.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    return f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{key}"


def create(em: Any, name: str, body: str, region: str = "us-east-1", **params: str) -> None:
    em.client("cloudformation", region).create_stack(
        StackName=name,
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM"],
    )


TOPIC = """
  Topic:
    Type: AWS::SNS::Topic
"""


@pytest.mark.parametrize(("env", "mode", "topics"), [("dev", "not-prod", 1), ("prod", "prod", 0)])
def test_condition_short_form(aws: Any, env: str, mode: str, topics: int) -> None:
    create(
        aws,
        "cond",
        """
Parameters:
  Env: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsNotProd: !Not [!Condition IsProd]
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Condition: IsNotProd
    Properties: {TopicName: only-outside-prod}
  Always:
    Type: AWS::SNS::Topic
    Properties: {TopicName: always}
Outputs:
  Mode: {Value: !If [IsNotProd, not-prod, prod]}
""",
        Env=env,
    )
    assert outputs(aws, "cond") == {"Mode": mode}
    names = {t["TopicArn"].rsplit(":", 1)[1] for t in aws.client("sns").list_topics()["Topics"]}
    assert len(names - {"always"}) == topics


def test_short_tag_with_a_mapping_value(aws: Any) -> None:
    create(
        aws,
        "mapping",
        "Resources:"
        + TOPIC
        + """
Outputs:
  Encoded:
    Value: !Base64 {"Fn::Sub": "region=${AWS::Region}"}
""",
    )
    assert base64.b64decode(outputs(aws, "mapping")["Encoded"]).decode() == "region=us-east-1"


CHILD = """
Parameters:
  Name: {Type: String}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: !Sub "${Name}-topic"}
Outputs:
  TopicArn: {Value: !Ref Topic}
  Name: {Value: !GetAtt Topic.TopicName}
"""


def parent(url: str, name: str = "alpha") -> str:
    return f"""
Parameters:
  Name: {{Type: String, Default: {name}}}
Resources:
  Child:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: {url}
      Parameters: {{Name: !Ref Name}}
Outputs:
  ChildArn: {{Value: !GetAtt Child.Outputs.TopicArn}}
  InSub: {{Value: !Sub "name is ${{Child.Outputs.Name}}"}}
  ChildId: {{Value: !Ref Child}}
"""


def test_nested_outputs_and_nested_ref(aws: Any) -> None:
    create(aws, "parent", parent(upload(aws, "child.yaml", CHILD)))
    found = outputs(aws, "parent")
    topics = [t["TopicArn"] for t in aws.client("sns").list_topics()["Topics"]]
    assert found["ChildArn"] == topics[0]
    assert topics[0].endswith(":alpha-topic")
    assert found["InSub"] == "name is alpha-topic"
    child = aws.client("cloudformation").describe_stacks(StackName=found["ChildId"])["Stacks"][0]
    parent_stack = aws.client("cloudformation").describe_stacks(StackName="parent")["Stacks"][0]
    assert child["StackId"] == found["ChildId"]
    assert child["ParentId"] == child["RootId"] == parent_stack["StackId"]
    assert "ParentId" not in parent_stack


def test_nested_stack_events_carry_the_child_stack_id(aws: Any) -> None:
    create(aws, "parent", parent(upload(aws, "child.yaml", CHILD)))
    cfn = aws.client("cloudformation")
    events = cfn.describe_stack_events(StackName="parent")["StackEvents"]
    complete = [
        e
        for e in events
        if e["LogicalResourceId"] == "Child" and e["ResourceStatus"] == "CREATE_COMPLETE"
    ]
    assert len(complete) == 1
    child_id = complete[0]["PhysicalResourceId"]
    assert child_id == outputs(aws, "parent")["ChildId"]
    child_events = cfn.describe_stack_events(StackName=child_id)["StackEvents"]
    assert {(e["LogicalResourceId"], e["ResourceStatus"]) for e in child_events} >= {
        ("Topic", "CREATE_IN_PROGRESS"),
        ("Topic", "CREATE_COMPLETE"),
    }


def test_nested_update_is_in_place_and_leaks_nothing(aws: Any) -> None:
    url = upload(aws, "child.yaml", CHILD)
    create(aws, "parent", parent(url))
    cfn = aws.client("cloudformation")
    child_id = outputs(aws, "parent")["ChildId"]
    cfn.update_stack(
        StackName="parent",
        TemplateBody=parent(url),
        Parameters=[{"ParameterKey": "Name", "ParameterValue": "beta"}],
    )
    assert status(aws, "parent") == "UPDATE_COMPLETE"
    assert outputs(aws, "parent")["ChildId"] == child_id
    names = [t["TopicArn"].rsplit(":", 1)[1] for t in aws.client("sns").list_topics()["Topics"]]
    assert names == ["beta-topic"]
    assert outputs(aws, "parent")["InSub"] == "name is beta-topic"


def test_sub_only_parameter_change_is_seen_by_change_sets(aws: Any) -> None:
    body = """
Parameters:
  Prefix: {Type: String}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties: {DisplayName: !Sub "${Prefix} notifications"}
"""
    create(aws, "sub", body, Prefix="one")
    cfn = aws.client("cloudformation")
    cfn.create_change_set(
        StackName="sub",
        ChangeSetName="two",
        ChangeSetType="UPDATE",
        TemplateBody=body,
        Parameters=[{"ParameterKey": "Prefix", "ParameterValue": "two"}],
    )
    described = cfn.describe_change_set(StackName="sub", ChangeSetName="two")
    assert described["Status"] == "CREATE_COMPLETE"
    changes = [c["ResourceChange"] for c in described["Changes"]]
    assert [(c["Action"], c["LogicalResourceId"], c["Replacement"]) for c in changes] == [
        ("Modify", "Topic", "False")
    ]


def test_change_set_flags_replacement_of_create_only_properties(aws: Any) -> None:
    body = """
Parameters:
  Name: {Type: String}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: !Ref Name}
"""
    create(aws, "repl", body, Name="first")
    cfn = aws.client("cloudformation")
    cfn.create_change_set(
        StackName="repl",
        ChangeSetName="rename",
        ChangeSetType="UPDATE",
        TemplateBody=body,
        Parameters=[{"ParameterKey": "Name", "ParameterValue": "second"}],
    )
    change = cfn.describe_change_set(StackName="repl", ChangeSetName="rename")["Changes"][0]
    assert change["ResourceChange"]["Replacement"] == "True"
    assert change["ResourceChange"]["PhysicalResourceId"].endswith(":first")


def test_fn_cidr_and_getazs(aws: Any) -> None:
    create(
        aws,
        "cidr",
        "Resources:"
        + TOPIC
        + """
Outputs:
  Second: {Value: !Select [1, !Cidr ["10.20.0.0/16", 4, 8]]}
  Zone: {Value: !Select [0, !GetAZs ""]}
""",
        region="eu-west-1",
    )
    assert outputs(aws, "cidr", "eu-west-1") == {"Second": "10.20.1.0/24", "Zone": "eu-west-1a"}


FAILING_CHILD = """
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    DependsOn: Topic
    Properties:
      RoleArn: arn:aws:iam::123456789012:role/does-not-exist
      ArtifactStore: {Type: S3, Location: nowhere}
      Stages: []
"""


def test_failure_in_a_nested_stack_rolls_back_with_the_aws_messages(aws: Any) -> None:
    url = upload(aws, "failing.yaml", FAILING_CHILD)
    before = inventory(aws)
    create(aws, "broken", parent(url).replace("      Parameters: {Name: !Ref Name}\n", ""))
    cfn = aws.client("cloudformation")
    assert status(aws, "broken") == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="broken")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert len(failed) == 1
    assert failed[0]["LogicalResourceId"] == "Child"
    assert failed[0]["ResourceStatusReason"].startswith("Embedded stack arn:aws:cloudformation:")
    assert (
        "The following resource(s) failed to create: [Pipeline]"
        in (failed[0]["ResourceStatusReason"])
    )
    child_events = cfn.describe_stack_events(StackName=failed[0]["PhysicalResourceId"])[
        "StackEvents"
    ]
    cause = [e for e in child_events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert cause[0]["LogicalResourceId"] == "Pipeline"
    assert "does-not-exist" in cause[0]["ResourceStatusReason"]
    assert "Outputs" not in cfn.describe_stacks(StackName="broken")["Stacks"][0]
    assert inventory(aws) == before  # the child's topic was rolled back


def test_connection_resources_and_their_attributes(aws: Any) -> None:
    create(
        aws,
        "conn",
        """
Resources:
  New:
    Type: AWS::CodeConnections::Connection
    Properties: {ConnectionName: gh-new, ProviderType: GitHub}
  Old:
    Type: AWS::CodeStarConnections::Connection
    Properties: {ConnectionName: gh-old, ProviderType: GitHub}
Outputs:
  NewArn: {Value: !Ref New}
  NewStatus: {Value: !GetAtt New.ConnectionStatus}
  OldArn: {Value: !GetAtt Old.ConnectionArn}
  Owner: {Value: !GetAtt Old.OwnerAccountId}
""",
    )
    found = outputs(aws, "conn")
    assert found["NewArn"].startswith("arn:aws:codeconnections:us-east-1:123456789012:connection/")
    assert found["OldArn"].startswith("arn:aws:codestar-connections:us-east-1:")
    assert found["NewStatus"] == "PENDING"
    assert found["Owner"] == "123456789012"
    old = aws.client("codestar-connections").get_connection(ConnectionArn=found["OldArn"])
    assert old["Connection"]["ConnectionName"] == "gh-old"
    aws.client("cloudformation").delete_stack(StackName="conn")
    with pytest.raises(aws.client("codeconnections").exceptions.ResourceNotFoundException):
        aws.client("codeconnections").get_connection(ConnectionArn=found["NewArn"])


SERVICES = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      LifecycleConfiguration:
        Rules:
          - {Id: old, Status: Enabled, ExpirationInDays: 9, NoncurrentVersionExpirationInDays: 3}
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: "s3:*"
            Resource: [!GetAtt Bucket.Arn, !Sub "${Bucket.Arn}/*"]
            Condition: {Bool: {"aws:SecureTransport": "false"}}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: {Service: [codepipeline.amazonaws.com, codebuild.amazonaws.com]}
            Action: sts:AssumeRole
  Project:
    Type: AWS::CodeBuild::Project
    Properties:
      Name: build-it
      ServiceRole: !GetAtt Role.Arn
      Source: {Type: CODEPIPELINE}
      Artifacts: {Type: CODEPIPELINE}
      TimeoutInMinutes: 15
      Environment:
        Type: LINUX_CONTAINER
        ComputeType: BUILD_GENERAL1_SMALL
        Image: aws/codebuild/amazonlinux-x86_64-standard:5.0
        EnvironmentVariables: [{Name: STAGE, Value: test}]
  App:
    Type: AWS::CodeDeploy::Application
    Properties: {ApplicationName: the-app, ComputePlatform: Server}
  Group:
    Type: AWS::CodeDeploy::DeploymentGroup
    Properties:
      ApplicationName: !Ref App
      DeploymentGroupName: the-group
      ServiceRoleArn: !GetAtt Role.Arn
      AutoScalingGroups: [asg-one]
      DeploymentConfigName: CodeDeployDefault.AllAtOnce
      AutoRollbackConfiguration: {Enabled: true, Events: [DEPLOYMENT_FAILURE]}
      AlarmConfiguration: {Enabled: true, Alarms: [{Name: !Ref Alarm}]}
  Topic:
    Type: AWS::SNS::Topic
  Subscription:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Topic, Protocol: email, Endpoint: ops@example.com}
  TopicPolicy:
    Type: AWS::SNS::TopicPolicy
    Properties:
      Topics: [!Ref Topic]
      PolicyDocument:
        Statement:
          - Sid: FromEvents
            Effect: Allow
            Principal: {Service: events.amazonaws.com}
            Action: sns:Publish
            Resource: !Ref Topic
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: too-many-5xx
      Namespace: AWS/ApplicationELB
      MetricName: HTTPCode_Target_5XX_Count
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 5
      ComparisonOperator: GreaterThanOrEqualToThreshold
      AlarmActions: [!Ref Topic]
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: the-pipeline
      PipelineType: V2
      ExecutionMode: QUEUED
      RoleArn: !GetAtt Role.Arn
      ArtifactStore: {Type: S3, Location: !Ref Bucket}
      Triggers:
        - ProviderType: CodeStarSourceConnection
          GitConfiguration:
            SourceActionName: Source
            Push: [{Branches: {Includes: [main]}}]
      Stages:
        - Name: Source
          Actions:
            - Name: Source
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration:
                S3Bucket: !Ref Bucket
                S3ObjectKey: src.zip
                PollForSourceChanges: false
              OutputArtifacts: [{Name: SourceOutput}]
        - Name: Build
          OnFailure: {Result: ROLLBACK}
          Actions:
            - Name: Build
              ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
              Configuration: {ProjectName: !Ref Project}
              InputArtifacts: [{Name: SourceOutput}]
Outputs:
  PipelineName: {Value: !Ref Pipeline}
  PipelineVersion: {Value: !GetAtt Pipeline.Version}
  ProjectArn: {Value: !GetAtt Project.Arn}
  AlarmArn: {Value: !GetAtt Alarm.Arn}
  SubscriptionArn: {Value: !Ref Subscription}
  Group: {Value: !Ref Group}
"""


def test_skipped_types_reach_their_services(aws: Any) -> None:
    before = inventory(aws)
    create(aws, "svc", SERVICES)
    assert status(aws, "svc") == "CREATE_COMPLETE"
    found = outputs(aws, "svc")
    pipeline = aws.client("codepipeline").get_pipeline(name="the-pipeline")["pipeline"]
    assert found["PipelineName"] == "the-pipeline" and found["PipelineVersion"] == "1"
    assert pipeline["pipelineType"] == "V2" and pipeline["executionMode"] == "QUEUED"
    assert pipeline["stages"][1]["onFailure"] == {"result": "ROLLBACK"}
    assert pipeline["stages"][0]["actions"][0]["configuration"]["PollForSourceChanges"] == "false"
    assert pipeline["triggers"][0]["gitConfiguration"]["sourceActionName"] == "Source"
    project = aws.client("codebuild").batch_get_projects(names=["build-it"])["projects"][0]
    assert project["arn"] == found["ProjectArn"] and project["timeoutInMinutes"] == 15
    assert project["environment"]["environmentVariables"] == [{"name": "STAGE", "value": "test"}]
    group = aws.client("codedeploy").get_deployment_group(
        applicationName="the-app", deploymentGroupName="the-group"
    )["deploymentGroupInfo"]
    assert found["Group"] == "the-group"
    assert group["autoScalingGroups"] == [{"name": "asg-one"}]
    assert group["deploymentConfigName"] == "CodeDeployDefault.AllAtOnce"
    assert group["alarmConfiguration"] == {"enabled": True, "alarms": [{"name": "too-many-5xx"}]}
    alarm = aws.client("cloudwatch").describe_alarms(AlarmNames=["too-many-5xx"])["MetricAlarms"]
    assert alarm[0]["AlarmArn"] == found["AlarmArn"] and alarm[0]["Threshold"] == 5
    subscriptions = aws.client("sns").list_subscriptions()["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]
    topic_arn = subscriptions[0]["TopicArn"]
    attributes = aws.client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert [s["Sid"] for s in json.loads(attributes["Policy"])["Statement"]] == ["FromEvents"]
    s3 = aws.client("s3")
    name = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("svc-"))
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
    rule = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"][0]
    assert rule["Expiration"] == {"Days": 9}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 3
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # The SecureTransport guardrail does not lock the emulated (HTTPS-standing) client out.
    s3.put_object(Bucket=name, Key="src.zip", Body=b"zip")
    s3.delete_object(Bucket=name, Key="src.zip")
    versions = s3.list_object_versions(Bucket=name)
    for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        s3.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
    aws.client("cloudformation").delete_stack(StackName="svc")
    assert inventory(aws) == before


def test_unconditional_bucket_policy_deny_still_applies(aws: Any) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="locked-bucket")
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::locked-bucket/*",
    }
    s3.put_bucket_policy(
        Bucket="locked-bucket",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    with pytest.raises(s3.exceptions.ClientError):
        s3.put_object(Bucket="locked-bucket", Key="k", Body=b"x")


def test_deployment_group_api_returns_asg_names(aws: Any) -> None:
    codedeploy = aws.client("codedeploy")
    codedeploy.create_application(applicationName="api-app", computePlatform="Server")
    codedeploy.create_deployment_group(
        applicationName="api-app",
        deploymentGroupName="api-group",
        serviceRoleArn="arn:aws:iam::123456789012:role/cd",
        autoScalingGroups=["asg-a", "asg-b"],
    )
    group = codedeploy.get_deployment_group(
        applicationName="api-app", deploymentGroupName="api-group"
    )["deploymentGroupInfo"]
    assert [g["name"] for g in group["autoScalingGroups"]] == ["asg-a", "asg-b"]


def test_change_set_create_gives_the_stack_its_outputs(aws: Any) -> None:
    cfn = aws.client("cloudformation")
    cfn.create_change_set(
        StackName="viacs",
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody="Description: made by a change set\nResources:"
        + TOPIC
        + "Outputs:\n  Arn: {Value: !Ref Topic}\n",
    )
    assert status(aws, "viacs") == "REVIEW_IN_PROGRESS"
    cfn.get_waiter("change_set_create_complete").wait(StackName="viacs", ChangeSetName="first")
    change = cfn.describe_change_set(StackName="viacs", ChangeSetName="first")["Changes"][0]
    assert change["ResourceChange"]["Action"] == "Add"
    cfn.execute_change_set(StackName="viacs", ChangeSetName="first")
    cfn.get_waiter("stack_create_complete").wait(StackName="viacs")
    stack = cfn.describe_stacks(StackName="viacs")["Stacks"][0]
    assert stack["Description"] == "made by a change set"
    assert stack["Outputs"][0]["OutputValue"].startswith("arn:aws:sns:us-east-1:")
    executed = cfn.describe_change_set(StackName="viacs", ChangeSetName="first")
    assert executed["ExecutionStatus"] == "EXECUTE_COMPLETE"


ROLE = """
  Role:
    Type: AWS::IAM::Role
    Properties:
      {name}AssumeRolePolicyDocument:
        Statement:
          - {{Effect: Allow, Principal: {{Service: ec2.amazonaws.com}}, Action: sts:AssumeRole}}
"""


@pytest.mark.parametrize(
    ("named", "given", "missing"),
    [
        (False, [], "CAPABILITY_IAM"),
        (True, ["CAPABILITY_IAM"], "CAPABILITY_NAMED_IAM"),
        (False, ["CAPABILITY_IAM"], None),
        (True, ["CAPABILITY_NAMED_IAM"], None),
    ],
)
def test_iam_resources_need_capabilities(
    aws: Any, named: bool, given: list[str], missing: str | None
) -> None:
    child = "Resources:" + ROLE.format(name="RoleName: fixed-name\n      " if named else "")
    url = upload(aws, "iam-child.yaml", child)
    root = f"""
Resources:
  Child:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: !Sub "https://{BUCKET}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/iam-child.yaml"
"""
    assert url.endswith("/iam-child.yaml")
    cfn = aws.client("cloudformation")
    if missing is None:
        cfn.create_stack(StackName="caps", TemplateBody=root, Capabilities=given)
        assert status(aws, "caps") == "CREATE_COMPLETE"
        return
    with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException, match=missing):
        cfn.create_stack(StackName="caps", TemplateBody=root, Capabilities=given)
    with pytest.raises(cfn.exceptions.InsufficientCapabilitiesException, match=missing):
        cfn.create_change_set(
            StackName="caps",
            ChangeSetName="c",
            ChangeSetType="CREATE",
            TemplateBody=root,
            Capabilities=given,
        )
    assert cfn.list_stacks()["StackSummaries"] == []


def test_list_change_sets_is_per_stack(aws: Any) -> None:
    cfn = aws.client("cloudformation")
    for stack in ("one", "two"):
        cfn.create_change_set(
            StackName=stack,
            ChangeSetName=f"{stack}-cs",
            ChangeSetType="CREATE",
            TemplateBody="Resources:" + TOPIC,
        )
    listed = cfn.list_change_sets(StackName="two")["Summaries"]
    assert [c["ChangeSetName"] for c in listed] == ["two-cs"]


def test_rolled_back_stack_refuses_updates_and_names_stay_unique(aws: Any) -> None:
    url = upload(aws, "failing.yaml", FAILING_CHILD)
    create(aws, "broken", parent(url).replace("      Parameters: {Name: !Ref Name}\n", ""))
    assert status(aws, "broken") == "ROLLBACK_COMPLETE"
    cfn = aws.client("cloudformation")
    with pytest.raises(cfn.exceptions.ClientError, match="ROLLBACK_COMPLETE state and can not"):
        cfn.create_change_set(
            StackName="broken",
            ChangeSetName="again",
            ChangeSetType="UPDATE",
            TemplateBody="Resources:" + TOPIC,
        )
    with pytest.raises(cfn.exceptions.AlreadyExistsException):
        cfn.create_change_set(
            StackName="broken",
            ChangeSetName="anew",
            ChangeSetType="CREATE",
            TemplateBody="Resources:" + TOPIC,
        )
    cfn.delete_stack(StackName="broken")
    cfn.get_waiter("stack_delete_complete").wait(StackName="broken", WaiterConfig={"Delay": 1})


def test_template_urls_as_aws_reads_them(aws: Any) -> None:
    s3, cfn = aws.client("s3"), aws.client("cloudformation")
    s3.create_bucket(Bucket="dotted.template.bucket")
    s3.put_object(Bucket="dotted.template.bucket", Key="t/child.yaml", Body=CHILD.encode())
    dotted = "https://dotted.template.bucket.s3.us-east-1.amazonaws.com/t/child.yaml"
    create(aws, "dotted", parent(dotted))
    assert outputs(aws, "dotted")["InSub"] == "name is alpha-topic"
    with pytest.raises(cfn.exceptions.ClientError, match="S3 error: The specified key does not"):
        cfn.create_stack(StackName="nokey", TemplateURL=dotted.replace("child", "missing"))
    with pytest.raises(cfn.exceptions.ClientError, match="must reference a valid S3 object"):
        cfn.create_stack(
            StackName="nobucket",
            TemplateURL="https://no-such-bucket.s3.us-east-1.amazonaws.com/t/child.yaml",
        )
    with pytest.raises(cfn.exceptions.ClientError, match="TemplateURL must be an Amazon S3 URL"):
        cfn.create_stack(StackName="web", TemplateURL="https://example.com/child.yaml")
    create(aws, "missingchild", parent(dotted.replace("child", "missing")))
    assert status(aws, "missingchild") == "ROLLBACK_COMPLETE"
    failed = [
        e
        for e in cfn.describe_stack_events(StackName="missingchild")["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert failed[0]["ResourceStatusReason"].startswith("S3 error: The specified key does not")


def test_novalue_removes_a_list_element(aws: Any) -> None:
    create(
        aws,
        "novalue",
        """
Parameters:
  Extra: {Type: String, Default: "no"}
Conditions:
  WithExtra: !Equals [!Ref Extra, "yes"]
Resources:
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  Joined:
    Value: !Join
      - ","
      - - first
        - !If [WithExtra, extra, !Ref AWS::NoValue]
        - last
""",
    )
    assert outputs(aws, "novalue") == {"Joined": "first,last"}


def test_failed_update_rolls_back_to_the_previous_template(aws: Any) -> None:
    before = """
Resources:
  Keep:
    Type: AWS::SNS::Topic
    Properties: {TopicName: keep}
  Dropped:
    Type: AWS::SNS::Topic
    Properties: {TopicName: dropped}
Outputs:
  Version: {Value: one}
"""
    after = (
        """
Resources:
  Keep:
    Type: AWS::SNS::Topic
    Properties: {TopicName: keep}
"""
        + FAILING_CHILD.split("Resources:", 1)[1].replace("Topic", "Keep")
        + """
Outputs:
  Version: {Value: two}
"""
    )
    create(aws, "upd", before)
    cfn = aws.client("cloudformation")
    cfn.update_stack(StackName="upd", TemplateBody=after)
    assert status(aws, "upd") == "UPDATE_ROLLBACK_COMPLETE"
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName="upd", WaiterConfig={"Delay": 1})
    assert outputs(aws, "upd") == {"Version": "one"}
    names = sorted(
        t["TopicArn"].rsplit(":", 1)[1] for t in aws.client("sns").list_topics()["Topics"]
    )
    assert names == ["dropped", "keep"]
    assert aws.client("codepipeline").list_pipelines()["pipelines"] == []
    reasons = [
        e.get("ResourceStatusReason") or ""
        for e in cfn.describe_stack_events(StackName="upd")["StackEvents"]
        if e["ResourceStatus"] == "UPDATE_ROLLBACK_IN_PROGRESS"
    ]
    assert "[Pipeline]" in reasons[0]


def test_failed_nested_update_rolls_back_parent_and_child(aws: Any) -> None:
    good = upload(aws, "v1/child.yaml", CHILD)
    # v2 of the child adds a pipeline whose role does not exist: its update fails.
    pipeline = FAILING_CHILD.split("  Pipeline:", 1)[1].replace("    DependsOn: Topic\n", "")
    bad = upload(aws, "v2/child.yaml", CHILD.replace("Outputs:", f"  Pipeline:{pipeline}Outputs:"))
    create(aws, "nest", parent(good))
    cfn = aws.client("cloudformation")
    child_id = outputs(aws, "nest")["ChildId"]
    cfn.update_stack(StackName="nest", TemplateBody=parent(bad))
    assert status(aws, "nest") == "UPDATE_ROLLBACK_COMPLETE"
    failed = [
        e
        for e in cfn.describe_stack_events(StackName="nest")["StackEvents"]
        if e["ResourceStatus"] == "UPDATE_FAILED"
    ]
    assert failed[0]["LogicalResourceId"] == "Child"
    assert failed[0]["PhysicalResourceId"] == child_id
    assert "was not successfully updated" in failed[0]["ResourceStatusReason"]
    assert "[Pipeline]" in failed[0]["ResourceStatusReason"]
    child_failed = [
        e
        for e in cfn.describe_stack_events(StackName=child_id)["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert child_failed[0]["LogicalResourceId"] == "Pipeline"
    assert outputs(aws, "nest")["InSub"] == "name is alpha-topic"
    assert aws.client("codepipeline").list_pipelines()["pipelines"] == []


def test_pipeline_created_hooks_are_told_and_cannot_break_the_stack(aws: Any) -> None:
    from pipekit.emulator.models import codepipeline

    seen: list[tuple[str, str, str]] = []

    def broken(*_: str) -> None:
        raise RuntimeError("listener bug")

    saved = list(codepipeline.PIPELINE_CREATED_HOOKS)
    codepipeline.PIPELINE_CREATED_HOOKS[:] = [broken, lambda *args: seen.append(args)]
    try:
        create(aws, "svc", SERVICES)
    finally:
        codepipeline.PIPELINE_CREATED_HOOKS[:] = saved
    assert status(aws, "svc") == "CREATE_COMPLETE"
    assert seen == [("123456789012", "us-east-1", "the-pipeline")]


def test_change_set_follows_conditions(aws: Any) -> None:
    body = """
Parameters:
  Mode: {Type: String}
Conditions:
  IsFleet: !Equals [!Ref Mode, fleet]
Resources:
  Always:
    Type: AWS::SNS::Topic
  FleetOnly:
    Type: AWS::SNS::Topic
    Condition: IsFleet
    Properties: {TopicName: fleet-only}
"""
    create(aws, "modes", body, Mode="fleet")
    cfn = aws.client("cloudformation")

    def plan(name: str, mode: str) -> list[tuple[str, str]]:
        cfn.create_change_set(
            StackName="modes",
            ChangeSetName=name,
            ChangeSetType="UPDATE",
            TemplateBody=body,
            Parameters=[{"ParameterKey": "Mode", "ParameterValue": mode}],
        )
        changes = cfn.describe_change_set(StackName="modes", ChangeSetName=name)["Changes"]
        return [
            (c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"])
            for c in changes
        ]

    assert plan("tosingle", "single") == [("Remove", "FleetOnly")]
    cfn.execute_change_set(StackName="modes", ChangeSetName="tosingle")
    names = {t["TopicArn"].rsplit(":", 1)[1] for t in aws.client("sns").list_topics()["Topics"]}
    assert "fleet-only" not in names
    assert plan("tofleet", "fleet") == [("Add", "FleetOnly")]


CONSTRAINED = """
Parameters:
  Mode:
    Type: String
    AllowedValues: [single, fleet]
    ConstraintDescription: must be single or fleet.
  Repo:
    Type: String
    AllowedPattern: '^[a-z]+/[a-z]+$'
  Size:
    Type: Number
    Default: 2
    MinValue: 1
    MaxValue: 10
Rules:
  FleetNeedsTwo:
    RuleCondition: !Equals [!Ref Mode, fleet]
    Assertions:
      - Assert: !Not [!Equals [!Ref Size, '1']]
        AssertDescription: Fleet mode needs Size 2 or more.
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"Mode": "single", "Repo": "a/b", "Extra": "x"}, "Parameters: [Extra] do not exist"),
        ({"Mode": "single"}, "Parameters: [Repo] must have values"),
        ({"Mode": "multi", "Repo": "a/b"}, "'Mode' failed to satisfy constraint: must be single"),
        ({"Mode": "single", "Repo": "A/b"}, "Parameter 'Repo' must match pattern ^[a-z]+/[a-z]+$"),
        ({"Mode": "single", "Repo": "a/b", "Size": "11"}, "must be a number not greater than 10"),
        ({"Mode": "single", "Repo": "a/b", "Size": "two"}, "Parameter 'Size' must be a number."),
        ({"Mode": "fleet", "Repo": "a/b", "Size": "1"}, "Fleet mode needs Size 2 or more."),
    ],
)
def test_parameters_are_checked_before_anything_is_created(
    aws: Any, given: dict[str, str], message: str
) -> None:
    cfn = aws.client("cloudformation")
    params = [{"ParameterKey": k, "ParameterValue": v} for k, v in given.items()]
    with pytest.raises(cfn.exceptions.ClientError) as raised:
        cfn.create_stack(StackName="params", TemplateBody=CONSTRAINED, Parameters=params)
    assert message in raised.value.response["Error"]["Message"]
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(cfn.exceptions.ClientError, match=re.escape(message)):
        cfn.create_change_set(
            StackName="params",
            ChangeSetName="c",
            ChangeSetType="CREATE",
            TemplateBody=CONSTRAINED,
            Parameters=params,
        )
    assert cfn.list_stacks()["StackSummaries"] == []
    assert aws.client("sns").list_topics()["Topics"] == []


def test_the_same_parameters_pass(aws: Any) -> None:
    create(aws, "params", CONSTRAINED, Mode="fleet", Repo="a/b", Size="3")
    assert status(aws, "params") == "CREATE_COMPLETE"


def test_a_nested_stack_with_a_bad_parameter_fails_like_aws(aws: Any) -> None:
    url = upload(aws, "constrained.yaml", CONSTRAINED)
    create(
        aws,
        "outer",
        f"""
Resources:
  Inner:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: {url}
      Parameters: {{Mode: single, Repo: NOT-OK}}
""",
    )
    assert status(aws, "outer") == "ROLLBACK_COMPLETE"
    failed = [
        e
        for e in aws.client("cloudformation").describe_stack_events(StackName="outer")[
            "StackEvents"
        ]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert failed[0]["LogicalResourceId"] == "Inner"
    assert "Parameter 'Repo' must match pattern" in failed[0]["ResourceStatusReason"]
