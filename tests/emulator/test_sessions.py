"""Requests signed with a role session's credentials (pipekit.emulator.sessions) are authorized
against the role's policies and the bucket's, and refused with each service's own error in AWS's
wording; requests with any other credentials are not touched."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pipekit.emulator import sessions
from tests.support.emulator_fixtures import advance_clock
from tests.support.iam import service_role

ACCOUNT = "123456789012"
BUCKET = "session-bucket"


def session_client(aws, service: str, credentials: dict, **overrides):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=aws.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=overrides.get("token", credentials["SessionToken"]),
    )


def error(caught: pytest.ExceptionInfo) -> tuple[int, str, str]:
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
    )


@pytest.fixture
def role(aws):
    """A role allowed to list the bucket and read its objects; the bucket holds one object."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="a/one.zip", Body=b"1")
    return service_role(
        aws.client("iam"),
        "pruner",
        ("codebuild",),
        [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        ],
    )


def test_a_session_is_its_role_and_may_do_what_the_role_allows(aws, role):
    credentials = sessions.issue(ACCOUNT, role, "AWSCodeBuild-1")
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    sts = session_client(aws, "sts", credentials)
    identity = sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/pruner/AWSCodeBuild-1"
    assert identity["Account"] == ACCOUNT
    assert identity["UserId"].startswith("AROA") and identity["UserId"].endswith(":AWSCodeBuild-1")
    s3 = session_client(aws, "s3", credentials)
    listed = s3.list_objects_v2(Bucket=BUCKET)
    assert [o["Key"] for o in listed["Contents"]] == ["a/one.zip"]
    assert s3.get_object(Bucket=BUCKET, Key="a/one.zip")["Body"].read() == b"1"


def test_a_call_the_role_does_not_allow_fails_with_the_services_error(aws, role):
    credentials = sessions.issue(ACCOUNT, role, "S")
    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/pruner/S"
    s3 = session_client(aws, "s3", credentials)
    with pytest.raises(ClientError) as caught:
        s3.put_object_tagging(
            Bucket=BUCKET, Key="a/one.zip", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        )
    assert error(caught) == (
        403,
        "AccessDenied",
        f"User: {caller} is not authorized to perform: s3:PutObjectTagging on resource: "
        f'"arn:aws:s3:::{BUCKET}/a/one.zip" because no identity-based policy allows the '
        "s3:PutObjectTagging action",
    )
    assert aws.client("s3").get_object_tagging(Bucket=BUCKET, Key="a/one.zip")["TagSet"] == []

    codedeploy = session_client(aws, "codedeploy", credentials)
    with pytest.raises(ClientError) as caught:
        codedeploy.list_deployments(applicationName="app", deploymentGroupName="grp")
    assert error(caught) == (
        400,
        "AccessDeniedException",
        f"User: {caller} is not authorized to perform: codedeploy:ListDeployments on resource: "
        f"arn:aws:codedeploy:us-east-1:{ACCOUNT}:deploymentgroup:app/grp because no "
        "identity-based policy allows the codedeploy:ListDeployments action",
    )


def test_a_missing_object_is_not_found_only_to_a_role_that_may_list_the_bucket(aws, role):
    s3 = session_client(aws, "s3", sessions.issue(ACCOUNT, role, "S"))
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=BUCKET, Key="a/missing.zip")
    assert error(caught)[:2] == (404, "NoSuchKey")

    reader = service_role(
        aws.client("iam"),
        "reader",
        ("codebuild",),
        [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}],
    )
    s3 = session_client(aws, "s3", sessions.issue(ACCOUNT, reader, "S"))
    assert s3.get_object(Bucket=BUCKET, Key="a/one.zip")["Body"].read() == b"1"
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=BUCKET, Key="a/missing.zip")
    assert error(caught) == (403, "AccessDenied", "Access Denied")
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=BUCKET, Key="a/missing.zip")
    assert error(caught)[:2] == (403, "403")


def test_the_buckets_policy_applies_and_requests_count_as_tls(aws, role):
    s3_admin = aws.client("s3")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {  # the templates' own statement: harmless, requests are made over TLS
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Effect": "Deny",
                "Principal": {"AWS": role},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/a/*",
            },
        ],
    }
    s3_admin.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(deny))
    s3 = session_client(aws, "s3", sessions.issue(ACCOUNT, role, "S"))
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=BUCKET, Key="a/one.zip")
    assert error(caught) == (
        403,
        "AccessDenied",
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/pruner/S is not authorized to perform: "
        f's3:GetObject on resource: "arn:aws:s3:::{BUCKET}/a/one.zip" with an explicit deny '
        "in a resource-based policy",
    )


def test_an_operation_local_mode_does_not_model_is_refused(aws, role):
    s3 = session_client(aws, "s3", sessions.issue(ACCOUNT, role, "S"))
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_acl(Bucket=BUCKET)
    status, code, message = error(caught)
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith("local mode does not model the IAM authorization of s3 GET")
    assert "pipekit/iam/operations.py" in message


def test_other_credentials_are_not_authorized_at_all(aws, role):
    sessions.issue(ACCOUNT, role, "S")
    s3 = aws.client("s3")  # the dummy credentials the harness and the tests use
    s3.put_object_tagging(
        Bucket=BUCKET, Key="a/one.zip", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    assert s3.get_bucket_acl(Bucket=BUCKET)["Grants"]


def test_revoked_expired_or_mismatched_credentials_are_refused(aws, role):
    credentials = sessions.issue(ACCOUNT, role, "S")
    with pytest.raises(ClientError) as caught:
        session_client(aws, "s3", credentials, token="forged").list_objects_v2(Bucket=BUCKET)
    assert error(caught) == (
        400,
        "InvalidToken",
        "The provided token is malformed or otherwise invalid.",
    )

    sessions.revoke(credentials["AccessKeyId"])
    with pytest.raises(ClientError) as caught:
        session_client(aws, "s3", credentials).list_objects_v2(Bucket=BUCKET)
    assert error(caught) == (
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    )
    with pytest.raises(ClientError) as caught:
        session_client(aws, "codedeploy", credentials).list_applications()
    assert error(caught) == (
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    with pytest.raises(ClientError) as caught:
        session_client(aws, "sts", credentials).get_caller_identity()
    assert error(caught) == (
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    )

    expiring = sessions.issue(ACCOUNT, role, "S", duration_s=900)
    advance_clock(aws, seconds=901)
    with pytest.raises(ClientError) as caught:
        session_client(aws, "s3", expiring).list_objects_v2(Bucket=BUCKET)
    assert error(caught) == (400, "ExpiredToken", "The provided token has expired.")


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_a_presigned_url_is_authorized_as_its_session(aws, role, signature_version):
    """boto3 presigns S3 URLs with SigV2 query authentication by default (AWSAccessKeyId) and
    with SigV4 (X-Amz-Credential) when asked: either way the session's role decides."""
    credentials = sessions.issue(ACCOUNT, role, "S")
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=aws.endpoint_url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=Config(signature_version=signature_version),
    )
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "a/one.zip"})
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"1"
    url = s3.generate_presigned_url("get_bucket_acl", Params={"Bucket": BUCKET})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=10)
    assert caught.value.code == 403
    assert b"local mode does not model the IAM authorization of s3" in caught.value.read()
