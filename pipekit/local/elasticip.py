"""The stack's Elastic IP in local mode. On AWS the app URL is the Elastic IP that the instance's
user data associates with itself (templates/ec2.yaml, step claim-elastic-ip). Locally that URL is
127.0.0.1:AppPort, and each connection to it goes to the host of the instance the address is
associated with at that moment (DescribeAddresses), so the URL follows a reassociation (a
replacement's claim), as the address does on AWS; associated with no host, it answers nothing.
"""

from __future__ import annotations

import threading
from typing import Any

from pipekit.local.forwarder import Forwarder


def associated_instance(addresses: list[dict[str, Any]], allocation_id: str) -> str | None:
    """The instance the address `allocation_id` is associated with, in DescribeAddresses'
    `Addresses`; None when it is not associated (or not there)."""
    for address in addresses:
        if address.get("AllocationId") == allocation_id:
            return address.get("InstanceId") or None
    return None


def describe_addresses(account: str, region: str) -> list[dict[str, Any]]:
    """The emulator's Elastic IPs in DescribeAddresses' shape (the fields read here)."""
    from moto.ec2.models import ec2_backends

    return [
        {
            "AllocationId": a.allocation_id,
            "PublicIp": a.public_ip,
            **({"InstanceId": a.instance.id} if a.instance is not None else {}),
        }
        for a in list(ec2_backends[account][region].addresses)
    ]


class ElasticIp:
    """127.0.0.1:app_port forwarded to the host holding the stack's Elastic IP."""

    def __init__(self, hosts: Any, app_port: int) -> None:
        self.hosts = hosts  # pipekit.local.service.HostPool
        self.app_port = app_port
        self._claimed: tuple[str, str, str] | None = None
        self._lock = threading.Lock()
        self._forwarder = Forwarder("127.0.0.1", app_port, self.target)

    def start(self) -> None:
        self._forwarder.start()

    def close(self) -> None:
        self._forwarder.close()

    def claimed(self, account: str, region: str, allocation_id: str) -> None:
        """An instance's user data claimed this address: it is the stack's."""
        with self._lock:
            self._claimed = (account, region, allocation_id)

    def instance(self) -> str | None:
        with self._lock:
            claimed = self._claimed
        if claimed is None:
            return None
        account, region, allocation_id = claimed
        return associated_instance(describe_addresses(account, region), allocation_id)

    def target(self) -> tuple[str, int] | None:
        instance_id = self.instance()
        address = self.hosts.address(instance_id) if instance_id else None
        return (address, self.app_port) if address else None
