"""CodeDeploy's deployment APIs answered from the records (`deployments.py` keeps them): moto's
deployments do nothing by themselves and it has no instances or targets. CreateDeployment
records the deployment and hands it to the registered Controller (local mode's deployer), which
runs it; get_deployment_group gains the last attempted and last successful deployments, as on
AWS.
"""

from __future__ import annotations

from typing import Any

from moto.codedeploy.responses import CodeDeployResponse
from moto.core.responses import ActionResult

from pipekit.emulator.records import deployconfigs, deployments
from pipekit.emulator.records.exceptions import (
    ApplicationNameRequiredException,
    DeploymentConfigNameRequiredException,
    DeploymentDoesNotExistException,
    DeploymentGroupNameRequiredException,
    InstanceDoesNotExistException,
    InvalidTimeRangeException,
)
from pipekit.emulator.records.overrides import context, original
from pipekit.emulator.records.store import Record, Records, controller, public

# The CreateDeploymentInput members the records keep (botocore codedeploy).
_CREATE_KEYS = (
    "applicationName",
    "deploymentGroupName",
    "revision",
    "deploymentConfigName",
    "description",
    "ignoreApplicationStopFailures",
    "autoRollbackConfiguration",
    "updateOutdatedInstancesOnly",
    "fileExistsBehavior",
)


def _deployment(recs: Records, deployment_id: str) -> Record:
    record = recs.deployments.get(deployment_id)
    if record is None:
        raise DeploymentDoesNotExistException(f"The deployment {deployment_id} could not be found")
    return record


def get_deployment(self: CodeDeployResponse) -> Any:
    _, _, recs = context(self)
    deployment_id = self._get_param("deploymentId")
    with recs.lock:
        if deployment_id in recs.deployments:
            return ActionResult({"deploymentInfo": public(recs.deployments[deployment_id])})
    return original("codedeploy.get_deployment")(self)


def batch_get_deployments(self: CodeDeployResponse) -> Any:
    _, _, recs = context(self)
    ids = self._get_param("deploymentIds") or []
    with recs.lock:
        if not any(i in recs.deployments for i in ids):
            return original("codedeploy.batch_get_deployments")(self)
        infos = [public(recs.deployments[i]) for i in ids if i in recs.deployments]
    return ActionResult({"deploymentsInfo": infos})


def create_deployment(self: CodeDeployResponse) -> ActionResult:
    account_id, region, _ = context(self)
    request = {k: self._get_param(k) for k in _CREATE_KEYS if self._get_param(k) is not None}
    record = deployments.create(account_id, region, request)
    engine = controller()
    if engine is not None:
        engine.start_deployment(account_id, region, record["deploymentId"])
    return ActionResult({"deploymentId": record["deploymentId"]})


def list_deployments(self: CodeDeployResponse) -> ActionResult:
    """Every recorded deployment of the account and region, newest first, with ListDeployments'
    filters (applicationName and deploymentGroupName together, includeOnlyStatuses,
    createTimeRange, externalId); the checks and their wording are moto's."""
    account_id, region, recs = context(self)
    app = self._get_param("applicationName")
    group = self._get_param("deploymentGroupName")
    if app and not group:
        raise DeploymentGroupNameRequiredException(
            "If applicationName is specified, then deploymentGroupName must be specified."
        )
    if group and not app:
        raise ApplicationNameRequiredException(
            "If deploymentGroupName is specified, applicationName must be specified."
        )
    if app:
        deployments.group_of(account_id, region, app, group)
    statuses = self._get_param("includeOnlyStatuses")
    external_id = self._get_param("externalId")
    time_range = self._get_param("createTimeRange") or {}
    start, end = time_range.get("start"), time_range.get("end")
    if start is not None and end is not None and float(start) > float(end):
        raise InvalidTimeRangeException("The start time must be earlier than the end time.")
    with recs.lock:
        ours = sorted(recs.deployments.values(), key=lambda r: r["createTime"], reverse=True)
    ids = []
    for r in ours:
        if r.get("_group") != group_token(account_id, region, r):
            continue  # its group was deleted (or the emulator reset) since
        if app and (r["applicationName"], r["deploymentGroupName"]) != (app, group):
            continue
        if statuses and r["status"] not in statuses:
            continue
        if external_id is not None and r.get("externalId") != external_id:
            continue
        created = r["createTime"].timestamp()
        if start is not None and created < float(start):
            continue
        if end is not None and created > float(end):
            continue
        ids.append(r["deploymentId"])
    return ActionResult({"deployments": ids})


def list_deployment_instances(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = context(self)
    deployment_id = self._get_param("deploymentId")
    status_filter = self._get_param("instanceStatusFilter")
    with recs.lock:
        _deployment(recs, deployment_id)
        ids = [
            instance_id
            for instance_id, target in recs.targets.get(deployment_id, {}).items()
            if not status_filter or target["status"] in status_filter
        ]
    return ActionResult({"instancesList": ids})


def _instance_summary(target: Record) -> Record:
    return {
        "deploymentId": target["deploymentId"],
        "instanceId": target["targetId"],
        "status": target["status"],
        "lastUpdatedAt": target["lastUpdatedAt"],
        "lifecycleEvents": target["lifecycleEvents"],
    }


def get_deployment_instance(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = context(self)
    deployment_id = self._get_param("deploymentId")
    instance_id = self._get_param("instanceId")
    with recs.lock:
        _deployment(recs, deployment_id)
        target = recs.targets.get(deployment_id, {}).get(instance_id)
        if target is None:
            raise InstanceDoesNotExistException(f"Instance {instance_id} is not in the deployment")
        return ActionResult({"instanceSummary": _instance_summary(public(target))})


def list_deployment_targets(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = context(self)
    deployment_id = self._get_param("deploymentId")
    with recs.lock:
        _deployment(recs, deployment_id)
        ids = list(recs.targets.get(deployment_id, {}))
    return ActionResult({"targetIds": ids})


def batch_get_deployment_targets(self: CodeDeployResponse) -> ActionResult:
    _, _, recs = context(self)
    deployment_id = self._get_param("deploymentId")
    wanted = self._get_param("targetIds") or []
    with recs.lock:
        _deployment(recs, deployment_id)
        targets = recs.targets.get(deployment_id, {})
        found = [
            {"deploymentTargetType": "InstanceTarget", "instanceTarget": public(targets[t])}
            for t in wanted
            if t in targets
        ]
    return ActionResult({"deploymentTargets": found})


def get_deployment_group(self: CodeDeployResponse) -> Any:
    """Whatever serves get_deployment_group, plus the last deployments we recorded."""
    response = original("codedeploy.get_deployment_group")(self)
    if not isinstance(response, ActionResult) or not isinstance(response.result, dict):
        return response
    info = response.result.get("deploymentGroupInfo")
    if not isinstance(info, dict):
        return response
    account_id, region, recs = context(self)
    with recs.lock:
        mine = [
            d
            for d in recs.deployments.values()
            if d["applicationName"] == info.get("applicationName")
            and d["deploymentGroupName"] == info.get("deploymentGroupName")
            and d.get("_group") == group_token(account_id, region, d)
        ]
    if mine:
        latest = max(mine, key=lambda d: d["createTime"])
        info["lastAttemptedDeployment"] = _last_info(latest)
        done = [d for d in mine if d["status"] == "Succeeded"]
        if done:
            info["lastSuccessfulDeployment"] = _last_info(max(done, key=lambda d: d["createTime"]))
    return response


def group_token(account_id: str, region: str, record: Record) -> str | None:
    """The id of the deployment group a deployment record belongs to: it survives in-place
    updates of the group and changes when the group is deleted and created again."""
    from moto.codedeploy.models import codedeploy_backends

    backend = codedeploy_backends[account_id][region]
    groups = getattr(backend, "deployment_groups", {}).get(record["applicationName"], {})
    group = groups.get(record["deploymentGroupName"])
    return None if group is None else group.deployment_group_id


def _last_info(record: Record) -> Record:
    info = {
        "deploymentId": record["deploymentId"],
        "status": record["status"],
        "createTime": record["createTime"],
    }
    if record.get("completeTime"):
        info["endTime"] = record["completeTime"]
    return info


def get_deployment_config(self: CodeDeployResponse) -> ActionResult:
    """GetDeploymentConfig: the predefined configs and custom ones (deployconfigs)."""
    account_id, region, _ = context(self)
    name = self._get_param("deploymentConfigName")
    if not name:
        raise DeploymentConfigNameRequiredException(
            "The deployment configuration name was not specified."
        )
    return ActionResult({"deploymentConfigInfo": deployconfigs.get(account_id, region, name)})


def create_deployment_config(self: CodeDeployResponse) -> ActionResult:
    account_id, region, _ = context(self)
    if not self._get_param("deploymentConfigName"):
        raise DeploymentConfigNameRequiredException(
            "The deployment configuration name was not specified."
        )
    request = {
        k: self._get_param(k)
        for k in ("deploymentConfigName", "minimumHealthyHosts", "computePlatform")
    }
    return ActionResult({"deploymentConfigId": deployconfigs.create(account_id, region, request)})


OVERRIDES = {
    "create_deployment": create_deployment,
    "get_deployment_config": get_deployment_config,
    "create_deployment_config": create_deployment_config,
    "get_deployment": get_deployment,
    "get_deployment_group": get_deployment_group,
    "batch_get_deployments": batch_get_deployments,
    "list_deployments": list_deployments,
    "list_deployment_instances": list_deployment_instances,
    "get_deployment_instance": get_deployment_instance,
    "list_deployment_targets": list_deployment_targets,
    "batch_get_deployment_targets": batch_get_deployment_targets,
}
SERVICE = "codedeploy"
RESPONSE = CodeDeployResponse
