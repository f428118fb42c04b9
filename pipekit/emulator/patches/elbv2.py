"""ELBv2 as AWS runs it, where moto differs: listeners and target groups are deleted with their
stack (moto left them behind), the GetAtt values moto lacks are there, and targets go through
AWS's registration states (`pipekit.emulator.loadbalancing` holds those rules)."""

from __future__ import annotations

import contextlib
from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

from pipekit.emulator import loadbalancing


def patch() -> None:
    from moto.elbv2.models import FakeListener, FakeTargetGroup

    FakeListener.delete = _delete_listener
    FakeTargetGroup.delete = _delete_target_group
    _patch_attributes()
    _patch_registration()


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


def _patch_registration() -> None:
    """RegisterTargets / DeregisterTargets / DescribeTargetHealth through
    `pipekit.emulator.loadbalancing` (its docstring has the rules and their sources)."""
    from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

    original_register = FakeTargetGroup.register
    original_health = FakeTargetGroup.health_for

    def register(self: Any, targets: list[dict[str, Any]]) -> None:
        original_register(self, targets)
        table = loadbalancing.draining(self)
        for target in targets:
            table.pop(target["Id"], None)  # back in service

    def deregister(self: Any, targets: list[dict[str, Any]]) -> None:
        for target in targets:
            registered = self.targets.pop(target["Id"], None)
            if registered is not None:
                loadbalancing.start_draining(self, registered)

    def deregister_terminated_instances(self: Any, instance_ids: list[str]) -> None:
        # moto kept a terminated instance `draining` for ever; AWS drains it for the delay
        for target_id in list(self.targets):
            if target_id in instance_ids:
                loadbalancing.start_draining(self, self.targets.pop(target_id))

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        decided = loadbalancing.health(self, target["Id"])
        if decided is None:
            return original_health(self, target, ec2_backend)
        known = (
            self.targets.get(target["Id"])
            or loadbalancing.draining(self).get(target["Id"], ({}, None))[0]
        )
        port = target.get("Port") or known.get("Port") or self.port
        state, reason, description = decided
        return FakeHealthStatus(
            target["Id"], port, self.health_check_port, state, reason, description
        )

    def describe_target_health(
        self: Any, target_group_arn: str, targets: list[dict[str, Any]]
    ) -> list[Any]:
        from moto.elbv2.exceptions import TargetGroupNotFoundError

        group = self.target_groups.get(target_group_arn)
        if group is None:
            raise TargetGroupNotFoundError()
        if not targets:  # every registered target, the draining ones included
            targets = list(group.targets.values()) + [
                t for t, _ in loadbalancing.draining(group).values()
            ]
        return [group.health_for(target, self.ec2_backend) for target in targets]

    original_create = FakeTargetGroup.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any
    ) -> Any:
        # moto dropped the TargetGroupAttributes property (so the deregistration delay was its
        # default 300 s whatever the template said); CloudFormation applies them (resource
        # reference AWS::ElasticLoadBalancingV2::TargetGroup, TargetGroupAttributes)
        group = original_create(cls, resource_name, cloudformation_json, *args, **kwargs)
        for attribute in cloudformation_json.get("Properties", {}).get("TargetGroupAttributes", []):
            group.attributes[attribute["Key"]] = attribute["Value"]
        return group

    FakeTargetGroup.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    FakeTargetGroup.register = register
    FakeTargetGroup.deregister = deregister
    FakeTargetGroup.deregister_terminated_instances = deregister_terminated_instances
    FakeTargetGroup.health_for = health_for
    ELBv2Backend.describe_target_health = describe_target_health
