"""The whole scenario against a scripted world: a real bare git remote, a real HTTP app, and
service clients whose every response is validated against botocore's output shapes. The world
reacts to what the scenario pushes, so these tests check the runner's logic (which execution,
which verdict, the restore) without the local emulator or a systemd host."""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber
from rich.console import Console

from pipekit.e2e.gitops import remote_head
from pipekit.e2e.report import render
from pipekit.e2e.scenario import Options, Scenario
from pipekit.e2e.target import Target
from pipekit.e2e.waiting import Clients

PORT_BASE = 25040
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
_CLIENTS: dict[str, Any] = {}


def valid(service: str, method: str, response: dict[str, Any]) -> dict[str, Any]:
    """Fail the test if `response` is not what botocore's model says `method` returns."""
    if service not in _CLIENTS:
        _CLIENTS[service] = botocore.session.get_session().create_client(
            service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
    Stubber(_CLIENTS[service]).add_response(method, response)
    return response


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class Changes:
    """The sample-change interface (pipekit.samplechanges) on a one-file app."""

    @staticmethod
    def set_marker(repo_dir: Path, text: str) -> list[Path]:
        (repo_dir / "marker.txt").write_text(text)
        return [repo_dir / "marker.txt"]

    @staticmethod
    def break_at_runtime(repo_dir: Path) -> list[Path]:
        (repo_dir / "BROKEN").write_text("raise SystemExit(1)\n")
        return [repo_dir / "BROKEN"]

    @staticmethod
    def fail_root_under_traffic(repo_dir: Path) -> list[Path]:
        (repo_dir / "FAIL_ROOT").write_text("/ answers 500\n")
        return [repo_dir / "FAIL_ROOT"]


class World:
    """A pipeline Source -> Build -> Deploy whose deployment group rolls back on failure, that
    advances one step per service call or app request. Knobs change what it does wrong."""

    def __init__(
        self,
        remote: str,
        branch: str,
        *,
        fail_build_of_marker: bool = False,
        rollback_to_the_start: bool = False,
        stage_rollback_too: bool = False,
        approval: bool = False,
        fleet: bool = False,
        leak_broken: bool = False,
    ) -> None:
        self.remote, self.branch = remote, branch
        # fleet: behind a load balancer, a deployment takes an instance out of traffic before it
        # touches it, so users never see a broken release or a restart (unless leak_broken: the
        # world serves the broken release anyway, which the fleet targets must catch).
        self.fleet, self.leak_broken = fleet, leak_broken
        self.failing_root: str | None = None  # the commit whose / answers 500 (alarm scenario)
        self.alarm_answers: list[str] = []  # the Target5xxAlarm states DescribeAlarms returned
        self.alarm_ok_after = 0  # DescribeAlarms answers ALARM this many more times
        self.fail_build_of_marker = fail_build_of_marker
        self.rollback_to_the_start = rollback_to_the_start
        self.stage_rollback_too = stage_rollback_too
        self.approval = approval
        self.waiting: dict[str, str] = {}  # execution id -> open approval token
        self.held: dict[str, list[Any]] = {}  # execution id -> its steps after the approval
        self.answers: list[tuple[str, str]] = []  # (execution id, status) in answer order
        self.lock = threading.RLock()
        self.clock = itertools.count()
        self.seen_head = remote_head(remote, branch)
        self.start_commit = self.seen_head
        self.executions: list[dict[str, Any]] = []  # summaries, oldest first
        self.actions: dict[str, list[dict[str, Any]]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, list[Any]] = {}  # execution id -> remaining steps
        self.live: str | None = self.seen_head
        self.marker = ""
        self.ids = itertools.count(1)

    # -- time and git ---------------------------------------------------------------------
    def now(self) -> datetime:
        return T0 + timedelta(seconds=next(self.clock))

    def file_at(self, commit: str, name: str) -> str | None:
        proc = subprocess.run(
            ["git", "--git-dir", self.remote, "show", f"{commit}:{name}"],
            capture_output=True,
            text=True,
        )
        return proc.stdout if proc.returncode == 0 else None

    def tick(self) -> None:
        with self.lock:
            head = remote_head(self.remote, self.branch)
            if head != self.seen_head:
                self.seen_head = head
                self.start(head)
            for plan in list(self.plans.values()):
                if plan:
                    plan.pop(0)()
                    break

    # -- executions -------------------------------------------------------------------------
    def summary(self, eid: str) -> dict[str, Any]:
        return next(s for s in self.executions if s["pipelineExecutionId"] == eid)

    def start(self, commit: str) -> str:
        eid = f"exec-{next(self.ids)}"
        s: dict[str, Any] = {
            "pipelineExecutionId": eid,
            "status": "InProgress",
            "startTime": self.now(),
            "lastUpdateTime": self.now(),
            "sourceRevisions": [{"actionName": "Source", "revisionId": commit}],
            "trigger": {"triggerType": "WebhookV2"},
            "executionMode": "SUPERSEDED",
            "executionType": "STANDARD",
        }
        self.executions.append(s)
        self.actions[eid] = []
        broken = self.file_at(commit, "BROKEN") is not None
        alarm = self.file_at(commit, "FAIL_ROOT") is not None
        build_fails = self.fail_build_of_marker and self.file_at(commit, "marker.txt") is not None
        steps: list[Any] = [
            lambda: self.act(eid, "Source", "Succeeded"),
            lambda: self.act(
                eid,
                "Build",
                "Failed" if build_fails else "Succeeded",
                external=f"proj:{eid}",
                error="Build failed: exit status 2" if build_fails else None,
            ),
        ]
        if self.approval and not build_fails:
            steps.append(lambda: self.ask(eid))
        if build_fails:
            steps.append(lambda: self.finish(eid, "Failed"))
        elif broken:
            steps += self.broken_deploy(eid, commit)
        elif alarm:
            steps += self.alarm_deploy(eid, commit)
        else:
            steps += self.good_deploy(eid, commit)
        self.plans[eid] = steps
        return eid

    def ask(self, eid: str) -> None:
        """The run reaches Approve: it holds its remaining steps until the answer."""
        self.waiting[eid] = f"00000000-0000-4000-8000-{next(self.ids):012d}"
        self.held[eid], self.plans[eid] = self.plans[eid], []

    def act(self, eid, stage, status, *, external=None, error=None) -> None:
        category, provider = {
            "Source": ("Source", "CodeStarSourceConnection"),
            "Build": ("Build", "CodeBuild"),
            "Approve": ("Approval", "Manual"),
            "Deploy": ("Deploy", "CodeDeploy"),
        }[stage]
        result: dict[str, Any] = {}
        if external:
            result["externalExecutionId"] = external
        if error:
            result["errorDetails"] = {"code": "JobFailed", "message": error}
        start = self.now()
        self.actions[eid].append(
            {
                "pipelineExecutionId": eid,
                "actionExecutionId": f"{eid}-{stage}",
                "stageName": stage,
                "actionName": stage,
                "startTime": start,
                "lastUpdateTime": start + timedelta(seconds=5),
                "status": status,
                "input": {
                    "actionTypeId": {
                        "category": category,
                        "owner": "AWS",
                        "provider": provider,
                        "version": "1",
                    }
                },
                "output": {"executionResult": result},
            }
        )

    def finish(self, eid: str, status: str) -> None:
        s = self.summary(eid)
        s["status"], s["lastUpdateTime"] = status, self.now()
        del self.plans[eid]

    def deployment(self, did, commit, status, *, creator="CodePipeline", rollback_of=None):
        info: dict[str, Any] = {
            "applicationName": "sample-app",
            "deploymentGroupName": "dg",
            "deploymentId": did,
            "status": status,
            "creator": creator,
            "createTime": self.now(),
            "revision": {
                "revisionType": "S3",
                "s3Location": {"bucket": "b", "key": commit, "bundleType": "zip"},
            },
        }
        if rollback_of:
            info["rollbackInfo"] = {"rollbackTriggeringDeploymentId": rollback_of}
        self.deployments[did] = info
        return info

    def good_deploy(self, eid: str, commit: str) -> list[Any]:
        did = f"d-{eid}"

        def go_live() -> None:
            self.deployment(did, commit, "Succeeded")["completeTime"] = self.now()
            self.live, self.marker = commit, self.file_at(commit, "marker.txt") or ""
            self.act(eid, "Deploy", "Succeeded", external=did)

        return [go_live, lambda: self.finish(eid, "Succeeded")]

    def broken_deploy(self, eid: str, commit: str) -> list[Any]:
        did, rb = f"d-{eid}", f"d-{eid}-rollback"
        previous = self.live
        revision = (self.start_commit if self.rollback_to_the_start else previous) or ""

        def serve_broken() -> None:
            self.deployment(did, commit, "InProgress")
            if not self.fleet or self.leak_broken:
                self.live = commit

        def crash() -> None:
            if not self.fleet:
                self.live = None

        def fail() -> None:
            info = self.deployments[did]
            info.update(
                status="Failed",
                completeTime=self.now(),
                errorInformation={
                    "code": "HOOK_EXECUTION_FAILURE",
                    "message": "ValidateService failed",
                },
                rollbackInfo={"rollbackDeploymentId": rb, "rollbackMessage": "rolling back"},
            )
            self.deployment(
                rb, revision, "InProgress", creator="codeDeployRollback", rollback_of=did
            )
            self.act(eid, "Deploy", "Failed", external=did, error="Deployment failed")
            self.plans[rb] = [rolled_back]
            self.finish(eid, "Failed")

        def rolled_back() -> None:
            self.deployments[rb].update(status="Succeeded", completeTime=self.now())
            self.live = previous
            del self.plans[rb]

        # a leaked broken release serves for a while (20 steps), long enough to be seen
        serving = [lambda: None] * (20 if self.leak_broken else 0)
        return [serve_broken, *serving, crash, fail, rolled_back]

    def alarm_deploy(self, eid: str, commit: str) -> list[Any]:
        """Instance 1 takes the release and traffic (its / answers 500), the alarm stops the
        deployment (ALARM_ACTIVE) and CodeDeploy rolls back."""
        did, rb = f"d-{eid}", f"d-{eid}-rollback"
        previous = self.live

        def first_instance_live() -> None:
            self.deployment(did, commit, "InProgress")
            self.live = self.failing_root = commit

        def alarm_stops() -> None:
            self.deployments[did].update(
                status="Stopped",
                completeTime=self.now(),
                errorInformation={"code": "ALARM_ACTIVE", "message": "Target5xxAlarm in ALARM"},
                rollbackInfo={"rollbackDeploymentId": rb, "rollbackMessage": "rolling back"},
            )
            self.deployment(
                rb, previous or "", "InProgress", creator="codeDeployRollback", rollback_of=did
            )
            self.act(eid, "Deploy", "Failed", external=did, error="Deployment stopped")
            self.plans[rb] = [rolled_back]
            self.finish(eid, "Failed")

        def rolled_back() -> None:
            self.deployments[rb].update(status="Succeeded", completeTime=self.now())
            self.live, self.failing_root = previous, None
            self.alarm_ok_after = 2  # the alarm's period outlives the rollback
            del self.plans[rb]

        # users get the 500s for a while (20 steps) before the alarm fires
        serving = [lambda: None] * 20
        return [first_instance_live, *serving, alarm_stops, rolled_back]

    # -- the APIs the scenario calls ----------------------------------------------------------
    def call(self, service: str, method: str, **kw: Any) -> dict[str, Any]:
        self.tick()
        with self.lock:
            return valid(service, method, getattr(self, f"_{method}")(**kw))

    def _get_pipeline(self, name):
        def stage(n, category, provider, **extra):
            return {
                "name": n,
                **extra,
                "actions": [
                    {
                        "name": n,
                        "actionTypeId": {
                            "category": category,
                            "owner": "AWS",
                            "provider": provider,
                            "version": "1",
                        },
                        "configuration": {"BranchName": self.branch, "FullRepositoryId": "o/r"}
                        if category == "Source"
                        else {},
                    }
                ],
            }

        return {
            "pipeline": {
                "name": name,
                "roleArn": "arn:aws:iam::123456789012:role/r",
                "artifactStore": {"type": "S3", "location": "bucket"},
                "stages": [
                    stage("Source", "Source", "CodeStarSourceConnection"),
                    stage("Build", "Build", "CodeBuild"),
                    *([stage("Approve", "Approval", "Manual")] if self.approval else []),
                    stage(
                        "Deploy",
                        "Deploy",
                        "CodeDeploy",
                        **(
                            {"onFailure": {"result": "ROLLBACK"}} if self.stage_rollback_too else {}
                        ),
                    ),
                ],
            }
        }

    def _get_pipeline_state(self, name):
        approve: dict[str, Any] = {
            "stageName": "Approve",
            "actionStates": [{"actionName": "Approve"}],
        }
        for eid, token in self.waiting.items():
            approve["latestExecution"] = {"pipelineExecutionId": eid, "status": "InProgress"}
            approve["actionStates"][0]["latestExecution"] = {"status": "InProgress", "token": token}
        return {"pipelineName": name, "stageStates": [approve]}

    def _put_approval_result(self, pipelineName, stageName, actionName, result, token):
        (eid,) = [e for e, t in self.waiting.items() if t == token]
        del self.waiting[eid]
        self.answers.append((eid, result["status"]))
        self.act(eid, "Approve", "Succeeded")
        self.plans[eid] = self.held.pop(eid)
        return {"approvedAt": self.now()}

    def _list_pipeline_executions(self, pipelineName, maxResults=100):
        return {"pipelineExecutionSummaries": [dict(s) for s in reversed(self.executions)]}

    def _get_pipeline_execution(self, pipelineName, pipelineExecutionId):
        s = self.summary(pipelineExecutionId)
        keep = (
            "pipelineExecutionId",
            "status",
            "trigger",
            "executionMode",
            "executionType",
            "rollbackMetadata",
        )
        return {
            "pipelineExecution": {
                "pipelineName": pipelineName,
                "pipelineVersion": 1,
                **{k: s[k] for k in keep if k in s},
            }
        }

    def _list_action_executions(self, pipelineName, filter):
        return {
            "actionExecutionDetails": list(reversed(self.actions[filter["pipelineExecutionId"]]))
        }

    def _batch_get_builds(self, ids):
        return {
            "builds": [
                {
                    "id": i,
                    "buildStatus": "FAILED",
                    "logs": {"groupName": "/aws/codebuild/proj", "streamName": i},
                }
                for i in ids
            ]
        }

    def _get_log_events(self, logGroupName, logStreamName, limit, startFromHead):
        return {
            "events": [
                {"timestamp": 1, "message": "npm ERR! missing script: build\n", "ingestionTime": 1}
            ]
        }

    def _get_deployment_group(self, applicationName, deploymentGroupName):
        return {
            "deploymentGroupInfo": {
                "applicationName": applicationName,
                "deploymentGroupName": deploymentGroupName,
                "alarmConfiguration": {"enabled": True, "alarms": [{"name": "Target5xxAlarm"}]},
            }
        }

    def _describe_alarms(self, AlarmNames):
        state = "ALARM" if self.alarm_ok_after > 0 else "OK"
        self.alarm_ok_after -= 1
        self.alarm_answers.append(state)
        return {
            "MetricAlarms": [
                {"AlarmName": name, "StateValue": state, "StateReason": "x"} for name in AlarmNames
            ]
        }

    def _get_deployment(self, deploymentId):
        return {"deploymentInfo": dict(self.deployments[deploymentId])}

    def _list_deployment_targets(self, deploymentId):
        return {"targetIds": ["i-0abc"]}

    def _batch_get_deployment_targets(self, deploymentId, targetIds):
        failed = self.deployments[deploymentId]["status"] == "Failed"
        if self.deployments[deploymentId]["status"] == "Stopped":
            # the alarm stopped it after the first instance took traffic again
            names = ("BlockTraffic", "ApplicationStart", "ValidateService", "AllowTraffic")
            stopped = [{"lifecycleEventName": n, "status": "Succeeded"} for n in names]
            return self.instance_targets(deploymentId, targetIds, stopped)
        events = [
            {"lifecycleEventName": n, "status": "Succeeded"}
            for n in ("BeforeInstall", "AfterInstall", "ApplicationStart")
        ]
        events.append(
            {
                "lifecycleEventName": "ValidateService",
                "status": "Failed" if failed else "Succeeded",
                **(
                    {
                        "diagnostics": {
                            "errorCode": "ScriptFailed",
                            "scriptName": "scripts/validate_service.sh",
                            "logTail": "health check failed 5 times",
                        }
                    }
                    if failed
                    else {}
                ),
            }
        )
        return self.instance_targets(deploymentId, targetIds, events)

    @staticmethod
    def instance_targets(deployment_id, target_ids, events):
        return {
            "deploymentTargets": [
                {
                    "deploymentTargetType": "InstanceTarget",
                    "instanceTarget": {
                        "deploymentId": deployment_id,
                        "targetId": target_id,
                        "lifecycleEvents": events,
                    },
                }
                for target_id in target_ids
            ]
        }

    def clients(self) -> Clients:
        world = self

        class Client:
            def __init__(self, service: str) -> None:
                self.service = service

            def __getattr__(self, method: str):
                return lambda **kw: world.call(self.service, method, **kw)

        return Clients(
            Client("codepipeline"),
            Client("codedeploy"),
            Client("codebuild"),
            Client("logs"),
            cloudwatch=Client("cloudwatch"),
        )


class _Server(ThreadingHTTPServer):
    # the probe's workers, the scenario's polls and the watchers connect at once: a listen
    # backlog of 5 (socketserver's default) refuses some of them, which is not the world's doing
    request_queue_size = 128


def serve_app(world: World):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            world.tick()
            with world.lock:
                live, marker = world.live, world.marker
            if live is None:
                self.send_response(502)
                self.end_headers()
                return
            status = 200
            if self.path == "/version":
                body = json.dumps({"commit": live, "build_id": "proj:1"}).encode()
            else:  # the page names its commit as the app's template does
                body = f'<h1>sample-app</h1><p>{marker}</p><code id="commit">{live}</code>'.encode()
                status = 500 if live == world.failing_root else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    for port in range(PORT_BASE, PORT_BASE + 40):
        try:
            server = _Server(("127.0.0.1", port), Handler)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{port}"
    pytest.skip("no free port in 25040-25079")


@pytest.fixture
def remote(tmp_path: Path) -> str:
    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    seed = tmp_path / "seed"
    git("init", "--quiet", "--initial-branch=main", str(seed))
    (seed / "app.py").write_text("print('hello')\n")
    git("add", "app.py", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed", cwd=seed)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=seed)
    return str(bare)


def run(remote: str, tmp_path: Path, *, kind: str = "broken", **knobs: Any):
    world = World(remote, "main", **knobs)
    server, url = serve_app(world)
    try:
        target = Target(
            env="local",
            stack_name="s",
            pipeline="p",
            app_url=url,
            git_remote=remote,
            branch="main",
            local=True,
            deployment_mode="fleet" if knobs.get("fleet") else "single",
            codedeploy_application="sample-app",
            deployment_group="dg",
        )
        options = Options(
            poll_interval=0.0,
            probe_interval=0.05,
            url_interval=0.01,
            execution_start_timeout=20,
            execution_timeout=20,
            deployment_timeout=20,
            url_timeout=20,
            work_dir=tmp_path,
            kind=kind,
        )
        console = Console(record=True, width=200)
        report = Scenario(
            world.clients(), target, options=options, console=console, changes=Changes()
        ).run()
        return world, report, console.export_text()
    finally:
        server.shutdown()
        server.server_close()


def tree(remote: str, ref: str) -> str:
    return git("--git-dir", remote, "rev-parse", f"{ref}^{{tree}}")


def test_full_scenario_passes_and_leaves_marker_without_breakage(remote, tmp_path):
    start = remote_head(remote, "main")
    world, report, output = run(remote, tmp_path)
    assert report.ok, (report.problems, output)
    # Each commit's run is the one carrying it; CodeDeploy rolls back to the marker's revision.
    broken_run = next(
        s for s in world.executions if s["sourceRevisions"][0]["revisionId"] == report.broken_commit
    )
    assert report.broken_execution == {
        "execution_id": broken_run["pipelineExecutionId"],
        "status": "Failed",
        "failed_stage": "Deploy",
        "failed_action": "Deploy",
        "deployment_id": f"d-{broken_run['pipelineExecutionId']}",
    }
    assert report.codedeploy_rollback["rollback_creator"] == "codeDeployRollback"
    assert report.codedeploy_rollback["failed_events"] == ["ValidateService"]
    assert report.codedeploy_rollback["rollback_revision"]["s3Location"]["key"] == (
        report.good_commit
    )
    assert report.live_commit == report.good_commit
    assert all(s["executionType"] == "STANDARD" for s in world.executions)
    table = Console(record=True, width=200)
    render(report, table)
    assert "Failed at Deploy" in table.export_text()
    assert set(report.stage_seconds["good"]) == {"Source", "Build", "Deploy"}
    assert (
        "  i-0abc: ValidateService failed, ScriptFailed, script scripts/validate_service.sh"
        in (report.failure_details["broken"])
    )
    # The repository ends with the marker and without the breakage, through new commits only.
    head = remote_head(remote, "main")
    assert report.restore_commit == head and world.live == head
    assert tree(remote, head) == tree(remote, report.good_commit)
    assert git("--git-dir", remote, "merge-base", "--is-ancestor", start, head) == ""
    probe = report.probe
    assert probe["requests"] == probe["failed"] + sum(probe["commits"].values())
    path = report.write_json(tmp_path / "reports")
    data = json.loads(path.read_text())
    assert data["ok"] is True and data["good_commit"] == report.good_commit
    assert data["commit_to_live_s"] == report.commit_to_live_s


def test_with_the_approval_gate_on_each_run_is_approved_and_the_scenario_passes(remote, tmp_path):
    world, report, output = run(remote, tmp_path, approval=True)
    assert report.ok, (report.problems, output)
    # every run that built reached Approve and was approved once, in push order
    assert [status for _, status in world.answers] == ["Approved"] * len(world.answers)
    assert len(world.answers) == len(world.executions) >= 3
    assert world.waiting == {}
    assert set(report.stage_seconds["good"]) == {"Source", "Build", "Approve", "Deploy"}


def test_rollback_to_another_revision_is_reported_and_repo_still_restored(remote, tmp_path):
    _, report, _ = run(remote, tmp_path, rollback_to_the_start=True)
    assert not report.ok
    assert any("not the last good revision" in p for p in report.problems), report.problems
    assert report.restored is True
    assert tree(remote, remote_head(remote, "main")) == tree(remote, report.good_commit)


def test_a_stage_rollback_besides_codedeploys_is_a_problem(remote, tmp_path):
    _, report, _ = run(remote, tmp_path, stage_rollback_too=True)
    assert [p for p in report.problems if "one rollback layer" in p], report.problems
    assert "DeploymentLimitExceededException" in report.problems[0]
    assert report.restored is True


def test_midway_failure_shows_build_log_and_restores_the_start(remote, tmp_path):
    start = remote_head(remote, "main")
    _, report, output = run(remote, tmp_path, fail_build_of_marker=True)
    assert not report.ok
    assert "failed in Build/Build: Build failed: exit status 2" in output
    assert "npm ERR! missing script: build" in output  # the build's own log tail
    assert "  | npm ERR! missing script: build" in report.failure_details["good"]
    assert report.broken_commit is None  # it stopped before breaking anything
    assert report.restored is True and "failed midway" in report.restore_note
    head = remote_head(remote, "main")
    assert head != start and tree(remote, head) == tree(remote, start)


def test_ctrl_c_midway_still_restores_the_start(remote, tmp_path, monkeypatch):
    start = remote_head(remote, "main")

    def interrupted(repo_dir: Path) -> list[Path]:
        raise KeyboardInterrupt

    monkeypatch.setattr(Changes, "break_at_runtime", staticmethod(interrupted))
    with pytest.raises(KeyboardInterrupt):
        run(remote, tmp_path)
    head = remote_head(remote, "main")
    # The marker commit had gone live; the interrupt still leaves the branch as it started.
    assert head != start and tree(remote, head) == tree(remote, start)


def test_fleet_targets_hold_when_the_broken_release_never_takes_traffic(remote, tmp_path):
    _, report, output = run(remote, tmp_path, fleet=True)
    assert report.ok, (report.problems, report.probe["phases"], output)
    phases = report.probe["phases"]
    assert {"good", "broken", "restore"} <= set(phases)
    for name in ("good", "broken", "restore"):
        assert phases[name]["requests"] > 0 and phases[name]["failed"] == 0
    assert phases["broken"]["served_by_broken"] == 0
    assert [s.name for s in report.steps if s.name.startswith("probe:")] == [
        "probe: good phase",
        "probe: broken phase",
        "probe: restore phase",
    ]
    table = Console(record=True, width=200)
    render(report, table)
    assert "two versions" in table.export_text()  # the per-phase table


def test_fleet_targets_catch_a_broken_release_that_served(remote, tmp_path):
    _, report, _ = run(remote, tmp_path, fleet=True, leak_broken=True)
    assert not report.ok
    assert any(
        p.startswith("probe: broken phase:") and "served by the broken version" in p
        for p in report.problems
    ), report.problems


def test_alarm_scenario_stopped_by_the_alarm_and_rolled_back(remote, tmp_path):
    world, report, output = run(remote, tmp_path, fleet=True, kind="alarm")
    assert report.ok, (report.problems, output)
    # the restore waited for the alarm to leave ALARM (else CodeDeploy would stop it too)
    assert world.alarm_answers == ["ALARM", "ALARM", "OK"]
    rollback = report.codedeploy_rollback
    assert rollback["error_code"] == "ALARM_ACTIVE" and rollback["status"] == "Stopped"
    assert rollback["rollback_creator"] == "codeDeployRollback"
    assert rollback["instances_given_traffic"] == ["i-0abc"]
    alarm = report.probe["phases"]["alarm"]
    assert alarm["failed"] == alarm["failed_by_commit"][report.broken_commit] > 0
    assert report.live_commit == report.good_commit
    assert any(s.name.startswith("an alarm (ALARM_ACTIVE) stopped") for s in report.steps)


def test_alarm_scenario_needs_fleet_mode(remote, tmp_path):
    from pipekit.errors import UserError

    with pytest.raises(UserError, match="needs DeploymentMode fleet"):
        run(remote, tmp_path, kind="alarm")
