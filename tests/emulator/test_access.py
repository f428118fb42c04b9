"""pipekit.emulator.access: a role's effective identity policies and a bucket's policy as plain
dicts, read from what the APIs created, and `authorize` evaluating a call against them; then the
real templates: the roles carry AWS's managed policies with AWS's documents, and the artifact
bucket's TLS-only guardrail denies what the roles' own policies allow."""

from __future__ import annotations

import json
from typing import Any

from pipekit.emulator.access import (
    authorize,
    bucket_policy,
    identity_policies,
    named_policies,
    trust_policy,
)
from pipekit.iam.policy import ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY
from tests.emulator.test_iam_reads import (
    ACCOUNT,
    CODEDEPLOY_ARN,
    READ,
    SSM_ARN,
    TRUST,
    WRITE,
    aws_document,
    cfn_role,  # noqa: F401 (fixture)
)
from tests.emulator.test_stack import deploy

BUCKET = "access-bucket"
TLS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::access-bucket", "arn:aws:s3:::access-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}
SECURE = {"aws:SecureTransport": "true"}
INSECURE = {"aws:SecureTransport": "false"}


def role_arn(aws: Any, name: str) -> str:
    return aws.client("iam").get_role(RoleName=name)["Role"]["Arn"]


def test_identity_policies_are_inline_then_attached_documents(aws: Any, cfn_role: str) -> None:  # noqa: F811
    found = identity_policies(ACCOUNT, role_arn(aws, cfn_role))
    assert found == [READ, WRITE, aws_document("AmazonSSMManagedInstanceCore")]
    assert identity_policies(ACCOUNT, cfn_role) == found  # by name too
    assert identity_policies(ACCOUNT, "arn:aws:iam::123456789012:role/nobody") == []


def test_named_policies_name_each_document_and_the_trust_policy_is_read(
    aws: Any,
    cfn_role: str,  # noqa: F811
) -> None:
    arn = role_arn(aws, cfn_role)
    ssm = aws_document("AmazonSSMManagedInstanceCore")
    # inline policies by name (AWS::IAM::Policy's too), managed ones by ARN: what the IAM
    # mutation test needs to name the statement or policy that grants a call
    assert named_policies(ACCOUNT, arn) == [("read", READ), ("write", WRITE), (SSM_ARN, ssm)]
    assert trust_policy(ACCOUNT, arn) == TRUST
    assert trust_policy(ACCOUNT, cfn_role) == TRUST
    assert trust_policy(ACCOUNT, "arn:aws:iam::123456789012:role/nobody") is None
    assert trust_policy("", "") is None  # a deployment group without a service role


def test_authorize_evaluates_the_roles_policies(aws: Any, cfn_role: str) -> None:  # noqa: F811
    arn = role_arn(aws, cfn_role)
    assert authorize(ACCOUNT, arn, "s3:GetObject", "arn:aws:s3:::b/k").result == ALLOWED
    assert authorize(ACCOUNT, arn, "s3:PutObject", "arn:aws:s3:::b/k").result == ALLOWED
    assert authorize(ACCOUNT, arn, "s3:DeleteObject", "arn:aws:s3:::b/k").result == IMPLICIT_DENY
    # from the AWS-managed AmazonSSMManagedInstanceCore
    assert authorize(ACCOUNT, arn, "ssm:UpdateInstanceInformation", "*").result == ALLOWED


def test_a_bucket_policy_is_read_as_a_dict_and_can_deny(aws: Any, cfn_role: str) -> None:  # noqa: F811
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    assert bucket_policy(ACCOUNT, BUCKET) is None
    assert bucket_policy(ACCOUNT, "no-such-bucket") is None
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(TLS_ONLY))
    policy = bucket_policy(ACCOUNT, BUCKET)
    assert policy == TLS_ONLY
    arn = role_arn(aws, cfn_role)
    reads_bucket = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
        ],
    }
    aws.client("iam").put_role_policy(
        RoleName=cfn_role, PolicyName="bucket", PolicyDocument=json.dumps(reads_bucket)
    )
    insecure = authorize(ACCOUNT, arn, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/k", INSECURE, policy)
    assert insecure.result == EXPLICIT_DENY
    assert insecure.matched == ["resource:DenyInsecureTransport"]
    secure = authorize(ACCOUNT, arn, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/k", SECURE, policy)
    assert secure.result == ALLOWED


def test_authorize_never_raises_and_fails_closed(aws: Any) -> None:
    iam = aws.client("iam")
    missing = authorize(ACCOUNT, "arn:aws:iam::123456789012:role/nobody", "s3:GetObject", "*")
    assert missing.result == IMPLICIT_DENY
    iam.create_role(RoleName="odd", AssumeRolePolicyDocument=json.dumps(TRUST))
    odd = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
            }
        ],
    }
    iam.put_role_policy(RoleName="odd", PolicyName="odd", PolicyDocument=json.dumps(odd))
    decision = authorize(ACCOUNT, role_arn(aws, "odd"), "s3:GetObject", "arn:aws:s3:::b/k")
    assert decision.result == IMPLICIT_DENY
    assert decision.matched[0].startswith("unsupported: condition operator DateGreaterThan")


def roles_by_logical_name(aws: Any) -> dict[str, str]:
    """The templates' roles, by the logical name their generated physical names carry."""
    names = [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"]]
    wanted = ("CodeDeployRole", "InstanceRole", "CodeBuildRole", "CodePipelineRole")
    return {w: n for w in wanted for n in names if f"-{w}-" in n}


def test_the_templates_roles_carry_aws_managed_policies_with_aws_documents(aws: Any) -> None:
    deploy(aws)
    iam = aws.client("iam")
    roles = roles_by_logical_name(aws)
    for logical, arn, name in (
        ("CodeDeployRole", CODEDEPLOY_ARN, "AWSCodeDeployRole"),
        ("InstanceRole", SSM_ARN, "AmazonSSMManagedInstanceCore"),
    ):
        attached = iam.list_attached_role_policies(RoleName=roles[logical])["AttachedPolicies"]
        assert attached == [{"PolicyName": name, "PolicyArn": arn}]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
        assert document["Document"] == aws_document(name)
    assert (
        iam.list_attached_role_policies(RoleName=roles["CodeBuildRole"])["AttachedPolicies"] == []
    )


def test_the_artifact_bucket_denies_insecure_transport_to_the_roles(aws: Any) -> None:
    outputs = deploy(aws)
    bucket = outputs["ArtifactBucketName"]
    policy = bucket_policy(ACCOUNT, bucket)
    instance = role_arn(aws, roles_by_logical_name(aws)["InstanceRole"])
    codedeploy = role_arn(aws, roles_by_logical_name(aws)["CodeDeployRole"])
    bundle = f"arn:aws:s3:::{bucket}/pipekit-local-pipeline/BuildOutpu/abc.zip"
    assert authorize(ACCOUNT, instance, "s3:GetObject", bundle, SECURE, policy).result == ALLOWED
    denied = authorize(ACCOUNT, instance, "s3:GetObject", bundle, INSECURE, policy)
    assert denied.result == EXPLICIT_DENY
    # the policy ec2.yaml's AWS::IAM::Policy puts on the instance role counts too
    cfn = aws.client("cloudformation")
    ec2_stack = cfn.describe_stack_resource(StackName="pipekit-local", LogicalResourceId="Ec2Stack")
    ec2_stack_id = ec2_stack["StackResourceDetail"]["PhysicalResourceId"]
    signal = authorize(ACCOUNT, instance, "cloudformation:SignalResource", ec2_stack_id)
    assert signal.result == ALLOWED
    other = ec2_stack_id.replace("Ec2Stack", "OtherStack")
    assert (
        authorize(ACCOUNT, instance, "cloudformation:SignalResource", other).result == IMPLICIT_DENY
    )
    # AWSCodeDeployRole (AWS's document) grants the lifecycle-hook calls CodeDeploy makes
    hook = authorize(ACCOUNT, codedeploy, "autoscaling:CompleteLifecycleAction", "*")
    assert hook.result == ALLOWED
    assert authorize(ACCOUNT, codedeploy, "s3:GetObject", bundle).result == IMPLICIT_DENY
