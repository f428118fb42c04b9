"""`CodeDeploy`: what CodePipeline's CodeDeploy action does: CreateDeployment of the input
artifact to the configured deployment group, then GetDeployment until the deployment is terminal.
The action's result is that deployment's: a rollback CodeDeploy starts after it failed is
CodeDeploy's own business and runs on while the pipeline moves on (`pipekit.local.deployer`)."""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError

from pipekit.emulator.records import deployments
from pipekit.iam import failures
from pipekit.local.actions.base import ActionContext
from pipekit.local.wire import ActionFailed, ActionResult


def run(ctx: ActionContext) -> ActionResult:
    execution = ctx.execution
    inputs = ctx.action.get("inputArtifacts", [])
    if not inputs:
        raise ActionFailed("JobFailed", "The deploy action has no input artifact")
    location = execution.record["_artifacts"][inputs[0]["name"]]
    request = {
        "applicationName": ctx.config.get("ApplicationName", ""),
        "deploymentGroupName": ctx.config.get("DeploymentGroupName", ""),
        "revision": {
            "revisionType": "S3",
            "s3Location": {
                "bucket": location["bucket"],
                "key": location["key"],
                "bundleType": "zip",
            },
        },
    }
    account_id, region = execution.account_id, execution.region
    try:
        group = deployments.group_of(
            account_id, region, request["applicationName"], request["deploymentGroupName"]
        )
    except JsonRESTError as exc:  # the group or application does not exist
        raise ActionFailed("JobFailed", exc.message) from exc
    fields = {
        "application": request["applicationName"],
        "group": request["deploymentGroupName"],
        "config": str(group.deployment_config_name or "CodeDeployDefault.OneAtATime"),
    }
    # the action's calls with the pipeline's role (pipekit.iam.calls: deploy.start)
    ctx.authorize("deploy.start", fields, failures.deploy_action)
    try:
        created = deployments.create(account_id, region, request)
    except JsonRESTError as exc:  # DeploymentLimitExceededException and the like
        raise ActionFailed("JobFailed", exc.message) from exc
    deployment_id = created["deploymentId"]
    ctx.deployer.start(account_id, region, deployment_id)
    deployment = ctx.deployer.wait(account_id, region, deployment_id)
    ctx.authorize("deploy.poll", fields, failures.deploy_action, external_id=deployment_id)
    if deployment["status"] != "Succeeded":
        error = deployment.get("errorInformation", {})
        raise ActionFailed(
            "JobFailed",
            f"Deployment {deployment_id} failed: {error.get('message', '')}",
            external_id=deployment_id,
        )
    return ActionResult({}, {}, deployment_id, f"Deployment {deployment_id} succeeded")
