"""IAM in local mode: every call a service makes on a role's behalf is authorized against that
role's policies before local mode does what the call would do, as AWS does.

`authorize(step, Principal, fields)` evaluates the rows of `pipekit.iam.calls` for the step, each
with `pipekit.emulator.access.authorize` (the one reader and evaluator of what the account grants:
the role's identity-based policies, AWS-managed ones with AWS's own documents) and the resource's
own policy (an S3 bucket's), after checking that the role trusts the service (sts:AssumeRole by
`<service>.amazonaws.com` with the context the service sends). The first refusal raises
`Denied`; `pipekit.iam.failures` words it as the service reports it.

Session names (the caller in AWS's messages is `arn:aws:sts::<account>:assumed-role/<role
name>/<session>`): CodePipeline names its sessions with a millisecond timestamp
(awslabs/cdk-eks-blueprints#483: `.../assumed-role/<role>/1660759156951`), CodeBuild
`AWSCodeBuild-<build uuid>` (juspay/hyperswitch-cdk#37), an instance profile's session is the
instance id; CodeDeploy's session name appears in none of its messages, so `CodeDeploy` stands
in for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pipekit.emulator import access
from pipekit.iam import calls
from pipekit.iam.policy import (
    Decision,
    access_denied_message,
    evaluate,
    request_context,
    session_arn,
)

log = logging.getLogger("pipekit.local.authz")

SERVICES = {
    "pipeline": "codepipeline.amazonaws.com",
    "build": "codebuild.amazonaws.com",
    "deploy": "codedeploy.amazonaws.com",
    "instance": "ec2.amazonaws.com",
}


@dataclass(frozen=True)
class Principal:
    """Whose role a service uses: the table's principal kind, the role, the session name and
    the ARN the service names as aws:SourceArn when it assumes the role (confused-deputy
    context: CodePipeline's pipeline, CodeBuild's project, CodeDeploy's deployment group, per
    each user guide's 'Cross-service confused deputy prevention')."""

    kind: str
    role_arn: str
    session: str
    source_arn: str = ""

    @property
    def partition(self) -> str:
        parts = self.role_arn.split(":")
        return parts[1] if len(parts) > 5 else "aws"

    @property
    def account_id(self) -> str:
        parts = self.role_arn.split(":")
        return parts[4] if len(parts) > 5 else ""

    @property
    def caller(self) -> str:
        return session_arn(self.role_arn, self.session)


class Denied(Exception):
    """A call the role may not make (or a role the service may not assume: `trust`)."""

    def __init__(
        self,
        step: str,
        principal: Principal,
        action: str,
        resource: str,
        decision: Decision,
        *,
        trust: bool = False,
    ) -> None:
        self.step, self.principal, self.action, self.resource = step, principal, action, resource
        self.decision, self.trust = decision, trust
        self.message = access_denied_message(principal.caller, action, resource, decision)
        super().__init__(self.message)


# --- the instance's role ---------------------------------------------------------------------


def instance_role_arn(account_id: str, region: str, instance_id: str) -> str | None:
    """The role of the instance's profile: its profile association, else the profile in the
    launch template it was launched from (how Auto Scaling's instances get theirs)."""
    from moto.ec2.models import ec2_backends
    from moto.iam.models import iam_backends

    ec2 = ec2_backends[account_id][region]
    ref: dict[str, str] = {}
    association = ec2.iam_instance_profile_associations.get(instance_id)
    if association is not None:
        ref = {"Arn": association.iam_instance_profile.arn}
    else:
        try:
            tags = {t["key"]: t["value"] for t in ec2.get_instance(instance_id).get_tags()}
            template = ec2.get_launch_template(tags["aws:ec2launchtemplate:id"])
            version = template.get_version(tags["aws:ec2launchtemplate:version"])
            ref = dict(version.data.get("IamInstanceProfile") or {})
        except Exception:
            log.debug("no launch template profile for %s", instance_id, exc_info=True)
    if not ref:
        return None
    for profile in iam_backends[account_id]["aws"].instance_profiles.values():
        if ref.get("Arn") in (profile.arn, None) and ref.get("Name") in (profile.name, None):
            return profile.roles[0].arn if profile.roles else None
    return None


# --- the decision -----------------------------------------------------------------------------


def _nothing_allows() -> Decision:
    return evaluate([], "", "")


def role_arn(account_id: str, role: str) -> str:
    """A service role as an ARN (CodeBuild takes a project's role by name or by ARN)."""
    return role if role.startswith("arn:") else f"arn:aws:iam::{account_id}:role/{role}"


def check_trust(step: str, principal: Principal, region: str) -> None:
    """The service may assume the role: its trust policy allows sts:AssumeRole by the service
    principal with aws:SourceAccount and aws:SourceArn as the service sends them."""
    trust = access.trust_policy(principal.account_id, principal.role_arn)
    service = SERVICES[principal.kind]
    if trust is None:
        raise Denied(
            step, principal, "sts:AssumeRole", principal.role_arn, _nothing_allows(), trust=True
        )
    context = {"aws:SourceAccount": principal.account_id}
    if principal.source_arn:
        context["aws:SourceArn"] = principal.source_arn
    decision = evaluate(
        [],
        "sts:AssumeRole",
        principal.role_arn,
        context,
        resource_policy=trust,
        caller=service,
    )
    if not decision.allowed:
        raise Denied(step, principal, "sts:AssumeRole", principal.role_arn, decision, trust=True)


def request(
    call: calls.Call, principal: Principal, region: str, fields: dict[str, str]
) -> tuple[str, str, dict[str, Any]]:
    """The row's action, resource ARN and request context for this principal and fields."""
    values = {"partition": principal.partition, "region": region}
    values |= {"account": principal.account_id, **fields}
    context: dict[str, Any] = {
        **request_context(principal.role_arn, principal.account_id),
        **call.request_context(values),
    }
    return calls.resolve_action(call, values), call.arn(values), context


def rows(step: str, kind: str, conditions: frozenset[str] | set[str]) -> list[calls.Call]:
    return [c for c in calls.calls_for(step, conditions) if c.principal == kind]


def authorize(
    step: str,
    principal: Principal,
    region: str,
    fields: dict[str, str],
    conditions: frozenset[str] | set[str] = frozenset(),
    *,
    trust: bool = True,
) -> None:
    """Authorize the step's calls for the principal, in the table's order; raises `Denied`."""
    made = rows(step, principal.kind, conditions)
    if not made:
        return
    if trust and principal.kind != "instance":
        check_trust(step, principal, region)
    for call in made:
        action, resource, context = request(call, principal, region, fields)
        resource_policy = None
        if action.lower().startswith("s3:") and fields.get("bucket"):
            resource_policy = access.bucket_policy(principal.account_id, fields["bucket"])
        decision = access.authorize(
            principal.account_id, principal.role_arn, action, resource, context, resource_policy
        )
        if not decision.allowed:
            denied = Denied(step, principal, action, resource, decision)
            # the statements (or access's reason, e.g. an unmodelled document) behind it
            log.info("%s: %s (%s)", step, denied.message, decision.matched)
            raise denied


# --- CodeDeploy's side (pipekit.local.deployer) -------------------------------------------------


def deployment_refusal(account_id: str, region: str, group: Any) -> tuple[str, str] | None:
    """(error code, message) failing a deployment when CodeDeploy's calls with the group's
    service role are refused, else None."""
    from pipekit.iam import failures

    app = group.application.application_name
    principal = Principal(
        "deploy",
        str(group.service_role_arn or ""),
        "CodeDeploy",
        f"arn:aws:codedeploy:{region}:{account_id}:deploymentgroup:{app}/"
        f"{group.deployment_group_name}",
    )
    conditions = set()
    if group.auto_scaling_groups:
        conditions.add("asg")
    alarms = group.alarm_configuration or {}
    if str(alarms.get("enabled", alarms.get("Enabled", False))).lower() == "true":
        conditions.add("alarms")
    try:
        authorize("deploy", principal, region, {}, conditions)
        # traffic control: Deregister/RegisterTargets on each of the group's target groups
        for arn in _traffic_target_groups(account_id, region, group):
            authorize("deploy", principal, region, {"target_group_arn": arn}, {"fleet"})
    except Denied as denied:
        return failures.deployment(denied)
    return None


def _traffic_target_groups(account_id: str, region: str, group: Any) -> list[str]:
    from pipekit.local.runtime.agent import EventFailure
    from pipekit.local.traffic import target_groups

    try:
        return [tg.arn for tg in target_groups(account_id, region, group)]
    except EventFailure:  # a missing target group fails the deployment in the deployer
        return []


def bundle_refusal(
    account_id: str, region: str, instance_id: str, s3_location: dict[str, str]
) -> tuple[str, str] | None:
    """(diagnostics code, message) failing the instance's DownloadBundle when S3 refuses its
    instance profile the revision, else None. An instance without a profile is not checked:
    on AWS its agent gets no credentials at all and never polls for the deployment."""
    from pipekit.iam import failures

    role_arn = instance_role_arn(account_id, region, instance_id)
    if role_arn is None:
        log.info("instance %s has no instance profile: its download is not authorized", instance_id)
        return None
    principal = Principal("instance", role_arn, instance_id)
    fields = {"bucket": s3_location["bucket"], "bundle_key": s3_location["key"]}
    conditions = {"versioned"} if s3_location.get("version") else set()
    try:
        authorize("instance.bundle", principal, region, fields, conditions)
    except Denied as denied:
        return failures.bundle(denied)
    return None
