"""The calls AWS's services make on a role's behalf while a pipeline run goes from commit to
instance, each with why it is made: the one table local mode authorizes against
(`pipekit.iam.policy.evaluate`), and that the mutation test removes permissions from.

A row's `resource` is an ARN template filled from what the step knows (`{bucket}`, `{key}`,
`{project}`, ...) plus `{partition}`, `{region}` and `{account}`. `principal` names whose role
makes the call: the pipeline's service role (`pipeline`), the build project's (`build`), the
deployment group's (`deploy`), or the instance profile's (`instance`). `when` names an
optional condition of the step ("reports", "fleet", "versioned", ...): a row with one applies
only when the step says it holds.

Sources are the services' own documentation and AWS CDK's grants for the same actions
(aws/aws-cdk, packages/aws-cdk-lib/aws-codepipeline-actions/lib), which encode what each
action has been seen to need.

Steps are the points where a run fails in its own way when a call is refused
(`pipekit.iam.failures` words each one as AWS does): `source.connection`, `source.upload`,
`build.start`, `build.logs`, `build.source`, `build.reports`, `build.upload`, `build.poll`,
`approval.notify`, `deploy.start`, `deploy`, `deploy.poll`, `instance.bundle`, `instance.boot`.
Rows of one step are in the order the service makes the calls; the first refused one is the
one reported. A row's `context` adds request context keys (templates filled like `resource`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CDK = "aws-cdk aws-codepipeline-actions/lib/"
CODEBUILD_ROLE = (
    "CodeBuild user guide, 'Allow CodeBuild to interact with other AWS services' "
    "(https://docs.aws.amazon.com/codebuild/latest/userguide/setting-up-service-role.html)"
)
CODEDEPLOY_ROLE = (
    "CodeDeploy user guide, 'Step 2: Create a service role for CodeDeploy' and the AWS-managed "
    "AWSCodeDeployRole policy "
    "(https://docs.aws.amazon.com/codedeploy/latest/userguide/getting-started-create-service-role.html)"
)
INSTANCE_PROFILE = (
    "CodeDeploy user guide, 'Step 4: Create an IAM instance profile for your Amazon EC2 "
    "instances': the agent downloads the revision from S3 with the instance profile's "
    "credentials (https://docs.aws.amazon.com/codedeploy/latest/userguide/"
    "getting-started-create-iam-instance-profile.html)"
)


@dataclass(frozen=True)
class Call:
    step: str
    principal: str
    action: str
    resource: str
    source: str
    when: str = ""
    context: tuple[tuple[str, str], ...] = ()

    def arn(self, fields: Mapping[str, str]) -> str:
        return self.resource.format(**fields)

    def request_context(self, fields: Mapping[str, str]) -> dict[str, str]:
        return {key: value.format(**fields) for key, value in self.context}


ARTIFACT = "arn:{partition}:s3:::{bucket}/{key}"
PROJECT = "arn:{partition}:codebuild:{region}:{account}:project/{project}"
APPLICATION = "arn:{partition}:codedeploy:{region}:{account}:application:{application}"
GROUP = "arn:{partition}:codedeploy:{region}:{account}:deploymentgroup:{application}/{group}"
CONFIG = "arn:{partition}:codedeploy:{region}:{account}:deploymentconfig:{config}"
LOG_STREAM = "arn:{partition}:logs:{region}:{account}:log-group:{log_group}:log-stream:{stream}"
REPORT_GROUP = "arn:{partition}:codebuild:{region}:{account}:report-group/{report_group}"
TOPIC = "arn:{partition}:sns:{region}:{account}:{topic}"

CALLS: tuple[Call, ...] = (
    # --- Source: the GitHub (CodeConnections) action, as the pipeline's role ----------------
    Call(
        "source.connection",
        "pipeline",
        "{connection_service}:UseConnection",
        "{connection_arn}",
        CDK + "codestar-connections/source-action.ts (UseConnection on the connection); "
        "CodePipeline user guide, 'Add permissions to the CodePipeline service role' for "
        "connections, whose ARN's service names the prefix (codeconnections or "
        "codestar-connections)",
    ),
    Call(
        "source.upload",
        "pipeline",
        "s3:PutObject",
        ARTIFACT,
        CDK + "codestar-connections/source-action.ts (bucket.grantReadWrite): the action "
        "uploads the source zip to the artifact bucket",
    ),
    Call(
        "source.upload",
        "pipeline",
        "s3:PutObjectAcl",
        ARTIFACT,
        CDK + "codestar-connections/source-action.ts (bucket.grantPutAcl): the upload sets an "
        "ACL; without it the action fails '[GitHub] Upload to S3 failed with the following "
        "error: Access Denied' (aws/aws-cdk#13557, fixed by aws/aws-cdk#13637)",
    ),
    # --- Build: the CodeBuild action (pipeline's role), then CodeBuild itself (project's role)
    Call(
        "build.start",
        "pipeline",
        "codebuild:StartBuild",
        PROJECT,
        CDK + "codebuild/build-action.ts (StartBuild, BatchGetBuilds, StopBuild on the project)",
    ),
    Call(
        "build.logs",
        "build",
        "logs:CreateLogStream",
        LOG_STREAM,
        CODEBUILD_ROLE + ": a stream per build in the project's log group (the error when "
        "refused: juspay/hyperswitch-cdk#37, aws/aws-cdk#12179)",
    ),
    Call(
        "build.logs",
        "build",
        "logs:PutLogEvents",
        LOG_STREAM,
        CODEBUILD_ROLE,
    ),
    Call(
        "build.source",
        "build",
        "s3:GetObject",
        "arn:{partition}:s3:::{bucket}/{input_key}",
        CODEBUILD_ROLE + ": CodeBuild downloads the input artifact (DOWNLOAD_SOURCE; refused: "
        "awslabs/aws-refarch-cross-account-pipeline#5)",
    ),
    Call(
        "build.reports",
        "build",
        "codebuild:CreateReportGroup",
        REPORT_GROUP,
        "CodeBuild user guide, 'Test report permissions' (CreateReportGroup, CreateReport, "
        "UpdateReport, BatchPutTestCases): a buildspec report group is created on first use "
        "(refused: aws/aws-cdk#7367, 'error creating report group')",
        when="new-report-group",
    ),
    Call("build.reports", "build", "codebuild:CreateReport", REPORT_GROUP, "ditto", when="reports"),
    Call("build.reports", "build", "codebuild:UpdateReport", REPORT_GROUP, "ditto", when="reports"),
    Call(
        "build.reports",
        "build",
        "codebuild:BatchPutTestCases",
        REPORT_GROUP,
        "ditto",
        when="reports",
    ),
    Call(
        "build.upload",
        "build",
        "s3:PutObject",
        "arn:{partition}:s3:::{bucket}/{output_key}",
        CODEBUILD_ROLE + ": CodeBuild uploads the output artifact (UPLOAD_ARTIFACTS)",
    ),
    Call(
        "build.poll",
        "pipeline",
        "codebuild:BatchGetBuilds",
        PROJECT,
        CDK + "codebuild/build-action.ts: the action polls the build it started",
    ),
    # --- Approve: the manual approval action (pipeline's role), when the gate is on -----------
    Call(
        "approval.notify",
        "pipeline",
        "sns:Publish",
        TOPIC,
        CDK + "manual-approval-action.ts (notificationTopic.grantPublish(options.role): the "
        "action publishes the approval request to its NotificationArn)",
    ),
    # --- Deploy: the CodeDeploy action (pipeline's role) ---------------------------------------
    Call(
        "deploy.start",
        "pipeline",
        "codedeploy:RegisterApplicationRevision",
        APPLICATION,
        CDK + "codedeploy/server-deploy-action.ts (GetApplicationRevision, "
        "RegisterApplicationRevision on the application)",
    ),
    Call(
        "deploy.start",
        "pipeline",
        "codedeploy:GetApplicationRevision",
        APPLICATION,
        CDK + "codedeploy/server-deploy-action.ts",
    ),
    Call(
        "deploy.start",
        "pipeline",
        "codedeploy:GetDeploymentConfig",
        CONFIG,
        CDK + "codedeploy/server-deploy-action.ts (GetDeploymentConfig on the group's config)",
    ),
    Call(
        "deploy.start",
        "pipeline",
        "codedeploy:CreateDeployment",
        GROUP,
        CDK + "codedeploy/server-deploy-action.ts (CreateDeployment, GetDeployment on the group)",
    ),
    # --- Deploy: CodeDeploy itself (the group's service role) ----------------------------------
    Call(
        "deploy",
        "deploy",
        "autoscaling:DescribeAutoScalingGroups",
        "*",
        CODEDEPLOY_ROLE + ": CodeDeploy finds the instances of the group's Auto Scaling groups",
        when="asg",
    ),
    Call(
        "deploy",
        "deploy",
        "ec2:DescribeInstances",
        "*",
        CODEDEPLOY_ROLE,
    ),
    Call(
        "deploy",
        "deploy",
        "elasticloadbalancing:DeregisterTargets",
        "{target_group_arn}",
        CODEDEPLOY_ROLE + ": traffic control blocks traffic to an instance before its hooks",
        when="fleet",
    ),
    Call(
        "deploy",
        "deploy",
        "elasticloadbalancing:RegisterTargets",
        "{target_group_arn}",
        CODEDEPLOY_ROLE + ": and allows it again after ValidateService",
        when="fleet",
    ),
    Call(
        "deploy",
        "deploy",
        "cloudwatch:DescribeAlarms",
        "*",
        CODEDEPLOY_ROLE + ": the group's alarms are read to stop a deployment on alarm",
        when="alarms",
    ),
    # --- The instance: the agent's download, under the instance profile -------------------------
    Call(
        "instance.bundle",
        "instance",
        "s3:GetObject",
        "arn:{partition}:s3:::{bucket}/{bundle_key}",
        INSTANCE_PROFILE + " (refused: the agent reports 'Access Denied' for DownloadBundle, "
        "poanetwork/blockscout-terraform#24)",
    ),
    Call(
        "instance.bundle",
        "instance",
        "s3:GetObjectVersion",
        "arn:{partition}:s3:::{bucket}/{bundle_key}",
        INSTANCE_PROFILE + "; a revision pinned to an S3 version is fetched by version",
        when="versioned",
    ),
    Call(
        "deploy.poll",
        "pipeline",
        "codedeploy:GetDeployment",
        GROUP,
        CDK + "codedeploy/server-deploy-action.ts: the action polls the deployment",
    ),
    # --- The instance's boot (templates/ec2.yaml user data), under the instance profile ---------
    Call(
        "instance.boot",
        "instance",
        "cloudformation:SignalResource",
        "{stack_id}",
        "templates/ec2.yaml user data: /opt/aws/bin/cfn-signal --stack ... --resource "
        "AutoScalingGroup signals the creation policy; cfn-signal calls SignalResource "
        "(CloudFormation API reference, SignalResource; the resource is the stack's ARN)",
    ),
    Call(
        "instance.boot",
        "instance",
        "ec2:AssociateAddress",
        "arn:{partition}:ec2:{region}:{account}:elastic-ip/{allocation_id}",
        "templates/ec2.yaml user data, step claim-elastic-ip: aws ec2 associate-address "
        "--allocation-id ... --instance-id ...; AssociateAddress is authorized on the Elastic "
        "IP and on the instance (Service Authorization Reference, Amazon EC2, AssociateAddress: "
        "resource types elastic-ip, instance, network-interface)",
        when="single",
    ),
    Call(
        "instance.boot",
        "instance",
        "ec2:AssociateAddress",
        "arn:{partition}:ec2:{region}:{account}:instance/{instance_id}",
        "ditto; aws:ResourceTag/<key> is the instance's own tag (IAM user guide, global "
        "condition keys, aws:ResourceTag)",
        when="single",
        context=(("aws:ResourceTag/pipekit:stack", "{instance_stack_tag}"),),
    ),
    Call(
        "instance.boot",
        "instance",
        "autoscaling:DescribeAutoScalingInstances",
        "*",
        "templates/ec2.yaml user data, step wait-in-service: aws autoscaling "
        "describe-auto-scaling-instances --instance-ids ... until LifecycleState is InService; "
        "the action has no resource types (Service Authorization Reference, Amazon EC2 Auto "
        "Scaling, DescribeAutoScalingInstances); refused, the step fails and signals FAILURE",
    ),
)


def calls_for(step: str, conditions: frozenset[str] | set[str] = frozenset()) -> list[Call]:
    """The rows a step makes, given which of its optional conditions hold."""
    return [c for c in CALLS if c.step == step and (not c.when or c.when in conditions)]


def resolve_action(call: Call, fields: Mapping[str, str]) -> str:
    """The row's action with any placeholder (the connection's service prefix) filled in."""
    return call.action.format(**fields)


ROLES = {
    "pipeline": "CodePipelineRole",
    "build": "CodeBuildRole",
    "deploy": "CodeDeployRole",
    "instance": "InstanceRole",
}


def markdown_table() -> str:
    """The table as the emulator README shows it (a test keeps the two equal)."""
    lines = [
        "| step | role | action | resource | when | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in CALLS:
        cells = (c.step, ROLES[c.principal], c.action, c.resource, c.when or "always", c.source)
        lines.append(
            "| " + " | ".join(f"`{x}`" if i < 4 else x for i, x in enumerate(cells)) + " |"
        )
    return "\n".join(lines)
