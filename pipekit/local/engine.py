"""The local pipeline engine: runs the pipeline definitions deployed into the emulator.

It lives in the emulator's process and reads the definition, the CodeBuild project, the
CodeDeploy group and the Auto Scaling instances straight from moto's backends, and writes what
happens into `pipekit.emulator.records`, so every reader uses the ordinary AWS APIs.

Nothing about the pipeline's shape is assumed: stage order, actions, their configuration,
`onFailure`, `executionMode`, triggers and the group's auto-rollback all come from the
definitions. Here: the queue of each pipeline's runs, its worker thread, the stages in order
and CodePipeline's stage rollback. Each action is run by its provider's handler
(`pipekit.local.actions`) and recorded in wire shape by `pipekit.local.wire`; the work itself is
delegated to `Runners` (build, deploy, hosts, connections).
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import threading
import traceback
from pathlib import Path
from typing import Any

from moto.codepipeline.models import codepipeline_backends

from pipekit.emulator import records as rec
from pipekit.local import actions, wire
from pipekit.local import definition as defn
from pipekit.local.actions.base import ActionContext, Runners
from pipekit.local.deployer import Deployer
from pipekit.local.gitremote import GitRemote
from pipekit.local.wire import ActionFailed, ActionResult, Execution

log = logging.getLogger("pipekit.local.engine")


class Engine:
    """Implements `records.Controller`; one worker thread per pipeline."""

    def __init__(self, runners: Runners, git_remote: GitRemote, work_dir: Path) -> None:
        self.runners = runners
        self.git = git_remote
        self.work_dir = work_dir
        self.deployer = Deployer(runners, work_dir)
        self._queues: dict[tuple[str, str, str], list[Execution]] = {}
        self._running: dict[tuple[str, str, str], Execution | None] = {}
        self._wake: dict[tuple[str, str, str], threading.Condition] = {}
        self._threads: dict[tuple[str, str, str], threading.Thread] = {}
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._seen_pipelines: set[tuple[str, str, str, Any]] = set()
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()

    # ------------------------------------------------------------ Controller

    def start_execution(
        self,
        account_id: str,
        region: str,
        pipeline_name: str,
        *,
        trigger_type: str,
        trigger_detail: str,
        source_revisions: list[dict[str, str]] | None,
        variables: list[dict[str, str]] | None,
    ) -> str:
        definition = self._definition(account_id, region, pipeline_name)
        pinned = {
            r["actionName"]: r["revisionValue"]
            for r in source_revisions or []
            if r.get("revisionType") == "COMMIT_ID"
        }
        declared = {v["name"]: v.get("defaultValue", "") for v in definition.get("variables", [])}
        for v in variables or []:
            declared[v["name"]] = v["value"]
        record = wire.new_execution(definition, trigger_type, trigger_detail, "STANDARD")
        record["variables"] = [{"name": k, "resolvedValue": v} for k, v in declared.items()]
        execution = Execution(account_id, region, pipeline_name, record, source_revisions=pinned)
        self._enqueue(execution, front=False)
        return execution.id

    def rollback_stage(
        self,
        account_id: str,
        region: str,
        pipeline_name: str,
        stage_name: str,
        target_execution_id: str,
        *,
        automated: bool,
        trigger_detail: str = "",
    ) -> str:
        definition = self._definition(account_id, region, pipeline_name)
        recs = rec.records_for(account_id, region)
        with recs.lock:
            target = recs.executions.get(pipeline_name, {}).get(target_execution_id)
            stage_state = recs.stage_states.get(pipeline_name, {}).get(stage_name, {})
            running = stage_state.get("latestExecution", {}).get("status") == "InProgress"
        _check_rollback(definition, stage_name, target_execution_id, target, stage_running=running)
        record = wire.new_execution(
            definition,
            "AutomatedRollback" if automated else "ManualRollback",
            trigger_detail,
            "ROLLBACK",
        )
        record["rollbackMetadata"] = {"rollbackTargetPipelineExecutionId": target_execution_id}
        # a rollback reuses the target's revisions and variables (deep copies keep the
        # datetimes in artifactRevisions, which a JSON round trip would turn into strings)
        for key in ("sourceRevisions", "artifactRevisions", "variables"):
            record[key] = copy.deepcopy(target.get(key, []))
        execution = Execution(
            account_id, region, pipeline_name, record, rollback_stage=stage_name, target=target
        )
        self._enqueue(execution, front=True)
        return execution.id

    def stop_execution(
        self,
        account_id: str,
        region: str,
        pipeline_name: str,
        execution_id: str,
        *,
        abandon: bool,
        reason: str | None,
    ) -> None:
        key = (account_id, region, pipeline_name)
        with self._lock:
            running = self._running.get(key)
            if running is not None and running.id == execution_id:
                running.stop_requested, running.abandon = True, abandon
                wire.update(running, status="Stopping", statusSummary=reason)
                return
            for execution in self._queues.get(key, []):
                if execution.id == execution_id:
                    self._queues[key].remove(execution)
                    wire.update(execution, status="Stopped", statusSummary=reason)
                    return
        raise rec.ConflictException(f"Execution {execution_id} is not in progress")

    def start_deployment(self, account_id: str, region: str, deployment_id: str) -> None:
        """A deployment created through CodeDeploy's API runs like the pipeline's."""
        self.deployer.start(account_id, region, deployment_id)

    # ------------------------------------------------------------ pushes and new pipelines

    def on_push(self, repo_id: str, updates: list[dict[str, str]]) -> list[str]:
        """Start what a push to the local git remote triggers; returns the execution ids."""
        started = []
        for update in updates:
            ref, new = update["ref"], update["new"]
            if not ref.startswith("refs/heads/") or new == "0" * 40:
                continue
            branch = ref[len("refs/heads/") :]
            files = self.git.changed_files(repo_id, update["old"], new)
            for account_id, region, name, definition in self._all_pipelines():
                trigger = defn.push_starts_execution(definition, repo_id, branch, files)
                if trigger is None:
                    continue
                revisions = [
                    {"actionName": a["name"], "revisionType": "COMMIT_ID", "revisionValue": new}
                    for a in defn.source_actions(definition)
                    if a["configuration"].get("FullRepositoryId") == repo_id
                ]
                started.append(
                    self.start_execution(
                        account_id,
                        region,
                        name,
                        trigger_type=trigger,
                        trigger_detail=revisions[0]["revisionValue"] if revisions else "",
                        source_revisions=revisions,
                        variables=None,
                    )
                )
        return started

    def watch_new_pipelines(self, interval_s: float = 0.5) -> None:
        """Start each pipeline's CreatePipeline run when it appears (call in a thread)."""
        self._seen_pipelines = {
            (a, r, n, rec.pipeline_token(a, r, n)) for a, r, n, _ in self._all_pipelines()
        }
        while not self._closed.wait(interval_s):
            for account_id, region, name, _ in self._all_pipelines():
                # a pipeline deleted and created again under the same name is a new pipeline
                key = (account_id, region, name, rec.pipeline_token(account_id, region, name))
                if key in self._seen_pipelines:
                    continue
                self._seen_pipelines.add(key)
                try:
                    self.start_execution(
                        account_id,
                        region,
                        name,
                        trigger_type="CreatePipeline",
                        trigger_detail=f"arn:aws:iam::{account_id}:root",
                        source_revisions=None,
                        variables=None,
                    )
                except Exception:
                    log.exception("could not start the CreatePipeline run of %s", name)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for cond in self._wake.values():
                with cond:
                    cond.notify_all()
        for thread in list(self._threads.values()):
            thread.join(timeout=5)

    # ------------------------------------------------------------ queueing

    def _enqueue(self, execution: Execution, *, front: bool) -> None:
        key = (execution.account_id, execution.region, execution.pipeline_name)
        recs = execution.records
        recs.claim(
            execution.pipeline_name,
            rec.pipeline_token(execution.account_id, execution.region, execution.pipeline_name),
        )
        with recs.lock:
            recs.executions.setdefault(execution.pipeline_name, {})[execution.id] = execution.record
        with self._lock:
            waiting = self._queues.setdefault(key, [])
            if execution.record["executionMode"] == "SUPERSEDED" and not front:
                # a newer standard run replaces the ones still waiting to start
                for old in [e for e in waiting if e.rollback_stage is None]:
                    waiting.remove(old)
                    wire.update(old, status="Superseded")
            if front:
                waiting.insert(0, execution)
            else:
                waiting.append(execution)
            cond = self._wake.setdefault(key, threading.Condition(self._lock))
            if key not in self._threads or not self._threads[key].is_alive():
                thread = threading.Thread(
                    target=self._worker, args=(key,), name=f"pipeline-{key[2]}", daemon=True
                )
                self._threads[key] = thread
                thread.start()
            cond.notify_all()

    def _worker(self, key: tuple[str, str, str]) -> None:
        cond = self._wake[key]
        while not self._closed.is_set():
            with self._lock:
                while not self._queues.get(key) and not self._closed.is_set():
                    cond.wait(timeout=1.0)
                if self._closed.is_set():
                    return
                execution = self._queues[key].pop(0)
                self._running[key] = execution
            try:
                self._run(execution)
            except Exception:
                log.exception("execution %s crashed", execution.id)
                wire.update(execution, status="Failed", statusSummary=traceback.format_exc()[-500:])
            finally:
                with self._lock:
                    self._running[key] = None
                self.events.put((execution.id, execution.record["status"]))

    # ------------------------------------------------------------ running

    def _definition(self, account_id: str, region: str, name: str) -> dict[str, Any]:
        backend = codepipeline_backends[account_id][region]
        if name not in backend.pipelines:
            raise rec.PipelineNotFoundException(f"no pipeline named {name}")
        return json.loads(json.dumps(backend.pipelines[name].pipeline))

    def _all_pipelines(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        found = []
        for account_id, regions in list(codepipeline_backends.items()):
            for region, backend in list(regions.items()):
                for name, pipeline in list(backend.pipelines.items()):
                    found.append((account_id, region, name, pipeline.pipeline))
        return found

    def _run(self, execution: Execution) -> None:
        definition = self._definition(
            execution.account_id, execution.region, execution.pipeline_name
        )
        if execution.record["status"] != "InProgress":
            return
        stages = definition["stages"]
        namespaces: dict[str, dict[str, str]] = {
            "codepipeline": {"PipelineExecutionId": execution.id},
            "variables": {v["name"]: v["resolvedValue"] for v in execution.record["variables"]},
        }
        if execution.target is not None:
            # a rollback reuses the target's artifacts and variables; only its stage runs
            execution.record["_artifacts"] = dict(execution.target.get("_artifacts", {}))
            namespaces.update(execution.target.get("_namespaces", {}))
            namespaces["codepipeline"] = {"PipelineExecutionId": execution.id}
            stages = [s for s in stages if s["name"] == execution.rollback_stage]
        for stage in stages:
            if execution.stop_requested:
                wire.update(execution, status="Stopped")
                return
            if not self._run_stage(execution, definition, stage, namespaces):
                if execution.stop_requested:  # an action that waits (an approval) gave up
                    wire.update(execution, status="Stopped")
                    return
                wire.update(execution, status="Failed")
                self._after_stage_failure(execution, stage)
                return
        wire.update(execution, status="Succeeded")

    def _run_stage(
        self,
        execution: Execution,
        definition: dict[str, Any],
        stage: dict[str, Any],
        namespaces: dict[str, dict[str, str]],
    ) -> bool:
        state = wire.enter_stage(execution, stage)
        ok = True
        for run_order in sorted({a.get("runOrder", 1) for a in stage["actions"]}):
            group = [a for a in stage["actions"] if a.get("runOrder", 1) == run_order]
            for action in group:
                if not self._run_action(execution, definition, stage, action, namespaces):
                    ok = False
            if not ok:
                break
        wire.leave_stage(execution, state, ok)
        return ok

    def _run_action(
        self,
        execution: Execution,
        definition: dict[str, Any],
        stage: dict[str, Any],
        action: dict[str, Any],
        namespaces: dict[str, dict[str, str]],
    ) -> bool:
        running = wire.start_action(execution, definition, stage, action)
        result: ActionResult | ActionFailed
        try:
            resolved = defn.resolve_configuration(action.get("configuration", {}), namespaces)
            running.detail["input"]["resolvedConfiguration"] = resolved
            handler = actions.handler_for(action["actionTypeId"]["provider"])
            result = handler(
                ActionContext(
                    runners=self.runners,
                    git=self.git,
                    deployer=self.deployer,
                    work_dir=self.work_dir,
                    execution=execution,
                    definition=definition,
                    action=action,
                    config=resolved,
                    store=definition.get("artifactStore") or {},
                )
            )
        except KeyError as exc:
            result = ActionFailed("JobFailed", f"Unresolved variable reference {exc.args[0]}")
        except ActionFailed as exc:
            result = exc
        except Exception as exc:
            log.exception("action %s crashed", action["name"])
            result = ActionFailed("JobFailed", f"{type(exc).__name__}: {exc}")
        wire.finish_action(execution, action, running, result)
        if isinstance(result, ActionFailed):
            return False
        if action.get("namespace"):
            namespaces[action["namespace"]] = result.variables
        return True

    # ------------------------------------------------------------ stage rollback

    def _after_stage_failure(self, execution: Execution, stage: dict[str, Any]) -> None:
        if execution.record["executionType"] != "STANDARD" or not defn.stage_rolls_back(stage):
            return
        definition = self._definition(
            execution.account_id, execution.region, execution.pipeline_name
        )
        if definition.get("executionMode") == "PARALLEL":
            return  # no stage rollback in PARALLEL mode (CodePipeline user guide, execution-modes)
        target = self._last_success_in_stage(execution, stage["name"], definition.get("version", 1))
        if target is None:
            log.info("stage %s failed but has never succeeded: nothing to roll back to", stage)
            return
        self.rollback_stage(
            execution.account_id,
            execution.region,
            execution.pipeline_name,
            stage["name"],
            target["pipelineExecutionId"],
            automated=True,
            trigger_detail=execution.id,
        )

    def _last_success_in_stage(
        self, execution: Execution, stage_name: str, version: int
    ) -> dict | None:
        """The most recent standard execution that succeeded in the stage and was started in
        the current pipeline structure version: what an automatic stage rollback targets; none
        until the stage has once succeeded (CodePipeline user guide, stage-rollback-auto)."""
        recs = execution.records
        with recs.lock:
            for record in reversed(list(recs.executions.get(execution.pipeline_name, {}).values())):
                if (
                    record is not execution.record
                    and record.get("pipelineVersion") == version
                    and record.get("executionType") == "STANDARD"
                    and stage_name in record.get("_succeededStages", ())
                ):
                    return record
        return None


def _check_rollback(
    definition: dict[str, Any],
    stage_name: str,
    target_id: str,
    target: dict[str, Any] | None,
    *,
    stage_running: bool = False,
) -> None:
    """CodePipeline's rules for rolling `stage_name` back to the execution `target_id`
    (CodePipeline user guide, stage-rollback "Considerations for rollbacks" and
    execution-modes; the exceptions botocore lists for RollbackStage, named by their
    descriptions there; the messages are local)."""
    stages = {s["name"]: s for s in definition["stages"]}
    if stage_name not in stages:
        raise rec.StageNotFoundException(f"Stage {stage_name} does not exist in the pipeline")
    if definition.get("executionMode") == "PARALLEL":
        raise rec.ValidationException("Stage rollback is not available in PARALLEL mode")
    if stage_name == definition["stages"][0]["name"] or any(
        a["actionTypeId"]["category"] == "Source" for a in stages[stage_name]["actions"]
    ):
        raise rec.ValidationException("A Source stage cannot be rolled back")
    if target is None:
        raise rec.PipelineExecutionNotFoundException(
            f"Pipeline execution {target_id} does not exist in the pipeline"
        )
    if target.get("executionType") == "ROLLBACK":
        raise rec.ValidationException("The target execution cannot itself be a rollback")
    # UnableToRollbackStageException: "the pipeline version has changed since the target
    # pipeline execution was deployed, the stage is currently running, or an incorrect target
    # pipeline execution ID was provided" (botocore).
    if target.get("pipelineVersion") != definition.get("version", 1):
        raise rec.UnableToRollbackStageException(
            "The target execution ran an earlier version of the pipeline structure"
        )
    if stage_name not in target.get("_succeededStages", ()):
        raise rec.UnableToRollbackStageException(
            f"Execution {target_id} did not succeed in stage {stage_name}"
        )
    if stage_running:
        raise rec.UnableToRollbackStageException(f"Stage {stage_name} is currently running")
