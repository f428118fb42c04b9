"""AWS::CodeConnections::Connection and AWS::CodeStarConnections::Connection: moto has neither
service, so the connections live in connections/store.py (new ones PENDING, as on AWS)."""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.connections.store import (
    MAX_NAME_LENGTH,
    Connection,
    create_connection,
    forget,
    tags_from,
)
from pipekit.emulator.models.base import Model


class _ConnectionModel(Model):
    """Shared by both connection types (one resource on AWS, two ARN spellings)."""

    SERVICE = "codeconnections"
    NAME_PROPERTY = "ConnectionName"
    ATTRIBUTES = ("ConnectionArn", "ConnectionStatus", "OwnerAccountId")
    connection: Connection

    @property
    def physical_resource_id(self) -> str:
        return self.connection.arn

    def attribute(self, name: str) -> Any:
        description = self.connection.describe()
        if name in description:
            return description[name]
        return super().attribute(name)

    def create(self) -> None:
        self.connection = create_connection(
            self.SERVICE,
            self.region_name,
            self.props.get("ConnectionName", self.name)[:MAX_NAME_LENGTH],
            self.props.get("ProviderType"),
            self.props.get("HostArn"),
            tags_from(self.props.get("Tags")),
            self.account_id,
        )

    def replaced_by(self, props: dict[str, Any]) -> bool:
        # Name and provider are create-only: a change replaces the connection.
        old = self.connection
        return (
            props.get("ConnectionName", old.name) != old.name
            or props.get("ProviderType") != old.provider_type
        )

    def update(self) -> None:
        self.connection.tags = tags_from(self.props.get("Tags"))

    def delete(self, account_id: str, region_name: str) -> None:
        forget(self.connection.arn)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        # moto's fallback when delete() fails: resource_name is the physical ID, the ARN.
        forget(resource_name)


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
