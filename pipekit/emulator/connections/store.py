"""The connections themselves, shared by codeconnections and codestar-connections (one resource on
AWS with two ARN spellings), and by the CloudFormation models that create them. moto has neither
service, so the store lives here; a new connection is PENDING until set_connection_status (the
stand-in for the console handshake).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

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


def forget(arn: str) -> None:
    """Drop a connection if it is there: CloudFormation deleting one that is already gone."""
    with _lock:
        _connections.pop(arn, None)


def list_connections(service: str) -> list[Connection]:
    prefix = SERVICES[service][0]
    with _lock:
        # Both services show every connection on AWS (same resource, two ARN spellings);
        # here each lists the ARNs of its own prefix first, then the other's.
        own = [c for c in _connections.values() if c.arn.split(":")[2] == prefix]
        other = [c for c in _connections.values() if c.arn.split(":")[2] != prefix]
    return own + other


def tags_from(items: list[dict[str, str]] | None) -> dict[str, str]:
    """A Tags list ([{Key, Value}], from a request or a template) as the store keeps it."""
    return {t["Key"]: t["Value"] for t in items or []}


def set_connection_status(arn: str, status: str) -> None:
    """Stand-in for the console handshake: move a connection to AVAILABLE (or ERROR/PENDING)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    get_connection(arn).status = status
