"""Deletion for the EC2 types moto's CloudFormation cannot delete (route tables, routes, subnet
associations, gateway attachments, internet gateways, Elastic IPs, ingress rules): without it
their resources outlived the stack."""

from __future__ import annotations

import contextlib
from typing import Any


def patch() -> None:
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.route_tables import Route, RouteTable
    from moto.ec2.models.security_groups import SecurityGroupIngress
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpn_gateway import VPCGatewayAttachment

    ElasticAddress.delete = _delete_eip
    InternetGateway.delete = _delete_igw
    VPCGatewayAttachment.delete = _delete_gateway_attachment
    Route.delete = _delete_route
    RouteTable.delete = _delete_route_table
    SubnetRouteTableAssociation.delete = _delete_subnet_association
    SecurityGroupIngress.delete = _delete_ingress


def _ec2(account_id: str, region_name: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


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
