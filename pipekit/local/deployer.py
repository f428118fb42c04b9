"""CodeDeploy, EC2/on-premises, in place, run locally: one deployment of a revision to the
instances a deployment group targets (one nspawn host per instance id), recorded as CodeDeploy
records, then the group's automatic rollback when it is configured and the deployment failed."""

from __future__ import annotations

import logging
import secrets
import string
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends
from moto.s3.models import s3_backends

from pipekit.emulator import records as rec
from pipekit.local import definition as defn

log = logging.getLogger("pipekit.local.deployer")


def _random_id(prefix: str, length: int) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


class Deployer:
    def __init__(self, runners: Any, work_dir: Path) -> None:
        self.runners = runners  # pipekit.local.actions.base.Runners: deploy and host_for
        self.work_dir = work_dir

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
                    tags = instance.get_tags() if hasattr(instance, "get_tags") else {}
                    tag_map = {t["key"]: t["value"] for t in tags} if isinstance(tags, list) else {}
                    for f in filters:
                        key, value = f.get("Key"), f.get("Value")
                        kind = f.get("Type", "KEY_AND_VALUE")
                        if (
                            (kind == "KEY_ONLY" and key in tag_map)
                            or (kind == "VALUE_ONLY" and value in tag_map.values())
                            or (kind == "KEY_AND_VALUE" and tag_map.get(key) == value)
                        ):
                            ids.append(instance.id)
                            break
        return ids

    def last_good(self, account_id: str, region: str, group: Any) -> dict | None:
        recs = rec.records_for(account_id, region)
        with recs.lock:
            done = [
                d
                for d in recs.deployments.values()
                if d.get("_group") == group.deployment_group_id and d["status"] == "Succeeded"
            ]
        return max(done, key=lambda d: d["completeTime"]) if done else None

    def deploy_revision(
        self,
        account_id: str,
        region: str,
        group: Any,
        revision: dict,
        creator: str,
        triggering: dict | None = None,
        instance_ids: list[str] | None = None,
    ) -> dict:
        """One CodeDeploy deployment of `revision` to the group's instances, then the group's
        automatic rollback if it fails. Returns the deployment record.

        `instance_ids`: only these instances, and no rollback: an Auto Scaling launch deployment
        (creator `autoscaling`), whose failure CodeDeploy answers with ABANDON instead
        (pipekit.local.autoscaling)."""
        recs = rec.records_for(account_id, region)
        app_name = group.application.application_name
        previous = self.last_good(account_id, region, group)
        config_name = str(group.deployment_config_name or "CodeDeployDefault.OneAtATime")
        deployment_id = _random_id("d-", 9)
        instances = (
            instance_ids
            if instance_ids is not None
            else self.instances_of(account_id, region, group)
        )
        created = rec.now()
        record: dict[str, Any] = {
            "applicationName": app_name,
            "deploymentGroupName": group.deployment_group_name,
            "deploymentConfigName": config_name,
            "deploymentId": deployment_id,
            "_group": group.deployment_group_id,
            "revision": revision,
            "status": "InProgress",
            "createTime": created,
            "startTime": created,
            "deploymentOverview": {
                "Pending": len(instances),
                "InProgress": 0,
                "Succeeded": 0,
                "Failed": 0,
                "Skipped": 0,
                "Ready": 0,
            },
            "creator": creator,
            "ignoreApplicationStopFailures": False,
            "autoRollbackConfiguration": api_rollback_config(group.auto_rollback_configuration),
            "updateOutdatedInstancesOnly": False,
            "deploymentStyle": group.deployment_style
            or {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
            "instanceTerminationWaitTimeStarted": False,
            "fileExistsBehavior": "DISALLOW",
            "computePlatform": group.application.compute_platform or "Server",
            "deploymentStatusMessages": [],
        }
        if previous is not None:
            record["previousRevision"] = previous["revision"]
        if triggering is not None:
            record["rollbackInfo"] = {"rollbackTriggeringDeploymentId": triggering["deploymentId"]}
        targets: dict[str, dict] = {}
        for instance_id in instances:
            targets[instance_id] = {
                "deploymentId": deployment_id,
                "targetId": instance_id,
                "targetArn": f"arn:aws:ec2:{region}:{account_id}:instance/{instance_id}",
                "status": "Pending",
                "lastUpdatedAt": created,
                "lifecycleEvents": [],
            }
        with recs.lock:
            recs.deployments[deployment_id] = record
            recs.targets[deployment_id] = targets
        overview = record["deploymentOverview"]
        failure: tuple[str, str] | None = None
        if not instances:
            failure = (
                "NO_INSTANCES",
                "The deployment failed because no instances were found for your deployment group.",
            )
        with tempfile.TemporaryDirectory(dir=self.work_dir) as tmp:
            bundle = Path(tmp) / "bundle.zip"
            if instances:
                loc = revision["s3Location"]
                s3 = s3_backends[account_id]["aws"]
                obj = s3.get_object(loc["bucket"], loc["key"])
                if obj is None:
                    failure = (
                        "REVISION_MISSING",
                        f"Revision s3://{loc['bucket']}/{loc['key']} not found",
                    )
                else:
                    bundle.write_bytes(obj.value)
            for instance_id in instances:
                target = targets[instance_id]
                if failure is not None:
                    with recs.lock:
                        target.update(status="Skipped", lastUpdatedAt=rec.now())
                        overview["Pending"] -= 1
                        overview["Skipped"] += 1
                    continue
                with recs.lock:
                    target.update(status="InProgress", lastUpdatedAt=rec.now())
                    overview["Pending"] -= 1
                    overview["InProgress"] += 1
                try:
                    host = self.runners.host_for(instance_id)
                    outcome = self.runners.deploy(
                        host,
                        bundle,
                        deployment_id=deployment_id,
                        application_name=app_name,
                        deployment_group_name=group.deployment_group_name,
                        deployment_group_id=group.deployment_group_id,
                    )
                    status, events = outcome.status, _lifecycle_events(outcome)
                except Exception as exc:
                    log.exception("deployment %s to %s crashed", deployment_id, instance_id)
                    status, events = (
                        "Failed",
                        [
                            {
                                "lifecycleEventName": "DownloadBundle",
                                "status": "Failed",
                                "diagnostics": {
                                    "errorCode": "UnknownError",
                                    "message": str(exc)[:1000],
                                },
                            }
                        ],
                    )
                with recs.lock:
                    target.update(status=status, lifecycleEvents=events, lastUpdatedAt=rec.now())
                    overview["InProgress"] -= 1
                    overview[status if status in overview else "Failed"] += 1
                if status != "Succeeded":
                    failure = (
                        "HEALTH_CONSTRAINTS",
                        "The overall deployment failed because too many individual instances "
                        "failed deployment, too few healthy instances are available for "
                        "deployment, or some instances in your deployment group are experiencing "
                        "problems.",
                    )
        with recs.lock:
            record["completeTime"] = rec.now()
            if failure is None:
                record["status"] = "Succeeded"
            else:
                record["status"] = "Failed"
                record["errorInformation"] = {"code": failure[0], "message": failure[1]}
        if (
            failure is not None
            and triggering is None
            and instance_ids is None
            and defn.auto_rollback_on_failure(
                api_rollback_config(group.auto_rollback_configuration)
            )
        ):
            if previous is None:
                with recs.lock:
                    record["rollbackInfo"] = {
                        "rollbackMessage": "Automatic rollback is not possible: "
                        "no previous successful revision"
                    }
            else:
                with recs.lock:
                    record["rollbackInfo"] = {"rollbackMessage": "Rollback in progress"}
                rollback = self.deploy_revision(
                    account_id, region, group, previous["revision"], "codeDeployRollback", record
                )
                with recs.lock:
                    record["rollbackInfo"] = {
                        "rollbackDeploymentId": rollback["deploymentId"],
                        "rollbackMessage": f"Deployment {rollback['deploymentId']} rolled back "
                        f"to the last successful revision: {rollback['status']}",
                    }
        return record


def api_rollback_config(config: dict | None) -> dict:
    """The group's auto-rollback settings in API shape whichever casing stored them."""
    config = config or {}
    enabled = config.get("enabled", config.get("Enabled", False))
    events = config.get("events", config.get("Events")) or []
    return {"enabled": str(enabled).lower() == "true", "events": list(events)}


_LIFECYCLE_CODES = {
    "SCRIPT_FAILED": "ScriptFailed",
    "HOOK_EXECUTION_FAILURE": "ScriptFailed",
    "SCRIPT_MISSING": "ScriptMissing",
    "SCRIPT_NOT_EXECUTABLE": "ScriptNotExecutable",
    "SCRIPT_TIMED_OUT": "ScriptTimedOut",
    "TIMEOUT": "ScriptTimedOut",
}


def _lifecycle_events(outcome: Any) -> list[dict]:
    """CodeDeploy LifecycleEvent records from a hookrunner outcome."""
    events = []
    for event in outcome.events or []:
        status = str(getattr(event, "status", "Unknown"))
        if status not in ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Unknown"):
            status = "Unknown"
        entry: dict[str, Any] = {"lifecycleEventName": event.name, "status": status}
        for attr, key in (("start", "startTime"), ("end", "endTime")):
            value = getattr(event, attr, None)
            if value is not None:
                entry[key] = _ts(value) if isinstance(value, int | float) else value
        tail = str(getattr(event, "log_tail", "") or "")[-4096:]
        if status in ("Succeeded", "Failed"):
            code = getattr(event, "diagnostics_code", None)
            if not code:
                code = (
                    "Success"
                    if status == "Succeeded"
                    else _LIFECYCLE_CODES.get(str(outcome.error_code or ""), "ScriptFailed")
                )
            message = getattr(event, "message", None) or (
                "Succeeded" if status == "Succeeded" else (outcome.message or "")
            )
            diagnostics = {"errorCode": code, "message": str(message)[:1000], "logTail": tail}
            script = getattr(event, "script_name", None)
            if script:
                diagnostics["scriptName"] = script
            entry["diagnostics"] = diagnostics
        events.append(entry)
    return events


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
