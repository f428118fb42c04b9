"""The codeconnections (2023-12-01) and codestar-connections (2019-12-01) APIs moto lacks, as WSGI
middleware in front of moto: Create/Get/List/DeleteConnection, Tag/Untag/ListTagsForResource.

botocore talks to codeconnections in Smithy RPC v2 CBOR (path /service/<id>/operation/<Op>) and to
codestar-connections in JSON 1.0 (X-Amz-Target); both are accepted for both services. Responses
are encoded against the botocore output shapes so clients parse exactly what AWS would send.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pipekit.emulator.connections import codec
from pipekit.emulator.connections.store import (
    SERVICES,
    ConnectionsError,
    create_connection,
    delete_connection,
    get_connection,
    list_connections,
    tags_from,
)


def _tags_out(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def handle(service: str, operation: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
    if operation == "CreateConnection":
        connection = create_connection(
            service,
            region,
            params.get("ConnectionName", ""),
            params.get("ProviderType"),
            params.get("HostArn"),
            tags_from(params.get("Tags")),
        )
        out: dict[str, Any] = {"ConnectionArn": connection.arn}
        if connection.tags:
            out["Tags"] = _tags_out(connection.tags)
        return out
    if operation == "GetConnection":
        return {"Connection": get_connection(params["ConnectionArn"]).describe()}
    if operation == "ListConnections":
        found = [
            c
            for c in list_connections(service)
            if (
                not params.get("ProviderTypeFilter")
                or c.provider_type == params["ProviderTypeFilter"]
            )
            and (not params.get("HostArnFilter") or c.host_arn == params["HostArnFilter"])
        ]
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or 100)
        out = {"Connections": [c.describe() for c in found[start : start + size]]}
        if start + size < len(found):
            out["NextToken"] = str(start + size)
        return out
    if operation == "DeleteConnection":
        delete_connection(params["ConnectionArn"])
        return {}
    if operation == "TagResource":
        get_connection(params["ResourceArn"]).tags.update(tags_from(params.get("Tags")))
        return {}
    if operation == "UntagResource":
        connection = get_connection(params["ResourceArn"])
        for key in params.get("TagKeys", []):
            connection.tags.pop(key, None)
        return {}
    if operation == "ListTagsForResource":
        return {"Tags": _tags_out(get_connection(params["ResourceArn"]).tags)}
    raise ConnectionsError(
        "UnknownOperationException", f"{operation} is not implemented by the emulator", 400
    )


def _credential_scope(environ: dict[str, Any]) -> tuple[str, str] | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split(",")[0].split()[1].split("=", 1)[1]
        _, _, region, service, _ = scope.split("/")
    except (IndexError, ValueError):
        return None
    return service, region


def _target_scope(environ: dict[str, Any]) -> tuple[str, str] | None:
    """Unsigned requests: the X-Amz-Target prefix (or the CBOR path) names the service."""
    target = environ.get("HTTP_X_AMZ_TARGET", "") or environ.get("PATH_INFO", "")
    for service, (_, _, prefix) in SERVICES.items():
        if prefix in target:
            return service, "us-east-1"
    return None


class ConnectionsApp:
    """WSGI middleware: serves the two connections services, passes everything else to moto."""

    def __init__(self, moto_app: Any):
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        scope = _credential_scope(environ) or _target_scope(environ)
        if scope is None or scope[0] not in SERVICES:
            return self.moto_app(environ, start_response)
        service, region = scope
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cbor = "/operation/" in path
        if cbor:
            operation = path.rsplit("/", 1)[1]
            params = codec.decode(body)
        else:
            operation = environ.get("HTTP_X_AMZ_TARGET", ".").rsplit(".", 1)[1]
            params = json.loads(body or b"{}")
        try:
            result, status = handle(service, operation, region, params), 200
        except ConnectionsError as exc:
            result, status = {"__type": exc.code, "message": exc.message}, exc.status
        request_id = str(uuid.uuid4())
        if cbor:
            payload = codec.encode(service, operation, result, status)
            headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        else:
            payload = json.dumps(result, default=str).encode()
            headers = [("Content-Type", "application/x-amz-json-1.0")]
        headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(payload)))]
        reason = "OK" if status == 200 else "Bad Request"
        start_response(f"{status} {reason}", headers)
        return [payload]
