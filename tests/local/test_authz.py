"""pipekit.local.authz against roles, policies, buckets and instances made through the emulated
APIs: a role's effective policies as `pipekit.emulator.access` reads them (inline,
AWS::IAM::Policy, AWS-managed with AWS's document), the service's trust with its context, the
bucket's policy, and each refusal in AWS's wording."""

from __future__ import annotations

import json
import re

import pytest

from pipekit.emulator import access
from pipekit.iam import failures
from pipekit.local import authz
from tests.support.iam import service_role

ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "pipekit-authz-artifacts"
KEY = "pipekit-authz/BuildOutput/AbCdEfG"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(service, **condition):
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = {"StringEquals": condition}
    return doc(statement)


def unrelated():
    """A statement that allows nothing the table's calls need."""
    return {"Effect": "Allow", "Action": "sns:ListTopics", "Resource": "*"}


def bundle_principal(role_arn):
    return authz.Principal("instance", role_arn, "i-0123456789abcdef0")


def test_inline_policies_and_iam_policy_attachments_are_evaluated(aws):
    iam = aws.client("iam")
    role = iam.create_role(RoleName="instance-role", AssumeRolePolicyDocument=trust("ec2"))
    arn = role["Role"]["Arn"]
    fields = {"bucket": BUCKET, "bundle_key": KEY}
    with pytest.raises(authz.Denied) as refused:
        authz.authorize("instance.bundle", bundle_principal(arn), REGION, fields)
    assert refused.value.message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/instance-role/i-0123456789abcdef0 is not "
        f"authorized to perform: s3:GetObject on resource: arn:aws:s3:::{BUCKET}/{KEY} "
        "because no identity-based policy allows the s3:GetObject action"
    )
    assert failures.bundle(refused.value) == ("UnknownError", "Access Denied")
    # an AWS::IAM::Policy attached to the role is stored as one of its inline policies
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    iam.put_role_policy(
        RoleName="instance-role", PolicyName="bundle", PolicyDocument=doc(statement)
    )
    authz.authorize("instance.bundle", bundle_principal(arn), REGION, fields)


MANAGED_ROLE = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {Service: codedeploy.amazonaws.com}
            Action: sts:AssumeRole
      ManagedPolicyArns:
        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSCodeDeployRole
Outputs:
  Arn: {Value: !GetAtt Role.Arn}
"""


def test_an_aws_managed_policy_is_evaluated_with_awss_own_document(aws):
    cfn = aws.client("cloudformation")
    cfn.create_stack(
        StackName="managed", TemplateBody=MANAGED_ROLE, Capabilities=["CAPABILITY_IAM"]
    )
    arn = cfn.describe_stacks(StackName="managed")["Stacks"][0]["Outputs"][0]["OutputValue"]
    documents = dict(access.named_policies(ACCOUNT, arn))
    managed = documents["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRole"]
    assert "autoscaling:DescribeAutoScalingGroups" in managed["Statement"][0]["Action"]
    principal = authz.Principal("deploy", arn, "CodeDeploy")
    authz.authorize("deploy", principal, REGION, {}, {"asg"})

    bare = service_role(aws.client("iam"), "bare-deploy", ("codedeploy",), [unrelated()])
    with pytest.raises(authz.Denied) as refused:
        authz.authorize(
            "deploy", authz.Principal("deploy", bare, "CodeDeploy"), REGION, {}, {"asg"}
        )
    code, message = failures.deployment(refused.value)
    assert code == "IAM_ROLE_PERMISSIONS"
    assert message.startswith(
        f"The IAM role {bare} does not give you permission to perform operations in the "
        "following AWS service: AmazonAutoScaling. Contact your AWS administrator"
    )


def test_trust_needs_the_service_principal_and_the_context_it_sends(aws):
    iam = aws.client("iam")
    ok = iam.create_role(
        RoleName="build-ok",
        AssumeRolePolicyDocument=trust("codebuild", **{"aws:SourceAccount": ACCOUNT}),
    )["Role"]["Arn"]
    authz.check_trust("build.start", authz.Principal("build", ok, "AWSCodeBuild-x"), REGION)
    for name, document in (
        ("build-other-account", trust("codebuild", **{"aws:SourceAccount": "111122223333"})),
        ("build-other-service", trust("codepipeline")),
    ):
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)["Role"]["Arn"]
        with pytest.raises(authz.Denied) as refused:
            authz.check_trust(
                "build.start", authz.Principal("build", arn, "AWSCodeBuild-x"), REGION
            )
        assert refused.value.trust
        assert failures.build_action(refused.value).startswith(
            f"Error calling startBuild: CodeBuild is not authorized to perform: sts:AssumeRole "
            f"on {arn} (Service: AWSCodeBuild; Status Code: 400; Error Code: InvalidInputException"
        )
    pipeline = iam.create_role(RoleName="pipe", AssumeRolePolicyDocument=trust("codebuild"))
    with pytest.raises(authz.Denied) as refused:
        authz.check_trust(
            "source.upload", authz.Principal("pipeline", pipeline["Role"]["Arn"], "1"), REGION
        )
    assert failures.source(refused.value, "arn:x") == (
        f"CodePipeline is not authorized to perform AssumeRole on role {pipeline['Role']['Arn']}"
    )


def test_the_buckets_policy_applies_and_services_call_over_tls(aws):
    s3, iam = aws.client("s3"), aws.client("iam")
    s3.create_bucket(Bucket=BUCKET)
    objects = [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    tls_only = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": objects,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=doc(tls_only))
    allow = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": objects[1]}
    role = service_role(iam, "reader", ("ec2",), [allow])
    fields = {"bucket": BUCKET, "bundle_key": KEY}
    authz.authorize("instance.bundle", bundle_principal(role), REGION, fields)
    no_reads = {
        "Effect": "Deny",
        "Principal": {"AWS": role},
        "Action": "s3:GetObject",
        "Resource": objects[1],
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=doc(tls_only, no_reads))
    with pytest.raises(authz.Denied) as refused:
        authz.authorize("instance.bundle", bundle_principal(role), REGION, fields)
    assert refused.value.message.endswith("with an explicit deny in a resource-based policy")


def test_an_instance_gets_its_role_from_its_launch_templates_profile(aws):
    iam, ec2, asg = aws.client("iam"), aws.client("ec2"), aws.client("autoscaling")
    role = service_role(iam, "app-instance", ("ec2",))
    profile = iam.create_instance_profile(InstanceProfileName="app-profile")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="app-profile", RoleName="app-instance")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="app",
        LaunchTemplateData={
            "ImageId": ami,
            "InstanceType": "t3.micro",
            "IamInstanceProfile": {"Arn": profile["Arn"]},
        },
    )["LaunchTemplate"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName="app",
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        MinSize=1,
        MaxSize=1,
        AvailabilityZones=["us-east-1a"],
    )
    instance = asg.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"][0]
    assert authz.instance_role_arn(ACCOUNT, REGION, instance["InstanceId"]) == role


def test_session_arns_drop_the_roles_path():
    arn = "arn:aws:iam::123456789012:role/service-role/pipekit-CodeBuildRole-X"
    assert authz.session_arn(arn, "AWSCodeBuild-1") == (
        "arn:aws:sts::123456789012:assumed-role/pipekit-CodeBuildRole-X/AWSCodeBuild-1"
    )
    assert re.fullmatch(r"\d{13}", authz.Principal("pipeline", arn, "1660759156951").session)
