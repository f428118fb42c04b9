"""The operation table (pipekit.iam.operations): which IAM action and resource each request a
role session makes is authorized as, and that anything else is refused (fail closed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipekit.iam import operations
from pipekit.iam.operations import Request, authorizations, identify

WHERE = {"partition": "aws", "region": "us-east-1", "account": "123456789012"}


def authorized(request: Request, **kwargs) -> list[tuple[str, str]]:
    name, fields = identify(request)
    return authorizations(request.service, name, fields, **WHERE, **kwargs)


@pytest.mark.parametrize(
    ("method", "path", "query", "name", "expected"),
    [
        ("GET", "/bkt", {"list-type": "2", "prefix": "a/"}, "ListObjectsV2",
         ("s3:ListBucket", "arn:aws:s3:::bkt")),
        ("GET", "/bkt", {"marker": "x"}, "ListObjects", ("s3:ListBucket", "arn:aws:s3:::bkt")),
        ("GET", "/bkt", {"versions": ""}, "ListObjectVersions",
         ("s3:ListBucketVersions", "arn:aws:s3:::bkt")),
        ("HEAD", "/bkt", {}, "HeadBucket", ("s3:ListBucket", "arn:aws:s3:::bkt")),
        ("GET", "/bkt/a/b%20c.zip", {}, "GetObject",
         ("s3:GetObject", "arn:aws:s3:::bkt/a/b c.zip")),
        ("HEAD", "/bkt/k", {}, "HeadObject", ("s3:GetObject", "arn:aws:s3:::bkt/k")),
        ("HEAD", "/bkt/k", {"versionId": "v1"}, "HeadObject",
         ("s3:GetObjectVersion", "arn:aws:s3:::bkt/k")),
        ("GET", "/bkt/k", {"tagging": ""}, "GetObjectTagging",
         ("s3:GetObjectTagging", "arn:aws:s3:::bkt/k")),
        ("PUT", "/bkt/k", {"tagging": ""}, "PutObjectTagging",
         ("s3:PutObjectTagging", "arn:aws:s3:::bkt/k")),
        ("PUT", "/bkt/k", {"tagging": "", "versionId": "v1"}, "PutObjectTagging",
         ("s3:PutObjectVersionTagging", "arn:aws:s3:::bkt/k")),
        ("GET", "/bkt/k", {"response-content-type": "text/plain", "x-id": "GetObject"},
         "GetObject", ("s3:GetObject", "arn:aws:s3:::bkt/k")),
        # presigned URLs: SigV4 and SigV2 query authentication
        ("GET", "/bkt/k", {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "c",
                           "X-Amz-Date": "d", "X-Amz-Expires": "1", "X-Amz-SignedHeaders": "h",
                           "X-Amz-Security-Token": "t", "X-Amz-Signature": "s"},
         "GetObject", ("s3:GetObject", "arn:aws:s3:::bkt/k")),
        ("GET", "/bkt/k", {"AWSAccessKeyId": "ASIA", "Signature": "s", "Expires": "1",
                           "x-amz-security-token": "t"},
         "GetObject", ("s3:GetObject", "arn:aws:s3:::bkt/k")),
    ],
)  # fmt: skip
def test_s3_requests_map_to_their_action_and_resource(method, path, query, name, expected):
    request = Request("s3", method, path, query)
    assert identify(request)[0] == name
    assert authorized(request) == [expected]


def test_codedeploy_deployments_are_authorized_on_their_deployment_group():
    group = "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:app/grp"
    listing = Request(
        "codedeploy",
        "POST",
        "/",
        target="CodeDeploy_20141006.ListDeployments",
        params={"applicationName": "app", "deploymentGroupName": "grp"},
    )
    assert authorized(listing) == [("codedeploy:ListDeployments", group)]

    groups = {"d-1": ("app", "grp"), "d-2": ("app", "grp"), "d-3": ("app", "other")}
    batch = Request(
        "codedeploy",
        "POST",
        "/",
        target="CodeDeploy_20141006.BatchGetDeployments",
        params={"deploymentIds": ["d-1", "d-2", "d-3", "d-missing"]},
    )
    assert authorized(batch, deployment_group=groups.get) == [
        ("codedeploy:BatchGetDeployments", group),
        ("codedeploy:BatchGetDeployments", group.replace("/grp", "/other")),
    ]
    one = Request(
        "codedeploy",
        "POST",
        "/",
        target="CodeDeploy_20141006.GetDeployment",
        params={"deploymentId": "d-3"},
    )
    assert authorized(one, deployment_group=groups.get) == [
        ("codedeploy:GetDeployment", group.replace("/grp", "/other"))
    ]


def test_get_caller_identity_needs_no_permission():
    request = Request("sts", "POST", "/", params={"Action": "GetCallerIdentity"})
    assert identify(request)[0] == "GetCallerIdentity"
    assert authorized(request) == []


@pytest.mark.parametrize(
    "request_",
    [
        Request("s3", "GET", "/bkt", {"acl": ""}),
        Request("s3", "DELETE", "/bkt/k", {}),
        Request("s3", "GET", "/", {}),
        Request("codedeploy", "POST", "/", target="CodeDeploy_20141006.CreateDeployment"),
        Request("sts", "POST", "/", params={"Action": "AssumeRole"}),
        # ListDeployments of the whole account: no deployment group to authorize on
        Request("codedeploy", "POST", "/", target="CodeDeploy_20141006.ListDeployments"),
    ],
)
def test_an_operation_the_table_does_not_model_is_refused_with_where_to_add_it(request_):
    with pytest.raises(operations.Unmodelled) as refused:
        authorized(request_)
    assert "local mode does not model the IAM authorization of" in str(refused.value)
    assert "pipekit/iam/operations.py" in str(refused.value)


def test_every_row_has_a_source_and_is_listed_once():
    keys = [(op.service, op.name) for op in operations.OPERATIONS]
    assert len(keys) == len(set(keys))
    for op in operations.OPERATIONS:
        assert op.source.strip(), op
        assert op.action == "" or op.action.split(":")[0] == op.service, op
        assert op.resource == "*" or op.resource.startswith("arn:{partition}:"), op


def test_the_emulator_readme_shows_the_table_as_it_is():
    readme = (Path(__file__).resolve().parents[2] / "pipekit/emulator/README.md").read_text()
    assert operations.markdown_table() in readme, (
        "regenerate it: python -c 'from pipekit.iam.operations \
import markdown_table; print(markdown_table())'"
    )


PARAM = "arn:aws:ssm:us-east-1:123456789012:parameter"


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        # GetParametersByPath: the path in the request, as given (trailing slash kept)
        ("GetParametersByPath", {"Path": "/pipekit/dev/app/", "WithDecryption": True},
         [("ssm:GetParametersByPath", f"{PARAM}/pipekit/dev/app/")]),
        ("GetParameter", {"Name": "/pipekit/dev/app/GREETING"},
         [("ssm:GetParameter", f"{PARAM}/pipekit/dev/app/GREETING")]),
        # a name without a leading slash: parameter/<name>; a version selector is not the name
        ("GetParameter", {"Name": "plain:3"}, [("ssm:GetParameter", f"{PARAM}/plain")]),
        ("GetParameters", {"Names": ["/a/X", "/a/Y", "/a/X"]},
         [("ssm:GetParameters", f"{PARAM}/a/X"), ("ssm:GetParameters", f"{PARAM}/a/Y")]),
    ],
)  # fmt: skip
def test_parameter_store_reads_are_authorized_on_their_parameters(operation, params, expected):
    request = Request("ssm", "POST", "/", target=f"AmazonSSM.{operation}", params=params)
    assert identify(request)[0] == operation
    assert authorized(request) == expected


def test_parameter_store_writes_are_refused_to_role_sessions():
    """No row for PutParameter: a role session's write is refused (fail closed)."""
    request = Request("ssm", "POST", "/", target="AmazonSSM.PutParameter", params={"Name": "/a"})
    with pytest.raises(operations.Unmodelled, match="ssm PutParameter"):
        authorized(request)


def test_a_parameter_read_without_its_name_cannot_be_told():
    request = Request("ssm", "POST", "/", target="AmazonSSM.GetParametersByPath", params={})
    with pytest.raises(operations.Unmodelled, match="without Path"):
        authorized(request)
