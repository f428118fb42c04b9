"""`CodeDeploy`: one deployment of the input artifact to the deployment group's instances (and
the group's automatic rollback), by `pipekit.local.deployer`."""

from __future__ import annotations

from moto.codedeploy.models import codedeploy_backends

from pipekit.iam import failures
from pipekit.local.actions.base import ActionContext
from pipekit.local.wire import ActionFailed, ActionResult


def run(ctx: ActionContext) -> ActionResult:
    execution = ctx.execution
    app_name = ctx.config.get("ApplicationName", "")
    group_name = ctx.config.get("DeploymentGroupName", "")
    backend = codedeploy_backends[execution.account_id][execution.region]
    try:
        group = backend.get_deployment_group(app_name, group_name)
    except Exception as exc:
        raise ActionFailed("JobFailed", str(exc)) from exc
    inputs = ctx.action.get("inputArtifacts", [])
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
    fields = {
        "application": app_name,
        "group": group_name,
        "config": str(group.deployment_config_name or "CodeDeployDefault.OneAtATime"),
    }
    ctx.authorize("deploy.start", fields, failures.deploy_action)
    deployment = ctx.deployer.deploy_revision(
        execution.account_id, execution.region, group, revision, "user"
    )
    deployment_id = deployment["deploymentId"]
    ctx.authorize("deploy.poll", fields, failures.deploy_action, external_id=deployment_id)
    if deployment["status"] != "Succeeded":
        error = deployment.get("errorInformation", {})
        raise ActionFailed(
            "JobFailed",
            f"Deployment {deployment_id} failed: {error.get('message', '')}",
            external_id=deployment_id,
        )
    return ActionResult({}, {}, deployment_id, f"Deployment {deployment_id} succeeded")
