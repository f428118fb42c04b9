"""The local pipeline engine: runs the pipeline definitions deployed into the emulator.

It lives in the emulator's process and reads the definition, the CodeBuild project, the
CodeDeploy group and the Auto Scaling instances straight from moto's backends, and writes what
happens into `pipekit.emulator.records`, so every reader uses the ordinary AWS APIs.

Nothing about the pipeline's shape is assumed: stage order, actions, their configuration,
`onFailure`, `executionMode`, triggers and the group's auto-rollback all come from the
definitions. The work itself is delegated to `Runners` (build, deploy, hosts, connections).
"""

from __future__ import annotations

import copy
import json
import logging
import queue
import shutil
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from moto.codebuild.models import codebuild_backends
from moto.codedeploy.models import codedeploy_backends
from moto.codepipeline.models import codepipeline_backends
from moto.s3.models import s3_backends

from pipekit.emulator import records as rec
from pipekit.gitcmd import GitError
from pipekit.local import definition as defn
from pipekit.local.deployer import Deployer
from pipekit.local.gitremote import GitRemote

log = logging.getLogger("pipekit.local.engine")


class ActionFailed(Exception):
    def __init__(self, code: str, message: str, external_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.external_id = code, message, external_id


@dataclass
class Runners:
    """What actually builds and deploys; `pipekit.local.service` wires in the real ones."""

    # run_build(source_dir, work_dir, env, buildspec) -> BuildResult
    build: Callable[..., Any]
    # deploy_to_host(host, bundle_zip, deployment_id=, application_name=,
    #                deployment_group_name=, deployment_group_id=) -> DeploymentOutcome
    deploy: Callable[..., Any]
    # instance id -> a booted Host for it
    host_for: Callable[[str], Any]
    # connection ARN -> status (AVAILABLE, PENDING, ERROR) or None when unknown
    connection_status: Callable[[str], str | None] = lambda arn: None
    connection_wait_s: float = 0.0


@dataclass
class Execution:
    account_id: str
    region: str
    pipeline_name: str
    record: dict[str, Any]
    source_revisions: dict[str, str] = field(default_factory=dict)  # action name -> commit
    rollback_stage: str | None = None
    target: dict[str, Any] | None = None
    stop_requested: bool = False
    abandon: bool = False

    @property
    def id(self) -> str:
        return self.record["pipelineExecutionId"]


def extract_zip(zip_path: Path, dest: Path) -> None:
    """Unzip keeping Unix modes (zipfile drops them, and hook scripts need the run bit)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                Path(target).chmod(mode)


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
        record = self._new_record(definition, trigger_type, trigger_detail, "STANDARD")
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
        stage_names = [s["name"] for s in definition["stages"]]
        if stage_name not in stage_names:
            raise rec.ValidationException(f"Stage {stage_name} does not exist in the pipeline")
        if stage_name == stage_names[0] or any(
            a["actionTypeId"]["category"] == "Source"
            for a in definition["stages"][stage_names.index(stage_name)]["actions"]
        ):
            raise rec.ValidationException("A Source stage cannot be rolled back")
        if target is None or stage_name not in target.get("_succeededStages", ()):
            raise rec.ValidationException(
                f"Execution {target_execution_id} did not succeed in stage {stage_name}"
            )
        if target.get("pipelineVersion") != definition.get("version", 1):
            raise rec.ValidationException(
                "The target execution ran an earlier version of the pipeline structure"
            )
        if target.get("executionType") == "ROLLBACK":
            raise rec.ValidationException("The target execution cannot itself be a rollback")
        record = self._new_record(
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
                self._update(running, status="Stopping", statusSummary=reason)
                return
            for execution in self._queues.get(key, []):
                if execution.id == execution_id:
                    self._queues[key].remove(execution)
                    self._update(execution, status="Stopped", statusSummary=reason)
                    return
        raise rec.ConflictException(f"Execution {execution_id} is not in progress")

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
        recs = rec.records_for(execution.account_id, execution.region)
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
                    self._update(old, status="Superseded")
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
                self._update(
                    execution, status="Failed", statusSummary=traceback.format_exc()[-500:]
                )
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

    def _new_record(
        self, definition: dict[str, Any], trigger_type: str, detail: str, execution_type: str
    ) -> dict[str, Any]:
        start = rec.now()
        return {
            "pipelineName": definition["name"],
            "pipelineVersion": definition.get("version", 1),
            "pipelineExecutionId": str(uuid.uuid4()),
            "status": "InProgress",
            "startTime": start,
            "lastUpdateTime": start,
            "sourceRevisions": [],
            "artifactRevisions": [],
            "variables": [],
            "trigger": {"triggerType": trigger_type, "triggerDetail": detail},
            "executionMode": definition.get("executionMode", "SUPERSEDED"),
            "executionType": execution_type,
            "_succeededStages": [],
            "_artifacts": {},
            "_namespaces": {},
        }

    def _update(self, execution: Execution, **fields: Any) -> None:
        recs = rec.records_for(execution.account_id, execution.region)
        with recs.lock:
            execution.record.update({k: v for k, v in fields.items()})
            execution.record["lastUpdateTime"] = rec.now()

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
                self._update(execution, status="Stopped")
                return
            ok = self._run_stage(execution, definition, stage, namespaces)
            if not ok:
                self._update(execution, status="Failed")
                self._after_stage_failure(execution, stage)
                return
            with rec.records_for(execution.account_id, execution.region).lock:
                execution.record["_succeededStages"].append(stage["name"])
        self._update(execution, status="Succeeded")

    def _after_stage_failure(self, execution: Execution, stage: dict[str, Any]) -> None:
        if execution.record["executionType"] != "STANDARD" or not defn.stage_rolls_back(stage):
            return
        target = self._last_success_in_stage(execution, stage["name"])
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

    def _last_success_in_stage(self, execution: Execution, stage_name: str) -> dict | None:
        recs = rec.records_for(execution.account_id, execution.region)
        with recs.lock:
            for record in reversed(list(recs.executions.get(execution.pipeline_name, {}).values())):
                if (
                    record is not execution.record
                    and record.get("pipelineVersion") == execution.record.get("pipelineVersion")
                    and record.get("executionType") == "STANDARD"
                    and record.get("status") == "Succeeded"
                    and stage_name in record.get("_succeededStages", ())
                ):
                    return record
        return None

    def _run_stage(
        self,
        execution: Execution,
        definition: dict[str, Any],
        stage: dict[str, Any],
        namespaces: dict[str, dict[str, str]],
    ) -> bool:
        recs = rec.records_for(execution.account_id, execution.region)
        stage_type = execution.record["executionType"]
        with recs.lock:
            state = recs.stage_states.setdefault(execution.pipeline_name, {}).setdefault(
                stage["name"],
                {"stageName": stage["name"], "actionStates": []},
            )
            state["latestExecution"] = {
                "pipelineExecutionId": execution.id,
                "status": "InProgress",
                "type": stage_type,
            }
            state["inboundExecutions"] = []
            known = {a["actionName"]: a for a in state["actionStates"]}
            state["actionStates"] = [
                known.get(a["name"], {"actionName": a["name"]}) for a in stage["actions"]
            ]
        ok = True
        for run_order in sorted({a.get("runOrder", 1) for a in stage["actions"]}):
            group = [a for a in stage["actions"] if a.get("runOrder", 1) == run_order]
            for action in group:
                if not self._run_action(execution, definition, stage, action, namespaces):
                    ok = False
            if not ok:
                break
        with recs.lock:
            state["latestExecution"]["status"] = "Succeeded" if ok else "Failed"
        return ok

    def _run_action(
        self,
        execution: Execution,
        definition: dict[str, Any],
        stage: dict[str, Any],
        action: dict[str, Any],
        namespaces: dict[str, dict[str, str]],
    ) -> bool:
        recs = rec.records_for(execution.account_id, execution.region)
        start = rec.now()
        action_execution_id = str(uuid.uuid4())
        artifacts = execution.record["_artifacts"]
        store = definition.get("artifactStore") or {}
        region = execution.region
        input_artifacts = [
            {"name": a["name"], "s3location": artifacts.get(a["name"], {})}
            for a in action.get("inputArtifacts", [])
        ]
        detail: dict[str, Any] = {
            "pipelineExecutionId": execution.id,
            "actionExecutionId": action_execution_id,
            "pipelineVersion": definition.get("version", 1),
            "stageName": stage["name"],
            "actionName": action["name"],
            "startTime": start,
            "lastUpdateTime": start,
            "status": "InProgress",
            "input": {
                "actionTypeId": action["actionTypeId"],
                "configuration": action.get("configuration", {}),
                "resolvedConfiguration": {},
                "region": action.get("region") or region,
                "inputArtifacts": input_artifacts,
            },
            "output": {"outputArtifacts": [], "outputVariables": {}},
        }
        if action.get("roleArn") or definition.get("roleArn"):
            detail["input"]["roleArn"] = action.get("roleArn") or definition.get("roleArn")
        if action.get("namespace"):
            detail["input"]["namespace"] = action["namespace"]
        action_state = {
            "actionName": action["name"],
            "latestExecution": {
                "actionExecutionId": action_execution_id,
                "status": "InProgress",
                "lastStatusChange": start,
            },
        }
        with recs.lock:
            recs.action_executions.setdefault(execution.pipeline_name, []).append(detail)
            self._set_action_state(recs, execution.pipeline_name, stage["name"], action_state)
        try:
            resolved = defn.resolve_configuration(action.get("configuration", {}), namespaces)
            detail["input"]["resolvedConfiguration"] = resolved
            provider = action["actionTypeId"]["provider"]
            handler = {
                defn.SOURCE_PROVIDER: self._source_action,
                "CodeBuild": self._build_action,
                "CodeDeploy": self._deploy_action,
            }.get(provider)
            if handler is None:
                raise ActionFailed(
                    "JobFailed", f"Action provider {provider} is not supported in local mode"
                )
            result = handler(execution, definition, action, resolved, store)
        except KeyError as exc:
            result = ActionFailed("JobFailed", f"Unresolved variable reference {exc.args[0]}")
        except ActionFailed as exc:
            result = exc
        except Exception as exc:
            log.exception("action %s crashed", action["name"])
            result = ActionFailed("JobFailed", f"{type(exc).__name__}: {exc}")
        end = rec.now()
        with recs.lock:
            detail["lastUpdateTime"] = end
            latest = action_state["latestExecution"]
            latest["lastStatusChange"] = end
            if isinstance(result, ActionFailed):
                detail["status"] = "Failed"
                detail["output"]["executionResult"] = {
                    "externalExecutionSummary": result.message[:2048],
                    "errorDetails": {"code": result.code, "message": result.message[:5000]},
                }
                if result.external_id:
                    detail["output"]["executionResult"]["externalExecutionId"] = result.external_id
                    latest["externalExecutionId"] = result.external_id
                latest.update(
                    status="Failed",
                    summary=result.message[:2048],
                    errorDetails={"code": result.code, "message": result.message[:5000]},
                )
                return False
            outputs, variables, external_id, summary = result
            for name, location in outputs.items():
                artifacts[name] = location
            detail["status"] = "Succeeded"
            detail["output"] = {
                "outputArtifacts": [{"name": n, "s3location": loc} for n, loc in outputs.items()],
                "executionResult": {
                    "externalExecutionId": external_id,
                    "externalExecutionSummary": summary[:2048],
                },
                "outputVariables": variables,
            }
            latest.update(
                status="Succeeded", summary=summary[:2048], externalExecutionId=external_id
            )
            if action.get("namespace"):
                namespaces[action["namespace"]] = variables
                execution.record["_namespaces"][action["namespace"]] = variables
        return True

    @staticmethod
    def _set_action_state(recs: rec.Records, pipeline: str, stage: str, state: dict) -> None:
        states = recs.stage_states[pipeline][stage]["actionStates"]
        for i, existing in enumerate(states):
            if existing["actionName"] == state["actionName"]:
                states[i] = state
                return
        states.append(state)

    # ------------------------------------------------------------ S3 artifacts

    def _put_artifact(self, execution: Execution, store: dict, name: str, path: Path) -> dict:
        bucket = store.get("location")
        if not bucket:
            raise ActionFailed("JobFailed", "The pipeline has no S3 artifact store")
        key = defn.artifact_key(execution.pipeline_name, name)
        s3 = s3_backends[execution.account_id]["aws"]
        s3.put_object(bucket, key, path.read_bytes())
        return {"bucket": bucket, "key": key}

    def _get_artifact(self, execution: Execution, location: dict, dest: Path) -> Path:
        s3 = s3_backends[execution.account_id]["aws"]
        obj = s3.get_object(location["bucket"], location["key"])
        if obj is None:
            raise ActionFailed(
                "JobFailed", f"Artifact s3://{location['bucket']}/{location['key']} is gone"
            )
        dest.write_bytes(obj.value)
        return dest

    def _scratch(self, execution: Execution, name: str) -> Path:
        path = self.work_dir / execution.id / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    # ------------------------------------------------------------ Source

    def _source_action(self, execution, definition, action, config, store):
        repo_id = config.get("FullRepositoryId", "")
        branch = config.get("BranchName", "")
        arn = config.get("ConnectionArn", "")
        status = self.runners.connection_status(arn) if arn else None
        deadline = time.monotonic() + self.runners.connection_wait_s
        while status not in (None, "AVAILABLE") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = self.runners.connection_status(arn)
        if status not in (None, "AVAILABLE"):
            raise ActionFailed(
                "JobFailed",
                f"Connection {arn} is not available (status {status}). Complete the connection "
                "handshake, then release a change.",
            )
        if not self.git.path(repo_id).exists():
            raise ActionFailed("JobFailed", f"Repository {repo_id} not found")
        revision = execution.source_revisions.get(action["name"]) or f"refs/heads/{branch}"
        try:
            commit = self.git.resolve(repo_id, revision)
        except GitError as exc:
            raise ActionFailed("JobFailed", f"Could not find branch {branch}: {exc}") from exc
        info = self.git.commit_info(repo_id, commit)
        scratch = self._scratch(execution, f"source-{action['name']}")
        zip_path = self.git.archive_zip(repo_id, commit, scratch / "source.zip")
        outputs = {}
        for artifact in action.get("outputArtifacts", []):
            outputs[artifact["name"]] = self._put_artifact(
                execution, store, artifact["name"], zip_path
            )
        variables = {
            "CommitId": commit,
            "BranchName": branch,
            "AuthorDate": info["AuthorDate"],
            "CommitMessage": info["CommitMessage"],
            "ConnectionArn": arn,
            "FullRepositoryName": repo_id,
        }
        summary = json.dumps({"ProviderType": "GitHub", "CommitMessage": info["CommitMessage"]})
        recs = rec.records_for(execution.account_id, execution.region)
        with recs.lock:
            execution.record["sourceRevisions"].append(
                {"actionName": action["name"], "revisionId": commit, "revisionSummary": summary}
            )
            for name in outputs:
                execution.record["artifactRevisions"].append(
                    {
                        "name": name,
                        "revisionId": commit,
                        "revisionSummary": summary,
                        "created": rec.now(),
                    }
                )
            self._set_action_state(
                recs,
                execution.pipeline_name,
                self._stage_of(definition, action),
                {
                    **self._action_state(recs, execution.pipeline_name, definition, action),
                    "currentRevision": {
                        "revisionId": commit,
                        "revisionChangeId": commit,
                        "created": rec.now(),
                    },
                },
            )
        return outputs, variables, commit, summary

    @staticmethod
    def _stage_of(definition: dict, action: dict) -> str:
        for stage in definition["stages"]:
            if any(a["name"] == action["name"] for a in stage["actions"]):
                return stage["name"]
        raise KeyError(action["name"])

    def _action_state(self, recs, pipeline: str, definition: dict, action: dict) -> dict:
        stage = self._stage_of(definition, action)
        for state in recs.stage_states[pipeline][stage]["actionStates"]:
            if state["actionName"] == action["name"]:
                return state
        return {"actionName": action["name"]}

    # ------------------------------------------------------------ Build

    def _build_action(self, execution, definition, action, config, store):
        project_name = config.get("ProjectName", "")
        backend = codebuild_backends[execution.account_id][execution.region]
        project = backend.codebuild_projects.get(project_name)
        if project is None:
            raise ActionFailed("JobFailed", f"CodeBuild project {project_name} not found")
        meta = project.project_metadata
        inputs = action.get("inputArtifacts", [])
        if not inputs:
            raise ActionFailed("JobFailed", "The build action has no input artifact")
        primary = config.get("PrimarySource") or inputs[0]["name"]
        scratch = self._scratch(execution, f"build-{action['name']}")
        src_dir = scratch / "src"
        src_dir.mkdir()
        zip_in = self._get_artifact(
            execution, execution.record["_artifacts"][primary], scratch / "input.zip"
        )
        extract_zip(zip_in, src_dir)
        buildspec_text = (meta.get("source") or {}).get("buildspec") or ""
        buildspec: Path | None = None
        if buildspec_text.strip() and "\n" in buildspec_text:
            buildspec = scratch / "buildspec-override.yml"
            buildspec.write_text(buildspec_text)
        elif buildspec_text.strip():
            buildspec = src_dir / buildspec_text.strip()
        build_uuid = str(uuid.uuid4())
        build_id = f"{project_name}:{build_uuid}"
        arn = f"arn:aws:codebuild:{execution.region}:{execution.account_id}:build/{build_id}"
        env: dict[str, str] = {}
        for var in (meta.get("environment") or {}).get("environmentVariables") or []:
            env[var["name"]] = str(var.get("value", ""))
        for var in json.loads(config.get("EnvironmentVariables") or "[]"):
            env[var["name"]] = str(var.get("value", ""))
        loc = execution.record["_artifacts"][primary]
        source_version = f"arn:aws:s3:::{loc['bucket']}/{loc['key']}"
        env.update(
            {
                "CODEBUILD_BUILD_ID": build_id,
                "CODEBUILD_BUILD_ARN": arn,
                "CODEBUILD_BUILD_NUMBER": str(self._build_number(execution, project_name)),
                "CODEBUILD_INITIATOR": f"codepipeline/{execution.pipeline_name}",
                "CODEBUILD_SOURCE_VERSION": source_version,
                "CODEBUILD_SRC_DIR": str(src_dir),
                "CODEBUILD_START_TIME": str(int(time.time() * 1000)),
                "AWS_REGION": execution.region,
                "AWS_DEFAULT_REGION": execution.region,
            }
        )
        start = rec.now()
        group, stream = f"/aws/codebuild/{project_name}", build_uuid
        record: dict[str, Any] = {
            "id": build_id,
            "arn": arn,
            "buildNumber": int(env["CODEBUILD_BUILD_NUMBER"]),
            "startTime": start,
            "currentPhase": "BUILD",
            "buildStatus": "IN_PROGRESS",
            "sourceVersion": source_version,
            "projectName": project_name,
            "phases": [],
            "source": {
                "type": "CODEPIPELINE",
                **({"buildspec": buildspec_text} if buildspec_text else {}),
            },
            "serviceRole": meta.get("serviceRole"),
            "logs": {"groupName": group, "streamName": stream},
            "timeoutInMinutes": meta.get("timeoutInMinutes") or 60,
            "buildComplete": False,
            "initiator": f"codepipeline/{execution.pipeline_name}",
            "exportedEnvironmentVariables": [],
        }
        recs = rec.records_for(execution.account_id, execution.region)
        with recs.lock:
            recs.builds[build_id] = record
        result = self.runners.build(src_dir, scratch / "work", env, buildspec)
        end = rec.now()
        phases = []
        cursor = start
        for phase in result.phases:
            phase_end = cursor + timedelta(seconds=float(phase.duration_s or 0))
            entry: dict[str, Any] = {
                "phaseType": phase.name,
                "startTime": cursor,
                "endTime": phase_end,
                "durationInSeconds": round(float(phase.duration_s or 0)),
            }
            # CodeBuild's StatusType has no SKIPPED: a skipped phase just has no status
            if phase.status != "SKIPPED":
                entry["phaseStatus"] = phase.status
            message = getattr(phase, "message", "")
            if message and phase.status not in ("SUCCEEDED", "SKIPPED"):
                entry["contexts"] = [
                    {"statusCode": "COMMAND_EXECUTION_ERROR", "message": message[:1000]}
                ]
            phases.append(entry)
            cursor = phase_end
        phases.append({"phaseType": "COMPLETED", "startTime": end})
        outputs = {}
        if result.status == "SUCCEEDED":
            out_names = [a["name"] for a in action.get("outputArtifacts", [])]
            if out_names and result.artifact is None:
                result.status = "FAILED"
            for name in out_names[:1]:
                outputs[name] = self._put_artifact(execution, store, name, Path(result.artifact))
        exported = dict(result.exported_variables or {})
        self._put_log(execution, group, stream, result.log or "")
        with recs.lock:
            record.update(
                endTime=end,
                currentPhase="COMPLETED",
                buildStatus=result.status,
                phases=phases,
                buildComplete=True,
                exportedEnvironmentVariables=[{"name": k, "value": v} for k, v in exported.items()],
                resolvedSourceVersion=next(
                    (
                        r["revisionId"]
                        for r in execution.record["artifactRevisions"]
                        if r["name"] == primary
                    ),
                    None,
                ),
            )
            if outputs:
                first = next(iter(outputs.values()))
                record["artifacts"] = {"location": f"arn:aws:s3:::{first['bucket']}/{first['key']}"}
        if result.status != "SUCCEEDED":
            failed = [p.name for p in result.phases if p.status != "SUCCEEDED"]
            raise ActionFailed(
                "JobFailed",
                f"Build terminated with state: {result.status}. Phase: {', '.join(failed) or '?'}",
                external_id=build_id,
            )
        return outputs, exported, build_id, f"Build {build_id} succeeded"

    def _build_number(self, execution: Execution, project: str) -> int:
        recs = rec.records_for(execution.account_id, execution.region)
        with recs.lock:
            return 1 + sum(1 for b in recs.builds.values() if b["projectName"] == project)

    def _put_log(self, execution: Execution, group: str, stream: str, text: str) -> None:
        try:
            from moto.logs.models import logs_backends

            logs = logs_backends[execution.account_id][execution.region]
            if group not in logs.groups:
                logs.create_log_group(group, {})
            logs.create_log_stream(group, stream)
            now_ms = int(time.time() * 1000)
            events = [{"timestamp": now_ms, "message": line} for line in text.splitlines()[-5000:]]
            if events:
                logs.put_log_events(group, stream, events)
        except Exception:
            log.warning(
                "could not store the build log in the emulated CloudWatch Logs", exc_info=True
            )

    # ------------------------------------------------------------ Deploy

    def _deploy_action(self, execution, definition, action, config, store):
        app_name = config.get("ApplicationName", "")
        group_name = config.get("DeploymentGroupName", "")
        backend = codedeploy_backends[execution.account_id][execution.region]
        try:
            group = backend.get_deployment_group(app_name, group_name)
        except Exception as exc:
            raise ActionFailed("JobFailed", str(exc)) from exc
        inputs = action.get("inputArtifacts", [])
        if not inputs:
            raise ActionFailed("JobFailed", "The deploy action has no input artifact")
        location = execution.record["_artifacts"][inputs[0]["name"]]
        revision = {
            "revisionType": "S3",
            "s3Location": {
                "bucket": location["bucket"],
                "key": location["key"],
                "bundleType": "zip",
            },
        }
        deployment = self.deployer.deploy_revision(
            execution.account_id, execution.region, group, revision, "user"
        )
        if deployment["status"] != "Succeeded":
            error = deployment.get("errorInformation", {})
            raise ActionFailed(
                "JobFailed",
                f"Deployment {deployment['deploymentId']} failed: {error.get('message', '')}",
                external_id=deployment["deploymentId"],
            )
        return (
            {},
            {},
            deployment["deploymentId"],
            f"Deployment {deployment['deploymentId']} succeeded",
        )
