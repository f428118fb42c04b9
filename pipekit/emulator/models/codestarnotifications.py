"""AWS::CodeStarNotifications::NotificationRule: moto has no codestar-notifications API, so the
rule only exists for CloudFormation (Ref and GetAtt Arn work; nothing is delivered)."""

from __future__ import annotations

import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.models.base import Model


class NotificationRule(Model, CloudFormationModel):
    """No codestar-notifications API in moto: the rule only exists for CloudFormation."""

    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeStarNotifications::NotificationRule"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def create(self) -> None:
        self.arn = getattr(self, "arn", None) or (
            f"arn:aws:codestar-notifications:{self.region_name}:{self.account_id}:"
            f"notificationrule/{uuid.uuid4().hex}"
        )

    def update(self) -> None:
        pass

    def delete(self, account_id: str, region_name: str) -> None:
        pass

    def attribute(self, name: str) -> Any:
        return self.arn
