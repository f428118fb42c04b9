"""Requests signed with a role session's credentials (`pipekit.emulator.sessions`) are authorized
as AWS authorizes them, in front of the services: WSGI middleware.

The access key comes from the SigV4 `Authorization` header's Credential (or a presigned URL's
`X-Amz-Credential`), whose scope names the service and region. A key that is no session's goes
on untouched: the harness and the tests sign with dummy credentials, which moto takes, and keep
doing so. For a session's key: the session token must be the one issued, the session live; then
the operation is identified (`pipekit.iam.operations`: X-Amz-Target for JSON protocols, method,
path-style path and query for S3, `Action=` for query protocols), and each (action, resource) it
needs is evaluated with `pipekit.emulator.access.authorize` against the role's identity-based
policies and, for S3, the bucket's policy. A refusal is the service's own error in AWS's
wording; an operation the table lacks is refused too (fail closed).

Requests count as made over TLS (`aws:SecureTransport` is true): AWS's CLI and SDKs call HTTPS
endpoints; the emulator serves plain HTTP only because it listens on loopback.

The signature itself is not verified (nor the request time): the key, token and expiry are.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.sax.saxutils import escape

from pipekit.emulator import access, sessions
from pipekit.emulator.records.store import records_for
from pipekit.iam import operations
from pipekit.iam.policy import access_denied_message, request_context

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# virtual-hosted S3 addressing: <bucket>.s3[.<region>].amazonaws.com or <bucket>.localhost
_S3_HOST = re.compile(r"^(?P<bucket>.+?)\.(?:s3[.-].*amazonaws\.com|localhost)$")

# Each protocol's errors: (HTTP status, code, message). S3: S3 API reference, "Error
# responses", List of error codes (InvalidAccessKeyId 403 as answered for an ASIA key,
# brefphp/laravel-bridge#67; InvalidToken 400; ExpiredToken 400). JSON and query protocols: the
# common errors of the services' API references (ExpiredTokenException; InvalidClientTokenId
# 403, "The security token included in the request is invalid." as STS and IAM answer it;
# UnrecognizedClientException, its JSON protocols' twin, e.g. boto/boto3#3576).
_INVALID = "The security token included in the request is invalid."
_EXPIRED = "The security token included in the request is expired"
_NO_KEY = "The AWS Access Key Id you provided does not exist in our records."
ERRORS = {
    "unknown-key": {
        "s3": (403, "InvalidAccessKeyId", _NO_KEY),
        "json": (400, "UnrecognizedClientException", _INVALID),
        "query": (403, "InvalidClientTokenId", _INVALID),
    },
    "bad-token": {
        "s3": (400, "InvalidToken", "The provided token is malformed or otherwise invalid."),
        "json": (400, "UnrecognizedClientException", _INVALID),
        "query": (403, "InvalidClientTokenId", _INVALID),
    },
    "expired": {
        "s3": (400, "ExpiredToken", "The provided token has expired."),
        "json": (400, "ExpiredTokenException", _EXPIRED),
        "query": (403, "ExpiredToken", _EXPIRED),
    },
    # S3: AccessDenied 403; JSON services (CodeDeploy): AccessDeniedException, HTTP 400 as the
    # awsJson protocols send client errors; query services: AccessDenied 403
    "denied": {
        "s3": (403, "AccessDenied", ""),
        "json": (400, "AccessDeniedException", ""),
        "query": (403, "AccessDenied", ""),
    },
}
_STATUS = {400: "400 Bad Request", 403: "403 Forbidden"}


def credential(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key id, region, service) of a signed or presigned request: SigV4's Credential
    scope, or S3's SigV2 (`Authorization: AWS <key>:<signature>`, a presigned URL's
    `AWSAccessKeyId`), whose region is not signed and does not matter to S3's ARNs."""
    header = environ.get("HTTP_AUTHORIZATION") or ""
    query = parse_qs(environ.get("QUERY_STRING") or "")
    scope = (query.get("X-Amz-Credential") or [""])[0]
    found = _CREDENTIAL.search(header) or _CREDENTIAL.search(f"Credential={unquote(scope)}")
    if found:
        return found.group(1), found.group(2), found.group(3)
    if header.startswith("AWS "):
        return header[4:].split(":", 1)[0], "us-east-1", "s3"
    key = (query.get("AWSAccessKeyId") or [""])[0]
    return (key, "us-east-1", "s3") if key else None


def _token(environ: dict[str, Any]) -> str:
    """The session token: the header, or a presigned URL's parameter (SigV4 writes it
    X-Amz-Security-Token, SigV2 x-amz-security-token)."""
    if environ.get("HTTP_X_AMZ_SECURITY_TOKEN"):
        return str(environ["HTTP_X_AMZ_SECURITY_TOKEN"])
    query = parse_qs(environ.get("QUERY_STRING") or "")
    return next((v[0] for k, v in query.items() if k.lower() == "x-amz-security-token"), "")


def _protocol(environ: dict[str, Any], service: str) -> str:
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    return "s3" if service == "s3" else "query"


def _error(
    start_response: Any, environ: dict[str, Any], protocol: str, kind: str, message: str = ""
) -> list[bytes]:
    status, code, default = ERRORS[kind][protocol]
    message = message or default
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
    elif protocol == "s3":
        host_id = secrets.token_urlsafe(48)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id[:16].upper()}</RequestId><HostId>{host_id}</HostId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
    else:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    headers.append(("x-amz-request-id", request_id))
    if environ.get("REQUEST_METHOD") == "HEAD":
        body = b""  # S3 answers HEAD with the status alone
    headers.append(("Content-Length", str(len(body))))
    start_response(_STATUS[status], headers)
    return [body]


def _body(environ: dict[str, Any]) -> bytes:
    """Read the body and put it back for the app behind."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _params(environ: dict[str, Any], protocol: str) -> dict[str, Any]:
    if protocol == "s3":
        return {}
    body = _body(environ)
    if protocol == "json":
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}


def _s3_path(environ: dict[str, Any]) -> str:
    path = environ.get("PATH_INFO") or "/"
    host = (environ.get("HTTP_HOST") or "").rsplit(":", 1)[0]
    virtual = _S3_HOST.match(host)
    return f"/{virtual.group('bucket')}{path}" if virtual else path


def request_of(environ: dict[str, Any], service: str, protocol: str) -> operations.Request:
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING") or "", True).items()}
    return operations.Request(
        service=service,
        method=environ.get("REQUEST_METHOD", "GET"),
        path=_s3_path(environ) if protocol == "s3" else environ.get("PATH_INFO") or "/",
        query=query,
        target=environ.get("HTTP_X_AMZ_TARGET") or "",
        params=_params(environ, protocol),
        copy_source="HTTP_X_AMZ_COPY_SOURCE" in environ,
    )


def _deployment_group(account_id: str, region: str) -> Any:
    def find(deployment_id: str) -> tuple[str, str] | None:
        recs = records_for(account_id, region)
        with recs.lock:
            record = recs.deployments.get(deployment_id)
        if record is None:
            return None
        return record["applicationName"], record["deploymentGroupName"]

    return find


def _caller_identity(start_response: Any, session: sessions.RoleSession) -> list[bytes]:
    """STS GetCallerIdentity for a session: the assumed-role ARN, and as UserId the role's
    unique id and the session name (IAM user guide, "IAM identifiers", unique IDs)."""
    user_id = f"{access.role_id(session.account_id, session.role_arn)}:{session.session_name}"
    body = (
        '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<GetCallerIdentityResult><Arn>{escape(session.arn)}</Arn>"
        f"<UserId>{escape(user_id)}</UserId><Account>{session.account_id}</Account>"
        "</GetCallerIdentityResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def needs(
    session: sessions.RoleSession, request: operations.Request, region: str
) -> tuple[str, dict[str, Any], list[tuple[str, str]]]:
    """The request's operation, its fields and the (IAM action, resource) pairs it must be
    allowed; raises `operations.Unmodelled` for an operation no row covers."""
    name, fields = operations.identify(request)
    pairs = operations.authorizations(
        request.service,
        name,
        fields,
        partition=session.partition,
        region=region,
        account=session.account_id,
        deployment_group=_deployment_group(session.account_id, region),
    )
    return name, fields, pairs


def refusal(session: sessions.RoleSession, request: operations.Request, region: str) -> str | None:
    """Why AWS would refuse this session the request (its access-denied message), or None."""
    try:
        name, fields, pairs = needs(session, request, region)
    except operations.Unmodelled as exc:
        return str(exc)
    context = request_context(session.role_arn, session.account_id)
    for action, resource in pairs:
        policy = None
        if request.service == "s3":
            policy = access.bucket_policy(session.account_id, fields["bucket"], session.partition)
        decision = access.authorize(
            session.account_id, session.role_arn, action, resource, context, policy
        )
        if not decision.allowed:
            # S3 quotes the resource in its messages (S3 user guide, "Access denied message
            # examples"); the other services do not
            shown = f'"{resource}"' if request.service == "s3" else resource
            return access_denied_message(session.arn, action, shown, decision)
    if name in ("GetObject", "HeadObject") and not _object_exists(session, fields):
        # S3 API reference, GetObject and HeadObject: a missing object is 404 only to a caller
        # with s3:ListBucket on the bucket; to any other, 403 Access Denied
        bucket = f"arn:{session.partition}:s3:::{fields['bucket']}"
        policy = access.bucket_policy(session.account_id, fields["bucket"], session.partition)
        decision = access.authorize(
            session.account_id, session.role_arn, "s3:ListBucket", bucket, context, policy
        )
        if not decision.allowed:
            return "Access Denied"
    return None


def _object_exists(session: sessions.RoleSession, fields: dict[str, Any]) -> bool:
    """Is there a current object (or the requested version) at the request's key?"""
    from moto.s3.models import s3_backends

    backend = s3_backends[session.account_id][session.partition]
    try:
        found = backend.get_object(fields["bucket"], fields["key"], fields.get("versionId"))
    except Exception:  # no such bucket or version: S3 answers those itself
        return True
    return found is not None


class AuthnApp:
    """WSGI middleware: authorizes role sessions' requests, passes everything else on."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        found = credential(environ)
        if found is None:
            return self.app(environ, start_response)
        key, region, service = found
        session = sessions.lookup(key)
        protocol = _protocol(environ, service)
        if session is None:
            if sessions.revoked(key):
                return _error(start_response, environ, protocol, "unknown-key")
            return self.app(environ, start_response)
        if _token(environ) != session.session_token:
            return _error(start_response, environ, protocol, "bad-token")
        if session.expired():
            return _error(start_response, environ, protocol, "expired")
        request = request_of(environ, service, protocol)
        if (service, operations.identify(request)[0]) == ("sts", "GetCallerIdentity"):
            return _caller_identity(start_response, session)
        message = refusal(session, request, region)
        if message is not None:
            return _error(start_response, environ, protocol, "denied", message)
        return self.app(environ, start_response)


__all__ = ["AuthnApp", "credential", "needs", "refusal", "request_of"]
