"""AWS::EC2::SecurityGroupEgress: moto has AWS::EC2::SecurityGroupIngress but no Egress (moto's own
EC2 fixes are in patches/ec2.py)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.models.base import Model


def _ec2(account_id: str, region_name: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


class SecurityGroupEgress(Model, CloudFormationModel):
    """moto has AWS::EC2::SecurityGroupIngress but no Egress."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupEgress"

    @property
    def physical_resource_id(self) -> str:
        return self.rule_id

    def _rule(self) -> dict[str, Any]:
        props = self.props
        return {
            "group_name_or_id": props["GroupId"],
            "ip_protocol": str(props["IpProtocol"]),
            "from_port": props.get("FromPort"),
            "to_port": props.get("ToPort"),
            "ip_ranges": (
                [{"CidrIp": props["CidrIp"], "Description": props.get("Description", "")}]
                if props.get("CidrIp")
                else []
            ),
            "source_groups": (
                [{"GroupId": props["DestinationSecurityGroupId"]}]
                if props.get("DestinationSecurityGroupId")
                else []
            ),
            "prefix_list_ids": (
                [{"PrefixListId": props["DestinationPrefixListId"]}]
                if props.get("DestinationPrefixListId")
                else []
            ),
        }

    def create(self) -> None:
        rules, _group = _ec2(self.account_id, self.region_name).authorize_security_group_egress(
            **self._rule()
        )
        self.rule_id = rules[0].id if rules else f"sgr-{uuid.uuid4().hex[:17]}"

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        if backend.get_security_group_from_id(self.props["GroupId"]) is None:
            return
        rule = self._rule()
        rule.pop("prefix_list_ids")
        with contextlib.suppress(Exception):
            backend.revoke_security_group_egress(**rule)
