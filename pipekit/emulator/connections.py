"""The connections APIs moto lacks: codeconnections (2023-12-01) and codestar-connections
(2019-12-01), served in front of moto, plus the CloudFormation models that create connections.

botocore talks to codeconnections in Smithy RPC v2 CBOR (path /service/<id>/operation/<Op>) and to
codestar-connections in JSON 1.0 (X-Amz-Target); both are accepted for both services. Responses
are encoded against the botocore output shapes so clients parse exactly what AWS would send.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import botocore.loaders
import botocore.model
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.common_models import CloudFormationModel

# signing name -> (ARN service prefix, API version, X-Amz-Target prefix)
SERVICES = {
    "codeconnections": ("codeconnections", "2023-12-01", "CodeConnections_20231201"),
    "codestar-connections": (
        "codestar-connections",
        "2019-12-01",
        "CodeStar_connections_20191201",
    ),
}
STATUSES = ("PENDING", "AVAILABLE", "ERROR")
MAX_NAME_LENGTH = 32


class ConnectionsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Connection:
    service: str
    name: str
    arn: str
    provider_type: str | None
    owner_account_id: str
    host_arn: str | None = None
    provider_endpoint: str | None = None
    status: str = "PENDING"
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ConnectionName": self.name,
            "ConnectionArn": self.arn,
            "OwnerAccountId": self.owner_account_id,
            "ConnectionStatus": self.status,
        }
        if self.provider_type:
            out["ProviderType"] = self.provider_type
        if self.host_arn:
            out["HostArn"] = self.host_arn
        if self.provider_endpoint and self.service == "codeconnections":
            out["ProviderEndpoint"] = self.provider_endpoint
        return out


_lock = threading.Lock()
_connections: dict[str, Connection] = {}


def reset() -> None:
    with _lock:
        _connections.clear()


def create_connection(
    service: str,
    region: str,
    name: str,
    provider_type: str | None = None,
    host_arn: str | None = None,
    tags: dict[str, str] | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Connection:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ConnectionsError(
            "InvalidInputException"
            if service == "codeconnections"
            else "ResourceUnavailableException",
            f"ConnectionName must be 1 to {MAX_NAME_LENGTH} characters long",
        )
    if not provider_type and not host_arn:
        raise ConnectionsError(
            "InvalidInputException"
            if service == "codeconnections"
            else "ResourceUnavailableException",
            "Either ProviderType or HostArn must be specified",
        )
    prefix = SERVICES[service][0]
    arn = f"arn:aws:{prefix}:{region}:{account_id}:connection/{uuid.uuid4()}"
    connection = Connection(
        service=service,
        name=name,
        arn=arn,
        provider_type=provider_type,
        owner_account_id=account_id,
        host_arn=host_arn,
        tags=dict(tags or {}),
    )
    with _lock:
        _connections[arn] = connection
    return connection


def get_connection(arn: str) -> Connection:
    with _lock:
        connection = _connections.get(arn)
    if connection is None:
        raise ConnectionsError("ResourceNotFoundException", f"Connection {arn} does not exist", 400)
    return connection


def delete_connection(arn: str) -> None:
    with _lock:
        if _connections.pop(arn, None) is None:
            raise ConnectionsError("ResourceNotFoundException", f"Connection {arn} does not exist")


def list_connections(service: str) -> list[Connection]:
    prefix = SERVICES[service][0]
    with _lock:
        # Both services show every connection on AWS (same resource, two ARN spellings);
        # here each lists the ARNs of its own prefix first, then the other's.
        own = [c for c in _connections.values() if c.arn.split(":")[2] == prefix]
        other = [c for c in _connections.values() if c.arn.split(":")[2] != prefix]
    return own + other


def set_connection_status(arn: str, status: str) -> None:
    """Stand-in for the console handshake: move a connection to AVAILABLE (or ERROR/PENDING)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    get_connection(arn).status = status


# --- the API -----------------------------------------------------------------------------------


def _tags_in(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


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
            _tags_in(params.get("Tags")),
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
        get_connection(params["ResourceArn"]).tags.update(_tags_in(params.get("Tags")))
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


_models: dict[str, botocore.model.ServiceModel] = {}


def _service_model(service: str) -> botocore.model.ServiceModel:
    if service not in _models:
        raw = botocore.loaders.Loader().load_service_model(service, "service-2")
        _models[service] = botocore.model.ServiceModel(raw, service_name=service)
    return _models[service]


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
            params = (
                RpcV2CBORParser().parse_data_item(io.BufferedReader(io.BytesIO(body)))
                if body
                else {}
            )
        else:
            operation = environ.get("HTTP_X_AMZ_TARGET", ".").rsplit(".", 1)[1]
            params = json.loads(body or b"{}")
        try:
            result, status = handle(service, operation, region, params), 200
        except ConnectionsError as exc:
            result, status = {"__type": exc.code, "message": exc.message}, exc.status
        request_id = str(uuid.uuid4())
        if cbor:
            payload = self._encode_cbor(service, operation, result, status)
            headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        else:
            payload = json.dumps(result, default=str).encode()
            headers = [("Content-Type", "application/x-amz-json-1.0")]
        headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(payload)))]
        reason = "OK" if status == 200 else "Bad Request"
        start_response(f"{status} {reason}", headers)
        return [payload]

    @staticmethod
    def _encode_cbor(service: str, operation: str, result: dict[str, Any], status: int) -> bytes:
        out = bytearray()
        serializer = RpcV2CBORSerializer()
        if status != 200:
            return _cbor_text_map(result)
        shape = _service_model(service).operation_model(operation).output_shape
        serializer._serialize_data_item(out, result, shape)
        return bytes(out)


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | info]) + length.to_bytes(size, "big")
    raise ValueError("too long")


def _cbor_text_map(values: dict[str, str]) -> bytes:
    """An error body ({"__type", "message"}): a CBOR map of text strings."""
    out = bytearray(_cbor_head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            data = text.encode()
            out += _cbor_head(3, len(data)) + data
    return bytes(out)


# --- CloudFormation ----------------------------------------------------------------------------


class _ConnectionModel:
    """Shared by both connection types; each concrete class derives from CloudFormationModel
    directly because moto finds models through CloudFormationModel.__subclasses__()."""

    SERVICE = "codeconnections"

    def __init__(self, connection: Connection):
        self.connection = connection

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ConnectionName"

    @property
    def physical_resource_id(self) -> str:
        return self.connection.arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ConnectionArn", "ConnectionStatus", "OwnerAccountId")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        description = self.connection.describe()
        if attribute_name in description and self.has_cfn_attr(attribute_name):
            return description[attribute_name]
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> _ConnectionModel:
        props = cloudformation_json.get("Properties", {})
        connection = create_connection(
            cls.SERVICE,
            region_name,
            props.get("ConnectionName", resource_name)[:MAX_NAME_LENGTH],
            props.get("ProviderType"),
            props.get("HostArn"),
            _tags_in(props.get("Tags")),
            account_id,
        )
        return cls(connection)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: _ConnectionModel,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _ConnectionModel:
        props = cloudformation_json.get("Properties", {})
        old = original_resource.connection
        if (
            props.get("ConnectionName", old.name) == old.name
            and props.get("ProviderType") == old.provider_type
        ):
            old.tags = _tags_in(props.get("Tags"))
            return original_resource
        # Name and provider are create-only: a change replaces the connection.
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        with _lock:
            _connections.pop(self.connection.arn, None)

    def is_created(self) -> bool:
        return True

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        with _lock:
            _connections.pop(resource_name, None)


class CodeConnectionsConnection(_ConnectionModel, CloudFormationModel):
    SERVICE = "codeconnections"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeConnections::Connection"


class CodeStarConnectionsConnection(_ConnectionModel, CloudFormationModel):
    SERVICE = "codestar-connections"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeStarConnections::Connection"
