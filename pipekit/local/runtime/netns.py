"""Each local host's own network namespace, as an EC2 instance has its own network: every host
listens on AppPort at an address of its own, which exists only inside this machine.

A host named H under the hosts directory D gets the namespace `pipekit-<tag>-H` (tag: a hash of
D, so two local modes on one machine never share a name) and a veth pair: `eth0` inside, with
the second address of a /30 carved from BLOCK, and `pk<tag><hash of H>` here, with the first.
No default route is set inside: a host reaches nothing but this machine's side of its link.
Names are derived, not recorded, so whoever knows D and H (the host, `cleanup_stale`, `local
down`, the tests' leftover check) finds and removes them even after a SIGKILLed owner.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipekit.errors import UserError
from pipekit.local.runtime.rootfs import file_lock

# A private block for the hosts' links; a /30 is only taken where it overlaps no address or
# route of this machine, so it never shadows a real network.
BLOCK = ipaddress.ip_network("10.247.0.0/20")
NETNS_DIR = Path("/run/netns")
# serialises the choice of a free /30 between local modes and test runs on this machine
LOCK_FILE = Path("/run/pipekit-netns.lock")
IP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Network:
    namespace: str  # under /run/netns
    link: str  # this machine's end of the veth pair
    address: str  # the host's address (eth0 inside)
    peer: str  # this machine's address on the link

    @property
    def path(self) -> str:
        return str(NETNS_DIR / self.namespace)


def tag(hosts_dir: Path) -> str:
    return hashlib.sha1(str(hosts_dir.resolve()).encode()).hexdigest()[:6]


def names(hosts_dir: Path, host: str) -> tuple[str, str]:
    """(namespace, link) of a host; the link fits the kernel's 15-character interface names."""
    t = tag(hosts_dir)
    return f"pipekit-{t}-{host}", f"pk{t}{hashlib.sha1(host.encode()).hexdigest()[:7]}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")
    return result


def _links() -> set[str]:
    with contextlib.suppress(OSError):
        return set(os.listdir("/sys/class/net"))
    return set()


def _namespaces() -> set[str]:
    with contextlib.suppress(OSError):
        return set(os.listdir(NETNS_DIR))
    return set()


def _in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network this machine has an address in or a route to (default excepted)."""
    used = []
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        words = line.split()
        if "inet" in words:
            used.append(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        words = line.split()
        if words and words[0] in ("local", "broadcast", "unicast"):
            words = words[1:]
        if words and words[0] != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.ip_network(words[0], strict=False))
    return used


def free_block(used: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network | None:
    """The first /30 of BLOCK that overlaps nothing in `used`."""
    for candidate in BLOCK.subnets(new_prefix=30):
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    return None


def in_the_way(hosts_dir: Path, host: str) -> str | None:
    """A sentence when the host's namespace or link already exists (left by a crashed run)."""
    namespace, link = names(hosts_dir, host)
    found = [f"network namespace {namespace}"] if namespace in _namespaces() else []
    found += [f"network link {link}"] if link in _links() else []
    if not found:
        return None
    return (
        f"the {' and '.join(found)} of host {host}, left by a crashed run, "
        f"{'are' if len(found) > 1 else 'is'} in the way: run `make local-down` "
        f"(or `ip link delete {link}; ip netns delete {namespace}`)"
    )


def create(hosts_dir: Path, host: str) -> Network:
    """The host's namespace with loopback up and its link addressed; a UserError if a crashed
    run's namespace or link is in the way."""
    namespace, link = names(hosts_dir, host)
    problem = in_the_way(hosts_dir, host)
    if problem:
        raise UserError(problem)
    with file_lock(LOCK_FILE):
        block = free_block(_in_use())
        if block is None:
            raise UserError(f"no free /30 left in {BLOCK} for host {host}'s network")
        peer, address = (str(a) for a in list(block.hosts())[:2])
        try:
            _ip("netns", "add", namespace)
            _ip("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("addr", "add", f"{peer}/30", "dev", link)
            _ip("link", "set", link, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
        except BaseException:
            remove(hosts_dir, host)
            raise
    return Network(namespace, link, address, peer)


def remove(hosts_dir: Path, host: str) -> None:
    """Delete the host's link (its peer inside goes with it at once) and namespace; idempotent."""
    namespace, link = names(hosts_dir, host)
    if link in _links():
        _ip("link", "delete", link, check=False)
    if namespace in _namespaces():
        _ip("netns", "delete", namespace, check=False)


def left(hosts_dir: Path) -> list[str]:
    """Namespaces and links of hosts under `hosts_dir` that still exist."""
    t = tag(hosts_dir)
    spaces = [f"network namespace {n}" for n in _namespaces() if n.startswith(f"pipekit-{t}-")]
    links = [f"network link {n}" for n in _links() if n.startswith(f"pk{t}")]
    return sorted(spaces) + sorted(links)


def remove_orphans(hosts_dir: Path, keep: set[str]) -> list[str]:
    """Remove the namespaces and links under `hosts_dir` of hosts not in `keep` (gone)."""
    t = tag(hosts_dir)
    prefix = f"pipekit-{t}-"
    removed = []
    for namespace in sorted(_namespaces()):
        if namespace.startswith(prefix) and namespace[len(prefix) :] not in keep:
            remove(hosts_dir, namespace[len(prefix) :])
            removed.append(namespace)
    kept = {names(hosts_dir, host)[1] for host in keep}
    for link in sorted(_links()):
        if link.startswith(f"pk{t}") and link not in kept:
            _ip("link", "delete", link, check=False)
            removed.append(link)
    return removed
