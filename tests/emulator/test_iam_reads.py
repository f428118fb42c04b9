"""IAM's read APIs as AWS answers them, through real boto3 clients against the emulator.

Wire values are read from the raw XML (botocore's `json_decode_policies` handler URL-decodes and
parses every `policyDocumentType` member, so a client alone cannot tell an encoded document from
a Python repr that happens to parse); parsed responses are checked against the output shapes.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote, unquote

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.parsers import QueryParser

from tests.support.shapes import check_output

ACCOUNT = "123456789012"
CODEDEPLOY_ARN = "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRole"
SSM_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def trust(service: str) -> dict[str, Any]:
    """A trust policy letting `service` assume the role."""
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement]}


TRUST = trust("ec2.amazonaws.com")
CODEDEPLOY_TRUST = trust("codedeploy.amazonaws.com")
READ = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    ],
}
WRITE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"}],
}


def aws_document(name: str) -> dict[str, Any]:
    """AWS's own document of an AWS-managed policy, as moto ships it (imported from AWS)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)[name]["Document"]


def call_raw(client: Any, operation: str, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parsed response, and the response parsed without botocore's policy decoding (what
    travelled on the wire, member by member)."""
    captured: dict[str, Any] = {}

    def grab(response_dict: dict[str, Any], **_: Any) -> None:
        captured.update(response_dict)

    event = f"before-parse.iam.{operation}"
    client.meta.events.register(event, grab)
    try:
        parsed = getattr(client, xform_name(operation))(**kwargs)
    finally:
        client.meta.events.unregister(event, grab)
    shape = client.meta.service_model.operation_model(operation).output_shape
    wire = QueryParser().parse(captured, shape)
    return parsed, wire


def wire_texts(body: bytes, element: str) -> list[str]:
    root = ET.fromstring(body)
    return [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == element]


def assert_url_encoded(raw: str, expected: dict[str, Any]) -> None:
    # RFC 3986: everything but the unreserved characters is percent-encoded (IAM API reference,
    # GetRolePolicy / PolicyVersion: "URL-encoded compliant with RFC 3986")
    assert raw == quote(unquote(raw), safe=""), raw[:120]
    assert json.loads(unquote(raw)) == expected


def template(resources: dict[str, Any]) -> str:
    return json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources})


def role_resource(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {"AssumeRolePolicyDocument": TRUST, **properties},
    }


def create_stack(aws: Any, name: str, body: str) -> str:
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def physical_id(aws: Any, stack: str, logical: str) -> str:
    cfn = aws.client("cloudformation")
    detail = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical)
    return detail["StackResourceDetail"]["PhysicalResourceId"]


@pytest.fixture
def cfn_role(aws: Any) -> str:
    """A role created by CloudFormation with an inline policy (Policies), an AWS-managed policy
    (ManagedPolicyArns) and an AWS::IAM::Policy that names it."""
    body = template(
        {
            "Role": role_resource(
                Policies=[{"PolicyName": "read", "PolicyDocument": READ}],
                ManagedPolicyArns=[SSM_ARN],
            ),
            "Extra": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "write",
                    "Roles": [{"Ref": "Role"}],
                    "PolicyDocument": WRITE,
                },
            },
        }
    )
    assert create_stack(aws, "iam-reads", body) == "CREATE_COMPLETE"
    return physical_id(aws, "iam-reads", "Role")


def test_get_role_policy_sends_the_url_encoded_json_document(aws: Any, cfn_role: str) -> None:
    iam = aws.client("iam")
    for name, expected in (("read", READ), ("write", WRITE)):
        parsed, wire = call_raw(iam, "GetRolePolicy", RoleName=cfn_role, PolicyName=name)
        assert_url_encoded(wire["PolicyDocument"], expected)
        assert parsed["PolicyDocument"] == expected  # botocore decodes it, as the CLI shows it
        check_output("iam", "GetRolePolicy", wire)


def test_put_role_policy_reads_back_encoded(aws: Any) -> None:
    iam = aws.client("iam")
    iam.create_role(RoleName="api-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName="api-role", PolicyName="read", PolicyDocument=json.dumps(READ))
    _, wire = call_raw(iam, "GetRolePolicy", RoleName="api-role", PolicyName="read")
    assert_url_encoded(wire["PolicyDocument"], READ)


def test_list_role_policies_names_every_inline_policy(aws: Any, cfn_role: str) -> None:
    listed = aws.client("iam").list_role_policies(RoleName=cfn_role)
    assert sorted(listed["PolicyNames"]) == ["read", "write"]
    check_output("iam", "ListRolePolicies", listed)


def test_get_role_sends_the_trust_policy_url_encoded(aws: Any, cfn_role: str) -> None:
    _, wire = call_raw(aws.client("iam"), "GetRole", RoleName=cfn_role)
    assert_url_encoded(wire["Role"]["AssumeRolePolicyDocument"], TRUST)
    check_output("iam", "GetRole", wire)


def test_cloudformation_attaches_the_aws_managed_policy(aws: Any, cfn_role: str) -> None:
    iam = aws.client("iam")
    attached = iam.list_attached_role_policies(RoleName=cfn_role)
    assert attached["AttachedPolicies"] == [
        {"PolicyName": "AmazonSSMManagedInstanceCore", "PolicyArn": SSM_ARN}
    ]
    check_output("iam", "ListAttachedRolePolicies", attached)
    policy = iam.get_policy(PolicyArn=SSM_ARN)["Policy"]
    assert policy["Arn"] == SSM_ARN
    assert policy["AttachmentCount"] == 1
    _, wire = call_raw(
        iam, "GetPolicyVersion", PolicyArn=SSM_ARN, VersionId=policy["DefaultVersionId"]
    )
    assert wire["PolicyVersion"]["IsDefaultVersion"] is True
    assert_url_encoded(
        wire["PolicyVersion"]["Document"], aws_document("AmazonSSMManagedInstanceCore")
    )
    check_output("iam", "GetPolicyVersion", wire)


def test_attach_role_policy_attaches_an_aws_managed_policy(aws: Any) -> None:
    iam = aws.client("iam")
    iam.create_role(RoleName="cd", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(RoleName="cd", PolicyArn=CODEDEPLOY_ARN)
    attached = iam.list_attached_role_policies(RoleName="cd")["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSCodeDeployRole", "PolicyArn": CODEDEPLOY_ARN}]
    policy = iam.get_policy(PolicyArn=CODEDEPLOY_ARN)
    assert policy["Policy"]["Path"] == "/service-role/"
    check_output("iam", "GetPolicy", policy)
    version = iam.get_policy_version(
        PolicyArn=CODEDEPLOY_ARN, VersionId=policy["Policy"]["DefaultVersionId"]
    )
    assert version["PolicyVersion"]["Document"] == aws_document("AWSCodeDeployRole")


def test_list_policies_lists_aws_managed_policies(aws: Any) -> None:
    iam = aws.client("iam")
    arns = {
        p["Arn"]
        for page in iam.get_paginator("list_policies").paginate(
            Scope="AWS", PaginationConfig={"PageSize": 1000}
        )
        for p in page["Policies"]
    }
    assert {CODEDEPLOY_ARN, SSM_ARN} <= arns
    assert iam.list_policies(Scope="Local")["Policies"] == []


def test_attaching_a_policy_that_does_not_exist_fails_as_on_aws(aws: Any) -> None:
    # AWS: NoSuchEntity (404), "Policy <arn> does not exist or is not attachable." (moto PR
    # getmoto/moto#6482 quotes AWS's answer; aws/aws-cdk#17278 shows it through CloudFormation)
    iam = aws.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(TRUST))
    missing = "arn:aws:iam::aws:policy/NoSuchPolicyAnywhere"
    with pytest.raises(ClientError) as caught:
        iam.attach_role_policy(RoleName="r", PolicyArn=missing)
    error = caught.value.response
    assert error["Error"]["Code"] == "NoSuchEntity"
    assert error["Error"]["Message"] == f"Policy {missing} does not exist or is not attachable."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_role_that_does_not_exist_is_named_as_aws_names_it(aws: Any) -> None:
    # AWS: "The role with name <name> cannot be found." (NoSuchEntity; e.g. hashicorp/terraform
    # issues, prowler-cloud/prowler#2872 quoting ListRolePolicies)
    iam = aws.client("iam")
    with pytest.raises(ClientError) as caught:
        iam.get_role(RoleName="nobody")
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"
    assert caught.value.response["Error"]["Message"] == "The role with name nobody cannot be found."


def test_a_template_naming_a_missing_managed_policy_fails_the_role(aws: Any) -> None:
    missing = "arn:aws:iam::aws:policy/NoSuchPolicyAnywhere"
    body = template({"Role": role_resource(ManagedPolicyArns=[missing])})
    assert create_stack(aws, "bad-arn", body) == "ROLLBACK_COMPLETE"
    events = aws.client("cloudformation").describe_stack_events(StackName="bad-arn")["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert failed[0]["LogicalResourceId"] == "Role"
    # the reason as CloudFormation words it (newrelic/aws-log-ingestion#77)
    assert failed[0]["ResourceStatusReason"].startswith(
        f"Policy {missing} does not exist or is not attachable. (Service: "
        "AmazonIdentityManagement; Status Code: 404; Error Code: NoSuchEntity; Request ID: "
    )
    assert aws.client("iam").list_roles()["Roles"] == []


def test_updates_and_deletes_follow_the_managed_policy_arns(aws: Any) -> None:
    cfn, iam = aws.client("cloudformation"), aws.client("iam")
    body = template({"Role": role_resource(ManagedPolicyArns=[SSM_ARN])})
    assert create_stack(aws, "arns", body) == "CREATE_COMPLETE"
    role = physical_id(aws, "arns", "Role")
    cfn.update_stack(
        StackName="arns",
        TemplateBody=template(
            {
                "Role": {
                    "Type": "AWS::IAM::Role",
                    "Properties": {
                        "AssumeRolePolicyDocument": CODEDEPLOY_TRUST,
                        "ManagedPolicyArns": [CODEDEPLOY_ARN],
                        "Policies": [{"PolicyName": "read", "PolicyDocument": READ}],
                        "MaxSessionDuration": 7200,
                    },
                }
            }
        ),
        Capabilities=["CAPABILITY_IAM"],
    )
    assert cfn.describe_stacks(StackName="arns")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [CODEDEPLOY_ARN]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["read"]
    assert iam.get_policy(PolicyArn=SSM_ARN)["Policy"]["AttachmentCount"] == 0
    updated = iam.get_role(RoleName=role)["Role"]
    assert updated["AssumeRolePolicyDocument"] == CODEDEPLOY_TRUST
    assert updated["MaxSessionDuration"] == 7200
    cfn.delete_stack(StackName="arns")
    assert iam.list_roles()["Roles"] == []
    assert iam.get_policy(PolicyArn=CODEDEPLOY_ARN)["Policy"]["AttachmentCount"] == 0


def test_policy_versions_carry_the_document_only_where_aws_sends_it(aws: Any) -> None:
    # PolicyVersion.Document: "returned in the response to the GetPolicyVersion and
    # GetAccountAuthorizationDetails operations. It is not returned in the response to the
    # CreatePolicyVersion or ListPolicyVersions operations." (botocore's IAM model)
    iam = aws.client("iam")
    arn = iam.create_policy(PolicyName="mine", PolicyDocument=json.dumps(READ))["Policy"]["Arn"]
    created = iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(WRITE), SetAsDefault=True
    )
    assert "Document" not in created["PolicyVersion"]
    check_output("iam", "CreatePolicyVersion", created)
    listed = iam.list_policy_versions(PolicyArn=arn)
    assert [v.get("Document") for v in listed["Versions"]] == [None, None]
    check_output("iam", "ListPolicyVersions", listed)
    _, wire = call_raw(iam, "GetPolicyVersion", PolicyArn=arn, VersionId="v2")
    assert_url_encoded(wire["PolicyVersion"]["Document"], WRITE)


def test_account_authorization_details_encode_every_document(aws: Any, cfn_role: str) -> None:
    iam = aws.client("iam")
    iam.create_policy(PolicyName="mine", PolicyDocument=json.dumps(READ))
    parsed, wire = call_raw(iam, "GetAccountAuthorizationDetails")
    check_output("iam", "GetAccountAuthorizationDetails", wire)
    (role,) = [r for r in wire["RoleDetailList"] if r["RoleName"] == cfn_role]
    assert_url_encoded(role["AssumeRolePolicyDocument"], TRUST)
    inline = {p["PolicyName"]: p["PolicyDocument"] for p in role["RolePolicyList"]}
    assert_url_encoded(inline["read"], READ)
    assert_url_encoded(inline["write"], WRITE)
    assert role["AttachedManagedPolicies"] == [
        {"PolicyName": "AmazonSSMManagedInstanceCore", "PolicyArn": SSM_ARN}
    ]
    (mine,) = [p for p in wire["Policies"] if p["PolicyName"] == "mine"]
    assert_url_encoded(mine["PolicyVersionList"][0]["Document"], READ)
    (parsed_role,) = [r for r in parsed["RoleDetailList"] if r["RoleName"] == cfn_role]
    assert parsed_role["AssumeRolePolicyDocument"] == TRUST


def test_wire_documents_have_no_python_repr(aws: Any, cfn_role: str) -> None:
    captured: dict[str, Any] = {}
    iam = aws.client("iam")
    iam.meta.events.register(
        "before-parse.iam.GetRolePolicy", lambda response_dict, **_: captured.update(response_dict)
    )
    iam.get_role_policy(RoleName=cfn_role, PolicyName="read")
    (raw,) = wire_texts(captured["body"], "PolicyDocument")
    assert "'" not in raw and "{" not in raw
