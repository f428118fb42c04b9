"""CodeDeploy's own bookkeeping of deployments (EC2/on-premises), shared by the CreateDeployment
API, the pipeline's CodeDeploy action and the automatic rollback: AWS-form ids, the status
lifecycle, one active deployment per deployment group, and the rollback deployment CodeDeploy
starts when one fails. Records are DeploymentInfo-shaped (botocore), stored in `Records`.

Who runs a deployment is not decided here: the API hands a new one to the registered
`Controller` (local mode's deployer); without one it stays `Created`, as moto's did.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from moto.codedeploy.models import codedeploy_backends

from pipekit.emulator.records import deployconfigs
from pipekit.emulator.records.exceptions import (
    ApplicationDoesNotExistException,
    ApplicationNameRequiredException,
    DeploymentGroupDoesNotExistException,
    DeploymentGroupNameRequiredException,
    DeploymentLimitExceededException,
    RevisionRequiredException,
)
from pipekit.emulator.records.store import Record, Records, now, records_for

# botocore codedeploy DeploymentStatus. A deployment is active until it reaches a terminal
# status; a group runs one active deployment at a time.
ACTIVE = frozenset({"Created", "Queued", "InProgress", "Baking", "Ready"})
TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
ROLLBACK_CREATOR = "codeDeployRollback"  # botocore DeploymentCreator
AUTOSCALING_CREATOR = "autoscaling"
_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_deployment_id() -> str:
    """`d-` and 9 upper-case letters or digits, the form AWS gives deployment ids."""
    return "d-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(9))


def group_of(account_id: str, region: str, application: str | None, group: str | None) -> Any:
    """moto's deployment group, with the errors CreateDeployment lists (moto's wording)."""
    backend = codedeploy_backends[account_id][region]
    if not application:
        raise ApplicationNameRequiredException("The application name must be specified.")
    if application not in backend.applications:
        raise ApplicationDoesNotExistException(
            f"The application {application} does not exist with the user or AWS account."
        )
    if not group:
        raise DeploymentGroupNameRequiredException("Deployment group name is required.")
    found = backend.deployment_groups.get(application, {}).get(group)
    if found is None:
        raise DeploymentGroupDoesNotExistException("Deployment group name does not exist.")
    return found


def rollback_config(config: dict | None) -> dict:
    """An AutoRollbackConfiguration in API shape, whichever casing stored it (moto keeps the
    CloudFormation casing for groups created from a template)."""
    config = config or {}
    enabled = config.get("enabled", config.get("Enabled", False))
    events = config.get("events", config.get("Events")) or []
    return {"enabled": str(enabled).lower() == "true", "events": list(events)}


def _in_group(recs: Records, group_id: str) -> list[Record]:
    return [d for d in recs.deployments.values() if d.get("_group") == group_id]


def last_successful(recs: Records, group_id: str) -> Record | None:
    done = [d for d in _in_group(recs, group_id) if d["status"] == "Succeeded"]
    return max(done, key=lambda d: d["completeTime"]) if done else None


def create(
    account_id: str,
    region: str,
    request: dict[str, Any],
    *,
    creator: str = "user",
    rollback_of: Record | None = None,
) -> Record:
    """Record a new deployment from a CreateDeploymentInput-shaped `request`, status Created.

    Refused with DeploymentLimitExceededException while the group has an active deployment:
    "The Deployment Group '<group>' already has an active Deployment '<d-id>'" (the AWS CLI's
    output, quoted in CircleCI-Public/aws-ecs-orb#181; botocore lists the exception for
    CreateDeployment)."""
    group = group_of(
        account_id, region, request.get("applicationName"), request.get("deploymentGroupName")
    )
    revision = request.get("revision")
    if not revision:
        # botocore's description of RevisionRequiredException (the service's wording is unknown)
        raise RevisionRequiredException("The revision ID was not specified.")
    if request.get("deploymentConfigName"):  # DeploymentConfigDoesNotExistException (botocore)
        deployconfigs.get(account_id, region, request["deploymentConfigName"])
    recs = records_for(account_id, region)
    with recs.lock:
        # A launch deployment does not wait for, nor refuse, the deployment under way: "If an
        # Amazon EC2 Auto Scaling scale-out event occurs while a deployment is underway, the new
        # instances will be updated with the application revision that was most recently
        # deployed" (CodeDeploy user guide, integrations-aws-auto-scaling).
        others = (
            [] if creator == AUTOSCALING_CREATOR else _in_group(recs, group.deployment_group_id)
        )
        for other in others:
            if other["status"] in ACTIVE:
                raise DeploymentLimitExceededException(
                    f"The Deployment Group '{group.deployment_group_name}' already has an "
                    f"active Deployment '{other['deploymentId']}'"
                )
        previous = last_successful(recs, group.deployment_group_id)
        record = _record(group, request, creator, previous)
        if rollback_of is not None:
            # As AWS fills both ends (get-deployment output of real automatic rollbacks, e.g.
            # "Deployment d-NV7KPB60K is triggered to roll back deployment d-JCUUEM60K." and
            # "Deployment d-RGSWBD91L terminated. Automatic rollback is triggered with a
            # DeploymentId d-J5KH1W91L."; botocore shape RollbackInfo).
            rb, failed = record["deploymentId"], rollback_of["deploymentId"]
            record["rollbackInfo"] = {
                "rollbackTriggeringDeploymentId": failed,
                "rollbackMessage": f"Deployment {rb} is triggered to roll back deployment "
                f"{failed}.",
            }
            rollback_of["rollbackInfo"] = {
                "rollbackDeploymentId": rb,
                "rollbackMessage": f"Deployment {failed} terminated. Automatic rollback is "
                f"triggered with a DeploymentId {rb}.",
            }
        recs.deployments[record["deploymentId"]] = record
        recs.targets[record["deploymentId"]] = {}
    return record


def _record(group: Any, request: dict[str, Any], creator: str, previous: Record | None) -> Record:
    created = now()
    record: Record = {
        "applicationName": group.application.application_name,
        "deploymentGroupName": group.deployment_group_name,
        "deploymentConfigName": request.get("deploymentConfigName")
        or str(group.deployment_config_name or "CodeDeployDefault.OneAtATime"),
        "deploymentId": new_deployment_id(),
        "_group": group.deployment_group_id,
        "revision": request["revision"],
        "status": "Created",
        "createTime": created,
        "deploymentOverview": dict.fromkeys(
            ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready"), 0
        ),
        "description": request.get("description"),
        "creator": creator,
        "ignoreApplicationStopFailures": bool(request.get("ignoreApplicationStopFailures")),
        # A deployment's own autoRollbackConfiguration overrides the group's (botocore
        # CreateDeploymentInput.autoRollbackConfiguration).
        "autoRollbackConfiguration": rollback_config(
            request.get("autoRollbackConfiguration") or group.auto_rollback_configuration
        ),
        "updateOutdatedInstancesOnly": bool(request.get("updateOutdatedInstancesOnly")),
        "deploymentStyle": group.deployment_style
        or {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
        "instanceTerminationWaitTimeStarted": False,
        "fileExistsBehavior": request.get("fileExistsBehavior") or "DISALLOW",
        "computePlatform": group.application.compute_platform or "Server",
        "deploymentStatusMessages": [],
    }
    if previous is not None:
        record["previousRevision"] = previous["revision"]
    return record


# Errors that end a deployment as Stopped rather than Failed: an alarm ("If any of the specified
# alarms are activated, the deployment stops, and the status is updated to Stopped": CodeDeploy
# user guide, monitoring-create-alarms; records/alarms.py).
STOPPED_BY = {"ALARM_ACTIVE": "DEPLOYMENT_STOP_ON_ALARM"}


def rolls_back(info: Record) -> bool:
    """Does CodeDeploy roll this ended deployment back? Its autoRollbackConfiguration has the
    event that ended it (DEPLOYMENT_FAILURE for a failed one, DEPLOYMENT_STOP_ON_ALARM for one an
    alarm stopped: AutoRollbackEvent in botocore; CodeDeploy user guide,
    deployments-rollback-and-redeploy: "roll back when alarm thresholds are met"), it is not
    itself a rollback nor a launch deployment (whose failure CodeDeploy answers with ABANDON),
    and a revision succeeded before it (the last known good revision)."""
    config = info.get("autoRollbackConfiguration") or {}
    code = (info.get("errorInformation") or {}).get("code")
    event = (
        STOPPED_BY.get(code, "DEPLOYMENT_FAILURE") if info.get("status") != "Succeeded" else None
    )
    return (
        bool(config.get("enabled"))
        and event in (config.get("events") or [])
        and info.get("creator") not in (ROLLBACK_CREATOR, AUTOSCALING_CREATOR)
        and bool(info.get("previousRevision"))
    )


def start(account_id: str, region: str, deployment_id: str) -> Record:
    """Created -> InProgress."""
    recs = records_for(account_id, region)
    with recs.lock:
        record = recs.deployments[deployment_id]
        record.update(status="InProgress", startTime=now())
        return record


def finish(
    account_id: str, region: str, deployment_id: str, error: dict[str, str] | None
) -> Record | None:
    """Mark the deployment Succeeded, or Failed (Stopped, for an alarm) with `error`
    (ErrorInformation); one that rolls back gets its rollback deployment in the same step, so
    the group is never seen idle in between. Returns the rollback record for the caller to run,
    or None."""
    recs = records_for(account_id, region)
    with recs.lock:
        record = recs.deployments[deployment_id]
        record["completeTime"] = now()
        if error is None:
            record["status"] = "Succeeded"
            return None
        status = "Stopped" if error.get("code") in STOPPED_BY else "Failed"
        record.update(status=status, errorInformation=error)
        if not rolls_back(record):
            return None
        return create(
            account_id,
            region,
            {
                "applicationName": record["applicationName"],
                "deploymentGroupName": record["deploymentGroupName"],
                "revision": record["previousRevision"],
                "deploymentConfigName": record["deploymentConfigName"],
            },
            creator=ROLLBACK_CREATOR,
            rollback_of=record,
        )


def schedule(recs: Records, group_id: str, instance_ids: list[str]) -> list[str]:
    """The order CodeDeploy deploys to a group's instances: unhealthy instance health first,
    then unknown, old and current revision health (CodeDeploy user guide, instances-health,
    "Health status"). Instance health: the last deployment attempted on the instance
    succeeded (healthy) or failed / none yet (unhealthy); revision health: its last successful
    install is the group's last successful deployment's revision (current), another one (old),
    none (unknown). Ties keep the given order. Call with recs.lock held."""
    history = sorted(_in_group(recs, group_id), key=lambda d: d["createTime"])
    good = last_successful(recs, group_id)
    current = good["revision"] if good else None

    def rank(instance_id: str) -> tuple[int, int]:
        attempted, installed = None, None
        for deployment in history:
            target = recs.targets.get(deployment["deploymentId"], {}).get(instance_id)
            if target is None or target["status"] not in ("Succeeded", "Failed"):
                continue
            attempted = target["status"]
            if target["status"] == "Succeeded":
                installed = deployment["revision"]
        unhealthy = attempted != "Succeeded"
        revision = 1 if installed is None else 3 if installed == current else 2
        return (0 if unhealthy else 1, revision)

    return sorted(instance_ids, key=rank)
