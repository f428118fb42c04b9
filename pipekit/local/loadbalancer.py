"""Fleet mode's load balancer in local mode: one HAProxy, a child of the local service, standing
for the stack's Application Load Balancer.

On AWS the app URL is the load balancer's DNS name (templates/ec2.yaml, output AppUrl); locally
it is 127.0.0.1:AppPort, as the Elastic IP is in single mode (local/elasticip.py). Everything
HAProxy does is read from what the templates deployed, through the emulated ELBv2 API: the
listener, the target group's health check (path, interval, timeout, thresholds, matcher) and
its deregistration delay (`settings_from`). A background loop (`LoadBalancer`, every
SYNC_INTERVAL_S) follows the target group's registrations (`emulator.loadbalancing.
registrations`: RegisterTargets adds a server, DeregisterTargets drains it for the delay, then
it is deleted; HAProxy's runtime API over its admin socket), and is the emulator's health
source: DescribeTargetHealth answers HAProxy's view (`haproxy.target_health`). Each tick hands
`show stat`'s rows to the stats listeners (`add_stats_listener`: the alarms part turns them
into AWS/ApplicationELB metrics; none until wired).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipekit.errors import UserError
from pipekit.local import haproxy, haproxy_stats
from pipekit.local.haproxy import Settings

log = logging.getLogger("pipekit.local.loadbalancer")

HAPROXY = "/usr/sbin/haproxy"
SYNC_INTERVAL_S = 1.0  # registrations and statistics
DISCOVER_INTERVAL_S = 5.0  # the deployed load balancer's settings
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
CONFIG = "haproxy.cfg"
SOCKET = "haproxy.sock"

# (rows of `show stat` now, rows of the previous tick or None, the settings: load_balancer_name
# and target_group_name are the metrics' LoadBalancer and TargetGroup dimensions) -> None
StatsListener = Callable[[list[dict[str, str]], list[dict[str, str]] | None, Settings], None]


def haproxy_path() -> str | None:
    if os.access(HAPROXY, os.X_OK):
        return HAPROXY
    return shutil.which("haproxy")


def check_fleet(params: dict[str, str], where: str) -> None:
    """Refuse, before anything starts, a fleet this machine cannot run."""
    from pipekit.local.autoscaling import MAX_INSTANCES

    size = params.get("FleetSize", "2")
    if not size.isdigit() or int(size) > MAX_INSTANCES:
        raise UserError(
            f"FleetSize {size} in {where} is more than local mode runs: at most "
            f"{MAX_INSTANCES} instances (each is a booted host on this machine); "
            f"set FleetSize to 2-{MAX_INSTANCES}"
        )
    if haproxy_path() is None:
        raise UserError(
            f"fleet mode ({where}) needs HAProxy for its load balancer and it is not installed: "
            "install it with `make host-deps` (Debian's haproxy package)"
        )


def settings_from(
    load_balancers: list[dict[str, Any]],
    listeners: dict[str, list[dict[str, Any]]],
    target_groups: dict[str, dict[str, Any]],
    attributes: dict[str, list[dict[str, str]]],
) -> Settings | None:
    """The load balancer local mode runs, from DescribeLoadBalancers' LoadBalancers,
    DescribeListeners' Listeners per load balancer ARN, DescribeTargetGroups' TargetGroups by
    ARN and DescribeTargetGroupAttributes' Attributes by ARN: the first application load
    balancer with an HTTP listener forwarding to a target group. None: there is none (yet)."""
    for lb in load_balancers:
        if lb.get("Type") != "application":
            continue
        for listener in listeners.get(lb["LoadBalancerArn"], []):
            if listener.get("Protocol") != "HTTP":
                continue
            for action in listener.get("DefaultActions", []):
                arn = action.get("TargetGroupArn") or next(
                    iter(action.get("ForwardConfig", {}).get("TargetGroups", [])), {}
                ).get("TargetGroupArn")
                group = target_groups.get(arn or "")
                if action.get("Type") != "forward" or group is None:
                    continue
                attrs = {a["Key"]: a["Value"] for a in attributes.get(group["TargetGroupArn"], [])}
                return Settings(
                    load_balancer_arn=lb["LoadBalancerArn"],
                    load_balancer_name=lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1],
                    dns_name=lb.get("DNSName", ""),
                    listener_port=int(listener["Port"]),
                    target_group_arn=group["TargetGroupArn"],
                    target_group_name=group["TargetGroupArn"].split(":", 5)[5],
                    port=int(group["Port"]),
                    path=group.get("HealthCheckPath") or "/",
                    interval_s=int(group.get("HealthCheckIntervalSeconds", 30)),
                    timeout_s=int(group.get("HealthCheckTimeoutSeconds", 5)),
                    healthy=int(group.get("HealthyThresholdCount", 5)),
                    unhealthy=int(group.get("UnhealthyThresholdCount", 2)),
                    matcher=group.get("Matcher", {}).get("HttpCode", "200"),
                    delay_s=float(attrs.get("deregistration_delay.timeout_seconds", 300)),
                )
    return None


def discover(elbv2: Any) -> Settings | None:
    """`settings_from` over the emulated ELBv2 API (an elbv2 client)."""
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    listeners = {
        lb["LoadBalancerArn"]: elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])[
            "Listeners"
        ]
        for lb in lbs
    }
    groups = {g["TargetGroupArn"]: g for g in elbv2.describe_target_groups()["TargetGroups"]}
    attributes = {
        arn: elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        for arn in groups
    }
    return settings_from(lbs, listeners, groups, attributes)


def stale_processes(state_dir: Path) -> list[int]:
    """HAProxy processes running this state directory's configuration (a crashed service's)."""
    config = str(state_dir / CONFIG)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"haproxy") and config.encode() in argv:
            found.append(int(proc.name))
    return found


def stop_stale(state_dir: Path) -> list[int]:
    """Stop the HAProxy a crashed local mode left under `state_dir`; the pids stopped."""
    pids = stale_processes(state_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while stale_processes(state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in stale_processes(state_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


@dataclass
class Server:
    target_id: str
    state: str  # ready | drain
    checking_since: float  # monotonic
    ever_up: bool = False


class LoadBalancer:
    """The HAProxy of one local mode and the loop that keeps it in step with the emulator."""

    def __init__(
        self, hosts: Any, app_port: int, state_dir: Path, elbv2: Callable[[], Any]
    ) -> None:
        self.hosts = hosts  # pipekit.local.service.HostPool: instance id -> address
        self.app_port = app_port
        self.state_dir = state_dir
        self.elbv2 = elbv2  # () -> an elbv2 client of the emulator
        self.settings: Settings | None = None
        self.servers: dict[str, Server] = {}
        self.rows: list[dict[str, str]] = []
        self._listeners: list[StatsListener] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._discovered_at = 0.0

    @property
    def socket_path(self) -> Path:
        return self.state_dir / SOCKET

    def add_stats_listener(self, listener: StatsListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> None:
        from pipekit.emulator import loadbalancing

        loadbalancing.set_health_source(self.health)
        self._thread = threading.Thread(target=self._run, name="load-balancer", daemon=True)
        self._thread.start()

    def close(self) -> None:
        from pipekit.emulator import loadbalancing

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SYNC_INTERVAL_S * 10)
        loadbalancing.set_health_source(None)
        self._stop_haproxy()

    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def health(
        self, target_group_arn: str, target_id: str
    ) -> tuple[str, str | None, str | None] | None:
        """The emulator's health source (emulator.loadbalancing.HealthSource)."""
        with self._lock:
            settings, server = self.settings, self.servers.get(target_id)
            rows = self.rows
        if settings is None or settings.target_group_arn != target_group_arn or server is None:
            return None
        row = haproxy.servers(rows, settings.backend).get(target_id)
        return haproxy.target_health(
            row,
            ever_up=server.ever_up,
            checking_s=time.monotonic() - server.checking_since,
            settings=settings,
        )

    def describe(self) -> dict[str, Any]:
        """For the control endpoint's /health: the listener, its target group, the servers."""
        with self._lock:
            settings = self.settings
            servers = {i: s.state for i, s in self.servers.items()}
        return {
            "pid": self.pid(),
            "url": f"http://127.0.0.1:{self.app_port}/",
            "dns_name": settings.dns_name if settings else None,
            "target_group_arn": settings.target_group_arn if settings else None,
            "servers": servers,
        }

    # --- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(SYNC_INTERVAL_S):
            try:
                self.tick()
            except Exception:  # one bad tick must not end the loop; the next one retries
                log.exception("load balancer tick failed")

    def tick(self) -> None:
        now = time.monotonic()
        if self.settings is None or now - self._discovered_at >= DISCOVER_INTERVAL_S:
            self._discovered_at = now
            settings = discover(self.elbv2())
            if settings != self.settings:
                self._configure(settings)
        if self.settings is None:
            return
        if self._proc is None or self._proc.poll() is not None:
            log.warning("haproxy is not running: starting it again")
            self._configure(self.settings)
        self._follow_registrations(self.settings)
        self._read_stats(self.settings)

    def _configure(self, settings: Settings | None) -> None:
        self._stop_haproxy()
        with self._lock:
            self.settings, self.servers, self.rows = settings, {}, []
        if settings is not None:
            self._start_haproxy(settings)

    def _follow_registrations(self, settings: Settings) -> None:
        from pipekit.emulator import loadbalancing

        wanted = {r["Id"]: r for r in loadbalancing.registrations(settings.target_group_arn)}
        for target_id, reg in wanted.items():
            server = self.servers.get(target_id)
            if reg["State"] == "registered" and server is None:
                address = self.hosts.address(target_id)
                if address is None:
                    continue  # no host (yet): HAProxy has nothing to check
                if self._commands(haproxy.add_server(settings, target_id, address, reg["Port"])):
                    with self._lock:
                        self.servers[target_id] = Server(target_id, "ready", time.monotonic())
                    log.info("server %s added (%s:%s)", target_id, address, reg["Port"])
            elif reg["State"] == "registered" and server.state == "drain":
                self._commands([f"set server {settings.backend}/{target_id} state ready"])
                server.state = "ready"
            elif reg["State"] == "draining" and server is not None and server.state == "ready":
                self._commands(haproxy.drain_server(settings, target_id))
                server.state = "drain"
                log.info("server %s draining", target_id)
        for target_id in [i for i in self.servers if i not in wanted]:
            # the drain is over (or never was: a deregistration delay of 0)
            if self._commands(haproxy.remove_server(settings, target_id)):
                with self._lock:
                    self.servers.pop(target_id, None)
                log.info("server %s removed: no longer registered or draining", target_id)

    def _read_stats(self, settings: Settings) -> None:
        rows = haproxy_stats.show_stat(self.socket_path)
        rows_by_server = haproxy.servers(rows, settings.backend)
        with self._lock:
            previous, self.rows = self.rows, rows
            for target_id, server in self.servers.items():
                if haproxy.is_up(rows_by_server.get(target_id)):
                    server.ever_up = True
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(rows, previous or None, settings)
            except Exception:
                log.exception("stats listener %r failed", listener)

    def _commands(self, commands: list[str]) -> bool:
        """Run runtime API commands in order; False (logged) at the first one HAProxy refuses
        (these commands answer nothing, or these words, when they succeed)."""
        for command in commands:
            answer = haproxy_stats.command(self.socket_path, command).strip()
            if answer not in ("", "New server registered.", "Server deleted."):
                log.warning("haproxy refused %r: %s", command, answer)
                return False
        return True

    # --- the process --------------------------------------------------------------------

    def _start_haproxy(self, settings: Settings) -> None:
        binary = haproxy_path()
        if binary is None:
            raise RuntimeError("haproxy is not installed (make host-deps)")
        config = self.state_dir / CONFIG
        config.write_text(
            haproxy.render_config(
                settings, listen_port=self.app_port, socket_path=str(self.socket_path)
            )
        )
        check = subprocess.run(
            [binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused {config}: {check.stderr.strip()}")
        self.socket_path.unlink(missing_ok=True)
        with open(self.state_dir / "haproxy.log", "ab") as out:
            # -db: stay in the foreground, a child of this service (stops with it)
            self._proc = subprocess.Popen(
                [binary, "-db", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"haproxy exited at start; see {self.state_dir / 'haproxy.log'}")
            with contextlib.suppress(OSError):
                haproxy_stats.command(self.socket_path, "show info")
                log.info(
                    "haproxy (pid %s) listens on 127.0.0.1:%s for %s",
                    self._proc.pid,
                    self.app_port,
                    settings.load_balancer_name,
                )
                return
            time.sleep(0.1)
        raise RuntimeError("haproxy did not open its admin socket in time")

    def _stop_haproxy(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        self.socket_path.unlink(missing_ok=True)
