"""Status, destroy and publish decisions, on responses the botocore models accept (Stubber)."""

from __future__ import annotations

import argparse
import json
import subprocess
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from pipekit.commands import destroy as destroy_cmd
from pipekit.errors import UserError
from pipekit.harness.destroy import empty_bucket, owned_buckets
from pipekit.harness.preflight import Plan
from pipekit.harness.publish import (
    CONSOLE_URL_LIMIT,
    Published,
    console_link,
    ensure_bucket,
    partition_of,
    print_launch_link,
    s3_url,
    template_version,
    tls_only_policy,
)
from pipekit.harness.status import deployment_line, last_deployment, recent_runs, stage_rows
from tests.support.harness import STACK_ID, StubbedClients, env_for, make_project

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
NESTED = "arn:aws:cloudformation:eu-west-1:111122223333:stack/pipekit-dev-Artifacts-1/dddd"


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


# ---- status -------------------------------------------------------------------------------------


def test_recent_runs_summarise_commit_trigger_result_duration():
    clients = StubbedClients()
    clients.stub("codepipeline").add_response(
        "list_pipeline_executions",
        {
            "pipelineExecutionSummaries": [
                {
                    "pipelineExecutionId": "e2222222-rollback",
                    "status": "Succeeded",
                    "startTime": T0 + timedelta(minutes=5),
                    "lastUpdateTime": T0 + timedelta(minutes=6, seconds=30),
                    "sourceRevisions": [
                        {"actionName": "Source", "revisionId": "0123456789abcdef0123"}
                    ],
                    "trigger": {"triggerType": "AutomatedRollback"},
                    "executionType": "ROLLBACK",
                    "rollbackMetadata": {"rollbackTargetPipelineExecutionId": "e0000000-good"},
                },
                {
                    "pipelineExecutionId": "e1111111-push",
                    "status": "InProgress",
                    "startTime": T0,
                    "lastUpdateTime": T0 + timedelta(minutes=1),
                    "sourceRevisions": [{"actionName": "Source", "revisionId": "fedcba9876543210"}],
                    "trigger": {"triggerType": "WebhookV2"},
                    "executionType": "STANDARD",
                },
            ]
        },
        {"pipelineName": "p", "maxResults": 5},
    )
    runs = recent_runs(clients("codepipeline"), "p")
    assert [(r.commit, r.trigger, r.status) for r in runs] == [
        ("0123456789ab", "AutomatedRollback", "Succeeded"),
        ("fedcba987654", "WebhookV2", "InProgress"),
    ]
    assert runs[0].kind == "ROLLBACK to e0000000" and runs[0].duration_s == 90
    assert runs[1].duration_s is None  # still running: no duration yet


def test_stage_rows_show_state_and_the_failing_action():
    clients = StubbedClients()
    clients.stub("codepipeline").add_response(
        "get_pipeline_state",
        {
            "pipelineName": "p",
            "stageStates": [
                {
                    "stageName": "Source",
                    "latestExecution": {"pipelineExecutionId": "e1", "status": "Succeeded"},
                },
                {
                    "stageName": "Deploy",
                    "latestExecution": {"pipelineExecutionId": "e1", "status": "Failed"},
                    "actionStates": [
                        {
                            "actionName": "Deploy",
                            "latestExecution": {
                                "status": "Failed",
                                "errorDetails": {
                                    "code": "JobFailed",
                                    "message": "HOOK_EXECUTION_FAILURE",
                                },
                            },
                        }
                    ],
                },
                {"stageName": "Build"},
            ],
        },
        {"name": "p"},
    )
    rows = stage_rows(clients("codepipeline").get_pipeline_state(name="p"))
    assert rows == [
        ("Source", "Succeeded", "e1", ""),
        ("Deploy", "Failed", "e1", "Deploy: HOOK_EXECUTION_FAILURE"),
        ("Build", "not run", "-", ""),
    ]


def test_last_deployment_is_the_newest_and_names_its_rollback():
    clients = StubbedClients()
    stub = clients.stub("codedeploy")
    stub.add_response(
        "list_deployments",
        {"deployments": ["d-OLD", "d-NEW"]},
        {"applicationName": "a", "deploymentGroupName": "g"},
    )
    stub.add_response(
        "get_deployment",
        {
            "deploymentInfo": {
                "deploymentId": "d-OLD",
                "status": "Failed",
                "createTime": T0,
                "errorInformation": {
                    "code": "HOOK_EXECUTION_FAILURE",
                    "message": "ValidateService",
                },
                "rollbackInfo": {"rollbackDeploymentId": "d-NEW"},
            }
        },
        {"deploymentId": "d-OLD"},
    )
    stub.add_response(
        "get_deployment",
        {
            "deploymentInfo": {
                "deploymentId": "d-NEW",
                "status": "Succeeded",
                "createTime": T0 + timedelta(minutes=2),
                "startTime": T0 + timedelta(minutes=2),
                "completeTime": T0 + timedelta(minutes=3),
                "creator": "codeDeployRollback",
                "rollbackInfo": {"rollbackTriggeringDeploymentId": "d-OLD"},
            }
        },
        {"deploymentId": "d-NEW"},
    )
    line = deployment_line(last_deployment(clients("codedeploy"), "a", "g"))
    assert line == "d-NEW Succeeded, in 1m00s, by codeDeployRollback, rollback of d-OLD"


# ---- destroy ------------------------------------------------------------------------------------


def resources(stub, stack, items):
    stub.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": lid,
                    "PhysicalResourceId": pid,
                    "ResourceType": rtype,
                    "LastUpdatedTimestamp": T0,
                    "ResourceStatus": status,
                }
                for lid, pid, rtype, status in items
            ]
        },
        {"StackName": stack},
    )


def test_owned_buckets_follow_nested_stacks_and_skip_deleted_ones():
    clients = StubbedClients()
    stub = clients.stub("cloudformation")
    resources(
        stub,
        STACK_ID,
        [
            ("Artifacts", NESTED, "AWS::CloudFormation::Stack", "CREATE_COMPLETE"),
            ("Logs", "logs-bucket", "AWS::S3::Bucket", "CREATE_COMPLETE"),
            ("Topic", "arn:aws:sns:eu-west-1:1:t", "AWS::SNS::Topic", "CREATE_COMPLETE"),
        ],
    )
    resources(
        stub,
        NESTED,
        [
            ("ArtifactBucket", "artifact-bucket", "AWS::S3::Bucket", "CREATE_COMPLETE"),
            ("Gone", "gone-bucket", "AWS::S3::Bucket", "DELETE_COMPLETE"),
        ],
    )
    assert sorted(owned_buckets(clients("cloudformation"), STACK_ID)) == [
        "artifact-bucket",
        "logs-bucket",
    ]


def test_empty_bucket_removes_every_version_and_delete_marker_across_pages():
    clients = StubbedClients()
    stub = clients.stub("s3")
    stub.add_response(
        "list_object_versions",
        {
            "IsTruncated": True,
            "NextKeyMarker": "b",
            "NextVersionIdMarker": "v2",
            "Versions": [{"Key": "a", "VersionId": "v1"}, {"Key": "b", "VersionId": "v2"}],
            "DeleteMarkers": [{"Key": "a", "VersionId": "m1"}],
        },
        {"Bucket": "bk"},
    )
    stub.add_response(
        "delete_objects",
        {},
        {
            "Bucket": "bk",
            "Delete": {
                "Objects": [
                    {"Key": "a", "VersionId": "v1"},
                    {"Key": "b", "VersionId": "v2"},
                    {"Key": "a", "VersionId": "m1"},
                ],
                "Quiet": True,
            },
        },
    )
    stub.add_response(
        "list_object_versions",
        {"IsTruncated": False, "Versions": [{"Key": "c", "VersionId": "v3"}]},
        {"Bucket": "bk", "KeyMarker": "b", "VersionIdMarker": "v2"},
    )
    stub.add_response(
        "delete_objects",
        {},
        {"Bucket": "bk", "Delete": {"Objects": [{"Key": "c", "VersionId": "v3"}], "Quiet": True}},
    )
    assert empty_bucket(clients("s3"), "bk") == 4
    stub.assert_no_pending_responses()


def test_empty_bucket_that_is_already_gone():
    clients = StubbedClients()
    clients.stub("s3").add_client_error("list_object_versions", "NoSuchBucket", "gone")
    assert empty_bucket(clients("s3"), "bk") == 0


def destroy_args(env="dev", force=False):
    return argparse.Namespace(env=env, stack_name=None, region=None, endpoint_url=None, force=force)


def test_protected_environment_needs_force_and_touches_nothing(project, monkeypatch):
    monkeypatch.setattr("pipekit.harness.config.PROJECT_ROOT", project)
    clients = StubbedClients()
    with pytest.raises(UserError, match=r"prod is protected.*make destroy ENV=prod ARGS='--force'"):
        destroy_cmd.run(destroy_args("prod"), clients)
    assert not clients.stubbers  # not even a read


def identity(clients):
    clients.stub("sts").add_response("get_caller_identity", {"Account": "111122223333"})


def test_destroy_of_an_absent_stack_succeeds_and_says_so(project, monkeypatch, capsys):
    monkeypatch.setattr("pipekit.harness.config.PROJECT_ROOT", project)
    clients = StubbedClients()
    identity(clients)
    clients.stub("cloudformation").add_client_error(
        "describe_stacks", "ValidationError", "Stack with id pipekit-dev does not exist"
    )
    assert destroy_cmd.run(destroy_args(), clients) == 0
    assert "does not exist: nothing to delete" in capsys.readouterr().out


def test_destroy_empties_owned_buckets_then_deletes_and_waits(project, monkeypatch):
    monkeypatch.setattr("pipekit.harness.config.PROJECT_ROOT", project)
    clients = StubbedClients()
    identity(clients)
    cfn = clients.stub("cloudformation")
    cfn.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "pipekit-prod",
                    "StackId": STACK_ID,
                    "CreationTime": T0,
                    "StackStatus": "ROLLBACK_COMPLETE",
                }
            ]
        },
        {"StackName": "pipekit-prod"},
    )
    resources(cfn, STACK_ID, [("Logs", "logs-bucket", "AWS::S3::Bucket", "CREATE_COMPLETE")])
    s3 = clients.stub("s3")
    s3.add_response(
        "list_object_versions",
        {"IsTruncated": False, "Versions": [{"Key": "k", "VersionId": "v"}]},
        {"Bucket": "logs-bucket"},
    )
    s3.add_response(
        "delete_objects",
        {},
        {
            "Bucket": "logs-bucket",
            "Delete": {"Objects": [{"Key": "k", "VersionId": "v"}], "Quiet": True},
        },
    )
    cfn.add_response("delete_stack", {}, {"StackName": STACK_ID})
    cfn.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "pipekit-prod",
                    "StackId": STACK_ID,
                    "CreationTime": T0,
                    "StackStatus": "DELETE_COMPLETE",
                }
            ]
        },
        {"StackName": STACK_ID},
    )
    assert destroy_cmd.run(destroy_args("prod", force=True), clients, delay=0) == 0
    clients.assert_done()


# ---- publish ------------------------------------------------------------------------------------


def test_new_template_bucket_is_private_encrypted_and_tls_only():
    clients = StubbedClients()
    s3 = clients.stub("s3")
    s3.add_client_error("head_bucket", "404", "Not Found", 404, expected_params={"Bucket": "tb"})
    s3.add_response(
        "create_bucket",
        {},
        {"Bucket": "tb", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}},
    )
    s3.add_response(
        "put_public_access_block",
        {},
        {
            "Bucket": "tb",
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        },
    )
    s3.add_response(
        "put_bucket_encryption",
        {},
        {
            "Bucket": "tb",
            "ServerSideEncryptionConfiguration": {
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        },
    )
    policies = []
    s3.add_response("put_bucket_policy", {}, {"Bucket": "tb", "Policy": PolicyCapture(policies)})
    assert ensure_bucket(clients("s3"), "tb", "eu-west-1") is True
    statement = json.loads(policies[0])["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    s3.assert_no_pending_responses()


class PolicyCapture:
    """Matches any policy string and keeps it for inspection."""

    def __init__(self, sink):
        self.sink = sink

    def __eq__(self, other):
        self.sink.append(other)
        return isinstance(other, str)


def test_existing_bucket_in_another_region_is_refused():
    clients = StubbedClients()
    clients.stub("s3").add_response("head_bucket", {"BucketRegion": "us-east-1"}, {"Bucket": "tb"})
    with pytest.raises(UserError, match="is in us-east-1, not eu-west-1"):
        ensure_bucket(clients("s3"), "tb", "eu-west-1")


def test_someone_elses_bucket_is_refused():
    clients = StubbedClients()
    clients.stub("s3").add_client_error("head_bucket", "403", "Forbidden", 403)
    with pytest.raises(UserError, match="exists but you cannot use it"):
        ensure_bucket(clients("s3"), "tb", "eu-west-1")


def test_console_link_opens_create_stack_with_everything_filled_in():
    url = "https://tb.s3.eu-west-1.amazonaws.com/pipekit/abc/templates/root.yaml"
    link, left_out = console_link(
        "eu-west-1",
        url,
        "pipekit-dev",
        {"GitHubRepository": "acme/shop", "BranchName": "main & co"},
    )
    assert left_out == []
    parts = urlsplit(link)
    assert parts.netloc == "eu-west-1.console.aws.amazon.com"
    route, _, query = parts.fragment.partition("?")
    assert route == "/stacks/create/review"
    params = parse_qs(query)
    assert params["templateURL"] == [url] and params["stackName"] == ["pipekit-dev"]
    assert params["param_BranchName"] == ["main & co"]


def test_console_link_stays_under_the_limit_dropping_defaults_then_the_longest():
    url = "https://tb.s3.eu-west-1.amazonaws.com/pipekit/abc/templates/root.yaml"
    values = {f"P{i}": "x" * 60 for i in range(12)} | {"Short": "y", "Default": "d" * 80}
    link, left_out = console_link("eu-west-1", url, "s", values, defaults={"Default": "d" * 80})
    assert len(link) <= CONSOLE_URL_LIMIT
    assert "param_Short=y" in link and "param_Default" not in link
    assert left_out and all(name.startswith("P") for name in left_out)
    assert all(f"param_{n}=" not in link for n in left_out)


@pytest.mark.parametrize(
    ("region", "partition", "suffix"),
    [
        ("eu-west-1", "aws", "amazonaws.com"),
        ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
    ],
)
def test_template_url_and_bucket_policy_follow_the_regions_partition(region, partition, suffix):
    """The root template builds its children's URLs with ${AWS::URLSuffix}: the harness must
    build the root's the same way, and write ARNs in the region's partition."""
    assert partition_of(region) == (partition, suffix)
    assert s3_url("tb", region, "p/templates/root.yaml") == (
        f"https://tb.s3.{region}.{suffix}/p/templates/root.yaml"
    )
    (statement,) = json.loads(tls_only_policy("tb", region))["Statement"]
    assert statement["Resource"] == [f"arn:{partition}:s3:::tb", f"arn:{partition}:s3:::tb/*"]


def test_an_unknown_region_is_a_user_error():
    with pytest.raises(UserError, match="xx-nowhere-1"):
        partition_of("xx-nowhere-1")


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_no_console_link_is_guessed_outside_the_aws_partition(project, region, capsys):
    env = env_for(project)
    plan = Plan("111122223333", region, {"GitHubRepository": "acme/shop"}, None, None)
    url = s3_url("tb", region, "pipekit/v1/templates/root.yaml")
    print_launch_link(env, plan, Published("tb", "pipekit/v1/", region, url, []))
    out = capsys.readouterr().out
    assert url in out
    assert "console.aws.amazon.com" not in out
    assert f"CloudFormation console in {region}" in out


def git(cwd, *argv):
    subprocess.run(["git", "-C", str(cwd), *argv], check=True, capture_output=True)


def test_template_version_is_the_commit_then_dirty_with_a_content_hash(project):
    git(project, "init", "-q")
    git(project, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git(project, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    clean = template_version(project / "templates")
    assert "-" not in clean and len(clean) == 12
    (project / "templates" / "network.yaml").write_text("Resources: {X: {}}\n")
    dirty = template_version(project / "templates")
    assert dirty.startswith(clean + "-dirty-")
    (project / "templates" / "network.yaml").write_text("Resources: {Y: {}}\n")
    assert template_version(project / "templates") not in {clean, dirty}
    git(project, "checkout", "-q", "--", "templates")
    (project / "README").write_text("unrelated change\n")
    git(project, "-c", "user.email=t@t", "-c", "user.name=t", "add", "README")
    git(project, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "docs")
    assert template_version(project / "templates") == clean  # only template commits count


def test_template_version_without_git_is_a_content_hash(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    first = template_version(project / "templates")
    assert first.startswith("content-")
    (project / "templates" / "network.yaml").write_text("Resources: {Z: {}}\n")
    assert template_version(project / "templates") != first


def test_env_reports_unknown_env(project):
    with pytest.raises(UserError, match=r"known environments: dev, prod"):
        env_for(project, "staging")


# ---- the status command, end to end on stubbed APIs and a real HTTP /version ----------------


@pytest.fixture
def version_server():
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(
                {"commit": "0123456789abcdef0123", "build_id": "b-7", "pipeline_execution_id": "e1"}
            ).encode()
            self.send_response(200 if self.path == "/version" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = None
    for port in range(23100, 23200):  # this part's loopback range
        try:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            continue
    assert server is not None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_status_command_reports_runs_stages_deployment_and_live_version(
    project, monkeypatch, capsys, version_server
):
    monkeypatch.setattr("pipekit.harness.config.PROJECT_ROOT", project)
    clients = StubbedClients()
    cfn = clients.stub("cloudformation")
    stack = {
        "StackName": "pipekit-dev",
        "StackId": STACK_ID,
        "CreationTime": T0,
        "StackStatus": "UPDATE_COMPLETE",
        "Outputs": [
            {"OutputKey": "AppUrl", "OutputValue": version_server},
            {"OutputKey": "PipelineName", "OutputValue": "pipekit-dev"},
            {"OutputKey": "CodeDeployApplicationName", "OutputValue": "app"},
            {"OutputKey": "DeploymentGroupName", "OutputValue": "group"},
        ],
    }
    cfn.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "pipekit-dev"})
    cfn.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "pipekit-dev"})
    cp = clients.stub("codepipeline")
    cp.add_response(
        "list_pipeline_executions",
        {
            "pipelineExecutionSummaries": [
                {
                    "pipelineExecutionId": "e1aaaaaa-1",
                    "status": "Succeeded",
                    "startTime": T0,
                    "lastUpdateTime": T0 + timedelta(seconds=75),
                    "sourceRevisions": [
                        {"actionName": "Source", "revisionId": "0123456789abcdef0123"}
                    ],
                    "trigger": {"triggerType": "WebhookV2"},
                }
            ]
        },
        {"pipelineName": "pipekit-dev", "maxResults": 5},
    )
    cp.add_response(
        "get_pipeline_state",
        {
            "stageStates": [
                {
                    "stageName": "Deploy",
                    "latestExecution": {"pipelineExecutionId": "e1aaaaaa-1", "status": "Succeeded"},
                }
            ]
        },
        {"name": "pipekit-dev"},
    )
    cd = clients.stub("codedeploy")
    cd.add_response(
        "list_deployments",
        {"deployments": ["d-1"]},
        {"applicationName": "app", "deploymentGroupName": "group"},
    )
    cd.add_response(
        "get_deployment",
        {"deploymentInfo": {"deploymentId": "d-1", "status": "Succeeded", "createTime": T0}},
        {"deploymentId": "d-1"},
    )
    from pipekit.commands import status as status_cmd

    args = argparse.Namespace(
        env="dev", stack_name=None, region=None, endpoint_url=None, runs=5, output="text"
    )
    assert status_cmd.run(args, clients) == 0
    out = capsys.readouterr().out
    assert "Stack pipekit-dev: UPDATE_COMPLETE" in out
    assert "0123456789ab" in out and "WebhookV2" in out and "1m15s" in out
    assert "Deploy" in out and "Succeeded" in out
    assert "Last deployment: d-1 Succeeded" in out
    assert f"answering at {version_server}: commit 0123456789ab, build b-7" in out
    clients.assert_done()


def test_status_of_a_missing_stack_says_deploy_first(project, monkeypatch):
    monkeypatch.setattr("pipekit.harness.config.PROJECT_ROOT", project)
    clients = StubbedClients()
    clients.stub("cloudformation").add_client_error(
        "describe_stacks", "ValidationError", "Stack with id pipekit-dev does not exist"
    )
    from pipekit.commands import status as status_cmd

    args = argparse.Namespace(
        env="dev", stack_name=None, region=None, endpoint_url=None, runs=5, output="text"
    )
    with pytest.raises(UserError, match="does not exist: deploy it with `make deploy ENV=dev`"):
        status_cmd.run(args, clients)
