"""ELBv2 as CloudFormation sees it on AWS, where moto differs: listeners and target groups are
deleted with their stack (moto left them behind), and the GetAtt values moto lacks are there."""

from __future__ import annotations

import contextlib
from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException


def patch() -> None:
    from moto.elbv2.models import FakeListener, FakeTargetGroup

    FakeListener.delete = _delete_listener
    FakeTargetGroup.delete = _delete_target_group
    _patch_attributes()


def _elbv2(account_id: str, region_name: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account_id][region_name]


def _delete_listener(self: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    with contextlib.suppress(Exception):
        backend.delete_listener(self.arn)


def _delete_target_group(self: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    if self.arn in backend.target_groups:
        backend.delete_target_group(self.arn)


def _patch_attributes() -> None:
    """GetAtt values moto lacks, with the shapes CloudFormation documents:
    LoadBalancerFullName app/<name>/<id>, TargetGroupFullName targetgroup/<name>/<id>."""
    from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup

    original_lb = FakeLoadBalancer.get_cfn_attribute

    def lb_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        if attribute_name == "CanonicalHostedZoneID":
            return "Z35SXDOTRQ7X7K"  # the us-east-1 ALB zone; moto has no per-region table
        if attribute_name == "SecurityGroups":
            return list(self.security_groups)
        if attribute_name == "LoadBalancerArn":
            return self.arn
        return original_lb(self, attribute_name)

    FakeLoadBalancer.get_cfn_attribute = lb_attribute

    def tg_has(cls: Any, attr: str) -> bool:
        return attr in (
            "TargetGroupArn",
            "TargetGroupFullName",
            "TargetGroupName",
            "LoadBalancerArns",
        )

    def tg_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "TargetGroupFullName":
            return self.arn.split(":", 5)[5]
        if attribute_name == "TargetGroupName":
            return self.name
        if attribute_name == "TargetGroupArn":
            return self.arn
        if attribute_name == "LoadBalancerArns":
            return list(self.load_balancer_arns)
        raise UnformattedGetAttTemplateException()

    FakeTargetGroup.has_cfn_attr = classmethod(tg_has)
    FakeTargetGroup.get_cfn_attribute = tg_attribute
