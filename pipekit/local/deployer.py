"""CodeDeploy, EC2/on-premises, in place, run locally: what the service does with a deployment
once it is created (by the API, the pipeline's CodeDeploy action or a rollback): Created ->
InProgress, the revision to each instance the group targets (one nspawn host per instance id,
in batches; the instance's agent fetches the bundle from the emulated S3 itself), the
records CodeDeploy keeps (`pipekit.emulator.records.deployments`), then Succeeded or Failed.
How many instances at a time and when the deployment fails follow its deployment configuration
(`pipekit.emulator.records.deployconfigs`); a group WITH_TRAFFIC_CONTROL gets BlockTraffic and
AllowTraffic around each instance's events (`pipekit.local.traffic`).
A failed deployment that rolls back gets its rollback deployment as it is marked Failed
(creator `codeDeployRollback`), which then runs on its own, like any other deployment.

Each deployment runs in its own thread: `start()` returns at once, `wait()` polls to the end."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends

from pipekit.emulator import records as rec
from pipekit.emulator.records import alarms, deployconfigs, deployments
from pipekit.local import authz, instance_aws
from pipekit.local.instance_s3 import instance_get_object
from pipekit.local.runtime.agent import EventFailure
from pipekit.local.runtime.hookrunner import DeploymentOutcome, LifecycleEventResult
from pipekit.local.traffic import traffic_control

log = logging.getLogger("pipekit.local.deployer")

HEALTH_CONSTRAINTS = (
    "HEALTH_CONSTRAINTS",
    "The overall deployment failed because too many individual instances failed deployment, "
    "too few healthy instances are available for deployment, or some instances in your "
    "deployment group are experiencing problems.",
)
NO_INSTANCES = (
    "NO_INSTANCES",
    "The deployment failed because no instances were found for your deployment group.",
)


class Deployer:
    def __init__(self, runners: Any, work_dir: Path) -> None:
        self.runners = runners  # pipekit.local.actions.base.Runners: deploy and host_for
        self.work_dir = work_dir
        # pipekit.local.traffic.TrafficControl options (health, poll_s, timeout_s)
        self.traffic_options: dict[str, Any] = {}

    # ------------------------------------------------------------ the service's side

    def last_good(self, account_id: str, region: str, group: Any) -> dict | None:
        """The group's last successful deployment, or None."""
        recs = rec.records_for(account_id, region)
        with recs.lock:
            found = deployments.last_successful(recs, group.deployment_group_id)
            return dict(found) if found else None

    def launch_deployment(
        self, account_id: str, region: str, group: Any, revision: dict, instance_id: str
    ) -> dict:
        """CodeDeploy's deployment of `revision` to an instance Auto Scaling is launching
        (creator `autoscaling`), to that instance only; run to its end (the lifecycle hook
        waits on it). Its failure is answered with ABANDON (pipekit.local.autoscaling), not
        with a rollback."""
        record = deployments.create(
            account_id,
            region,
            {
                "applicationName": group.application.application_name,
                "deploymentGroupName": group.deployment_group_name,
                "revision": revision,
            },
            creator=deployments.AUTOSCALING_CREATOR,
        )
        recs = rec.records_for(account_id, region)
        with recs.lock:
            record["_instances"] = [instance_id]
        self._run(account_id, region, record["deploymentId"])
        with recs.lock:
            return dict(recs.deployments[record["deploymentId"]])

    def start(self, account_id: str, region: str, deployment_id: str) -> None:
        """Run a Created deployment in the background (records.Controller.start_deployment)."""
        threading.Thread(
            target=self._run,
            args=(account_id, region, deployment_id),
            name=f"deployment-{deployment_id}",
            daemon=True,
        ).start()

    def wait(
        self,
        account_id: str,
        region: str,
        deployment_id: str,
        *,
        interval_s: float = 0.2,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Poll the deployment until it is terminal, as CodePipeline's CodeDeploy action polls
        GetDeployment; returns a copy of its record."""
        recs = rec.records_for(account_id, region)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            with recs.lock:
                record = recs.deployments[deployment_id]
                if record["status"] in deployments.TERMINAL:
                    return dict(record)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"deployment {deployment_id} is still {record['status']}")
            time.sleep(interval_s)

    def _run(self, account_id: str, region: str, deployment_id: str) -> None:
        try:
            error = self._deploy(account_id, region, deployment_id)
        except Exception as exc:  # a crash must still end the deployment
            log.exception("deployment %s crashed", deployment_id)
            error = {"code": "INTERNAL_ERROR", "message": str(exc)[:1000]}
        try:
            rollback = deployments.finish(account_id, region, deployment_id, error)
        except KeyError:  # the records were reset (the emulator's reset) while it ran
            log.info("deployment %s is gone from the records", deployment_id)
            return
        if rollback is not None:
            log.info("%s failed: rolling back with %s", deployment_id, rollback["deploymentId"])
            self.start(account_id, region, rollback["deploymentId"])

    def _deploy(self, account_id: str, region: str, deployment_id: str) -> dict[str, str] | None:
        """Deploy to every instance; None when all succeeded, else the ErrorInformation."""
        recs = rec.records_for(account_id, region)
        record = deployments.start(account_id, region, deployment_id)
        group = deployments.group_of(
            account_id, region, record["applicationName"], record["deploymentGroupName"]
        )
        # CodeDeploy finds and reaches the instances with the group's service role
        refused = authz.deployment_refusal(account_id, region, group)
        if refused is not None:
            return dict(zip(("code", "message"), refused, strict=True))
        instances = record.get("_instances") or self.instances_of(account_id, region, group)
        overview = record["deploymentOverview"]
        targets: dict[str, dict] = {}
        with recs.lock:
            # CodeDeploy's order: unhealthy instances first, current revisions last (read before
            # this deployment's targets exist, so they do not count as history)
            instances = deployments.schedule(recs, group.deployment_group_id, instances)
            overview["Pending"] = len(instances)
            for instance_id in instances:
                targets[instance_id] = {
                    "deploymentId": deployment_id,
                    "targetId": instance_id,
                    "targetArn": f"arn:aws:ec2:{region}:{account_id}:instance/{instance_id}",
                    "status": "Pending",
                    "lastUpdatedAt": rec.now(),
                    "lifecycleEvents": [],
                }
            recs.targets[deployment_id] = targets
        if not instances:
            return dict(zip(("code", "message"), NO_INSTANCES, strict=True))
        config = deployconfigs.get(account_id, region, record["deploymentConfigName"])
        try:
            traffic = traffic_control(account_id, region, group, **self.traffic_options)
        except EventFailure as exc:
            return {"code": exc.error_code, "message": exc.message}
        return self._rollout(account_id, region, record, group, config, traffic, targets)

    def _rollout(
        self,
        account_id: str,
        region: str,
        record: dict,
        group: Any,
        config: dict,
        traffic: Any,
        targets: dict[str, dict],
    ) -> dict[str, str] | None:
        """The instances in batches as the deployment configuration allows (its minimum healthy
        hosts, pipekit.emulator.records.deployconfigs), each batch's instances at the same
        time; once the minimum cannot be kept, the rest are Skipped and the deployment fails."""
        recs = rec.records_for(account_id, region)
        overview = record["deploymentOverview"]
        total, failed, succeeded = len(targets), 0, 0
        pending = list(targets)
        error = deployconfigs.invalid(config, total)
        while pending and error is None:
            # the group's alarms, as it starts and before each batch (ALARM_ACTIVE: Stopped)
            error = alarms.deployment_stop(account_id, region, group, record)
            if error is not None:
                break
            size = deployconfigs.next_batch(config, total, failed, len(pending))
            if size == 0:
                break
            batch, pending = pending[:size], pending[size:]
            with recs.lock:
                for instance_id in batch:
                    targets[instance_id].update(status="InProgress", lastUpdatedAt=rec.now())
                    overview["Pending"] -= 1
                    overview["InProgress"] += 1
            with ThreadPoolExecutor(max_workers=size) as pool:
                runs = [
                    (
                        i,
                        pool.submit(
                            self._on_instance, account_id, region, record, group, i, traffic
                        ),
                    )
                    for i in batch
                ]
            for instance_id, run in runs:
                status, events = run.result()
                with recs.lock:
                    targets[instance_id].update(
                        status=status, lifecycleEvents=events, lastUpdatedAt=rec.now()
                    )
                    overview["InProgress"] -= 1
                    overview[status if status in overview else "Failed"] += 1
                succeeded += status == "Succeeded"
                failed += status != "Succeeded"
        with recs.lock:
            for instance_id in pending:  # never started: the minimum could not be kept
                targets[instance_id].update(status="Skipped", lastUpdatedAt=rec.now())
                overview["Pending"] -= 1
                overview["Skipped"] += 1
        if error is None:  # an alarm that fired during the last batch stops it too
            error = alarms.deployment_stop(account_id, region, group, record)
        if error is None and (pending or not deployconfigs.succeeded(config, total, succeeded)):
            error = dict(zip(("code", "message"), HEALTH_CONSTRAINTS, strict=True))
        return error

    def _on_instance(
        self,
        account_id: str,
        region: str,
        record: dict,
        group: Any,
        instance_id: str,
        traffic: Any = None,
    ) -> tuple[str, list[dict]]:
        """What the instance's agent does with the deployment, with CodeDeploy's BlockTraffic
        and AllowTraffic around it when the group has traffic control: (status, events)."""
        extra: dict[str, Any] = {
            # CodeDeploy polls the group's alarms while an instance's events run, so an alarm
            # firing during a drain or a hook stops it there (ALARM_ACTIVE)
            "stop": partial(alarms.deployment_stop, account_id, region, group, record)
        }
        if traffic is not None:
            extra.update(traffic=traffic, instance_id=instance_id)
        try:
            host = self.runners.host_for(instance_id)
            endpoint = self.runners.instance_endpoint(instance_id)
            # the instance role's session for the hooks' AWS calls (pipekit.local.instance_aws)
            with instance_aws.hook_environment(account_id, region, instance_id, endpoint) as env:
                outcome = self.runners.deploy(
                    host,
                    record["revision"],
                    get_object=partial(instance_get_object, account_id, region, instance_id),
                    deployment_id=record["deploymentId"],
                    application_name=record["applicationName"],
                    deployment_group_name=record["deploymentGroupName"],
                    deployment_group_id=group.deployment_group_id,
                    ignore_application_stop_failures=record["ignoreApplicationStopFailures"],
                    file_exists_behavior=record["fileExistsBehavior"],
                    **({"env": env} if env else {}),
                    **extra,
                )
        except Exception as exc:
            log.exception("deployment %s to %s crashed", record["deploymentId"], instance_id)
            outcome = crashed(exc)
        return outcome.status, lifecycle_events(outcome)

    def instances_of(self, account_id: str, region: str, group: Any) -> list[str]:
        """Instance ids the group targets: its Auto Scaling groups' in-service instances,
        then instances matching its EC2 tag filters."""
        ids: list[str] = []
        asg_backend = autoscaling_backends[account_id][region]
        for entry in group.auto_scaling_groups:
            name = entry if isinstance(entry, str) else entry.get("name") or entry.get("Name")
            asg = asg_backend.autoscaling_groups.get(name)
            if asg is None:
                continue
            ids += [s.instance.id for s in asg.instance_states if s.lifecycle_state == "InService"]
        filters = group.ec2_tag_filters or []
        if filters:
            for reservation in ec2_backends[account_id][region].reservations.values():
                for instance in reservation.instances:
                    if instance.state_name != "running" or instance.id in ids:
                        continue
                    if any(_tag_matches(f, _tags(instance)) for f in filters):
                        ids.append(instance.id)
        return ids


def _tags(instance: Any) -> dict[str, str]:
    tags = instance.get_tags() if hasattr(instance, "get_tags") else {}
    return {t["key"]: t["value"] for t in tags} if isinstance(tags, list) else {}


def _tag_matches(tag_filter: dict, tag_map: dict[str, str]) -> bool:
    key, value = tag_filter.get("Key"), tag_filter.get("Value")
    kind = tag_filter.get("Type", "KEY_AND_VALUE")
    return (
        (kind == "KEY_ONLY" and key in tag_map)
        or (kind == "VALUE_ONLY" and value in tag_map.values())
        or (kind == "KEY_AND_VALUE" and tag_map.get(key) == value)
    )


def crashed(exc: Exception) -> DeploymentOutcome:
    """The outcome of an agent run that crashed (not a hook failing): the instance fails at its
    first event, DownloadBundle, with UnknownError and the crash as the message."""
    message = str(exc)
    event = LifecycleEventResult(
        "DownloadBundle", "Failed", diagnostics_code="UnknownError", message=message
    )
    return DeploymentOutcome("Failed", None, message, [event])


_LIFECYCLE_STATUSES = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown")


def lifecycle_events(outcome: Any) -> list[dict]:
    """CodeDeploy LifecycleEvent records (botocore shape, `diagnostics` included) from the
    agent's outcome."""
    events = []
    for event in outcome.events or []:
        status = str(getattr(event, "status", "Unknown"))
        if status not in _LIFECYCLE_STATUSES:
            status = "Unknown"
        entry: dict[str, Any] = {"lifecycleEventName": event.name, "status": status}
        for attr, key in (("start", "startTime"), ("end", "endTime")):
            value = getattr(event, attr, None)
            if value is not None:
                entry[key] = _ts(value) if isinstance(value, int | float) else value
        tail = str(getattr(event, "log_tail", "") or "")[-4096:]
        if status in ("Succeeded", "Failed"):
            code = getattr(event, "diagnostics_code", None) or (
                "Success" if status == "Succeeded" else "UnknownError"
            )
            message = getattr(event, "message", None) or (
                "Succeeded" if status == "Succeeded" else (outcome.message or "")
            )
            entry["diagnostics"] = {
                "errorCode": code,
                "scriptName": getattr(event, "script_name", None) or "",
                "message": str(message)[:1000],
                "logTail": tail,
            }
        events.append(entry)
    return events


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
