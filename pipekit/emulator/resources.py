"""Fixes to moto's own services (S3, EC2, ELBv2, CodeDeploy, CloudFormation stacks)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.utilities.utils import get_partition

# --- fixes to moto's own services --------------------------------------------------------------


def patch_services() -> None:
    _patch_deployment_group_info()
    _patch_bucket()
    _patch_stack_resources()
    _patch_delete_stack()
    patch_deletions()
    patch_elbv2_attributes()
    patch_bucket_policy_conditions()


def _patch_deployment_group_info() -> None:
    from moto.codedeploy import responses

    original = responses._deployment_group_info

    def _deployment_group_info(group: Any) -> dict[str, Any]:
        info = original(group)
        # moto serialises the group's ASG names as [{}]: the API shape is [{name, hook}].
        info["autoScalingGroups"] = [
            {"name": g} if isinstance(g, str) else g for g in group.auto_scaling_groups
        ]
        alarms = group.alarm_configuration
        if isinstance(alarms, dict):
            info["alarmConfiguration"] = alarms
        elif alarms is not None:
            info["alarmConfiguration"] = {
                "enabled": bool(alarms.enabled),
                "ignorePollAlarmFailure": bool(alarms.ignore_poll_alarm_failure),
                "alarms": alarms.alarms,
            }
        return info

    responses._deployment_group_info = _deployment_group_info


def _bucket_extras(backend: Any, name: str, props: dict[str, Any]) -> None:
    """What moto's AWS::S3::Bucket ignores: versioning, public access block, lifecycle,
    ownership controls."""
    if "VersioningConfiguration" in props:
        backend.put_bucket_versioning(name, props["VersioningConfiguration"]["Status"])
    if "PublicAccessBlockConfiguration" in props:
        block = {
            k: bool(str(v).lower() == "true")
            for k, v in props["PublicAccessBlockConfiguration"].items()
        }
        backend.put_public_access_block(name, block)
    if "LifecycleConfiguration" in props:
        backend.put_bucket_lifecycle_configuration(
            name, [lifecycle_rule(r) for r in props["LifecycleConfiguration"].get("Rules", [])]
        )
    if "OwnershipControls" in props:
        rules = props["OwnershipControls"].get("Rules") or []
        if rules:
            # moto keeps the rule as the bare ObjectOwnership string.
            backend.put_bucket_ownership_controls(name, rules[0]["ObjectOwnership"])


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as the S3 API (and moto's backend) spells it."""
    out: dict[str, Any] = {"ID": rule.get("Id"), "Status": rule["Status"]}
    out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        out["Expiration"] = expiration
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(noncurrent["NoncurrentDays"])}
    elif "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])
        }
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(abort["DaysAfterInitiation"])
        }
    transitions = [
        {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
        for t in rule.get("Transitions", [])
        if "TransitionInDays" in t
    ]
    if transitions:
        out["Transition"] = transitions
    return out


def _patch_bucket() -> None:
    from moto.s3.models import FakeBucket, s3_backends

    original_create = FakeBucket.create_from_cloudformation_json.__func__
    original_update = FakeBucket.update_from_cloudformation_json.__func__

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        bucket = original_create(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        backend = s3_backends[account_id][get_partition(region_name)]
        _bucket_extras(backend, bucket.name, cloudformation_json.get("Properties", {}))
        return bucket

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        props = cloudformation_json.get("Properties", {})
        # moto's update tags "properties['BucketName']", which fails for generated names.
        props.setdefault("BucketName", original_resource.name)
        bucket = original_update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        backend = s3_backends[account_id][get_partition(region_name)]
        _bucket_extras(backend, bucket.name, props)
        return bucket

    def delete(self: Any, account_id: str, region_name: str) -> None:
        from moto.cloudformation.exceptions import ValidationError

        backend = s3_backends[account_id][get_partition(region_name)]
        bucket = backend.buckets.get(self.name)
        if bucket is None:
            return
        if bucket.keys:
            # As on AWS: CloudFormation cannot delete a bucket that still holds objects
            # (versions and delete markers included).
            raise ValidationError(
                message="The bucket you tried to delete is not empty. You must delete all "
                f"versions in the bucket. (Service: S3, Status Code: 409, Bucket: {self.name})"
            )
        backend.delete_bucket(self.name)

    FakeBucket.create_from_cloudformation_json = classmethod(create)
    FakeBucket.update_from_cloudformation_json = classmethod(update)
    FakeBucket.delete = delete


def _patch_stack_resources() -> None:
    from moto.cloudformation.models import Stack

    def stack_resources(self: Any) -> list[Any]:
        # Resources whose Condition is false are None in moto's map: not part of the stack.
        return [r for r in self.resource_map.values() if r is not None and not isinstance(r, str)]

    Stack.stack_resources = property(stack_resources)


def _patch_delete_stack() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id)
        if stack is None:
            for candidate in list(self.stacks.values()):
                if candidate.name == name_or_stack_id:
                    stack = candidate
                    break
        if stack is None:
            return
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.status = "DELETE_IN_PROGRESS"
        try:
            stack.resource_map.delete()
        except Exception:  # AWS reports it on the stack, not on the call
            failed = sorted(
                {
                    e.logical_resource_id
                    for e in stack.events
                    if e.resource_status == "DELETE_FAILED" and e.logical_resource_id != stack.name
                }
            )
            stack.status = "DELETE_FAILED"
            stack._add_stack_event(
                "DELETE_FAILED",
                resource_status_reason="The following resource(s) failed to delete: "
                f"[{', '.join(failed)}]. ",
            )
            return
        stack._add_stack_event("DELETE_COMPLETE")
        stack.status = "DELETE_COMPLETE"
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
        for name, export in list(self.exports.items()):
            if export.exporting_stack_id == stack.stack_id:
                self.exports.pop(name, None)

    CloudFormationBackend.delete_stack = delete_stack


# --- deletion for moto models that have none (their resources outlived the stack) --------------


def _ec2(account_id: str, region_name: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


def _elbv2(account_id: str, region_name: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account_id][region_name]


def _delete_eip(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.allocation_id in {a.allocation_id for a in backend.addresses}:
        backend.release_address(allocation_id=self.allocation_id)


def _delete_igw(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.id in backend.internet_gateways:
        backend.delete_internet_gateway(self.id)


def _delete_gateway_attachment(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    gateway = backend.internet_gateways.get(self.gateway_id)
    if gateway is not None and gateway.vpc is not None:
        backend.detach_internet_gateway(self.gateway_id, self.vpc_id)


def _delete_route(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.route_table.id in backend.route_tables:
        backend.delete_route(
            self.route_table.id, self.destination_cidr_block, self.destination_ipv6_cidr_block
        )


def _delete_route_table(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.id in backend.route_tables:
        backend.delete_route_table(self.id)


def _delete_subnet_association(self: Any, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).subnet_associations.pop(
        f"{self.route_table_id}:{self.subnet_id}", None
    )


def _delete_ingress(self: Any, account_id: str, region_name: str) -> None:
    # The rule lives in its group; revoking it is what AWS does. Gone with the group otherwise.
    backend = _ec2(account_id, region_name)
    group = backend.get_security_group_from_id(self.security_group.id)
    if group is None:
        return
    props = self.properties
    with contextlib.suppress(Exception):
        backend.revoke_security_group_ingress(
            group_name_or_id=group.id,
            ip_protocol=props.get("IpProtocol"),
            from_port=props.get("FromPort"),
            to_port=props.get("ToPort"),
            ip_ranges=[{"CidrIp": props["CidrIp"]}] if props.get("CidrIp") else [],
            source_groups=(
                [{"GroupId": props["SourceSecurityGroupId"]}]
                if props.get("SourceSecurityGroupId")
                else []
            ),
        )


def _delete_listener(self: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    with contextlib.suppress(Exception):
        backend.delete_listener(self.arn)


def _delete_target_group(self: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    if self.arn in backend.target_groups:
        backend.delete_target_group(self.arn)


def patch_deletions() -> None:
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.route_tables import Route, RouteTable
    from moto.ec2.models.security_groups import SecurityGroupIngress
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpn_gateway import VPCGatewayAttachment
    from moto.elbv2.models import FakeListener, FakeTargetGroup

    ElasticAddress.delete = _delete_eip
    InternetGateway.delete = _delete_igw
    VPCGatewayAttachment.delete = _delete_gateway_attachment
    Route.delete = _delete_route
    RouteTable.delete = _delete_route_table
    SubnetRouteTableAssociation.delete = _delete_subnet_association
    SecurityGroupIngress.delete = _delete_ingress
    FakeListener.delete = _delete_listener
    FakeTargetGroup.delete = _delete_target_group


def patch_elbv2_attributes() -> None:
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


def _condition_holds(condition: dict[str, Any]) -> bool | None:
    """Evaluate a bucket-policy Condition for a request to the emulated endpoint, which stands
    for an HTTPS request to AWS. None = cannot tell (moto cannot evaluate it either)."""
    context = {"aws:securetransport": "true"}
    for operator, tests in condition.items():
        if operator not in ("Bool", "StringEquals"):
            return None
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None:
                return None
            values = expected if isinstance(expected, list) else [expected]
            if actual not in {str(v).lower() for v in values}:
                return False
    return True


def patch_bucket_policy_conditions() -> None:
    """moto enforces bucket policies but ignores their Conditions, so the usual guardrail
    `Deny s3:* unless aws:SecureTransport` denied every request. Statements whose condition
    does not hold are left out; those it cannot evaluate are left out too, as moto cannot."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        raw = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        document = json.loads(raw)
        statements = document.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        kept = [s for s in statements if "Condition" not in s or _condition_holds(s["Condition"])]
        return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(
            action, resource
        )

    FakeBucket.get_permission = get_permission
