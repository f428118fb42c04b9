"""Readers of what the pipeline's services recorded: action executions, builds and their logs,
deployments and their targets. Paginated and bounded; shared by `why`, `redeploy`, `status`
and the e2e."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

# BatchGetBuilds takes at most 100 ids, BatchGetDeployments and BatchGetDeploymentTargets 25
# (botocore codebuild BuildIds, codedeploy DeploymentsList / TargetIdList max).
BUILD_BATCH, DEPLOYMENT_BATCH, TARGET_BATCH = 100, 25, 25


def action_executions(cp: Any, pipeline: str, execution_id: str) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "pipelineName": pipeline,
        "filter": {"pipelineExecutionId": execution_id},
    }
    while True:
        resp = cp.list_action_executions(**kwargs)
        details.extend(resp.get("actionExecutionDetails", []))
        if not resp.get("nextToken"):
            return details
        kwargs["nextToken"] = resp["nextToken"]


def deployment_targets(cd: Any, deployment_id: str) -> list[dict[str, Any]]:
    """Per-target records with lifecycle events: the targets API (in batches), or the older
    instances API where the targets API is unavailable."""
    try:
        ids: list[str] = []
        kwargs: dict[str, Any] = {"deploymentId": deployment_id}
        while True:
            resp = cd.list_deployment_targets(**kwargs)
            ids.extend(resp.get("targetIds", []))
            if not resp.get("nextToken"):
                break
            kwargs["nextToken"] = resp["nextToken"]
        found: list[dict[str, Any]] = []
        for i in range(0, len(ids), TARGET_BATCH):
            found += cd.batch_get_deployment_targets(
                deploymentId=deployment_id, targetIds=ids[i : i + TARGET_BATCH]
            ).get("deploymentTargets", [])
        return found
    except Exception:  # any API gap: try the instances API instead
        ids = cd.list_deployment_instances(deploymentId=deployment_id).get("instancesList", [])
        return [cd.get_deployment_instance(deploymentId=deployment_id, instanceId=i) for i in ids]


def build(cb: Any, build_id: str) -> dict[str, Any] | None:
    builds = cb.batch_get_builds(ids=[build_id]).get("builds", [])
    return builds[0] if builds else None


def project_builds(cb: Any, project: str, limit: int = 300) -> list[dict[str, Any]]:
    """The project's newest builds (at most `limit`), newest first."""
    ids: list[str] = []
    kwargs: dict[str, Any] = {"projectName": project, "sortOrder": "DESCENDING"}
    while len(ids) < limit:
        resp = cb.list_builds_for_project(**kwargs)
        ids.extend(resp.get("ids", []))
        if not resp.get("nextToken"):
            break
        kwargs["nextToken"] = resp["nextToken"]
    ids = ids[:limit]
    found: list[dict[str, Any]] = []
    for i in range(0, len(ids), BUILD_BATCH):
        found += cb.batch_get_builds(ids=ids[i : i + BUILD_BATCH]).get("builds", [])
    return found


def log_events(logs: Any, build_record: dict[str, Any], limit: int = 20) -> list[dict[str, Any]]:
    """The last events of a build's CloudWatch Logs stream ([] when it has none)."""
    where = build_record.get("logs") or {}
    if not (where.get("groupName") and where.get("streamName")):
        return []
    return logs.get_log_events(
        logGroupName=where["groupName"],
        logStreamName=where["streamName"],
        limit=limit,
        startFromHead=False,
    ).get("events", [])


def group_deployments(cd: Any, application: str, group: str, limit: int = 50) -> list[dict]:
    """deploymentsInfo of the group's newest deployments (ListDeployments is newest first)."""
    ids: list[str] = []
    kwargs: dict[str, Any] = {"applicationName": application, "deploymentGroupName": group}
    while len(ids) < limit:
        resp = cd.list_deployments(**kwargs)
        ids.extend(resp.get("deployments", []))
        if not resp.get("nextToken"):
            break
        kwargs["nextToken"] = resp["nextToken"]
    infos: list[dict[str, Any]] = []
    for i in range(0, min(len(ids), limit), DEPLOYMENT_BATCH):
        infos += cd.batch_get_deployments(deploymentIds=ids[i : i + DEPLOYMENT_BATCH]).get(
            "deploymentsInfo", []
        )
    return infos


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def pipeline_executions(cp: Any, pipeline: str, limit: int = 50) -> list[dict[str, Any]]:
    """The pipeline's newest execution summaries (at most `limit`), newest first."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"pipelineName": pipeline, "maxResults": min(limit, 100)}
    while len(found) < limit:
        resp = cp.list_pipeline_executions(**kwargs)
        found.extend(resp.get("pipelineExecutionSummaries", []))
        if not resp.get("nextToken"):
            break
        kwargs["nextToken"] = resp["nextToken"]
    return found[:limit]


def run_records(
    cp: Any, cb: Any, cd: Any, pipeline: str, summary: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, dict], dict[str, tuple[dict, list]]]:
    """Everything the services recorded about one pipeline execution (`summary`, from
    ListPipelineExecutions: the one record with the execution's start and last update;
    GetPipelineExecution has neither): its action executions, the builds its CodeBuild actions
    ran and the deployments (with their targets) its CodeDeploy actions made, CodeDeploy's
    rollback deployments included."""
    execution_id = summary["pipelineExecutionId"]
    details = action_executions(cp, pipeline, execution_id)

    def ids_of(provider: str) -> list[str]:
        return [
            ext
            for d in details
            if d.get("input", {}).get("actionTypeId", {}).get("provider") == provider
            and (ext := d.get("output", {}).get("executionResult", {}).get("externalExecutionId"))
        ]

    build_ids = ids_of("CodeBuild")
    builds: dict[str, dict] = {}
    for i in range(0, len(build_ids), BUILD_BATCH):
        for found in cb.batch_get_builds(ids=build_ids[i : i + BUILD_BATCH]).get("builds", []):
            builds[found["id"]] = found
    deployments: dict[str, tuple[dict, list]] = {}
    pending = ids_of("CodeDeploy")
    while pending and len(deployments) < 2 * DEPLOYMENT_BATCH:  # each has at most one rollback
        deployment_id = pending.pop(0)
        if deployment_id in deployments:
            continue
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        deployments[deployment_id] = (info, deployment_targets(cd, deployment_id))
        rollback_id = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
        if rollback_id:
            pending.append(rollback_id)
    return details, builds, deployments


def traffic_settings(
    cd: Any, elbv2: Any, application: str, group: str
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The deployment group's target groups (GetDeploymentGroup loadBalancerInfo
    .targetGroupInfoList) as ELBv2 describes them now: (DescribeTargetGroups entry, its
    DescribeTargetGroupAttributes Attributes) each; [] for a group without a load balancer."""
    info = cd.get_deployment_group(applicationName=application, deploymentGroupName=group)
    balancer = info["deploymentGroupInfo"].get("loadBalancerInfo", {})
    names = [t["name"] for t in balancer.get("targetGroupInfoList", []) if t.get("name")]
    if not names or elbv2 is None:
        return []
    found = elbv2.describe_target_groups(Names=names).get("TargetGroups", [])
    return [
        (
            tg,
            elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])[
                "Attributes"
            ],
        )
        for tg in found
    ]
