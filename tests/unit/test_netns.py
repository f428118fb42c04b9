"""The hosts' network names and addresses (no namespace is created here)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pipekit.local.runtime import netns


def test_a_host_gets_the_first_block_that_overlaps_nothing_on_this_machine() -> None:
    first = ipaddress.ip_network("10.247.0.0/30")
    assert netns.free_block([]) == first
    # taken by another host's link, or inside a route of this machine: skipped
    used = [first, ipaddress.ip_network("10.247.0.4/31"), ipaddress.ip_network("192.0.2.0/24")]
    assert netns.free_block(used) == ipaddress.ip_network("10.247.0.8/30")
    # a machine route covering the whole block leaves nothing
    assert netns.free_block([ipaddress.ip_network("10.0.0.0/8")]) is None


def test_names_are_per_local_mode_and_host_and_fit_the_kernel(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "machines", tmp_path / "b" / "machines"
    namespace, link = netns.names(a, "i-0123456789abcdef0")
    assert namespace == f"pipekit-{netns.tag(a)}-i-0123456789abcdef0"
    assert len(link) <= 15 and link.startswith(f"pk{netns.tag(a)}")
    assert netns.names(b, "i-0123456789abcdef0") != (namespace, link)
    assert netns.names(a, "i-0123456789abcdef1")[1] != link
