"""Deploy, update and destroy the real templates against the emulated endpoint, through the
same command functions `make deploy/status/destroy` run, then assert on what the emulated
services hold."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jsonschema
import pytest

from pipekit.commands import deploy as deploy_cmd
from pipekit.commands import destroy as destroy_cmd
from pipekit.commands import publish as publish_cmd
from pipekit.commands import status as status_cmd
from pipekit.emulator import set_connection_status
from pipekit.errors import UserError
from pipekit.harness.ami import PUBLIC_PARAMETER

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "templates"
STATUS_SCHEMA = json.loads((REPO / "docs" / "schemas" / "status.schema.json").read_text())


def write_params(root: Path, values: dict[str, str]) -> None:
    entries = [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]
    (root / "parameters" / "dev.json").write_text(json.dumps(entries))


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "templates").symlink_to(TEMPLATES)
    (tmp_path / "parameters").mkdir()
    write_params(tmp_path, {"GitHubRepository": "acme/shop", "LogRetentionDays": "7"})
    monkeypatch.setattr("pipekit.harness.config.PROJECT_ROOT", tmp_path)
    return tmp_path


def args(aws, **overrides) -> argparse.Namespace:
    values = {
        "env": "dev",
        "stack_name": None,
        "region": None,
        "endpoint_url": aws.endpoint_url,
        "bucket": None,
        "yes": True,
        "update_ami": False,
        "poll": 0.05,
        "runs": 5,
        "output": "text",
        "force": False,
    }
    return argparse.Namespace(**(values | overrides))


def deploy(aws, **overrides) -> int:
    return deploy_cmd.run(args(aws, **overrides))


def outputs(aws) -> dict[str, str]:
    stack = aws.client("cloudformation").describe_stacks(StackName="pipekit-dev")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def test_deploy_creates_the_pipeline_the_design_describes(aws, project, capsys):
    assert deploy(aws) == 0
    out = outputs(aws)
    pipeline = aws.client("codepipeline").get_pipeline(name=out["PipelineName"])["pipeline"]
    assert pipeline["pipelineType"] == "V2"
    assert [s["name"] for s in pipeline["stages"]] == ["Source", "Build", "Deploy", "Prune"]
    deploy_stage = pipeline["stages"][2]
    assert "onFailure" not in deploy_stage  # CodeDeploy's rollback is the one layer
    source = pipeline["stages"][0]["actions"][0]["configuration"]
    assert source["FullRepositoryId"] == "acme/shop"
    assert source["ConnectionArn"] == out["ConnectionArn"]

    group = aws.client("codedeploy").get_deployment_group(
        applicationName=out["CodeDeployApplicationName"],
        deploymentGroupName=out["DeploymentGroupName"],
    )["deploymentGroupInfo"]
    assert group["autoRollbackConfiguration"]["enabled"] is True

    policy = json.loads(
        aws.client("s3").get_bucket_policy(Bucket=out["ArtifactBucketName"])["Policy"]
    )
    assert any(
        s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        for s in policy["Statement"]
    )

    # The template bucket: private and encrypted, children under the versioned prefix.
    s3 = aws.client("s3")
    bucket = "pipekit-templates-123456789012-us-east-1"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert {k.rsplit("/", 1)[1] for k in keys} >= {"root.yaml", "ec2.yaml", "pipeline.yaml"}
    assert all(k.startswith("pipekit/") and "/templates/" in k for k in keys)

    printed = capsys.readouterr().out
    assert "Change set" in printed and "Add" in printed
    assert f"App URL:        {out['AppUrl']}" in printed
    assert "PENDING; the pipeline cannot read GitHub until you open" in printed

    assert status_cmd.run(args(aws)) == 0
    status_out = capsys.readouterr().out
    assert "Stack pipekit-dev: CREATE_COMPLETE" in status_out
    assert f"Recent runs of {out['PipelineName']}" in status_out
    # the same reader as JSON, in the shape its schema fixes, against the emulator's answers
    assert status_cmd.run(args(aws, output="json")) == 0
    data = json.loads(capsys.readouterr().out)
    jsonschema.validate(data, STATUS_SCHEMA)
    assert data["stack"]["status"] == "CREATE_COMPLETE"
    assert data["pipeline"]["name"] == out["PipelineName"]


def test_update_then_no_change_then_destroy(aws, project, capsys):
    assert deploy(aws) == 0
    logs = aws.client("logs")

    def retention() -> set[int]:
        groups = logs.describe_log_groups()["logGroups"]
        return {g.get("retentionInDays") for g in groups if "pipekit-dev" in g["logGroupName"]}

    assert retention() == {7}
    write_params(project, {"GitHubRepository": "acme/shop", "LogRetentionDays": "30"})
    capsys.readouterr()
    assert deploy(aws) == 0
    cfn = aws.client("cloudformation")
    assert cfn.describe_stacks(StackName="pipekit-dev")["Stacks"][0]["StackStatus"] == (
        "UPDATE_COMPLETE"
    )
    assert retention() == {30}
    assert "Modify" in capsys.readouterr().out

    assert deploy(aws) == 0
    assert "No changes" in capsys.readouterr().out

    artifacts = outputs(aws)["ArtifactBucketName"]
    s3 = aws.client("s3")
    # The endpoint is plain http and moto enforces the bucket's TLS-only policy: lift it to
    # seed objects (the pipeline's own writes go through moto's backends, not HTTP).
    s3.delete_bucket_policy(Bucket=artifacts)
    s3.put_bucket_versioning(Bucket=artifacts, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=artifacts, Key="build/out.zip", Body=body)
    s3.delete_object(Bucket=artifacts, Key="build/out.zip")  # leaves a delete marker

    capsys.readouterr()
    assert destroy_cmd.run(args(aws), delay=0) == 0
    # two versions and one delete marker, each deleted by version id
    assert f"Emptied s3://{artifacts} (3 object versions and delete markers)" in (
        capsys.readouterr().out
    )
    assert not [
        s for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"
    ]
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert artifacts not in buckets
    assert "pipekit-templates-123456789012-us-east-1" in buckets  # not the stack's to delete
    assert destroy_cmd.run(args(aws), delay=0) == 0
    assert "does not exist: nothing to delete" in capsys.readouterr().out


def stack_ami(aws) -> str:
    (stack,) = aws.client("cloudformation").describe_stacks(StackName="pipekit-dev")["Stacks"]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["AmiId"]


def launch_template_ami(aws) -> str:
    (template,) = aws.client("ec2").describe_launch_templates()["LaunchTemplates"]
    (version,) = aws.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Latest"]
    )["LaunchTemplateVersions"]
    return version["LaunchTemplateData"]["ImageId"]


def test_the_ami_changes_only_when_the_deploy_is_asked_to(aws, project, capsys):
    latest = aws.client("ssm").get_parameter(Name=PUBLIC_PARAMETER)["Parameter"]["Value"]
    images = aws.client("ec2").describe_images(Owners=["amazon"])["Images"]
    older = next(i["ImageId"] for i in images if i["ImageId"] != latest)
    # A stack created on an image that is no longer the latest (pinned for the first deploy).
    write_params(project, {"GitHubRepository": "acme/shop", "AmiId": older})
    assert deploy(aws) == 0
    assert stack_ami(aws) == launch_template_ami(aws) == older

    write_params(project, {"GitHubRepository": "acme/shop", "LogRetentionDays": "30"})
    capsys.readouterr()
    assert deploy(aws) == 0  # an unrelated change: the stack keeps its image
    out = capsys.readouterr().out
    assert f"keeping {older}" in out and "ARGS='--update-ami'" in out
    assert "replaces the instances: AMI" not in out
    assert stack_ami(aws) == launch_template_ami(aws) == older

    assert deploy(aws, update_ami=True) == 0
    out = capsys.readouterr().out
    assert f"replaces the instances: AMI {older} → {latest}" in out
    assert "LaunchTemplate" in out  # the change set shows what the new image modifies
    assert stack_ami(aws) == launch_template_ami(aws) == latest


def test_the_console_link_carries_the_latest_ami(aws, project, capsys):
    latest = aws.client("ssm").get_parameter(Name=PUBLIC_PARAMETER)["Parameter"]["Value"]
    assert publish_cmd.run(args(aws)) == 0
    out = capsys.readouterr().out
    assert f"param_AmiId={latest}" in out
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []  # nothing created


def test_existing_connection_must_be_available(aws, project):
    connections = aws.client("codeconnections")
    arn = connections.create_connection(ConnectionName="shop", ProviderType="GitHub")[
        "ConnectionArn"
    ]
    write_params(project, {"GitHubRepository": "acme/shop", "ConnectionArn": arn})
    with pytest.raises(UserError, match="is PENDING"):
        deploy_cmd.run(args(aws))
    # Nothing was created: no stack, not even the template bucket.
    assert aws.client("cloudformation").list_stacks()["StackSummaries"] == []
    assert aws.client("s3").list_buckets()["Buckets"] == []

    set_connection_status(arn, "AVAILABLE")
    assert deploy(aws) == 0
    assert outputs(aws)["ConnectionArn"] == arn
