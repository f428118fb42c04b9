"""The templates rendered per scenario (single/fleet x new/existing connection of either ARN
service), asserting what matters: rollback wiring, trigger branch, IMDSv2, no SSH, bucket
protections, no wildcard IAM actions, PassRole scoping, names derived from the stack name."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipekit.cfn.render import render
from pipekit.cfn.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
CHILDREN = ("network", "artifacts", "iam", "ec2", "pipeline")

PREFIX = "team-env7"
PSEUDO = {
    "AWS::Region": "eu-central-1",
    "AWS::AccountId": "210987654321",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": f"{PREFIX}-PipelineStack-ABC",
    "AWS::StackId": "arn:aws:cloudformation:eu-central-1:210987654321:stack/x/"
    "0f0e0d0c-1111-2222-3333-444455556666",
}
CODECONNECTIONS_ARN = (
    "arn:aws:codeconnections:eu-central-1:210987654321:connection/"
    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
)
CODESTAR_ARN = (
    "arn:aws:codestar-connections:eu-central-1:210987654321:connection/"
    "11111111-2222-3333-4444-555555555555"
)
CONNECTIONS = {"new": "", "codeconnections": CODECONNECTIONS_ARN, "codestar": CODESTAR_ARN}
SCENARIOS = [(mode, conn) for mode in ("single", "fleet") for conn in CONNECTIONS]
SCENARIO_IDS = [f"{mode}-{conn}" for mode, conn in SCENARIOS]

# Action configuration keys the aws-facts sheet lists for each provider.
ACTION_CONFIG_KEYS = {
    "CodeStarSourceConnection": {
        "ConnectionArn",
        "FullRepositoryId",
        "BranchName",
        "DetectChanges",
        "OutputArtifactFormat",
    },
    "CodeBuild": {
        "ProjectName",
        "PrimarySource",
        "BatchEnabled",
        "CombineArtifacts",
        "EnvironmentVariables",
    },
    "CodeDeploy": {"ApplicationName", "DeploymentGroupName"},
    # CodePipeline user guide, action reference "Manual approval" (approvals-action-add)
    "Manual": {"NotificationArn", "CustomData", "ExternalEntityLink"},
}


def template(name: str) -> dict[str, Any]:
    return load_template(TEMPLATES / f"{name}.yaml")


def child_values(name: str, mode: str = "single", conn: str = "new", **extra: str) -> dict:
    """Values the root would pass: only those the child declares."""
    values = {
        "NamePrefix": PREFIX,
        "DeploymentMode": mode,
        "ConnectionArn": CONNECTIONS[conn],
        "GitHubRepository": "some-org/some-repo",
        "BranchName": "release/2026",
        "ArtifactBucketName": "team-env7-artifactbucket-1a2b3c",
        "InstanceRoleName": "team-env7-InstanceRole-XYZ",
        "CodePipelineRoleName": "team-env7-CodePipelineRole-XYZ",
        "CodeDeployRoleName": "team-env7-CodeDeployRole-XYZ",
        "AutoScalingGroupName": "team-env7-asg",
        "PruneRoleArn": "arn:aws:iam::210987654321:role/team-env7-PruneRole",
        "TargetGroupName": "tg-name" if mode == "fleet" else "",
        "LoadBalancerFullName": "app/alb/123" if mode == "fleet" else "",
        "TargetGroupFullName": "targetgroup/tg/456" if mode == "fleet" else "",
        "AppPort": "8080",
        "FleetSize": "3",
        "AppConfigPath": "/pipekit/team-env7/app/",
        **extra,
    }
    declared = template(name).get("Parameters", {})
    return {k: v for k, v in values.items() if k in declared}


def rendered(name: str, mode: str = "single", conn: str = "new", **extra: str) -> dict:
    return render(template(name), child_values(name, mode, conn, **extra), PSEUDO)


def resources_of(doc: dict, rtype: str) -> dict[str, dict]:
    return {n: r for n, r in doc["Resources"].items() if r["Type"] == rtype}


PROSE = {"Description", "AssertDescription", "ConstraintDescription"}


def strings(node: Any):
    """Every string in a document except human-readable descriptions."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key not in PROSE:
                yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def policy_statements(doc: dict):
    """(resource name, statement) for every IAM/bucket/topic policy statement in a document."""
    for name, res in doc["Resources"].items():
        props = res.get("Properties", {})
        documents = []
        if res["Type"] == "AWS::IAM::Role":
            documents += [p["PolicyDocument"] for p in props.get("Policies", [])]
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            documents.append(props["PolicyDocument"])
        if res["Type"] in ("AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in document["Statement"]:
                yield name, statement


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def all_rendered() -> list[tuple[str, dict]]:
    docs = []
    for mode, conn in SCENARIOS:
        for name in CHILDREN:
            docs.append((f"{name}/{mode}-{conn}", rendered(name, mode, conn)))
    return docs


# --- Pipeline ---------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "conn"), SCENARIOS, ids=SCENARIO_IDS)
def test_pipeline_structure_and_rollback(mode: str, conn: str) -> None:
    doc = rendered("pipeline", mode, conn)
    (pipeline,) = resources_of(doc, "AWS::CodePipeline::Pipeline").values()
    props = pipeline["Properties"]
    assert props["PipelineType"] == "V2"
    assert props["ExecutionMode"] in ("QUEUED", "SUPERSEDED")
    stages = props["Stages"]
    assert [s["Name"] for s in stages] == ["Source", "Build", "Deploy", "Prune"]
    for stage in stages[:3]:
        assert [a["Name"] for a in stage["Actions"]] == [stage["Name"]]
    source, build, deploy, prune = (s["Actions"][0] for s in stages)
    # Prune runs only after a successful Deploy: a CodeBuild action on its own project, fed
    # the source artifact because a CodeBuild action needs an input, producing nothing
    assert [a["Name"] for a in stages[3]["Actions"]] == ["PruneArtifacts"]
    assert prune["ActionTypeId"]["Provider"] == "CodeBuild"
    assert prune["Configuration"] == {"ProjectName": {"Ref": "PruneProject"}}
    assert [a["Name"] for a in prune["InputArtifacts"]] == ["SourceOutput"]
    assert "OutputArtifacts" not in prune
    assert source["Namespace"] == "SourceVariables"
    assert build["Namespace"] == "BuildVariables"
    assert [a["Name"] for a in source["OutputArtifacts"]] == ["SourceOutput"]
    assert [a["Name"] for a in build["InputArtifacts"]] == ["SourceOutput"]
    assert [a["Name"] for a in build["OutputArtifacts"]] == ["BuildOutput"]
    assert [a["Name"] for a in deploy["InputArtifacts"]] == ["BuildOutput"]
    # One rollback layer, CodeDeploy's (test_deployment_group_rollback_wiring): a stage
    # rollback would collide with it on the deployment group (one deployment at a time).
    assert all("OnFailure" not in s for s in stages)

    env = json.loads(build["Configuration"]["EnvironmentVariables"])
    by_name = {v["name"]: v for v in env}
    assert by_name["COMMIT_ID"]["value"] == "#{SourceVariables.CommitId}"
    assert by_name["PIPELINE_EXECUTION_ID"]["value"] == "#{codepipeline.PipelineExecutionId}"
    assert all(v.get("type", "PLAINTEXT") == "PLAINTEXT" for v in env)
    assert len(build["Configuration"]["EnvironmentVariables"]) <= 1000


@pytest.mark.parametrize(("mode", "conn"), SCENARIOS, ids=SCENARIO_IDS)
def test_action_configuration_keys_are_documented(mode: str, conn: str) -> None:
    doc = rendered("pipeline", mode, conn)
    (pipeline,) = resources_of(doc, "AWS::CodePipeline::Pipeline").values()
    for stage in pipeline["Properties"]["Stages"]:
        for action in stage["Actions"]:
            provider = action["ActionTypeId"]["Provider"]
            assert set(action["Configuration"]) <= ACTION_CONFIG_KEYS[provider], provider
            assert action["ActionTypeId"]["Owner"] == "AWS"
            assert action["ActionTypeId"]["Version"] == "1"


@pytest.mark.parametrize("gate", ["true", "false"])
def test_the_approval_gate_sits_between_build_and_deploy_only_when_on(gate: str) -> None:
    doc = rendered("pipeline", ApprovalBeforeDeploy=gate)
    (pipeline,) = resources_of(doc, "AWS::CodePipeline::Pipeline").values()
    stages = pipeline["Properties"]["Stages"]
    policies = [
        p
        for p in resources_of(doc, "AWS::IAM::Policy").values()
        if p["Properties"]["PolicyName"] == "notify-approval"
    ]
    if gate == "false":
        assert [s["Name"] for s in stages] == ["Source", "Build", "Deploy", "Prune"]
        assert policies == []
        return
    assert [s["Name"] for s in stages] == ["Source", "Build", "Approve", "Deploy", "Prune"]
    (action,) = stages[2]["Actions"]
    assert action["ActionTypeId"] == {
        "Category": "Approval",
        "Owner": "AWS",
        "Provider": "Manual",
        "Version": "1",
    }
    config = action["Configuration"]
    assert config["NotificationArn"] == {"Ref": "NotificationTopic"}
    assert "#{SourceVariables.CommitId}" in config["CustomData"]
    assert len(config["CustomData"]) <= 512  # the action reference's limit
    # the pipeline's role may publish to that topic and nothing else
    (policy,) = policies
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == {"Ref": "NotificationTopic"}
    assert policy["Properties"]["Roles"] == [child_values("pipeline")["CodePipelineRoleName"]]


@pytest.mark.parametrize("branch", ["main", "release/2026"])
def test_trigger_and_source_follow_the_branch_parameter(branch: str) -> None:
    doc = rendered("pipeline", BranchName=branch)
    (pipeline,) = resources_of(doc, "AWS::CodePipeline::Pipeline").values()
    (trigger,) = pipeline["Properties"]["Triggers"]
    assert trigger["ProviderType"] == "CodeStarSourceConnection"
    git = trigger["GitConfiguration"]
    assert git["SourceActionName"] == "Source"
    assert git["Push"] == [{"Branches": {"Includes": [branch]}}]
    source = pipeline["Properties"]["Stages"][0]["Actions"][0]
    assert source["Configuration"]["BranchName"] == branch
    assert source["Configuration"]["FullRepositoryId"] == "some-org/some-repo"


@pytest.mark.parametrize(("mode", "conn"), SCENARIOS, ids=SCENARIO_IDS)
def test_connection_and_its_permission_prefix(mode: str, conn: str) -> None:
    doc = rendered("pipeline", mode, conn)
    connections = resources_of(doc, "AWS::CodeConnections::Connection")
    connections.update(resources_of(doc, "AWS::CodeStarConnections::Connection"))
    source = resources_of(doc, "AWS::CodePipeline::Pipeline")["Pipeline"]["Properties"]
    source_arn = source["Stages"][0]["Actions"][0]["Configuration"]["ConnectionArn"]
    statements = [
        s
        for _, s in policy_statements(doc)
        if any(a.endswith(":UseConnection") for a in as_list(s["Action"]))
    ]
    assert len(statements) == 1
    statement = statements[0]
    if conn == "new":
        assert list(connections) == ["GitHubConnection"]
        assert connections["GitHubConnection"]["Type"] == "AWS::CodeConnections::Connection"
        assert connections["GitHubConnection"]["Properties"]["ProviderType"] == "GitHub"
        expected_arn: Any = {"Fn::GetAtt": ["GitHubConnection", "ConnectionArn"]}
        expected_action = "codeconnections:UseConnection"
    else:
        assert connections == {}
        expected_arn = CONNECTIONS[conn]
        service = CONNECTIONS[conn].split(":")[2]
        expected_action = f"{service}:UseConnection"
    assert source_arn == expected_arn
    assert statement["Resource"] == expected_arn
    assert as_list(statement["Action"]) == [expected_action]
    assert doc["Outputs"]["ConnectionArn"]["Value"] == expected_arn
    # The pipeline must not start (and fail) before it may use the connection.
    assert "ConnectionPolicy" in as_list(doc["Resources"]["Pipeline"].get("DependsOn", []))


def test_new_connection_name_fits_the_32_character_limit() -> None:
    doc = rendered("pipeline", conn="new")
    name_expr = doc["Resources"]["GitHubConnection"]["Properties"]["ConnectionName"]
    # Join ['-', ['github', Select [0, Split ['-', Select [2, Split ['/', StackId]]]]]]
    sep, (word, select) = name_expr["Fn::Join"]
    stack_uuid = PSEUDO["AWS::StackId"].split("/")[2]
    assert select["Fn::Select"][0] == 0
    name = sep.join([word, stack_uuid.split("-")[0]])
    assert 1 <= len(name) <= 32
    # the help output names the same connection
    help_text, variables = doc["Outputs"]["ConnectionHelp"]["Value"]["Fn::Sub"]
    assert variables["Name"] == name_expr
    assert "choose the connection ${Name}" in help_text
    assert "Update pending connection" in help_text


@pytest.mark.parametrize("mode", ["single", "fleet"])
def test_deployment_group_rollback_wiring(mode: str) -> None:
    doc = rendered("pipeline", mode)
    group = doc["Resources"]["DeploymentGroup"]["Properties"]
    rollback = group["AutoRollbackConfiguration"]
    assert rollback["Enabled"] is True
    assert "DEPLOYMENT_FAILURE" in rollback["Events"]
    assert group["DeploymentStyle"]["DeploymentType"] == "IN_PLACE"
    assert group["AutoScalingGroups"] == ["team-env7-asg"]
    if mode == "fleet":
        assert "DEPLOYMENT_STOP_ON_ALARM" in rollback["Events"]
        alarms = group["AlarmConfiguration"]
        assert alarms["Enabled"] is True
        names = [a["Name"]["Ref"] for a in alarms["Alarms"]]
        assert names, "fleet mode needs at least one alarm"
        for alarm in names:
            body = doc["Resources"][alarm]
            assert body["Type"] == "AWS::CloudWatch::Alarm"
            assert "AWS/ApplicationELB" in json.dumps(body)
        assert group["DeploymentStyle"]["DeploymentOption"] == "WITH_TRAFFIC_CONTROL"
        assert group["LoadBalancerInfo"]["TargetGroupInfoList"] == [{"Name": "tg-name"}]
        assert group["DeploymentConfigName"] != "CodeDeployDefault.AllAtOnce"
    else:
        assert "DEPLOYMENT_STOP_ON_ALARM" not in rollback["Events"]
        assert "AlarmConfiguration" not in group
        assert "LoadBalancerInfo" not in group
        assert group["DeploymentStyle"]["DeploymentOption"] == "WITHOUT_TRAFFIC_CONTROL"
        assert resources_of(doc, "AWS::CloudWatch::Alarm") == {}


def test_build_project_uses_repository_buildspec_and_logs_with_retention() -> None:
    doc = rendered("pipeline", LogRetentionDays="30")
    project = doc["Resources"]["BuildProject"]["Properties"]
    assert project["Source"] == {"Type": "CODEPIPELINE"}  # no inline BuildSpec
    assert project["Artifacts"] == {"Type": "CODEPIPELINE"}
    group = doc["Resources"]["BuildLogGroup"]["Properties"]
    assert group["RetentionInDays"] == "30"
    assert project["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": "BuildLogGroup"}
    assert project["Environment"]["Type"] == "LINUX_CONTAINER"
    assert "TimeoutInMinutes" in project


@pytest.mark.parametrize("email", ["", "ops@example.com"])
def test_notifications_for_failed_and_succeeded_runs(email: str) -> None:
    doc = rendered("pipeline", NotificationEmail=email)
    rule = doc["Resources"]["PipelineRunRule"]["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.codepipeline"]
    assert sorted(rule["EventPattern"]["detail"]["state"]) == ["FAILED", "SUCCEEDED"]
    assert rule["EventPattern"]["detail"]["pipeline"] == [{"Ref": "Pipeline"}]
    assert rule["Targets"][0]["Arn"] == {"Ref": "NotificationTopic"}
    (statement,) = doc["Resources"]["NotificationTopicPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["PipelineRunRule", "Arn"]
    }
    subscriptions = resources_of(doc, "AWS::SNS::Subscription")
    if email:
        (sub,) = subscriptions.values()
        assert sub["Properties"]["Endpoint"] == email
        assert sub["Properties"]["Protocol"] == "email"
    else:
        assert subscriptions == {}


# --- Compute ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["single", "fleet"])
def test_launch_template_imdsv2_encrypted_root_and_no_key(mode: str) -> None:
    doc = rendered("ec2", mode)
    (lt,) = resources_of(doc, "AWS::EC2::LaunchTemplate").values()
    data = lt["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpEndpoint"] == "enabled"
    assert "KeyName" not in data
    (root,) = data["BlockDeviceMappings"]
    assert root["DeviceName"] == "/dev/xvda"
    assert root["Ebs"]["Encrypted"] is True
    assert data["IamInstanceProfile"] == {"Arn": {"Ref": "InstanceProfileArn"}}
    assert data["ImageId"] == {"Ref": "AmiId"}
    assert template("ec2")["Parameters"]["AmiId"]["Type"] == "AWS::EC2::Image::Id"


def _ingress_rules(doc: dict) -> list[dict]:
    rules = []
    for res in doc["Resources"].values():
        if res["Type"] == "AWS::EC2::SecurityGroup":
            rules += res["Properties"].get("SecurityGroupIngress", [])
        if res["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules.append(res["Properties"])
    return rules


@pytest.mark.parametrize(("mode", "conn"), SCENARIOS, ids=SCENARIO_IDS)
def test_no_port_22_anywhere(mode: str, conn: str) -> None:
    for name in CHILDREN:
        doc = rendered(name, mode, conn)
        for rule in _ingress_rules(doc):
            assert str(rule["IpProtocol"]) not in ("-1", "all"), (name, rule)
            low, high = int(rule["FromPort"]), int(rule["ToPort"])
            assert not low <= 22 <= high, (name, rule)
    # and nothing mentions an SSH key anywhere
    for path in TEMPLATES.glob("*.yaml"):
        assert "KeyName" not in path.read_text()


def test_single_mode_instance_claims_the_elastic_ip() -> None:
    doc = rendered("ec2", "single")
    assert resources_of(doc, "AWS::ElasticLoadBalancingV2::LoadBalancer") == {}
    (eip_name,) = resources_of(doc, "AWS::EC2::EIP")
    asg = doc["Resources"]["AutoScalingGroup"]
    assert asg["Properties"]["DesiredCapacity"] == asg["Properties"]["MaxSize"] == 1
    assert asg["CreationPolicy"]["ResourceSignal"]["Count"] == 1
    # the public address named by the outputs is the Elastic IP, on the app port
    assert doc["Outputs"]["AppUrl"]["Value"] == {"Fn::Sub": f"http://${{{eip_name}}}:8080/"}
    # the instance may associate exactly this address, onto instances of this environment
    statements = [s for _, s in policy_statements(doc) if s["Action"] == "ec2:AssociateAddress"]
    resources = [r for s in statements for r in as_list(s["Resource"])]
    eip_arn = "arn:aws:ec2:eu-central-1:210987654321:elastic-ip/${" + eip_name + ".AllocationId}"
    assert {"Fn::Sub": eip_arn} in resources
    for statement in statements:
        for resource in as_list(statement["Resource"]):
            text = json.dumps(resource)
            if "elastic-ip" not in text:
                tag_condition = statement["Condition"]["StringEquals"]
                assert tag_condition == {"aws:ResourceTag/pipekit:stack": PREFIX}
    # port 80 rule replaced by the app port, open to the internet only in single mode
    (ingress,) = _ingress_rules(doc)
    assert ingress["FromPort"] == ingress["ToPort"] == "8080"


def test_default_port_url_has_no_port() -> None:
    doc = rendered("ec2", "single", AppPort="80")
    assert doc["Outputs"]["AppUrl"]["Value"] == {"Fn::Sub": "http://${ElasticIp}/"}


def test_fleet_mode_instances_reachable_only_from_the_load_balancer() -> None:
    doc = rendered("ec2", "fleet")
    assert resources_of(doc, "AWS::EC2::EIP") == {}
    assert "ec2:AssociateAddress" not in json.dumps(doc)
    (lb_name,) = resources_of(doc, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    lb_sgs = doc["Resources"][lb_name]["Properties"]["SecurityGroups"]
    instance_sg = {"Ref": "InstanceSecurityGroup"}
    lt = doc["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert lt["NetworkInterfaces"][0]["Groups"] == [instance_sg]
    instance_rules = [
        r
        for r in _ingress_rules(doc)
        if r.get("GroupId") == instance_sg
        or r
        in doc["Resources"]["InstanceSecurityGroup"]["Properties"].get("SecurityGroupIngress", [])
    ]
    assert instance_rules, "instances need an ingress rule from the load balancer"
    for rule in instance_rules:
        assert "CidrIp" not in rule and "CidrIpv6" not in rule
        assert rule["SourceSecurityGroupId"] in lb_sgs
        assert rule["FromPort"] == rule["ToPort"] == "8080"
    # the load balancer's only outbound rule is the instances' app port
    (lb_sg,) = [doc["Resources"][sg["Ref"]]["Properties"] for sg in lb_sgs]
    assert lb_sg["SecurityGroupEgress"] == [
        {
            "Description": "To the app port on the instances only",
            "IpProtocol": "tcp",
            "FromPort": "8080",
            "ToPort": "8080",
            "DestinationSecurityGroupId": instance_sg,
        }
    ]
    assert resources_of(doc, "AWS::EC2::SecurityGroupEgress") == {}
    (tg,) = resources_of(doc, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert tg["Properties"]["HealthCheckPath"] == "/health"
    assert tg["Properties"]["Port"] == "8080"
    asg = doc["Resources"]["AutoScalingGroup"]
    assert asg["Properties"]["DesiredCapacity"] == "3"
    assert asg["CreationPolicy"]["ResourceSignal"]["Count"] == "3"
    assert asg["Properties"]["TargetGroupARNs"] == [{"Ref": "TargetGroup"}]


def _user_data(mode: str) -> str:
    doc = rendered("ec2", mode)
    data = doc["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    sub = data["UserData"]["Fn::Base64"]
    # pseudo parameters and AppPort are filled in; only the allocation id is left
    if isinstance(sub, dict):
        text, variables = sub["Fn::Sub"]
        allocation = variables["AllocationId"]
        value = "eipalloc-0123456789abcdef0" if allocation != "" else ""
        text = text.replace("${AllocationId}", value)
    else:
        text = sub
    assert "${" not in text.replace("${!", ""), "unresolved variables in user data"
    return text


def steps(script: str) -> list[str]:
    """The bootstrap step names, in order (the reason a failure signal carries)."""
    return re.findall(r"^STEP=([a-z-]+)$", script, re.MULTILINE)


@pytest.mark.parametrize("mode", ["single", "fleet"])
def test_user_data_bootstraps_agent_before_signalling(mode: str) -> None:
    script = _user_data(mode)
    assert script.startswith("#!/bin/bash\n")
    assert 'dnf install -y "$@"' in script
    installs = re.findall(r"^dnf_install (.*)$", script, re.MULTILINE)
    # cfn-signal comes with aws-cfn-bootstrap: installed first and on its own, so that a failure
    # of any later package can still be signalled with its step's name
    assert installs[0].split() == ["aws-cfn-bootstrap"]
    assert steps(script)[1:3] == ["install-cfn-bootstrap", "install-packages"]
    assert installs[1].split() == ["python3.11", "python3.11-pip", "ruby3.2", "wget"]
    # the agent's installer accepts Ruby up to 3.2 only (aws-codedeploy-agent bin/install,
    # supported_ruby_versions): run it with that Ruby by name
    assert "ruby3.2 ./codedeploy-install auto" in script
    assert (
        "cat > /etc/sample-app/env <<'APP_ENV'\nPORT=8080\nVALIDATE_SECONDS=30\n"
        "APP_CONFIG_PATH=/pipekit/team-env7/app/\nAWS_REGION=eu-central-1\nAPP_ENV\n"
    ) in script
    assert "https://aws-codedeploy-$REGION.s3.$REGION.amazonaws.com/latest/install" in script
    assert "--resource AutoScalingGroup" in script
    success = script.index('signal 0 "serving the last successful revision (InService)"')
    assert script.index("systemctl is-active --quiet codedeploy-agent\n") < success
    assert script.index("./codedeploy-install auto") < success
    # ready = InService: after CodeDeploy's launch deployment (tests/unit/test_user_data_wait.py);
    # only then does the instance take the stack's address (a new instance would otherwise take
    # the URL from the serving one before it serves: tests/local/test_autoscaling_scaleout.py)
    assert steps(script)[-3:] == ["wait-in-service", "claim-elastic-ip", "signal"]
    assert "trap on_error ERR" in script
    if mode == "single":
        assert "ALLOCATION_ID='eipalloc-0123456789abcdef0'" in script
        assert "aws ec2 associate-address" in script
    else:
        assert "ALLOCATION_ID=''" in script


@pytest.mark.parametrize("mode", ["single", "fleet"])
def test_user_data_is_valid_bash(mode: str, tmp_path: Path) -> None:
    script = tmp_path / "user-data.sh"
    script.write_text(_user_data(mode))
    subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        result = subprocess.run(
            ["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout


# --- Artifacts --------------------------------------------------------------------------


def test_artifact_bucket_protections() -> None:
    doc = rendered("artifacts")
    ((name, bucket),) = resources_of(doc, "AWS::S3::Bucket").items()
    props = bucket["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert set(props["PublicAccessBlockConfiguration"]) == {
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    # nothing expires by age alone: only what the Prune stage tagged, a day after creation
    # (so an old object tagged today goes at the next lifecycle run); the multipart rule is
    # apart because S3 refuses AbortIncompleteMultipartUpload next to a tag filter
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules == {
        "abort-incomplete-uploads": {
            "Id": "abort-incomplete-uploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        "expire-pruned-artifacts": {
            "Id": "expire-pruned-artifacts",
            "Status": "Enabled",
            "TagFilters": [{"Key": "pipekit:expired", "Value": "true"}],
            "ExpirationInDays": 1,
        },
    }
    deny = [
        s
        for _, s in policy_statements(doc)
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(deny) == 1
    assert {"Fn::GetAtt": [name, "Arn"]} in deny[0]["Resource"]
    assert {"Fn::Sub": f"${{{name}.Arn}}/*"} in deny[0]["Resource"]
    # what happens on deletion is decided and said
    assert bucket["DeletionPolicy"] == "Delete"
    assert "DELETED" in template("artifacts")["Description"]


# --- IAM --------------------------------------------------------------------------------


# Actions that support no resource-level permissions, so "*" is their only Resource (Service
# Authorization Reference: the Resource types column is empty).
NO_RESOURCE_TYPES = {
    # Amazon EC2 Auto Scaling: DescribeAutoScalingInstances, access level List
    "autoscaling:DescribeAutoScalingInstances",
}


@pytest.mark.parametrize(("mode", "conn"), SCENARIOS, ids=SCENARIO_IDS)
def test_no_wildcard_actions_or_resources_in_allow_statements(mode: str, conn: str) -> None:
    count = 0
    for name in CHILDREN:
        for owner, statement in policy_statements(rendered(name, mode, conn)):
            if statement["Effect"] != "Allow":
                continue
            count += 1
            for action in as_list(statement["Action"]):
                assert "*" not in action, (name, owner, action)
            assert "NotAction" not in statement and "NotResource" not in statement
            if set(as_list(statement["Action"])) <= NO_RESOURCE_TYPES:
                continue
            for resource in as_list(statement["Resource"]):
                assert resource != "*", (name, owner, statement)
    assert count >= 10


def test_pass_role_is_scoped_to_the_roles_passed_and_the_service() -> None:
    found = 0
    for name in CHILDREN:
        for _owner, statement in policy_statements(rendered(name, "fleet")):
            if "iam:PassRole" not in as_list(statement["Action"]):
                continue
            found += 1
            assert as_list(statement["Action"]) == ["iam:PassRole"]
            for resource in as_list(statement["Resource"]):
                assert isinstance(resource, dict), "PassRole must name a role of this stack"
                assert "Fn::GetAtt" in resource
            service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
            assert service.endswith(".amazonaws.com")
    assert found >= 1


def _iam_resources(doc: dict, action: str) -> list[str]:
    out = []
    for _, statement in policy_statements(doc):
        if action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                out.append(resource["Fn::Sub"] if isinstance(resource, dict) else resource)
    return out


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:eu-central-1:210987654321:{resource}"


@pytest.mark.parametrize("mode", ["single", "fleet"])
def test_iam_scopes_match_the_names_the_pipeline_stack_creates(mode: str) -> None:
    iam, pipe = rendered("iam", mode), rendered("pipeline", mode)
    res = pipe["Resources"]
    project = res["BuildProject"]["Properties"]["Name"]
    log_group = res["BuildLogGroup"]["Properties"]["LogGroupName"]
    app = res["Application"]["Properties"]["ApplicationName"]
    group = res["DeploymentGroup"]["Properties"]["DeploymentGroupName"]
    config = res["DeploymentGroup"]["Properties"]["DeploymentConfigName"]
    assert project.startswith(PREFIX) and app.startswith(PREFIX) and group.startswith(PREFIX)

    prune = res["PruneProject"]["Properties"]["Name"]
    prune_logs = res["PruneLogGroup"]["Properties"]["LogGroupName"]
    assert _iam_resources(iam, "codebuild:StartBuild") == [
        _arn("codebuild", f"project/{project}"),
        _arn("codebuild", f"project/{prune}"),
    ]
    assert _iam_resources(iam, "logs:PutLogEvents") == [
        _arn("logs", f"log-group:{log_group}:*"),
        _arn("logs", f"log-group:{prune_logs}:*"),
    ]
    # the buildspec's report group `unit-tests` is auto-created as <project>-unit-tests
    assert _iam_resources(iam, "codebuild:BatchPutTestCases") == [
        _arn("codebuild", f"report-group/{project}-unit-tests")
    ]
    deploy = _iam_resources(iam, "codedeploy:CreateDeployment")
    assert _arn("codedeploy", f"application:{app}") in deploy
    assert _arn("codedeploy", f"deploymentgroup:{app}/{group}") in deploy
    assert _arn("codedeploy", f"deploymentconfig:{config}") in deploy
    bucket = "team-env7-artifactbucket-1a2b3c"
    for action in ("s3:GetObject", "s3:PutObject"):
        assert _iam_resources(iam, action)
        for arn in _iam_resources(iam, action):
            assert arn == f"arn:aws:s3:::{bucket}/*"


def test_the_prune_role_may_only_read_deployments_and_tag_artifacts() -> None:
    iam, pipe = rendered("iam"), rendered("pipeline")
    res = pipe["Resources"]
    app = res["Application"]["Properties"]["ApplicationName"]
    group = res["DeploymentGroup"]["Properties"]["DeploymentGroupName"]
    logs = res["PruneLogGroup"]["Properties"]["LogGroupName"]
    bucket = "arn:aws:s3:::team-env7-artifactbucket-1a2b3c"
    granted = {
        (action, resource)
        for owner, statement in policy_statements(iam)
        if owner == "PruneRole"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }
    assert granted == {
        ("logs:CreateLogStream", _arn("logs", f"log-group:{logs}:*")),
        ("logs:PutLogEvents", _arn("logs", f"log-group:{logs}:*")),
        ("codedeploy:ListDeployments", _arn("codedeploy", f"deploymentgroup:{app}/{group}")),
        ("codedeploy:BatchGetDeployments", _arn("codedeploy", f"deploymentgroup:{app}/{group}")),
        ("s3:ListBucket", bucket),
        ("s3:GetObject", f"{bucket}/*"),
        ("s3:GetObjectTagging", f"{bucket}/*"),
        ("s3:PutObjectTagging", f"{bucket}/*"),
    }
    project = res["PruneProject"]["Properties"]
    assert project["ServiceRole"] == "arn:aws:iam::210987654321:role/team-env7-PruneRole"
    env = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert set(env) == {
        "ARTIFACT_BUCKET",
        "APPLICATION_NAME",
        "DEPLOYMENT_GROUP_NAME",
        "RELEASES_TO_KEEP",
        "RETENTION_DAYS",
    }
    assert project["LogsConfig"]["CloudWatchLogs"]["GroupName"] == {"Ref": "PruneLogGroup"}


def test_instances_use_session_manager_and_read_only_the_artifact_bucket() -> None:
    iam = rendered("iam")
    role = iam["Resources"]["InstanceRole"]["Properties"]
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    actions = {
        a
        for p in role["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        for a in as_list(s["Action"])
    }
    # and its own lifecycle state (the user data's wait-in-service step), and the app's
    # configuration path (test_instance_role_reads_only_the_app_config_path)
    assert actions == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "autoscaling:DescribeAutoScalingInstances",
        "ssm:GetParametersByPath",
        "ssm:GetParameter",
        "ssm:GetParameters",
    }


def test_ec2_signal_permission_is_this_stack_only() -> None:
    doc = rendered("ec2", "fleet")
    assert _iam_resources(doc, "cloudformation:SignalResource") == [PSEUDO["AWS::StackId"]]


# --- Names, accounts, regions -----------------------------------------------------------

HARD_CODED = [
    (re.compile(r"arn:aws:"), "hard-coded partition (use ${AWS::Partition})"),
    (re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])"), "hard-coded account id"),
    (
        re.compile(
            r"\b(us|eu|ap|sa|ca|me|af|il|mx)-(east|west|north|south|central|northeast|"
            r"southeast|northwest|southwest)-[0-9]\b"
        ),
        "hard-coded region",
    ),
]


@pytest.mark.parametrize("name", ("root", *CHILDREN))
def test_no_hard_coded_partition_account_or_region(name: str) -> None:
    doc = template(name)
    for section in ("Resources", "Outputs", "Conditions", "Rules"):
        for text in strings(doc.get(section, {})):
            for pattern, why in HARD_CODED:
                assert not pattern.search(text), f"{name}: {why}: {text[:80]!r}"


@pytest.mark.parametrize("name", CHILDREN)
def test_explicit_names_derive_from_the_name_prefix(name: str) -> None:
    """Every explicit name must contain NamePrefix, so two environments do not collide."""
    name_props = {
        "Name",
        "LogGroupName",
        "ApplicationName",
        "DeploymentGroupName",
        "RoleName",
        "BucketName",
        "TopicName",
        "PipelineName",
    }
    doc = rendered(name, "fleet")
    checked = 0
    for res_name, res in doc["Resources"].items():
        for prop, value in res.get("Properties", {}).items():
            if prop not in name_props:
                continue
            if isinstance(value, dict) and "Ref" in value:
                continue  # a reference to another named resource of this stack
            checked += 1
            assert PREFIX in json.dumps(value), (name, res_name, prop, value)
    if name == "pipeline":
        assert checked >= 4


def test_checkov_is_clean_in_fleet_mode_too(tmp_path: Path) -> None:
    """checkov evaluates conditions with parameter defaults, so `make lint` only sees single
    mode; scan copies whose DeploymentMode default is fleet as well."""
    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.skip("checkov environment not created (make setup creates .venv-checkov)")
    for path in TEMPLATES.glob("*.yaml"):
        text = path.read_text().replace("    Default: single\n", "    Default: fleet\n")
        (tmp_path / path.name).write_text(text)
    assert "Default: fleet" in (tmp_path / "ec2.yaml").read_text()
    result = subprocess.run(
        [
            str(checkov),
            "--compact",
            "--skip-download",
            "--framework",
            "cloudformation",
            "-d",
            str(tmp_path),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], [(c["check_id"], c["resource"]) for c in failed]
    skipped = [c["check_id"] for r in reports for c in r["results"]["skipped_checks"]]
    assert "CKV_AWS_2" in skipped  # proves the fleet-only listener was scanned


def _minutes(duration: str) -> int:
    match = re.fullmatch(r"PT(\d+)M", duration)
    assert match, duration
    return int(match.group(1))


@pytest.mark.parametrize("mode", ["single", "fleet"])
def test_fleet_replaces_instances_the_load_balancer_finds_unhealthy(mode: str) -> None:
    asg = rendered("ec2", mode)["Resources"]["AutoScalingGroup"]
    props = asg["Properties"]
    if mode == "single":
        assert props["HealthCheckType"] == "EC2"  # no load balancer to ask
        return
    assert props["HealthCheckType"] == "ELB"
    # Instances created with the stack are InService before the deployment group exists; the
    # grace period must cover their boot (creation policy), the first build and deploying every
    # instance one at a time (an estimated 2 minutes each) before the first /health check counts.
    build = template("pipeline")["Resources"]["BuildProject"]["Properties"]["TimeoutInMinutes"]
    most = template("root")["Parameters"]["FleetSize"]["MaxValue"]
    boot = _minutes(asg["CreationPolicy"]["ResourceSignal"]["Timeout"])
    assert int(props["HealthCheckGracePeriod"]) >= (boot + int(build) + 2 * most) * 60
    # a rolling update must not replace instances for health while it replaces them itself
    assert "HealthCheck" in asg["UpdatePolicy"]["AutoScalingRollingUpdate"]["SuspendProcesses"]


@pytest.mark.parametrize("mode", ["single", "fleet"])
def test_codedeploy_may_launch_only_from_this_stacks_launch_template(mode: str) -> None:
    """CodeDeploy's note asks for RunInstances/CreateTags with launch templates; they are
    granted in ec2.yaml, where the launch template is known, and only for it."""
    assert _iam_resources(rendered("iam", mode), "ec2:RunInstances") == []
    assert _iam_resources(rendered("iam", mode), "ec2:CreateTags") == []
    doc = rendered("ec2", mode)
    grants = [
        (name, s)
        for name, s in policy_statements(doc)
        if {"ec2:RunInstances", "ec2:CreateTags"} & set(as_list(s["Action"]))
    ]
    assert {name for name, _ in grants} == {"CodeDeployLaunchPolicy"}
    policy = doc["Resources"]["CodeDeployLaunchPolicy"]["Properties"]
    assert policy["Roles"] == ["team-env7-CodeDeployRole-XYZ"]  # the role from iam.yaml
    template_arn = "arn:aws:ec2:eu-central-1:210987654321:launch-template/${LaunchTemplate}"
    by_action = {a: s for _, s in grants for a in as_list(s["Action"])}
    assert set(by_action) == {"ec2:RunInstances", "ec2:CreateTags"}
    run = by_action["ec2:RunInstances"]
    assert run["Condition"] == {"ArnEquals": {"ec2:LaunchTemplate": {"Fn::Sub": template_arn}}}
    for resource in as_list(run["Resource"]):
        assert resource.startswith("arn:aws:ec2:eu-central-1:"), resource
    tags = by_action["ec2:CreateTags"]
    assert tags["Condition"] == {
        "StringEquals": {"ec2:CreateAction": "RunInstances", "aws:RequestTag/pipekit:stack": PREFIX}
    }
    tagged = sorted(r.rsplit(":", 1)[1] for r in as_list(tags["Resource"]))
    assert tagged == ["instance/*", "network-interface/*", "volume/*"]


def test_instance_role_reads_only_the_app_config_path() -> None:
    """The instance role's Parameter Store access is the configured path, nothing else, and
    no kms:Decrypt (SecureStrings use the AWS-managed key aws/ssm)."""
    doc = rendered("iam", AppConfigPath="/team/env7/app/")
    role = doc["Resources"]["InstanceRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    ssm = [s for s in statements if any(str(a).startswith("ssm:") for a in as_list(s["Action"]))]
    assert ssm, "no Parameter Store statement on the instance role"
    for statement in ssm:
        assert as_list(statement["Resource"]) == [
            f"arn:aws:ssm:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}"
            ":parameter/team/env7/app/*"
        ]
    actions = {a for s in ssm for a in as_list(s["Action"])}
    assert actions == {"ssm:GetParametersByPath", "ssm:GetParameter", "ssm:GetParameters"}
    assert not any(str(a).startswith("kms:") for s in statements for a in as_list(s["Action"]))


def test_user_data_tells_the_instance_its_config_path() -> None:
    text = _user_data("single")
    assert "\nAPP_CONFIG_PATH=/pipekit/team-env7/app/\n" in text
    assert f"\nAWS_REGION={PSEUDO['AWS::Region']}\n" in text
