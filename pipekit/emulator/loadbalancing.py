"""ELBv2 target registration as AWS runs it, where moto answers "healthy" at once and forgets a
deregistered target: the states a target goes through, and the hook through which a data plane
(local mode's load balancer) says what its health checks see.

- RegisterTargets: the target is `initial` (`Elb.RegistrationInProgress`) until the health
  source reports it; re-registering a draining target puts it back in service.
- DeregisterTargets (and the termination of a registered instance): the target is `draining`
  (`Target.DeregistrationInProgress`) for the target group's
  `deregistration_delay.timeout_seconds`, then gone (`unused`, `Target.NotRegistered`)
  (ALB user guide, load-balancer-target-groups.html#deregistration-delay: "The initial state of
  a deregistering target is draining. After the deregistration delay elapses, the
  deregistration process completes and the state of the target is unused."). Deregistering a
  target that is not registered succeeds (DeregisterTargets API reference: "If the specified
  target does not exist, the action returns successfully"). Not modelled yet: AWS completes a
  drain early when the target has no in-flight requests and no active connections (same page).
- DescribeTargetHealth without targets lists the registered and the draining ones; with a health
  source installed (`set_health_source`), a registered target's state is the source's answer.
  With none (the plain emulator), moto's answer ("healthy") stands.

States, reasons and descriptions are botocore's elbv2 TargetHealthStateEnum /
TargetHealthReasonEnum (the TargetHealth.Reason documentation lists which reason goes with
which state). Time is the emulator's clock (real seconds unless advanced).

A leaf module for local mode: it imports moto only inside functions, never `pipekit.local`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pipekit.emulator import clock

# (target_group_arn, target_id) -> (state, reason | None, description | None), or None when the
# source has no view of the target yet (then the target is `initial`, RegistrationInProgress).
HealthSource = Callable[[str, str], tuple[str, str | None, str | None] | None]

REGISTRATION_IN_PROGRESS = (
    "initial",
    "Elb.RegistrationInProgress",
    "Target registration is in progress",
)
DEREGISTRATION_IN_PROGRESS = (
    "draining",
    "Target.DeregistrationInProgress",
    "Target deregistration is in progress",
)
NOT_REGISTERED = ("unused", "Target.NotRegistered", "Target is not registered to the target group")
DELAY_ATTRIBUTE = "deregistration_delay.timeout_seconds"

_lock = threading.RLock()
_source: HealthSource | None = None


def set_health_source(source: HealthSource | None) -> None:
    """Install (None: remove) the data plane that answers DescribeTargetHealth."""
    global _source
    with _lock:
        _source = source


def health_source() -> HealthSource | None:
    with _lock:
        return _source


def deregistration_delay(target_group: Any) -> float:
    """The group's `deregistration_delay.timeout_seconds` (moto keeps AWS's default, 300)."""
    return float(target_group.attributes.get(DELAY_ATTRIBUTE, 300))


def draining(target_group: Any) -> dict[str, tuple[dict[str, Any], datetime]]:
    """The group's draining targets: id -> (target, end of its drain); ended drains are moved to
    moto's deregistered targets first."""
    with _lock:
        table: dict[str, tuple[dict[str, Any], datetime]] = target_group.__dict__.setdefault(
            "_pipekit_draining", {}
        )
        now = clock.utcnow_naive()
        for target_id, (target, until) in list(table.items()):
            if until <= now:
                del table[target_id]
                target_group.deregistered_targets[target_id] = target
        return table


def start_draining(target_group: Any, target: dict[str, Any]) -> None:
    """The target stops being registered and drains for the group's delay (0: gone at once)."""
    delay = deregistration_delay(target_group)
    with _lock:
        table = draining(target_group)
        if delay <= 0:
            target_group.deregistered_targets[target["Id"]] = target
            return
        table[target["Id"]] = (target, clock.utcnow_naive() + timedelta(seconds=delay))


def health(target_group: Any, target_id: str) -> tuple[str, str | None, str | None] | None:
    """A target's (state, reason, description) as this module decides it; None = moto's own
    answer (not registered and not draining, or no health source installed)."""
    if target_id in draining(target_group):
        return DEREGISTRATION_IN_PROGRESS
    if target_id not in target_group.targets:
        return None
    source = health_source()
    if source is None:
        return None
    return source(target_group.arn, target_id) or REGISTRATION_IN_PROGRESS


def target_group(arn: str) -> Any:
    """The emulator's target group with this ARN (account and region read from it), or None."""
    from moto.elbv2.models import elbv2_backends

    parts = arn.split(":")
    if len(parts) < 6:
        return None
    return elbv2_backends[parts[4]][parts[3]].target_groups.get(arn)


def registrations(arn: str) -> list[dict[str, Any]]:
    """The target group's targets as the data plane follows them: `Id`, `Port`, `State`
    (`registered` or `draining`), and for a draining one `Until` (naive UTC, emulator clock).
    An unknown target group has none."""
    group = target_group(arn)
    if group is None:
        return []
    with _lock:
        drains = dict(draining(group))
        rows = [
            {"Id": t["Id"], "Port": int(t["Port"]), "State": "registered"}
            for t in list(group.targets.values())
        ]
    rows += [
        {"Id": t["Id"], "Port": int(t["Port"]), "State": "draining", "Until": until}
        for t, until in drains.values()
    ]
    return rows
