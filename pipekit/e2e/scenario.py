"""The scenario: a visible change goes live, a broken change rolls back, the repository is
restored. The same code runs against AWS and the local emulator; only clients and remote differ."""

from __future__ import annotations

import importlib
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console

from pipekit import appclient
from pipekit.e2e import decisions
from pipekit.e2e.gitops import Checkout
from pipekit.e2e.probe import FirstServed, Probe
from pipekit.e2e.report import Report
from pipekit.e2e.target import Target
from pipekit.e2e.waiting import (
    Clients,
    E2EFailure,
    explain_failure,
    find_commit_execution,
    list_executions,
    poll,
    wait_alarms_clear,
    wait_deployment,
    wait_execution,
)
from pipekit.errors import UserError
from pipekit.harness.runs import deployment_targets


class SampleChanges(Protocol):
    def set_marker(self, repo_dir: Path, text: str) -> list[Path]: ...
    def break_at_runtime(self, repo_dir: Path) -> list[Path]: ...
    def fail_root_under_traffic(self, repo_dir: Path) -> list[Path]: ...


# The bad change each scenario pushes after the good one: (sample change, commit message, what
# catches it). "broken": ValidateService fails the deployment; "alarm": the release passes
# ValidateService (/health is fine) but answers 5xx on `/`, and the deployment group's alarm on
# the load balancer's 5xx count stops the deployment (fleet mode only).
KINDS = {
    "broken": ("break_at_runtime", "e2e: break the app at runtime (reverted next)"),
    "alarm": ("fail_root_under_traffic", "e2e: answer 5xx on / (reverted next)"),
}


@dataclass
class Options:
    execution_start_timeout: float = 300
    execution_timeout: float = 1800
    deployment_timeout: float = 1200
    url_timeout: float = 300
    poll_interval: float = 2.0
    probe_interval: float = 0.2  # the probe's 5 requests a second (issue 12: at least 5)
    probe_path: str = "/"
    kind: str = "broken"  # which bad change: a key of KINDS
    url_interval: float = 1.0
    work_dir: Path | None = None


@dataclass
class _Pipeline:
    stages: list[str]
    source: str | None
    build: str | None
    deploy: str | None
    definition: dict[str, Any] = field(default_factory=dict)  # get_pipeline's response
    approval: str | None = None  # the stage of a manual approval (ApprovalBeforeDeploy true)


def default_changes() -> SampleChanges:
    return importlib.import_module("pipekit.samplechanges")  # type: ignore[return-value]


class Scenario:
    def __init__(
        self,
        clients: Clients,
        target: Target,
        *,
        options: Options | None = None,
        console: Console | None = None,
        changes: SampleChanges | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.c = clients
        self.t = target
        self.o = options or Options()
        self.console = console or Console()
        self.changes = changes
        self.clock = clock
        self.report = Report(
            env=target.env,
            pipeline=target.pipeline,
            app_url=target.app_url,
            branch=target.branch,
            deployment_mode=target.deployment_mode,
            scenario=self.o.kind,
        )
        self.pushed: list[str] = []
        self.good_deployment: str | None = None  # the good commit's deployment id
        if self.o.kind not in KINDS:
            raise UserError(f"unknown scenario {self.o.kind!r}: one of {', '.join(KINDS)}")
        if self.o.kind == "alarm" and target.deployment_mode != "fleet":
            raise UserError(
                "the alarm scenario needs DeploymentMode fleet (its alarm counts the load "
                f"balancer's 5xx); stack {target.stack_name} runs {target.deployment_mode} mode"
            )
        self.probe = Probe(
            target.app_url,
            interval=self.o.probe_interval,
            path=self.o.probe_path,
            max_seconds=3 * (self.o.execution_timeout + self.o.url_timeout),
            clock=clock,
        )

    # -- helpers ---------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.console.print(f"[bold]e2e[/bold] {text}")

    def _pipeline(self) -> _Pipeline:
        definition = self.c.codepipeline.get_pipeline(name=self.t.pipeline)
        return _Pipeline(
            stages=decisions.stage_names(definition),
            source=decisions.stage_of_action_category(definition, "Source"),
            build=decisions.stage_of_action_category(definition, "Build"),
            deploy=decisions.stage_of_action_category(definition, "Deploy"),
            definition=definition,
            approval=decisions.stage_of_action_category(definition, "Approval"),
        )

    def _push(self, checkout: Checkout, commit: str, phase: str) -> float:
        self.probe.phase(phase)  # the phase begins as its push does
        checkout.push()
        self.pushed.append(commit)
        return self.clock()

    def _run_commit(
        self, label: str, commit: str, pipeline: _Pipeline
    ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """Find the commit's own execution and wait for it: (summary, execution, actions)."""
        self.say(f"waiting for the pipeline execution of {label} commit {commit[:12]}")
        summary = find_commit_execution(
            self.c.codepipeline,
            self.t.pipeline,
            commit,
            not_before=None,
            timeout=self.o.execution_start_timeout,
            interval=self.o.poll_interval,
        )
        self.say(f"{label} commit runs as execution {summary['pipelineExecutionId']}")
        execution, details = wait_execution(
            self.c.codepipeline,
            self.t.pipeline,
            summary["pipelineExecutionId"],
            stages=pipeline.stages,
            timeout=self.o.execution_timeout,
            console=self.console,
            label=label,
            interval=self.o.poll_interval,
            approve=pipeline.approval is not None,
        )
        self.report.stage_seconds[label] = {
            k: round(v, 1) for k, v in decisions.stage_durations(details).items()
        }
        if execution["status"] == "Superseded":
            later = decisions.superseded_by(
                list_executions(self.c.codepipeline, self.t.pipeline), summary
            )
            by = f" by {later['pipelineExecutionId']}" if later else ""
            raise E2EFailure(f"the {label} commit's execution was superseded{by}")
        return summary, execution, details

    def _watch_served(
        self, commit: str, marker: str | None = None, *, after_miss: bool = False
    ) -> FirstServed:
        """From now on, the first moment the app serves `commit` (see FirstServed)."""
        return FirstServed(
            self._served_check(commit, marker),
            interval=self.o.url_interval,
            timeout=self.o.execution_timeout + self.o.url_timeout,
            after_miss=after_miss,
            clock=self.clock,
        )

    def _live_seconds(
        self, watch: FirstServed, pushed_at: float, commit: str, marker: str | None = None
    ) -> tuple[dict[str, Any], float]:
        """What the app serves and the seconds from the push to the first time it served it
        (the watcher's moment; if it saw none, e.g. no miss before a restore, now)."""
        data = self._wait_served(commit, marker)
        seen = watch.result(timeout=2 * self.o.url_interval + 5)
        if seen is not None:
            return seen[1], round(seen[0] - pushed_at, 1)
        return data, round(self.clock() - pushed_at, 1)

    def _served_check(self, commit: str, marker: str | None):
        def check() -> dict[str, Any] | None:
            _, data = appclient.version(self.t.app_url)
            if not decisions.same_commit(decisions.served_commit(data), commit):
                return None
            if marker is not None:
                page = appclient.get(appclient.join(self.t.app_url, "/"))
                if not (page.ok and decisions.page_shows_marker(page.body, marker)):
                    return None
            return data

        return check

    def _wait_served(self, commit: str, marker: str | None = None) -> dict[str, Any]:
        """Poll the app until `/version` reports `commit` (and `/` shows `marker`)."""
        return poll(
            self._served_check(commit, marker),
            timeout=self.o.url_timeout,
            interval=self.o.url_interval,
            what=f"{self.t.app_url} to serve commit {commit[:12]}",
        )

    def _fail_with_details(self, label: str, details: list[dict[str, Any]]) -> E2EFailure:
        lines = explain_failure(self.c, details)
        self.report.failure_details[label] = lines
        for line in lines:
            self.console.print(f"  [red]{line}[/red]")
        return E2EFailure(f"the {label} commit's execution failed: {lines[0]}")

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> Report:
        changes = self.changes or default_changes()
        pipeline = self._pipeline()
        self.say(f"pipeline {self.t.pipeline}: stages {' -> '.join(pipeline.stages)}")
        with tempfile.TemporaryDirectory(prefix="pipekit-e2e-", dir=self.o.work_dir) as tmp:
            checkout = Checkout.clone(self.t.git_remote, self.t.branch, Path(tmp) / "repo")
            self.report.start_commit = checkout.head()
            completed = False
            self.probe.start()
            self.say(
                f"probing {appclient.join(self.t.app_url, self.o.probe_path)} every "
                f"{self.o.probe_interval:g} s for the whole run"
            )
            try:
                self._good(checkout, changes, pipeline)
                self._broken(checkout, changes, pipeline)
                completed = True
            except Exception as exc:  # restore first, then report
                self.report.step("scenario", False, detail=str(exc))
            except KeyboardInterrupt:
                self.report.step("scenario", False, detail="interrupted")
                self.say(
                    "interrupted: restoring the branch before stopping (Ctrl-C again to abort)"
                )
                raise
            finally:
                # Also on Ctrl-C: the branch must not be left broken.
                self._restore(checkout, pipeline, midway=not completed)
                self.report.probe = self.probe.stop().as_dict()
                self._judge_probe()
        self.report.finished_at = datetime.now(UTC).isoformat()
        return self.report

    def _good(self, checkout: Checkout, changes: SampleChanges, pipeline: _Pipeline) -> None:
        marker = f"e2e-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        paths = changes.set_marker(checkout.path, marker)
        commit = checkout.commit_paths(paths, f"e2e: show marker {marker}")
        self.report.good_commit = commit
        self.say(f"pushing marker commit {commit[:12]} ({marker})")
        pushed_at = self._push(checkout, commit, "good")
        watch = self._watch_served(commit, marker)
        _, execution, details = self._run_commit("good", commit, pipeline)
        if execution["status"] != "Succeeded":
            raise self._fail_with_details("good", details)
        if pipeline.deploy is not None:
            self.good_deployment = decisions.external_execution_id(details, pipeline.deploy)
        self.report.step(
            "good commit pipeline", True, self.clock() - pushed_at, execution["pipelineExecutionId"]
        )
        data, self.report.commit_to_live_s = self._live_seconds(watch, pushed_at, commit, marker)
        self.report.step(
            "good commit live",
            True,
            self.report.commit_to_live_s,
            f"/version commit {data.get('commit')}, / shows {marker}",
        )

    def _broken(self, checkout: Checkout, changes: SampleChanges, pipeline: _Pipeline) -> None:
        good = self.report.good_commit
        assert good is not None
        change, message = KINDS[self.o.kind]
        paths = getattr(changes, change)(checkout.path)
        commit = checkout.commit_paths(paths, message)
        self.report.broken_commit = commit
        self.probe.broken_commit = commit
        self.say(f"pushing {self.o.kind} commit {commit[:12]} ({change})")
        pushed_at = self._push(checkout, commit, self.o.kind)
        watch = self._watch_served(good, after_miss=True)
        self._judge_broken(commit, good, pipeline, pushed_at, watch)

    def _judge_probe(self) -> None:
        """The probe's targets per phase (decisions.probe_phase_verdict), one step each."""
        phases = self.report.probe.get("phases", {})
        for phase in ("good", self.o.kind, "restore"):
            if phase not in phases:
                continue
            verdict = decisions.probe_phase_verdict(
                self.t.deployment_mode, phase, phases[phase], alarm_commit=self.report.broken_commit
            )
            f = verdict.facts
            detail = f"{f['failed']} failed of {f['requests']}, {f['served_by_broken']} by broken"
            if "failed_by_alarm_commit" in f:
                detail += f", {f['failed_by_alarm_commit']} 5xx from the alarm commit"
            if self.t.deployment_mode != "fleet":
                detail += " (single mode: one instance deployed in place; counted, no target)"
            r = self.report
            r.step(f"probe: {phase} phase", verdict.ok, None, "; ".join(verdict.problems) or detail)

    def _judge_broken(
        self, commit: str, good: str, pipeline: _Pipeline, pushed_at: float, watch: FirstServed
    ) -> None:
        r = self.report
        _, execution, details = self._run_commit("broken", commit, pipeline)
        r.step(
            "broken commit execution failed",
            execution["status"] == "Failed",
            None,
            f"{execution['pipelineExecutionId']} is {execution['status']}",
        )
        if pipeline.build:
            build = decisions.action_status(details, pipeline.build)
            r.step(
                "broken commit build succeeded",
                build == "Succeeded",
                None,
                f"{pipeline.build} is {build}",
            )
        if pipeline.deploy is None:
            raise E2EFailure("the pipeline has no Deploy action")
        failure = decisions.failing_action(details)
        deployment_id = decisions.external_execution_id(details, pipeline.deploy)
        if failure is None or failure.stage != pipeline.deploy or not deployment_id:
            where = f"{failure.stage}/{failure.action}" if failure else "nowhere"
            raise E2EFailure(f"expected the {pipeline.deploy} action to fail; it failed {where}")
        self.say(f"deployment {deployment_id} failed as expected: {failure.message}")
        lines = explain_failure(self.c, details)
        self.report.failure_details["broken"] = lines
        for line in lines[1:]:
            self.console.print(f"  [dim]{line}[/dim]")

        r.broken_execution = {
            "execution_id": execution["pipelineExecutionId"],
            "status": execution["status"],
            "failed_stage": failure.stage,
            "failed_action": failure.action,
            "deployment_id": deployment_id,
        }
        self._judge_codedeploy_rollback(deployment_id, alarm=self.o.kind == "alarm")
        # One rollback layer: CodeDeploy's. A stage rollback as well would collide with it.
        layer_problem = decisions.rollback_layer_problem(pipeline.definition, pipeline.deploy)
        r.step(
            "one rollback layer (CodeDeploy's)",
            layer_problem is None,
            None,
            layer_problem or f"{pipeline.deploy} has no OnFailure: ROLLBACK",
        )
        app, group = self.t.codedeploy_application, self.t.deployment_group
        if self.o.kind == "alarm" and self.c.cloudwatch is not None and app and group:
            names = wait_alarms_clear(
                self.c.codedeploy,
                self.c.cloudwatch,
                app,
                group,
                timeout=self.o.deployment_timeout,
                interval=self.o.poll_interval,
            )
            self.say(f"alarms {', '.join(names)} out of ALARM: the restore may deploy")
        data, r.broken_push_to_restored_s = self._live_seconds(watch, pushed_at, good)
        r.live_commit = decisions.served_commit(data)
        r.step(
            "previous good commit served again",
            True,
            r.broken_push_to_restored_s,
            f"/version commit {data.get('commit')}",
        )

    def _judge_codedeploy_rollback(self, deployment_id: str, *, alarm: bool = False) -> None:
        """CodeDeploy's own rollback: a new deployment (creator codeDeployRollback) of the last
        good revision, started when the broken one failed (or, `alarm`, an alarm stopped it:
        ALARM_ACTIVE), that succeeds."""
        r, cd = self.report, self.c.codedeploy
        failed = wait_deployment(
            cd, deployment_id, timeout=self.o.deployment_timeout, interval=self.o.poll_interval
        )
        rollback_id = failed["deploymentInfo"].get("rollbackInfo", {}).get("rollbackDeploymentId")
        rollback = None
        if rollback_id:
            self.say(f"CodeDeploy rolls back with deployment {rollback_id}")
            rollback = wait_deployment(
                cd, rollback_id, timeout=self.o.deployment_timeout, interval=self.o.poll_interval
            )
        good_revision = None
        if self.good_deployment:
            good_revision = cd.get_deployment(deploymentId=self.good_deployment)[
                "deploymentInfo"
            ].get("revision")
        judge = decisions.alarm_rollback_verdict if alarm else decisions.codedeploy_rollback_verdict
        verdict = judge(
            failed,
            rollback,
            deployment_targets(cd, deployment_id),
            last_good_revision=good_revision,
        )
        r.codedeploy_rollback = {
            "ok": verdict.ok,
            "problems": verdict.problems,
            "last_good_deployment_id": self.good_deployment,
            **verdict.facts,
        }
        caught = (
            "an alarm (ALARM_ACTIVE) stopped" if alarm else "CodeDeploy failed in ValidateService"
        )
        r.step(
            f"{caught} and rolled back to the last good revision",
            verdict.ok,
            None,
            "; ".join(verdict.problems) or f"rollback {rollback_id} Succeeded",
        )
        failed_at = failed["deploymentInfo"].get("completeTime")
        restored_at = (rollback or {}).get("deploymentInfo", {}).get("completeTime")
        if failed_at and restored_at:
            r.failure_to_restored_s = round((restored_at - failed_at).total_seconds(), 1)

    def _restore(self, checkout: Checkout, pipeline: _Pipeline, *, midway: bool) -> None:
        r = self.report
        start = r.start_commit
        assert start is not None
        if not self.pushed:
            r.restored = True
            r.restore_note = "nothing was pushed: the repository is as it started"
            return
        try:
            checkout.sync()
            if midway:
                commit = checkout.revert_all(
                    self.pushed, f"e2e: undo this run's commits (branch was at {start[:12]})"
                )
                note = (
                    f"the run failed midway: restored {self.t.branch} to where it started "
                    f"({start[:12]}) with a new commit reverting this run's "
                    f"{len(self.pushed)} commit(s)"
                )
            else:
                commit = checkout.revert(r.broken_commit or "HEAD")
                note = f"reverted the broken commit {(r.broken_commit or '')[:12]}"
            if commit is None:
                r.restored, r.restore_note = True, "the branch already had its starting content"
                return
            r.restore_commit = commit
            self.say(f"restoring: pushing {commit[:12]} ({note})")
            pushed_at = self._push(checkout, commit, "restore")
            _, execution, details = self._run_commit("restore", commit, pipeline)
            if execution["status"] != "Succeeded":
                raise self._fail_with_details("restore", details)
            self._wait_served(commit)
            r.restore_to_live_s = round(self.clock() - pushed_at, 1)
            r.restored = True
            r.restore_note = note + f"; {self.t.app_url} serves {commit[:12]}"
            r.step("restore commit live", True, r.restore_to_live_s, note)
        except Exception as exc:  # the report must say the restore failed
            r.restored = False
            r.restore_note = (
                f"RESTORE FAILED ({exc}); the branch {self.t.branch} started at "
                f"{start[:12]}: revert to it with a new commit"
            )
            r.step("restore", False, None, str(exc))
