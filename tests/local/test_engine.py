"""The local pipeline engine against the running emulator, with definitions created through the
emulated APIs and in-process build/deploy runners, so each test checks what the engine decides
from the definition (stage order, onFailure, auto-rollback, triggers) and what it records."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from pipekit.emulator import records
from pipekit.local.actions.base import Runners
from pipekit.local.engine import Engine
from pipekit.local.gitremote import GitRemote
from tests.support.iam import service_role
from tests.support.shapes import check_output

REGION = "us-east-1"
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REPO = "local/sample-app"
CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/x"


def free_port(lo: int = 24000, hi: int = 24999) -> int:
    for port in range(lo, hi):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in range")


@dataclass
class Phase:
    name: str
    status: str
    duration_s: float


@dataclass
class FakeBuild:
    status: str
    phases: list
    artifact: Path | None
    exported_variables: dict
    reports: dict = field(default_factory=dict)
    log: str = ""


@dataclass
class Event:
    name: str
    status: str
    log_tail: str = ""


@dataclass
class Outcome:
    status: str
    error_code: str | None
    message: str | None
    events: list


class Runner:
    """Builds zip the source; deploys succeed unless the bundle holds a file named BROKEN.
    Each host remembers what it serves, which is what the assertions read."""

    def __init__(self) -> None:
        self.serving: dict[str, str] = {}
        self.builds: list[dict] = []

    def build(self, src: Path, work: Path, env: dict, buildspec: Path | None) -> FakeBuild:
        work.mkdir(parents=True, exist_ok=True)
        self.builds.append(dict(env))
        out = work / "out.zip"
        with zipfile.ZipFile(out, "w") as zf:
            for path in src.rglob("*"):
                if path.is_file():
                    zf.write(path, path.relative_to(src))
            zf.writestr("COMMIT", env.get("COMMIT_ID", ""))
        if (src / "SLOW").exists():
            time.sleep(float((src / "SLOW").read_text() or 1))
        failed = (src / "FAIL_BUILD").exists()
        return FakeBuild(
            status="FAILED" if failed else "SUCCEEDED",
            phases=[
                Phase("INSTALL", "SUCCEEDED", 0.1),
                Phase("BUILD", "FAILED" if failed else "SUCCEEDED", 0.2),
            ],
            artifact=None if failed else out,
            exported_variables={"IMAGE_TAG": env.get("COMMIT_ID", "")[:7]},
            log="built\n",
        )

    def deploy(self, host, bundle: Path, **kwargs) -> Outcome:
        with zipfile.ZipFile(bundle) as zf:
            names = zf.namelist()
            commit = zf.read("COMMIT").decode()
        if "BROKEN" in names:
            return Outcome(
                "Failed",
                "SCRIPT_FAILED",
                "ValidateService failed",
                [Event("ApplicationStop", "Succeeded"), Event("ValidateService", "Failed", "boom")],
            )
        self.serving[host] = commit
        return Outcome("Succeeded", None, None, [Event("ApplicationStart", "Succeeded")])


def reset_emulated_state() -> None:
    """Forget every moto resource and every engine record. Both are per process, not per server:
    a pipeline left by an earlier test or module (test_emulator_stack deploys one on this same
    repository and branch) would otherwise be started by each push too, on this test's runner."""
    from moto.moto_api import _internal

    _internal.moto_api_backend.reset()
    records.reset_all()


@pytest.fixture(scope="module")
def emulator():
    # plain moto is enough here: the engine needs no CloudFormation extensions
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    records.install()
    yield Endpoint(f"http://127.0.0.1:{port}")
    records.set_controller(None)
    server.stop()
    reset_emulated_state()  # leave nothing for the modules that run after this one


@dataclass
class Endpoint:
    endpoint_url: str


def client(emu, service):
    return boto3.client(service, region_name=REGION, endpoint_url=emu.endpoint_url, **CREDS)


def git(*args, cwd):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@dataclass
class World:
    emu: object
    engine: Engine
    runner: Runner
    clone: Path
    remote: GitRemote
    pipeline: str
    asg_instance: str

    def push(self, files: dict[str, str], message: str, remove: tuple[str, ...] = ()) -> str:
        for name, text in files.items():
            (self.clone / name).write_text(text)
        for name in remove:
            git("rm", "-q", name, cwd=self.clone)
        git("add", "-A", cwd=self.clone)
        git("commit", "-q", "-m", message, cwd=self.clone)
        old = self.remote.head(REPO, "main") or "0" * 40
        git("push", "-q", "origin", "HEAD:main", cwd=self.clone)
        new = self.remote.head(REPO, "main")
        self.engine.on_push(REPO, [{"old": old, "new": new, "ref": "refs/heads/main"}])
        return new

    def cp(self):
        return client(self.emu, "codepipeline")

    def wait_idle(self, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            summaries = self.cp().list_pipeline_executions(pipelineName=self.pipeline)[
                "pipelineExecutionSummaries"
            ]
            if summaries and all(s["status"] not in ("InProgress", "Stopping") for s in summaries):
                return summaries
            time.sleep(0.1)
        raise AssertionError("pipeline did not settle")


def make_world(
    emu,
    tmp_path: Path,
    name: str,
    *,
    on_failure: bool,
    auto_rollback: bool,
    triggers=None,
    mode: str = "QUEUED",
) -> World:
    iam, s3 = client(emu, "iam"), client(emu, "s3")
    # one role for the pipeline, the project and the group, which local mode authorizes
    role = service_role(iam, f"{name}-role")
    bucket = f"{name}-artifacts"
    s3.create_bucket(Bucket=bucket)
    client(emu, "codebuild").create_project(
        name=f"{name}-build",
        # moto insists on locations even for CODEPIPELINE; AWS ignores them there
        source={"type": "CODEPIPELINE", "location": "unused"},
        artifacts={"type": "CODEPIPELINE", "location": "unused"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=role,
    )
    ec2 = client(emu, "ec2")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"},
    )
    asg = client(emu, "autoscaling")
    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"{name}-asg",
        LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplate"]["LaunchTemplateId"]},
        MinSize=1,
        MaxSize=1,
        DesiredCapacity=1,
        AvailabilityZones=["us-east-1a"],
    )
    instance = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{name}-asg"])[
        "AutoScalingGroups"
    ][0]["Instances"][0]["InstanceId"]
    cd = client(emu, "codedeploy")
    cd.create_application(applicationName=f"{name}-app", computePlatform="Server")
    group = {
        "applicationName": f"{name}-app",
        "deploymentGroupName": f"{name}-group",
        "serviceRoleArn": role,
        "autoScalingGroups": [f"{name}-asg"],
    }
    if auto_rollback:
        group["autoRollbackConfiguration"] = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    cd.create_deployment_group(**group)
    deploy_stage = {
        "name": "Deploy",
        "actions": [
            {
                "name": "Deploy",
                "actionTypeId": {
                    "category": "Deploy",
                    "owner": "AWS",
                    "provider": "CodeDeploy",
                    "version": "1",
                },
                "configuration": {
                    "ApplicationName": f"{name}-app",
                    "DeploymentGroupName": f"{name}-group",
                },
                "inputArtifacts": [{"name": "BuildOutput"}],
            }
        ],
    }
    if on_failure:
        deploy_stage["onFailure"] = {"result": "ROLLBACK"}
    pipeline = {
        "name": name,
        "roleArn": role,
        "artifactStore": {"type": "S3", "location": bucket},
        "pipelineType": "V2",
        "executionMode": mode,
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {
                            "category": "Source",
                            "owner": "AWS",
                            "provider": "CodeStarSourceConnection",
                            "version": "1",
                        },
                        "configuration": {
                            "ConnectionArn": CONNECTION,
                            "FullRepositoryId": REPO,
                            "BranchName": "main",
                        },
                        "outputArtifacts": [{"name": "SourceOutput"}],
                        "namespace": "SourceVariables",
                    }
                ],
            },
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Build",
                        "actionTypeId": {
                            "category": "Build",
                            "owner": "AWS",
                            "provider": "CodeBuild",
                            "version": "1",
                        },
                        "configuration": {
                            "ProjectName": f"{name}-build",
                            "EnvironmentVariables": json.dumps(
                                [
                                    {
                                        "name": "COMMIT_ID",
                                        "value": "#{SourceVariables.CommitId}",
                                        "type": "PLAINTEXT",
                                    },
                                    {
                                        "name": "PIPELINE_EXECUTION_ID",
                                        "value": "#{codepipeline.PipelineExecutionId}",
                                        "type": "PLAINTEXT",
                                    },
                                ]
                            ),
                        },
                        "inputArtifacts": [{"name": "SourceOutput"}],
                        "outputArtifacts": [{"name": "BuildOutput"}],
                        "namespace": "BuildVariables",
                    }
                ],
            },
            deploy_stage,
        ],
    }
    if triggers is not None:
        pipeline["triggers"] = triggers
    client(emu, "codepipeline").create_pipeline(pipeline=pipeline)

    remote = GitRemote(tmp_path / "git")
    remote.create(REPO, "http://127.0.0.1:1/unused")
    (remote.path(REPO) / "hooks" / "post-receive").unlink()  # the test calls on_push itself
    clone = tmp_path / "clone"
    git("clone", "-q", str(remote.path(REPO)), str(clone), cwd=tmp_path)
    git("config", "user.email", "t@example.com", cwd=clone)
    git("config", "user.name", "t", cwd=clone)
    git("checkout", "-q", "-b", "main", cwd=clone)
    runner = Runner()
    engine = Engine(
        Runners(build=runner.build, deploy=runner.deploy, host_for=lambda i: i),
        remote,
        tmp_path / "work",
    )
    records.set_controller(engine)
    return World(emu, engine, runner, clone, remote, name, instance)


@pytest.fixture
def world_factory(emulator, tmp_path):
    reset_emulated_state()  # each test sees only the pipelines it creates
    made = []

    def make(name, **kwargs):
        world = make_world(emulator, tmp_path / name, name, **kwargs)
        made.append(world)
        return world

    yield make
    records.set_controller(None)
    for world in made:
        world.engine.close()


def test_push_runs_stages_in_order_and_records_shapes(world_factory):
    w = world_factory("p-order", on_failure=True, auto_rollback=True)
    sha = w.push({"app.txt": "v1"}, "first")
    summaries = w.wait_idle()
    assert summaries[0]["status"] == "Succeeded"
    assert summaries[0]["trigger"]["triggerType"] == "Webhook"
    assert summaries[0]["sourceRevisions"][0]["revisionId"] == sha
    assert w.runner.serving[w.asg_instance] == sha
    execution_id = summaries[0]["pipelineExecutionId"]
    assert w.runner.builds[-1]["PIPELINE_EXECUTION_ID"] == execution_id

    cp = w.cp()
    actions = cp.list_action_executions(
        pipelineName=w.pipeline, filter={"pipelineExecutionId": execution_id}
    )
    order = [
        a["stageName"]
        for a in sorted(actions["actionExecutionDetails"], key=lambda a: a["startTime"])
    ]
    assert order == ["Source", "Build", "Deploy"]
    source = next(a for a in actions["actionExecutionDetails"] if a["stageName"] == "Source")
    assert source["output"]["outputVariables"]["CommitId"] == sha
    build_action = next(a for a in actions["actionExecutionDetails"] if a["stageName"] == "Build")
    assert build_action["input"]["resolvedConfiguration"]["EnvironmentVariables"].count(sha) == 1
    assert build_action["output"]["outputVariables"] == {"IMAGE_TAG": sha[:7]}
    key = build_action["output"]["outputArtifacts"][0]["s3location"]["key"]
    assert key.startswith(f"{w.pipeline[:20]}/BuildOutput/")

    state = cp.get_pipeline_state(name=w.pipeline)
    assert [s["latestExecution"]["status"] for s in state["stageStates"]] == ["Succeeded"] * 3
    build_id = build_action["output"]["executionResult"]["externalExecutionId"]
    build = client(w.emu, "codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    assert build["buildStatus"] == "SUCCEEDED"
    assert build["resolvedSourceVersion"] == sha
    assert build["initiator"] == f"codepipeline/{w.pipeline}"
    assert {"name": "IMAGE_TAG", "value": sha[:7]} in build["exportedEnvironmentVariables"]
    log = client(w.emu, "logs").get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
    )
    assert [e["message"] for e in log["events"]] == ["built"]
    cd = client(w.emu, "codedeploy")
    deployment_id = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"][0]
    info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    assert info["status"] == "Succeeded" and info["creator"] == "user"
    assert cd.list_deployment_instances(deploymentId=deployment_id)["instancesList"] == [
        w.asg_instance
    ]

    # every response validates against its botocore output shape
    check_output(
        "codepipeline",
        "ListPipelineExecutions",
        cp.list_pipeline_executions(pipelineName=w.pipeline),
    )
    check_output(
        "codepipeline",
        "GetPipelineExecution",
        cp.get_pipeline_execution(pipelineName=w.pipeline, pipelineExecutionId=execution_id),
    )
    check_output("codepipeline", "ListActionExecutions", actions)
    check_output("codepipeline", "GetPipelineState", state)
    check_output(
        "codebuild", "BatchGetBuilds", client(w.emu, "codebuild").batch_get_builds(ids=[build_id])
    )
    check_output("codedeploy", "GetDeployment", cd.get_deployment(deploymentId=deployment_id))
    check_output(
        "codedeploy",
        "GetDeploymentInstance",
        cd.get_deployment_instance(deploymentId=deployment_id, instanceId=w.asg_instance),
    )
    check_output(
        "codedeploy",
        "BatchGetDeploymentTargets",
        cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=[w.asg_instance]),
    )


def test_broken_deploy_rolls_back_both_ways(world_factory):
    w = world_factory("p-rollback", on_failure=True, auto_rollback=True)
    good = w.push({"app.txt": "v1"}, "good")
    w.wait_idle()
    w.push({"BROKEN": "x"}, "broken")
    summaries = w.wait_idle()
    rollback, failed = summaries[0], summaries[1]
    assert failed["status"] == "Failed"
    assert rollback["executionType"] == "ROLLBACK"
    assert rollback["trigger"]["triggerType"] == "AutomatedRollback"
    good_execution = summaries[2]["pipelineExecutionId"]
    assert rollback["rollbackMetadata"]["rollbackTargetPipelineExecutionId"] == good_execution
    assert rollback["status"] == "Succeeded"
    assert rollback["sourceRevisions"][0]["revisionId"] == good
    assert w.runner.serving[w.asg_instance] == good
    # the rollback ran only the Deploy stage
    actions = w.cp().list_action_executions(
        pipelineName=w.pipeline, filter={"pipelineExecutionId": rollback["pipelineExecutionId"]}
    )
    assert [a["stageName"] for a in actions["actionExecutionDetails"]] == ["Deploy"]
    # CodeDeploy's own automatic rollback: a new deployment by codeDeployRollback
    cd = client(w.emu, "codedeploy")
    ids = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"]
    infos = {i: cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids}
    failed_dep = next(d for d in infos.values() if d["status"] == "Failed")
    assert failed_dep["errorInformation"]["code"]
    rb = infos[failed_dep["rollbackInfo"]["rollbackDeploymentId"]]
    assert rb["creator"] == "codeDeployRollback"
    assert rb["rollbackInfo"]["rollbackTriggeringDeploymentId"] == failed_dep["deploymentId"]
    target = cd.get_deployment_instance(
        deploymentId=failed_dep["deploymentId"], instanceId=w.asg_instance
    )
    failed_event = next(
        e for e in target["instanceSummary"]["lifecycleEvents"] if e["status"] == "Failed"
    )
    assert failed_event["diagnostics"]["errorCode"] == "ScriptFailed"
    check_output(
        "codedeploy", "GetDeployment", cd.get_deployment(deploymentId=failed_dep["deploymentId"])
    )


def test_no_rollback_when_the_definition_has_none(world_factory):
    w = world_factory("p-norollback", on_failure=False, auto_rollback=False)
    good = w.push({"app.txt": "v1"}, "good")
    w.wait_idle()
    w.push({"BROKEN": "x"}, "broken")
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Failed", "Succeeded"]
    assert all(s["executionType"] == "STANDARD" for s in summaries)
    cd = client(w.emu, "codedeploy")
    ids = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"]
    creators = [cd.get_deployment(deploymentId=i)["deploymentInfo"]["creator"] for i in ids]
    assert "codeDeployRollback" not in creators
    assert w.runner.serving[w.asg_instance] == good


def test_triggers_filter_pushes_by_file_path(world_factory):
    triggers = [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [
                    {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["app/**"]}}
                ],
            },
        }
    ]
    w = world_factory("p-triggers", on_failure=True, auto_rollback=True, triggers=triggers)
    w.push({"README.md": "docs"}, "docs only")
    time.sleep(0.5)
    assert (
        w.cp().list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"] == []
    )
    (w.clone / "app").mkdir()
    sha = w.push({"app/main.py": "print(1)"}, "app change")
    summaries = w.wait_idle()
    assert len(summaries) == 1
    assert summaries[0]["trigger"]["triggerType"] == "WebhookV2"
    assert summaries[0]["sourceRevisions"][0]["revisionId"] == sha


def test_manual_rollback_and_succeeded_in_stage_filter(world_factory):
    w = world_factory("p-manual", on_failure=False, auto_rollback=False)
    first = w.push({"app.txt": "v1"}, "one")
    w.wait_idle()
    w.push({"app.txt": "v2"}, "two")
    summaries = w.wait_idle()
    cp = w.cp()
    with pytest.raises(cp.exceptions.ClientError):
        cp.rollback_stage(
            pipelineName=w.pipeline,
            stageName="Source",
            targetPipelineExecutionId=summaries[1]["pipelineExecutionId"],
        )
    new_id = cp.rollback_stage(
        pipelineName=w.pipeline,
        stageName="Deploy",
        targetPipelineExecutionId=summaries[1]["pipelineExecutionId"],
    )["pipelineExecutionId"]
    w.wait_idle()
    execution = cp.get_pipeline_execution(pipelineName=w.pipeline, pipelineExecutionId=new_id)[
        "pipelineExecution"
    ]
    assert execution["trigger"]["triggerType"] == "ManualRollback"
    assert execution["status"] == "Succeeded"
    assert w.runner.serving[w.asg_instance] == first
    deployed = cp.list_pipeline_executions(
        pipelineName=w.pipeline, filter={"succeededInStage": {"stageName": "Deploy"}}
    )
    assert len(deployed["pipelineExecutionSummaries"]) == 3
    check_output("codepipeline", "RollbackStage", {"pipelineExecutionId": new_id})


def test_start_pipeline_execution_builds_branch_head(world_factory):
    w = world_factory("p-start", on_failure=False, auto_rollback=False)
    sha = w.push({"app.txt": "v1"}, "one")
    w.wait_idle()
    execution_id = w.cp().start_pipeline_execution(name=w.pipeline)["pipelineExecutionId"]
    w.wait_idle()
    execution = w.cp().get_pipeline_execution(
        pipelineName=w.pipeline, pipelineExecutionId=execution_id
    )["pipelineExecution"]
    assert execution["trigger"]["triggerType"] == "StartPipelineExecution"
    assert execution["artifactRevisions"][0]["revisionId"] == sha


def _push_no_wait(w: World, name: str, text: str) -> str:
    return w.push({name: text}, f"{name}={text}")


def test_superseded_mode_replaces_waiting_runs(world_factory):
    w = world_factory("p-superseded", on_failure=False, auto_rollback=False, mode="SUPERSEDED")
    first = _push_no_wait(w, "SLOW", "1.5")
    time.sleep(0.3)  # the first run is in Build now
    second = _push_no_wait(w, "app.txt", "2")
    third = _push_no_wait(w, "app.txt", "3")
    summaries = w.wait_idle()
    by_commit = {
        s["sourceRevisions"][0]["revisionId"] if s["sourceRevisions"] else None: s
        for s in summaries
    }
    statuses = {s["pipelineExecutionId"]: s["status"] for s in summaries}
    assert by_commit[first]["status"] == "Succeeded"
    assert by_commit[third]["status"] == "Succeeded"
    superseded = [s for s in summaries if s["status"] == "Superseded"]
    assert len(superseded) == 1 and not superseded[0]["sourceRevisions"]  # never started
    assert second not in by_commit
    assert w.runner.serving[w.asg_instance] == third
    assert len(statuses) == 3


def test_queued_mode_runs_every_push_in_order(world_factory):
    w = world_factory("p-queued", on_failure=False, auto_rollback=False, mode="QUEUED")
    commits = [_push_no_wait(w, "SLOW", "0.5")]
    commits += [_push_no_wait(w, "app.txt", str(i)) for i in range(2)]
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Succeeded"] * 3
    assert [s["sourceRevisions"][0]["revisionId"] for s in reversed(summaries)] == commits
    assert w.runner.serving[w.asg_instance] == commits[-1]


def test_stop_execution_stops_at_the_next_stage(world_factory):
    w = world_factory("p-stop", on_failure=False, auto_rollback=False)
    _push_no_wait(w, "SLOW", "1.0")
    time.sleep(0.3)
    cp = w.cp()
    running = cp.list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"][0]
    cp.stop_pipeline_execution(
        pipelineName=w.pipeline, pipelineExecutionId=running["pipelineExecutionId"], reason="test"
    )
    assert (
        cp.get_pipeline_execution(
            pipelineName=w.pipeline, pipelineExecutionId=running["pipelineExecutionId"]
        )["pipelineExecution"]["status"]
        == "Stopping"
    )
    summaries = w.wait_idle()
    assert summaries[0]["status"] == "Stopped"
    assert w.asg_instance not in w.runner.serving  # Deploy never ran


def test_failed_build_fails_the_run_without_deploying(world_factory):
    w = world_factory("p-buildfail", on_failure=True, auto_rollback=True)
    w.push({"FAIL_BUILD": "x"}, "bad build")
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Failed"]
    actions = w.cp().list_action_executions(pipelineName=w.pipeline)["actionExecutionDetails"]
    build_action = next(a for a in actions if a["stageName"] == "Build")
    assert build_action["status"] == "Failed"
    build_id = build_action["output"]["executionResult"]["externalExecutionId"]
    response = client(w.emu, "codebuild").batch_get_builds(ids=[build_id])
    check_output("codebuild", "BatchGetBuilds", response)
    assert response["builds"][0]["buildStatus"] == "FAILED"
    assert not any(a["stageName"] == "Deploy" for a in actions)
    assert w.asg_instance not in w.runner.serving


def test_recreated_pipeline_starts_without_history(world_factory, emulator):
    w = world_factory("p-recreate", on_failure=False, auto_rollback=False)
    w.push({"app.txt": "v1"}, "one")
    w.wait_idle()
    cp = w.cp()
    definition = cp.get_pipeline(name=w.pipeline)["pipeline"]
    cp.delete_pipeline(name=w.pipeline)
    definition.pop("version", None)
    cp.create_pipeline(pipeline=definition)
    assert cp.list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"] == []
    state = cp.get_pipeline_state(name=w.pipeline)
    assert all("latestExecution" not in s for s in state["stageStates"])


def test_deployment_group_reports_last_deployments(world_factory):
    w = world_factory("p-lastdep", on_failure=False, auto_rollback=False)
    w.push({"app.txt": "v1"}, "good")
    w.wait_idle()
    w.push({"BROKEN": "x"}, "broken")
    w.wait_idle()
    cd = client(w.emu, "codedeploy")
    ids = cd.list_deployments(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deployments"]
    infos = [cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
    good = next(i for i in infos if i["status"] == "Succeeded")
    bad = next(i for i in infos if i["status"] == "Failed")
    group = cd.get_deployment_group(
        applicationName=f"{w.pipeline}-app", deploymentGroupName=f"{w.pipeline}-group"
    )["deploymentGroupInfo"]
    assert group["lastSuccessfulDeployment"]["deploymentId"] == good["deploymentId"]
    assert group["lastAttemptedDeployment"]["deploymentId"] == bad["deploymentId"]
    assert group["lastAttemptedDeployment"]["status"] == "Failed"


def test_recreated_deployment_group_has_no_history(world_factory):
    w = world_factory("p-regroup", on_failure=False, auto_rollback=True)
    w.push({"app.txt": "v1"}, "good")
    w.wait_idle()
    cd = client(w.emu, "codedeploy")
    names = {"applicationName": f"{w.pipeline}-app", "deploymentGroupName": f"{w.pipeline}-group"}
    group = cd.get_deployment_group(**names)["deploymentGroupInfo"]
    assert "deploymentId" in group["lastSuccessfulDeployment"]
    # moto has no DeleteDeploymentGroup; drop it the way a CloudFormation delete does
    from moto.codedeploy.models import codedeploy_backends

    codedeploy_backends["123456789012"][REGION].deployment_groups[f"{w.pipeline}-app"].pop(
        f"{w.pipeline}-group"
    )
    cd.create_deployment_group(
        **names,
        serviceRoleArn=group["serviceRoleArn"],
        autoScalingGroups=[f"{w.pipeline}-asg"],
        autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]},
    )
    assert cd.list_deployments(**names)["deployments"] == []
    # with no last good revision in the new group, a failure has nothing to roll back to
    w.push({"BROKEN": "x"}, "broken")
    w.wait_idle()
    ids = cd.list_deployments(**names)["deployments"]
    infos = [cd.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
    assert [i["status"] for i in infos] == ["Failed"]
    assert "previousRevision" not in infos[0]
    assert "rollbackDeploymentId" not in infos[0].get("rollbackInfo", {})


def test_without_an_engine_moto_keeps_its_own_behaviour(world_factory):
    w = world_factory("p-noengine", on_failure=False, auto_rollback=False)
    records.set_controller(None)
    cp = w.cp()
    execution_id = cp.start_pipeline_execution(name=w.pipeline)["pipelineExecutionId"]
    listed = cp.list_pipeline_executions(pipelineName=w.pipeline)["pipelineExecutionSummaries"]
    assert [s["pipelineExecutionId"] for s in listed] == [execution_id]
    got = cp.get_pipeline_execution(pipelineName=w.pipeline, pipelineExecutionId=execution_id)
    assert got["pipelineExecution"]["pipelineExecutionId"] == execution_id
    with pytest.raises(cp.exceptions.ClientError):
        cp.rollback_stage(
            pipelineName=w.pipeline, stageName="Deploy", targetPipelineExecutionId=execution_id
        )
    check_output("codepipeline", "ListPipelineExecutions", {"pipelineExecutionSummaries": listed})


def test_no_rollback_to_an_earlier_pipeline_structure(world_factory):
    w = world_factory("p-version", on_failure=True, auto_rollback=False)
    w.push({"app.txt": "v1"}, "good")
    good = w.wait_idle()[0]
    cp = w.cp()
    definition = cp.get_pipeline(name=w.pipeline)["pipeline"]
    cp.update_pipeline(pipeline=definition)  # version 2
    with pytest.raises(cp.exceptions.ClientError):
        cp.rollback_stage(
            pipelineName=w.pipeline,
            stageName="Deploy",
            targetPipelineExecutionId=good["pipelineExecutionId"],
        )
    w.push({"BROKEN": "x"}, "broken")
    summaries = w.wait_idle()
    assert [s["status"] for s in summaries] == ["Failed", "Succeeded"]
    assert all(s["executionType"] == "STANDARD" for s in summaries)


def test_local_up_learns_why_the_first_run_did_not_deploy(world_factory):
    from pipekit.local.lifecycle import first_run_failure
    from pipekit.local.state import LocalStack

    w = world_factory("p-firstfail", on_failure=True, auto_rollback=True)
    stack = LocalStack(
        state_dir="/nonexistent",
        endpoint_url=w.emu.endpoint_url,
        region=REGION,
        stack_name="s",
        app_url="http://127.0.0.1:1/",
        app_port=1,
        port=1,
        control_port=1,
        service_pid=0,
        git_remote="",
        repository=REPO,
        branch="main",
        pipeline_name=w.pipeline,
    )
    assert first_run_failure(stack) is None  # no run yet
    w.push({"FAIL_BUILD": "x"}, "bad build")
    w.wait_idle()
    reason = first_run_failure(stack)
    assert reason is not None
    assert "ended Failed in Build/Build" in reason
