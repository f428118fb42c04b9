"""How each AWS service reports a call it was refused on a role's behalf, step by step (the steps
of `pipekit.iam.calls`). Each wording is AWS's as users have reported it, with the report named;
"by analogy" marks the few whose exact text no source shows, modelled on the nearest one that
does. `denied` is a `pipekit.local.authz.Denied`: its `.message` is IAM's "User: <session> is not
authorized to perform: <action> on resource: <arn> because ..." text.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any

# CodeDeploy's name for the service whose call was refused (IAM_ROLE_PERMISSIONS messages):
# AmazonAutoScaling (CodeDeploy user guide, troubleshooting-auto-scaling, "CodeDeployRole does
# not give you permission to perform operations in the following AWS service:
# AmazonAutoScaling"), AmazonEC2 and AmazonElasticLoadBalancingV2 (user reports of the same
# error). Other prefixes are named by their IAM prefix: no source shows CodeDeploy's name.
CODEDEPLOY_SERVICE_NAMES = {
    "autoscaling": "AmazonAutoScaling",
    "ec2": "AmazonEC2",
    "elasticloadbalancing": "AmazonElasticLoadBalancingV2",
}


def _aws_sdk_suffix(service: str, code: str) -> str:
    # the Java SDK's exception text CodePipeline passes on (awslabs/cdk-eks-blueprints#483)
    return (
        f" (Service: {service}; Status Code: 400; Error Code: {code}; "
        f"Request ID: {uuid.uuid4()}; Proxy: null)"
    )


def _s3_access_denied() -> str:
    # the Go SDK's S3 error as CodeBuild prints it (awslabs/aws-refarch-cross-account-pipeline#5)
    request_id = secrets.token_hex(8).upper()
    host_id = base64.b64encode(secrets.token_bytes(56)).decode()
    return (
        "AccessDenied: Access Denied\n\tstatus code: 403, "
        f"request id: {request_id}, host id: {host_id}"
    )


def pipeline_trust(role_arn: str) -> str:
    """CodePipeline cannot assume its role (the wording of CreatePipeline's
    InvalidStructureException; SageMaker developer guide, sagemaker-projects-templates)."""
    return f"CodePipeline is not authorized to perform AssumeRole on role {role_arn}"


def source(denied: Any, connection_arn: str) -> str:
    """The GitHub (CodeConnections) source action's error message."""
    if denied.trust:
        return pipeline_trust(denied.principal.role_arn)
    if denied.step == "source.connection":
        # hashicorp/terraform-provider-aws#11389, awslabs/landing-zone-accelerator-on-aws#828
        return (
            f"Unable to use Connection: {connection_arn}. The provided role does not have "
            "sufficient permissions."
        )
    # aws/aws-cdk#13557 (PutObjectAcl missing); the same for a refused PutObject (#13733)
    return "[GitHub] Upload to S3 failed with the following error: Access Denied"


def build_action(denied: Any) -> str:
    """The CodeBuild action's error message for a refused StartBuild (or BatchGetBuilds)."""
    if denied.trust and denied.principal.kind == "pipeline":
        return pipeline_trust(denied.principal.role_arn)
    if denied.trust:
        # CodeBuild cannot assume the project's role: StartBuild's InvalidInputException
        # (the wording CreateProject and StartBuild share; user reports of both)
        detail = f"CodeBuild is not authorized to perform: sts:AssumeRole on {denied.resource}"
        return (
            "Error calling startBuild: "
            + detail
            + _aws_sdk_suffix("AWSCodeBuild", "InvalidInputException")
        )
    # awslabs/cdk-eks-blueprints#483 for startBuild; batchGetBuilds by analogy
    call = "startBuild" if denied.action == "codebuild:StartBuild" else "batchGetBuilds"
    return f"Error calling {call}: {denied.message}" + _aws_sdk_suffix(
        "AWSCodeBuild", "AccessDeniedException"
    )


def build_phase(
    denied: Any, *, build_arn: str, source_version: str, report_group: str = ""
) -> tuple[str, str, str]:
    """(phase, context status code, context message) of a build CodeBuild failed because its
    role was refused a call."""
    role_arn = denied.principal.role_arn
    if denied.step == "build.logs":
        # juspay/hyperswitch-cdk#37, aws/aws-cdk#12179 (CreateLogStream; PutLogEvents by
        # analogy). The phase: a user's note that such builds die in QUEUED.
        return (
            "QUEUED",
            "ACCESS_DENIED",
            f"Service role {role_arn} does not allow AWS CodeBuild to create Amazon CloudWatch "
            f"Logs log streams for build {build_arn}. Error message: {denied.message}",
        )
    if denied.step == "build.source":
        # awslabs/aws-refarch-cross-account-pipeline#5
        return (
            "DOWNLOAD_SOURCE",
            "CLIENT_ERROR",
            f"{_s3_access_denied()} for primary source and source version {source_version}",
        )
    if denied.step == "build.reports":
        # aws/aws-cdk#7367 (CreateReportGroup); the other report calls by analogy
        what = {
            "codebuild:CreateReportGroup": "error creating report group",
            "codebuild:CreateReport": "error creating report",
            "codebuild:UpdateReport": "error updating report",
        }.get(denied.action, "error uploading test cases")
        return (
            "UPLOAD_ARTIFACTS",
            "CLIENT_ERROR",
            f"Error in UPLOAD_ARTIFACTS phase: [{report_group}: [{what}: "
            f"AccessDeniedException: {denied.message}]]",
        )
    # build.upload: by analogy with DOWNLOAD_SOURCE (the same SDK error, for the artifact)
    return ("UPLOAD_ARTIFACTS", "CLIENT_ERROR", f"{_s3_access_denied()} for primary artifact")


def deploy_action(denied: Any) -> str:
    """The CodeDeploy action's error message: CodeDeploy's AccessDeniedException text as the
    action reports it (tungbq/aws-lab-with-terraform#271: "... because no identity-based policy
    allows the codedeploy:CreateDeployment action")."""
    if denied.trust:
        return pipeline_trust(denied.principal.role_arn)
    return denied.message


def approval_notify(denied: Any) -> str:
    """The approval action's error when its notification is refused: by analogy with the
    CodeDeploy action (the service's AccessDenied text, passed on as the action's message)."""
    if denied.trust:
        return pipeline_trust(denied.principal.role_arn)
    return denied.message


def deployment(denied: Any) -> tuple[str, str]:
    """(error code, message) of a deployment CodeDeploy failed because of its service role
    (CodeDeploy user guide, error-codes: IAM_ROLE_PERMISSIONS "CodeDeploy does not have the
    permissions required to assume a role, or the IAM role you're using doesn't give you
    permission to perform operations in an AWS service")."""
    role_arn = denied.principal.role_arn
    if denied.trust:
        # the wording of CreateDeploymentGroup's InvalidRoleException (user reports)
        return (
            "IAM_ROLE_PERMISSIONS",
            f"AWS CodeDeploy does not have the permissions required to assume the role {role_arn}.",
        )
    prefix = denied.action.split(":", 1)[0]
    service = CODEDEPLOY_SERVICE_NAMES.get(prefix, prefix)
    # aws/serverless-application-model#219 (the full sentence), the user guide (the service name)
    return (
        "IAM_ROLE_PERMISSIONS",
        f"The IAM role {role_arn} does not give you permission to perform operations in the "
        f"following AWS service: {service}. Contact your AWS administrator if you need help. If "
        "you are an AWS administrator, you can grant permissions to your users or groups by "
        "creating IAM policies.",
    )


def bundle(denied: Any) -> tuple[str, str]:
    """(diagnostics error code, message) of the agent's DownloadBundle when S3 refuses the
    instance profile: the agent reports error_code 5 (UnknownError) with S3's message "Access
    Denied" (poanetwork/blockscout-terraform#24)."""
    return "UnknownError", "Access Denied"


def boot(denied: Any, signals: int = 1) -> str:
    """What the stack reports for the Auto Scaling group when an instance's boot is refused a
    call: without SignalResource no signal arrives and the creation policy times out; a refused
    AssociateAddress fails the user data's claim-elastic-ip step, which signals FAILURE."""
    if denied.action == "cloudformation:SignalResource":
        return f"Failed to receive {signals} resource signal(s) within the specified duration"
    return (
        f"Received {signals} FAILURE signal(s) out of {signals}. Unable to satisfy 100% "
        "MinSuccessfulInstancesPercent requirement"
    )
