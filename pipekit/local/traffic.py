"""CodeDeploy's own part of an in-place deployment WITH_TRAFFIC_CONTROL: BlockTraffic and
AllowTraffic for one instance against the target groups of the group's
LoadBalancerInfo.TargetGroupInfoList, through the emulated ELBv2 API (moto's elbv2 backend,
which the emulator extends with draining and a health source: fleet contract 1).

- BlockTraffic: "internet traffic is blocked from accessing instances that are currently
  serving traffic" (user guide, reference-appspec-file-structure-hooks); for in-place
  deployments "the load balancer is used to deregister instances that are being worked on by
  CodeDeploy, and reregister them when the work is complete" (deployment-groups-create-load-
  balancer). CodeDeploy deregisters the instance and waits while the target is `draining`
  (the target group's deregistration_delay.timeout_seconds).
- AllowTraffic: registers it again and waits until DescribeTargetHealth says `healthy`.
- An instance not registered in a target group (DescribeTargetHealth `unused`, e.g. the first
  deployment to it) has no traffic to block there: BlockTraffic deregisters nothing for it.
  local: inferred from the event's documented purpose; CodeDeploy's behaviour is not
  documented.
- Bounds: CodeDeploy documents no wait bound for these two events, nor AllowTraffic's error
  when a target never turns healthy. local: each wait is bounded by the one-hour maximum the
  user guide gives a lifecycle event (appspec hooks, `timeout`), and a failure is reported as
  the event's UnknownError (botocore LifecycleErrorCode) with a message naming the target
  group and the last health state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipekit.local.runtime.agent import EventFailure

EVENT_MAX_S = 3600.0  # the per-event maximum (appspec hooks reference)

# (target_group_arn, instance_id) -> (state, reason, description)
Health = Callable[[str, str], tuple[str, str | None, str | None]]


def target_groups(account_id: str, region: str, group: Any) -> list[Any]:
    """The moto target groups named in the deployment group's TargetGroupInfoList, in order;
    [] unless the group is WITH_TRAFFIC_CONTROL."""
    style = group.deployment_style or {}
    option = style.get("deploymentOption") or style.get("DeploymentOption")
    if option != "WITH_TRAFFIC_CONTROL":
        return []
    info = group.load_balancer_info or {}
    entries = info.get("targetGroupInfoList") or info.get("TargetGroupInfoList") or []
    names = [e.get("name") or e.get("Name") for e in entries]
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[account_id][region]
    by_name = {tg.name: tg for tg in backend.target_groups.values()}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise EventFailure(
            "ELASTIC_LOAD_BALANCING_INVALID",
            "UnknownError",
            f"The target group {missing[0]} of the deployment group was not found.",
        )
    return [by_name[n] for n in names]


def backend_health(account_id: str, region: str) -> Health:
    """DescribeTargetHealth through the emulated ELBv2 backend (whatever answers it: moto, or
    the health source local mode installs)."""
    from moto.elbv2.models import elbv2_backends

    def health(arn: str, instance_id: str) -> tuple[str, str | None, str | None]:
        backend = elbv2_backends[account_id][region]
        (status,) = backend.describe_target_health(arn, [{"Id": instance_id}])
        return status.status, status.reason, status.description

    return health


@dataclass
class TrafficControl:
    """BlockTraffic/AllowTraffic of one deployment; the agent loop calls `block` and `allow`
    at those events (pipekit.local.runtime.hookrunner) and records their times."""

    account_id: str
    region: str
    groups: list[Any]  # moto FakeTargetGroup
    health: Health
    poll_s: float = 1.0
    timeout_s: float = EVENT_MAX_S
    sleep: Callable[[float], None] = time.sleep

    @property
    def backend(self) -> Any:
        from moto.elbv2.models import elbv2_backends

        return elbv2_backends[self.account_id][self.region]

    def block(self, instance_id: str) -> str:
        """Deregister from each target group it is registered in, wait out the draining."""
        done = []
        for tg in self.groups:
            state, _, _ = self.health(tg.arn, instance_id)
            if state == "unused":
                continue
            self.backend.deregister_targets(tg.arn, [{"Id": instance_id}])
            self._wait(tg, instance_id, lambda s: s != "draining", "finish draining")
            done.append(tg.name)
        return (
            f"deregistered from {', '.join(done)}" if done else "not registered: nothing to block"
        )

    def allow(self, instance_id: str) -> str:
        """Register with each target group, wait until healthy in each."""
        for tg in self.groups:
            self.backend.register_targets(tg.arn, [{"Id": instance_id}])
        for tg in self.groups:
            self._wait(tg, instance_id, lambda s: s == "healthy", "become healthy")
        return f"healthy in {', '.join(tg.name for tg in self.groups)}"

    def _wait(self, tg: Any, instance_id: str, done: Callable[[str], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while True:
            state, reason, _ = self.health(tg.arn, instance_id)
            if done(state):
                return
            if time.monotonic() >= deadline:
                raise EventFailure(
                    "HEALTH_CONSTRAINTS",
                    "UnknownError",
                    f"The instance {instance_id} did not {what} in target group {tg.name} "
                    f"within {self.timeout_s:g} seconds (last state {state}"
                    + (f", reason {reason})" if reason else ")"),
                )
            self.sleep(self.poll_s)


def traffic_control(
    account_id: str, region: str, group: Any, *, health: Health | None = None, **kwargs: Any
) -> TrafficControl | None:
    """The group's traffic control, or None when it has none (WITHOUT_TRAFFIC_CONTROL or no
    target groups)."""
    groups = target_groups(account_id, region, group)
    if not groups:
        return None
    return TrafficControl(
        account_id, region, groups, health or backend_health(account_id, region), **kwargs
    )
