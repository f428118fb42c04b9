"""HAProxy's side of fleet mode's load balancer, as plain functions: the configuration for a
deployed target group, the runtime API commands that follow its registrations, the `show stat`
CSV, and HAProxy's view of a server as an ELBv2 target state.

HAProxy 2.6 (Debian's package, installed by .ci/host-deps). References: HAProxy 2.6
configuration manual (`option httpchk`, `http-check send`/`expect`, server `inter`/`rise`/
`fall`, `timeout check`) and management guide (the runtime API: `add server`, `del server`,
`set server ... state|health`, `enable health`, `show stat`; section 9.1 the CSV fields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The load balancer's idle timeout (botocore elbv2 LoadBalancerAttribute.Key:
# "idle_timeout.timeout_seconds ... The default is 60 seconds"), used for client and server
# inactivity.
IDLE_TIMEOUT_S = 60


@dataclass(frozen=True)
class Settings:
    """What the deployed stack says the load balancer does (read by loadbalancer.settings_from)."""

    load_balancer_arn: str
    load_balancer_name: str  # app/<name>/<id> (GetAtt LoadBalancerFullName)
    dns_name: str
    listener_port: int
    target_group_arn: str
    target_group_name: str  # targetgroup/<name>/<id> (GetAtt TargetGroupFullName)
    port: int  # the traffic port
    path: str
    interval_s: int
    timeout_s: int
    healthy: int
    unhealthy: int
    matcher: str  # Matcher.HttpCode: "200", "200,202", "200-299"
    delay_s: float  # deregistration_delay.timeout_seconds

    @property
    def backend(self) -> str:
        """The HAProxy backend: the target group ARN's id part (contract 2)."""
        return self.target_group_arn.rsplit("/", 1)[-1]

    @property
    def frontend(self) -> str:
        return self.load_balancer_arn.rsplit("/", 1)[-1]


def status_codes(matcher: str) -> list[int]:
    """Matcher.HttpCode's codes: single values, lists ("200,202") and ranges ("200-299")
    (ELBv2 API reference, Matcher.HttpCode: "You can specify multiple values (for example,
    "200,202") or a range of values (for example, "200-299")")."""
    codes: list[int] = []
    for part in matcher.split(","):
        low, _, high = part.strip().partition("-")
        codes.extend(range(int(low), int(high or low) + 1))
    return sorted(set(codes))


def expect(matcher: str) -> str:
    codes = status_codes(matcher)
    if len(codes) == 1:
        return f"http-check expect status {codes[0]}"
    return "http-check expect rstatus ^(" + "|".join(str(c) for c in codes) + ")$"


def render_config(settings: Settings, *, listen_port: int, socket_path: str) -> str:
    """The whole configuration: one frontend on 127.0.0.1:listen_port (standing for the
    listener), one backend for the target group with its health check; no server (the runtime
    API adds one per registered target, `add_server`)."""
    return "\n".join(
        [
            "global",
            f"    stats socket {socket_path} mode 600 level admin",
            "    maxconn 1024",
            "",
            "defaults",
            "    mode http",
            "    option http-keep-alive",
            "    timeout connect 5s",
            f"    timeout client {IDLE_TIMEOUT_S}s",
            f"    timeout server {IDLE_TIMEOUT_S}s",
            f"    timeout check {settings.timeout_s}s",
            "",
            f"# the listener on port {settings.listener_port} of {settings.load_balancer_name}",
            f"frontend {settings.frontend}",
            f"    bind 127.0.0.1:{listen_port}",
            f"    default_backend {settings.backend}",
            "",
            f"# {settings.target_group_name}",
            f"backend {settings.backend}",
            "    balance roundrobin",
            "    option httpchk",
            f"    http-check send meth GET uri {settings.path} ver HTTP/1.1 hdr Host localhost",
            f"    {expect(settings.matcher)}",
            "",
        ]
    )


def add_server(settings: Settings, target_id: str, address: str, port: int) -> list[str]:
    """Runtime API commands adding a registered target: in maintenance while it is set up,
    counted down (it must pass `healthy` checks in a row, as a new ELB target), then checked.
    Dynamic servers take no default-server settings, so the check's are on the line."""
    name = f"{settings.backend}/{target_id}"
    return [
        f"add server {name} {address}:{port} check inter {settings.interval_s}s "
        f"rise {settings.healthy} fall {settings.unhealthy}",
        f"set server {name} health down",
        f"enable health {name}",
        f"set server {name} state ready",
    ]


def drain_server(settings: Settings, target_id: str) -> list[str]:
    """No new requests; requests in flight finish (the deregistration delay runs)."""
    return [f"set server {settings.backend}/{target_id} state drain"]


def remove_server(settings: Settings, target_id: str) -> list[str]:
    """The drain is over: close what is left and delete the server."""
    name = f"{settings.backend}/{target_id}"
    return [
        f"set server {name} state maint",
        f"shutdown sessions server {name}",
        f"del server {name}",
    ]


def servers(rows: list[dict[str, str]], backend: str) -> dict[str, dict[str, str]]:
    """The backend's server rows by server name (= target id)."""
    return {
        r["svname"]: r
        for r in rows
        if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
    }


# Descriptions: the ELBv2 API reference (TargetHealth) documents the reason codes but not the
# descriptions; these are local wording in the style the ELB console shows.
def target_health(
    row: dict[str, str] | None, *, ever_up: bool, checking_s: float, settings: Settings
) -> tuple[str, str | None, str | None] | None:
    """HAProxy's view of a registered target's server as ELBv2's (state, reason, description)
    (reasons: botocore elbv2 TargetHealthReasonEnum and TargetHealth.Reason's documentation).
    None: no view yet (the target is `initial`, Elb.RegistrationInProgress).

    `ever_up`: the server has passed its checks since it was added; `checking_s`: seconds since
    its checks started. Until it is first up it is `initial` (Elb.InitialHealthChecking) for as
    long as `unhealthy` checks take, then `unhealthy` (ELBv2 API reference, CreateTargetGroup
    UnhealthyThresholdCount: "The number of consecutive health check failures required before
    considering a target unhealthy")."""
    if row is None:
        return None
    status = row.get("status", "")
    if status.startswith("UP") or status in ("NOLB", "DRAIN"):
        return ("healthy", None, None)
    if status == "MAINT":
        return None
    if not ever_up and checking_s < settings.unhealthy * settings.interval_s:
        return ("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
    check = row.get("check_status", "").strip("* ")
    if check == "L7STS":
        code = row.get("check_code") or "?"
        return (
            "unhealthy",
            "Target.ResponseCodeMismatch",
            f"Health checks failed with these codes: [{code}]",
        )
    if check in ("L4TOUT", "L6TOUT", "L7TOUT"):
        return ("unhealthy", "Target.Timeout", "Request timed out")
    return ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")


def is_up(row: dict[str, Any] | None) -> bool:
    return row is not None and str(row.get("status", "")).startswith("UP")
