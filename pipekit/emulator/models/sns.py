"""AWS::SNS::Subscription and AWS::SNS::TopicPolicy, which moto has no CloudFormation models for."""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.models.base import Model


class Subscription(Model, CloudFormationModel):
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @property
    def backend(self) -> Any:
        from moto.sns.models import sns_backends

        region = self.props.get("Region") or self.region_name
        return sns_backends[self.account_id][region]

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def create(self) -> None:
        subscription = self.backend.subscribe(
            self.props["TopicArn"], self.props.get("Endpoint", ""), self.props["Protocol"]
        )
        self.arn = subscription.arn
        for attribute in ("DeliveryPolicy", "FilterPolicy", "RedrivePolicy"):
            if attribute in self.props:
                value = self.props[attribute]
                value = value if isinstance(value, str) else json.dumps(value)
                self.backend.set_subscription_attributes(self.arn, attribute, value)
        if "RawMessageDelivery" in self.props:
            raw = str(self.props["RawMessageDelivery"]).lower()
            self.backend.set_subscription_attributes(self.arn, "RawMessageDelivery", raw)

    def update(self) -> None:
        self.backend.unsubscribe(self.arn)
        self.create()

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.unsubscribe(self.arn)

    def attribute(self, name: str) -> Any:
        return self.arn


class TopicPolicy(Model, CloudFormationModel):
    ATTRIBUTES = ("Id",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @property
    def backend(self) -> Any:
        from moto.sns.models import sns_backends

        return sns_backends[self.account_id][self.region_name]

    @property
    def physical_resource_id(self) -> str:
        return self.policy_id

    def create(self) -> None:
        self.policy_id = getattr(self, "policy_id", None) or str(uuid.uuid4())
        document = self.props["PolicyDocument"]
        document = document if isinstance(document, str) else json.dumps(document)
        for topic in self.props.get("Topics", []):
            self.backend.set_topic_attribute(topic, "policy", document)

    def delete(self, account_id: str, region_name: str) -> None:
        for arn in self.props.get("Topics", []):
            topic = self.backend.topics.get(arn)
            if topic is not None:
                topic._policy_json = topic._create_default_topic_policy(
                    region_name, account_id, topic.name
                )

    def attribute(self, name: str) -> Any:
        return self.policy_id
