"""The API operations a role session may call on the emulator, each with the IAM action AWS
authorizes it as and the resource it is authorized on: the table `pipekit.emulator.authn`
evaluates requests signed with a session's credentials against. An operation not in the table
is refused (fail closed): local mode does not guess an operation's IAM.

A row's `resource` is an ARN template filled from the request (`{bucket}`, `{key}`,
`{application}`, `{group}`) plus `{partition}`, `{region}` and `{account}`; `*` for an action
with no resource type. `action` "" means the operation needs no permission. `versioned_action`
is the action instead when the request names an object version (`versionId`). `lookup` names
what the resource needs from the emulator's state: `deployment` (each deployment id's
application and group), or how a Parameter Store request names its parameters: `path` (Path),
`name` (Name), `names` (each of Names), each with a leading slash and without a `:version` or
`:label` selector.

Sources: the Service Authorization Reference page of each service ("Actions, resources, and
condition keys for ...", https://docs.aws.amazon.com/service-authorization/latest/reference/),
which names each action and its resource types; and for S3 the user guide's "Required
permissions for Amazon S3 API operations" (which API needs which action, and the version
variants).

`identify(request)` names the operation of an HTTP request and the fields its resource needs;
`authorizations(...)` is the (action, resource) pairs to evaluate. Both are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

SAR = "Service Authorization Reference, "
S3_SAR = SAR + "Amazon S3 (list_amazons3.html)"
S3_PERMISSIONS = (
    "; S3 user guide, 'Required permissions for Amazon S3 API operations' "
    "(using-with-s3-policy-actions.html)"
)
CODEDEPLOY_SAR = (
    SAR + "AWS CodeDeploy (list_awscodedeploy.html); CodeDeploy user guide, 'CodeDeploy "
    "permissions reference' (auth-and-access-control-permissions-reference.html)"
)

BUCKET = "arn:{partition}:s3:::{bucket}"
OBJECT = "arn:{partition}:s3:::{bucket}/{key}"
GROUP = "arn:{partition}:codedeploy:{region}:{account}:deploymentgroup:{application}/{group}"
# SAR, AWS Systems Manager: resource type parameter,
# arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}
PARAMETER = "arn:{partition}:ssm:{region}:{account}:parameter{parameter}"
SSM_SAR = SAR + "AWS Systems Manager (list_awssystemsmanager.html)"
SSM_NOTE = (
    "; Systems Manager user guide, 'How Parameter Store authorizes parameter retrieval' "
    "(ps-retrieval-authorization.html). No kms:Decrypt is evaluated: the AWS-managed key aws/ssm "
    "'grants Decrypt permission to all IAM principals in the AWS account' "
    "(ps-restrict-decryption.html), the one key local mode models"
)
ADD_ROW_HINT = "pipekit/iam/operations.py (OPERATIONS)"


@dataclass(frozen=True)
class Operation:
    service: str  # the service's signing name (the credential scope's)
    name: str  # the API operation
    action: str
    resource: str
    source: str
    versioned_action: str = ""
    lookup: str = ""


OPERATIONS: tuple[Operation, ...] = (
    # --- S3 (REST, path-style: /<bucket>[/<key>]) ---------------------------------------------
    Operation(
        "s3",
        "ListObjectsV2",
        "s3:ListBucket",
        BUCKET,
        S3_SAR + ": ListBucket, resource type bucket" + S3_PERMISSIONS,
    ),
    Operation(
        "s3",
        "ListObjects",
        "s3:ListBucket",
        BUCKET,
        S3_SAR + ": ListBucket, resource type bucket" + S3_PERMISSIONS,
    ),
    Operation(
        "s3",
        "ListObjectVersions",
        "s3:ListBucketVersions",
        BUCKET,
        S3_SAR + ": ListBucketVersions, resource type bucket" + S3_PERMISSIONS,
    ),
    Operation(
        "s3",
        "HeadBucket",
        "s3:ListBucket",
        BUCKET,
        S3_SAR + ": ListBucket, resource type bucket; S3 API reference, HeadBucket "
        "('you must have permissions to perform the s3:ListBucket action')",
    ),
    Operation(
        "s3",
        "GetObject",
        "s3:GetObject",
        OBJECT,
        S3_SAR + ": GetObject, GetObjectVersion, resource type object" + S3_PERMISSIONS,
        versioned_action="s3:GetObjectVersion",
    ),
    Operation(
        "s3",
        "HeadObject",
        "s3:GetObject",
        OBJECT,
        S3_SAR + ": GetObject, GetObjectVersion, resource type object; S3 API reference, "
        "HeadObject ('you must have the s3:GetObject permission')" + S3_PERMISSIONS,
        versioned_action="s3:GetObjectVersion",
    ),
    Operation(
        "s3",
        "GetObjectTagging",
        "s3:GetObjectTagging",
        OBJECT,
        S3_SAR
        + ": GetObjectTagging, GetObjectVersionTagging, resource type object"
        + S3_PERMISSIONS,
        versioned_action="s3:GetObjectVersionTagging",
    ),
    Operation(
        "s3",
        "PutObjectTagging",
        "s3:PutObjectTagging",
        OBJECT,
        S3_SAR
        + ": PutObjectTagging, PutObjectVersionTagging, resource type object"
        + S3_PERMISSIONS,
        versioned_action="s3:PutObjectVersionTagging",
    ),
    # --- CodeDeploy (JSON, X-Amz-Target CodeDeploy_20141006.<Operation>) ------------------------
    Operation(
        "codedeploy",
        "ListDeployments",
        "codedeploy:ListDeployments",
        GROUP,
        CODEDEPLOY_SAR + ": ListDeployments, resource type deploymentgroup",
    ),
    Operation(
        "codedeploy",
        "GetDeployment",
        "codedeploy:GetDeployment",
        GROUP,
        CODEDEPLOY_SAR + ": GetDeployment, resource type deploymentgroup (the deployment's)",
        lookup="deployment",
    ),
    Operation(
        "codedeploy",
        "BatchGetDeployments",
        "codedeploy:BatchGetDeployments",
        GROUP,
        CODEDEPLOY_SAR + ": BatchGetDeployments, resource type deploymentgroup (each deployment's)",
        lookup="deployment",
    ),
    # --- Systems Manager Parameter Store (JSON, X-Amz-Target AmazonSSM.<Operation>) ----------
    Operation(
        "ssm",
        "GetParametersByPath",
        "ssm:GetParametersByPath",
        PARAMETER,
        SSM_SAR + ": GetParametersByPath, resource type parameter (the path in the request, not "
        "the parameters returned)" + SSM_NOTE,
        lookup="path",
    ),
    Operation(
        "ssm",
        "GetParameter",
        "ssm:GetParameter",
        PARAMETER,
        SSM_SAR + ": GetParameter, resource type parameter (the requested parameter)" + SSM_NOTE,
        lookup="name",
    ),
    Operation(
        "ssm",
        "GetParameters",
        "ssm:GetParameters",
        PARAMETER,
        SSM_SAR + ": GetParameters, resource type parameter (each requested parameter)" + SSM_NOTE,
        lookup="names",
    ),
    # --- STS (query protocol, Action=<Operation>) -----------------------------------------------
    Operation(
        "sts",
        "GetCallerIdentity",
        "",
        "*",
        "STS API reference, GetCallerIdentity: 'No permissions are required to perform this "
        "operation' (an explicit deny of sts:GetCallerIdentity does not apply)",
    ),
)

_BY_NAME = {(op.service, op.name): op for op in OPERATIONS}


def operation(service: str, name: str) -> Operation | None:
    return _BY_NAME.get((service, name))


@dataclass(frozen=True)
class Request:
    """What identifies an operation in an HTTP request: the signing service (the SigV4
    credential scope's), the method, the path (undecoded), the query, the JSON protocols'
    X-Amz-Target, the parameters (a JSON body, or the query protocol's form), and whether S3's
    x-amz-copy-source header is present."""

    service: str
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    copy_source: bool = False


# ListObjects(V2) and ListObjectVersions parameters: not subresources
_LIST_PARAMS = {
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "marker",
    "continuation-token",
    "start-after",
    "fetch-owner",
    "encoding-type",
    "key-marker",
    "version-id-marker",
    "optional-object-attributes",
}
# JSON request members that fill a resource template's fields (CodeDeploy's API reference)
_JSON_FIELDS = {"applicationName": "application", "deploymentGroupName": "group"}
# Object request parameters: not subresources (GetObject's response-* overrides, the part)
_OBJECT_PARAMS = {"versionId", "partNumber"}


# A presigned URL's authentication parameters (SigV4 and SigV2 query authentication)
_AUTH_PARAMS = {
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
    "awsaccesskeyid",
    "signature",
    "expires",
}


def _subresource(query: Mapping[str, str], ordinary: set[str]) -> str:
    names = sorted(
        k
        for k in query
        if k not in ordinary
        and k.lower() not in _AUTH_PARAMS
        and not k.startswith("response-")
        and k != "x-id"
    )
    return names[0] if names else ""


def _s3_bucket_operation(method: str, query: Mapping[str, str]) -> str:
    sub = _subresource(query, _LIST_PARAMS)
    if method == "GET" and not sub:
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if method == "GET" and sub == "versions":
        return "ListObjectVersions"
    if method == "HEAD" and not sub:
        return "HeadBucket"
    return f"{method} /<bucket>" + (f"?{sub}" if sub else "")


def _s3_object_operation(method: str, query: Mapping[str, str], copy_source: bool) -> str:
    sub = _subresource(query, _OBJECT_PARAMS)
    named = {
        ("GET", ""): "GetObject",
        ("HEAD", ""): "HeadObject",
        ("GET", "tagging"): "GetObjectTagging",
        ("PUT", "tagging"): "PutObjectTagging",
        ("DELETE", "tagging"): "DeleteObjectTagging",
        ("PUT", ""): "CopyObject" if copy_source else "PutObject",
        ("DELETE", ""): "DeleteObject",
    }.get((method, sub))
    return named or f"{method} /<bucket>/<key>" + (f"?{sub}" if sub else "")


def identify(request: Request) -> tuple[str, dict[str, Any]]:
    """(operation name, fields for its resource). A name that is no row's (an S3 request no
    row covers is named by its shape, e.g. `GET /<bucket>?acl`) is refused by the caller."""
    if request.target:  # JSON protocols: "<Prefix>_<version>.<Operation>"
        fields = dict(request.params)
        for member, name in _JSON_FIELDS.items():
            if isinstance(fields.get(member), str):
                fields[name] = fields[member]
        return request.target.rsplit(".", 1)[-1], fields
    if request.service == "s3":
        path = request.path.lstrip("/")
        bucket, _, key = path.partition("/")
        fields: dict[str, Any] = {"bucket": unquote(bucket), "key": unquote(key)}
        if "versionId" in request.query:
            fields["versionId"] = request.query["versionId"]
        if not bucket:
            return f"{request.method} /", fields
        if not key:
            return _s3_bucket_operation(request.method, request.query), fields
        return _s3_object_operation(request.method, request.query, request.copy_source), fields
    return str(request.params.get("Action") or request.query.get("Action") or ""), dict(
        request.params
    )


class Unmodelled(LookupError):
    """The operation's IAM is not in the table (or its resource cannot be told)."""


_PARAMETER_MEMBERS = {"path": "Path", "name": "Name", "names": "Names"}


def _parameter(name: str) -> str:
    """A parameter name or path as its ARN ends: a leading slash, no `:version`/`:label`
    selector (GetParameter's Name may carry one; the ARN names the parameter)."""
    name = name.split(":", 1)[0]
    return name if name.startswith("/") else f"/{name}"


def _deployment_ids(op: Operation, fields: Mapping[str, Any]) -> list[str]:
    if op.name == "GetDeployment":
        return [str(fields.get("deploymentId") or "")]
    return [str(i) for i in fields.get("deploymentIds") or []]


def authorizations(
    service: str,
    name: str,
    fields: Mapping[str, Any],
    *,
    partition: str,
    region: str,
    account: str,
    deployment_group: Callable[[str], tuple[str, str] | None] = lambda _id: None,
) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs the request must be allowed, in order ([] when the
    operation needs no permission). `deployment_group(id)` answers a deployment's (application,
    group), None for one that does not exist (the service answers for those). Raises
    `Unmodelled` for an operation no row covers."""
    op = operation(service, name)
    if op is None:
        raise Unmodelled(
            f"local mode does not model the IAM authorization of {service} {name or '?'}: add "
            f"its row (IAM action, resource, Service Authorization Reference source) to "
            f"{ADD_ROW_HINT}"
        )
    if not op.action:
        return []
    action = op.versioned_action if op.versioned_action and fields.get("versionId") else op.action
    base = {"partition": partition, "region": region, "account": account}
    if op.lookup in _PARAMETER_MEMBERS:
        names = fields.get(_PARAMETER_MEMBERS[op.lookup])
        names = names if isinstance(names, list) else [names]
        if not names or not all(isinstance(n, str) and n for n in names):
            raise Unmodelled(
                f"local mode does not model the IAM authorization of {service} {name} without "
                f"{_PARAMETER_MEMBERS[op.lookup]}: its resource cannot be told ({ADD_ROW_HINT})"
            )
        return [
            (action, op.resource.format(**base, parameter=_parameter(n)))
            for n in dict.fromkeys(names)
        ]
    if op.lookup == "deployment":
        groups = [deployment_group(i) for i in _deployment_ids(op, fields)]
        found = [g for g in groups if g is not None]
        return [
            (action, op.resource.format(**base, application=app, group=group))
            for app, group in dict.fromkeys(found)
        ]
    values = {**base, **{k: str(v) for k, v in fields.items() if isinstance(v, str)}}
    try:
        return [(action, op.resource.format(**values))]
    except KeyError as missing:
        raise Unmodelled(
            f"local mode does not model the IAM authorization of {service} {name} without "
            f"{missing}: its resource cannot be told ({ADD_ROW_HINT})"
        ) from None


def markdown_table() -> str:
    """The table as the emulator README shows it (a test keeps the two equal)."""
    lines = [
        "| service | operation | action | resource | source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for op in OPERATIONS:
        action = f"`{op.action}`" if op.action else "none"
        if op.versioned_action:
            action += f" (`{op.versioned_action}` with a versionId)"
        lines.append(f"| `{op.service}` | `{op.name}` | {action} | `{op.resource}` | {op.source} |")
    return "\n".join(lines)
