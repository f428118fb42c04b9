"""The local pipeline engine against a plain moto server, with definitions created through the
emulated APIs and in-process build/deploy runners: the world the engine tests
(tests/local/test_engine*.py) build on. `world_factory(name, on_failure=, auto_rollback=,
triggers=, mode=)` makes a pipeline Source -> Build -> Deploy on a git remote, a CodeBuild
project, a deployment group on a one-instance Auto Scaling group, and an Engine to run it.
(tests/local/conftest.py gives its tests the fixtures `moto_endpoint` and `world_factory`.)
"""

from __future__ import annotations

import io
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
from pipekit.local.runtime.agent import S3Error
from tests.support.iam import service_role

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
    message: str = ""


BUILD_ERROR = "Error while executing command: make test. Reason: exit status 2"


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
    diagnostics_code: str | None = None
    message: str | None = None


@dataclass
class Outcome:
    status: str
    error_code: str | None
    message: str | None
    events: list


class Runner:
    """Builds zip the source; deploys read the bundle from the emulated S3 as the instance does
    and succeed unless it holds a file named BROKEN (each takes `deploy_s` seconds). Each host
    remembers what it serves, which is what the assertions read."""

    def __init__(self) -> None:
        self.serving: dict[str, str] = {}
        self.builds: list[dict] = []
        self.deploys: list[dict] = []
        self.deploy_s = 0.0

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
                Phase("BUILD", "FAILED", 0.2, BUILD_ERROR)
                if failed
                else Phase("BUILD", "SUCCEEDED", 0.2),
                Phase("POST_BUILD", "SKIPPED" if failed else "SUCCEEDED", 0.0),
            ],
            artifact=None if failed else out,
            exported_variables={"IMAGE_TAG": env.get("COMMIT_ID", "")[:7]},
            log="built\n",
        )

    def deploy(self, host, revision: dict, *, get_object, **kwargs) -> Outcome:
        self.deploys.append({"host": host, "revision": revision, **kwargs})
        location = revision["s3Location"]
        try:
            obj = get_object(location["bucket"], location["key"], location.get("version"))
        except S3Error as exc:
            return Outcome(
                "Failed",
                "INVALID_REVISION",
                exc.message,
                [Event("DownloadBundle", "Failed", "", "UnknownError", exc.message)],
            )
        time.sleep(self.deploy_s)
        with zipfile.ZipFile(io.BytesIO(obj.body)) as zf:
            names = zf.namelist()
            commit = zf.read("COMMIT").decode()
        if "BROKEN" in names:
            return Outcome(
                "Failed",
                "HOOK_EXECUTION_FAILURE",
                "ValidateService failed",
                [
                    Event("ApplicationStop", "Succeeded"),
                    Event("ValidateService", "Failed", "boom", "ScriptFailed"),
                ],
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
def moto_endpoint():
    # plain moto is enough here: the engine needs no CloudFormation extensions
    from moto.server import ThreadedMotoServer

    from pipekit.emulator.patches import amis

    amis.patch()  # moto's images less the ECS-optimized ones: the emulator's catalogue
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
        """The pipeline's executions, newest first, once none is running and the deployment
        group has no active deployment (CodeDeploy's rollback runs on after the pipeline)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            summaries = self.cp().list_pipeline_executions(pipelineName=self.pipeline)[
                "pipelineExecutionSummaries"
            ]
            if (
                summaries
                and all(s["status"] not in ("InProgress", "Stopping") for s in summaries)
                and all(
                    d["status"] in ("Succeeded", "Failed", "Stopped") for d in self.deployments()
                )
            ):
                return summaries
            time.sleep(0.1)
        raise AssertionError("pipeline did not settle")

    def good_then_broken(self, deploy_s: float = 0.0) -> tuple[str, list[dict]]:
        """Push a good commit and let it deploy, then a broken one (its deployment fails in
        ValidateService), deployments then taking `deploy_s` seconds: (the good commit, the
        executions once everything has settled, newest first)."""
        good = self.push({"app.txt": "v1"}, "good")
        self.wait_idle()
        self.runner.deploy_s = deploy_s
        self.push({"BROKEN": "x"}, "broken")
        return good, self.wait_idle()

    def deployments(self) -> list[dict]:
        """The group's deployments (DeploymentInfo), newest first."""
        cd = client(self.emu, "codedeploy")
        names = {
            "applicationName": f"{self.pipeline}-app",
            "deploymentGroupName": f"{self.pipeline}-group",
        }
        return [
            cd.get_deployment(deploymentId=i)["deploymentInfo"]
            for i in cd.list_deployments(**names)["deployments"]
        ]


def make_world(
    emu,
    tmp_path: Path,
    name: str,
    *,
    on_failure: bool,
    auto_rollback: bool,
    triggers=None,
    mode: str = "QUEUED",
    build_role: str | None = None,
    approval: bool = False,
    alarms: tuple[str, ...] = (),
    instances: int = 1,
) -> World:
    """`build_role`: the build project's service role (default: the world's one role);
    `approval`: an Approve stage (manual approval notifying a topic) before Deploy, as
    templates/pipeline.yaml has it with ApprovalBeforeDeploy true; `alarms`: the group's
    AlarmConfiguration (enabled) and DEPLOYMENT_STOP_ON_ALARM among its rollback events, as
    fleet mode has them; `instances`: the Auto Scaling group's size."""
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
        serviceRole=build_role or role,
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
        MinSize=instances,
        MaxSize=instances,
        DesiredCapacity=instances,
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
    if alarms:
        group["alarmConfiguration"] = {
            "enabled": True,
            "ignorePollAlarmFailure": False,
            "alarms": [{"name": a} for a in alarms],
        }
        events = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
        group["autoRollbackConfiguration"] = {"enabled": True, "events": events}
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
    if approval:
        topic = client(emu, "sns").create_topic(Name=f"{name}-topic")["TopicArn"]
        pipeline["stages"].insert(2, approve_stage(topic))
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


def approve_stage(topic_arn: str) -> dict:
    """The Approve stage of templates/pipeline.yaml, in API shape."""
    return {
        "name": "Approve",
        "actions": [
            {
                "name": "Approve",
                "actionTypeId": {
                    "category": "Approval",
                    "owner": "AWS",
                    "provider": "Manual",
                    "version": "1",
                },
                "configuration": {
                    "NotificationArn": topic_arn,
                    "CustomData": "Deploy commit #{SourceVariables.CommitId}?",
                },
            }
        ],
    }


@pytest.fixture
def world_factory(moto_endpoint, tmp_path):
    reset_emulated_state()  # each test sees only the pipelines it creates
    made = []

    def make(name, **kwargs):
        world = make_world(moto_endpoint, tmp_path / name, name, **kwargs)
        made.append(world)
        return world

    yield make
    records.set_controller(None)
    for world in made:
        world.engine.close()
