"""CloudFormation's update of an AWS::AutoScaling::AutoScalingGroup.

moto deleted the group and created another under a new generated name: every update terminated
all instances at once and renamed the group. CloudFormation updates the group in place, and
when the update changes its LaunchTemplate (or launch configuration, or VPCZoneIdentifier) or
the group has instances that do not match it, the `AutoScalingRollingUpdate` update policy
replaces the obsolete instances batch by batch (CloudFormation user guide,
aws-attribute-updatepolicy): at most MaxBatchSize at a time, keeping MinInstancesInService in
service, and with WaitOnResourceSignals waiting PauseTime for each new instance's signal;
fewer than MinSuccessfulInstancesPercent successes fail the update. SuspendProcesses are
suspended while it runs. Each step is a stack event with CloudFormation's wording
(`wording.rolling_*`).

A signal is an instance's cfn-signal, given by local mode through `state.SIGNAL_SOURCES` as the
instance's user data sends it (pipekit.local.autoscaling): templates/ec2.yaml's waits until the
group has put the instance InService, i.e. CodeDeploy's launch deployment succeeded; a user data
that signals as soon as the agent runs lets the update move on while that deployment still runs
(the instance is still Pending:Wait), as on AWS. With no source the emulator counts it as sent
at once, as it never waits for a creation policy either.
"""

from __future__ import annotations

import re
import time
from typing import Any

from pipekit.emulator.patches.autoscaling import lifecycle, wording
from pipekit.emulator.patches.autoscaling.state import SIGNAL_SOURCES, state

TYPE = "AWS::AutoScaling::AutoScalingGroup"


def seconds(duration: str) -> float:
    """An ISO 8601 duration as PauseTime takes it (`PT#H#M#S`) in seconds."""
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", str(duration).strip())
    if not match:
        return 0.0
    hours, minutes, secs = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + secs)


def _true(value: Any) -> bool:
    return str(value).lower() == "true"


def _int(value: Any, default: int | None) -> int | None:
    return default if value is None or value == "" else int(value)


def patch() -> None:
    from moto.autoscaling.models import FakeAutoScalingGroup, autoscaling_backends

    replace = FakeAutoScalingGroup.update_from_cloudformation_json.__func__

    def update_from_cloudformation_json(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        props = cloudformation_json.get("Properties", {})
        policies = cloudformation_json.get("UpdatePolicy") or {}
        group = original_resource
        renamed = props.get("AutoScalingGroupName") not in (None, group.name)
        if renamed or _true((policies.get("AutoScalingReplacingUpdate") or {}).get("WillReplace")):
            # a new name (create-only) or a replacing update: a new group, as moto did
            return replace(
                cls,
                original_resource,
                new_resource_name,
                cloudformation_json,
                account_id,
                region_name,
            )
        backend = autoscaling_backends[account_id][region_name]
        before = (lifecycle.launched_version(group), group.vpc_zone_identifier)
        # target groups and classic load balancers attach and detach in place (a target group
        # the update removes may be gone already: dropped without deregistering)
        wanted = list(props.get("TargetGroupARNs", []))
        group.target_group_arns = [t for t in group.target_group_arns if t in wanted]
        added = [t for t in wanted if t not in group.target_group_arns]
        if added:
            backend.attach_load_balancer_target_groups(group.name, added)
        group.load_balancer_names = list(props.get("LoadBalancerNames", []))
        backend.update_auto_scaling_group(
            name=group.name,
            availability_zones=props.get("AvailabilityZones", []),
            desired_capacity=_int(props.get("DesiredCapacity"), None),
            max_size=_int(props.get("MaxSize"), None),
            min_size=_int(props.get("MinSize"), None),
            launch_config_name=props.get("LaunchConfigurationName"),
            launch_template=props.get("LaunchTemplate", {}),
            vpc_zone_identifier=",".join(props.get("VPCZoneIdentifier", [])) or None,
            health_check_period=_int(props.get("HealthCheckGracePeriod"), None),
            health_check_type=props.get("HealthCheckType"),
        )
        rolling = policies.get("AutoScalingRollingUpdate")
        changed = before != (lifecycle.launched_version(group), group.vpc_zone_identifier)
        if rolling is not None and (changed or obsolete(group)):
            rolling_update(group, rolling)
        return group

    FakeAutoScalingGroup.update_from_cloudformation_json = classmethod(
        update_from_cloudformation_json
    )


def obsolete(group: Any) -> list[Any]:
    """Instances not launched from the group's current launch template version."""
    current = lifecycle.launched_version(group)
    launched = state(group.account_id, group.region).launched_from
    return [s for s in lifecycle.counted(group) if launched.get(s.instance.id, current) != current]


def _note(group: Any, reason: str) -> None:
    from pipekit.emulator.patches.cloudformation.events import UPDATING, event

    stack, logical_id = UPDATING.get() or (None, "")
    event(stack, logical_id, TYPE, "UPDATE_IN_PROGRESS", resource=group, reason=reason)


def _signal(group: Any, instance_id: str, deadline: float) -> str | None:
    if not SIGNAL_SOURCES:
        return "SUCCESS"
    remaining = max(0.0, deadline - time.monotonic())
    return SIGNAL_SOURCES[-1](group.account_id, group.region, instance_id, remaining)


def rolling_update(group: Any, policy: dict[str, Any]) -> None:
    from moto.autoscaling.exceptions import ValidationError

    old = obsolete(group)
    if not old:
        return
    batch = _int(policy.get("MaxBatchSize"), 1) or 1
    keep = _int(policy.get("MinInstancesInService"), 0) or 0
    wait = _true(policy.get("WaitOnResourceSignals"))
    pause = policy.get("PauseTime") or ("PT5M" if wait else "PT0S")
    if keep >= (group.max_size or 0):
        raise ValidationError(wording.min_in_service_too_big())
    _note(group, wording.rolling_started(len(old), batch, keep, pause if wait else None))
    backend = group.autoscaling_backend
    already = {p["ProcessName"] for p in group.suspended_processes}
    suspended = [p for p in policy.get("SuspendProcesses") or [] if p not in already]
    if suspended:
        backend.suspend_processes(group.name, suspended)
    desired, low = group.desired_capacity, group.min_size
    tally = _Tally(len(old), _int(policy.get("MinSuccessfulInstancesPercent"), 100) or 0)
    try:
        if desired - min(batch, len(old)) < keep and keep + batch <= group.max_size:
            # Raise the group first so a batch can go while `keep` stay in service (inferred
            # from the events quoted in wording.py; the exact rule is not documented).
            size = keep + batch
            _note(group, wording.rolling_capacity(size))
            group.min_size = size
            _wait(group, _launch(group, size), wait, pause, tally)
        done = 0
        for start in range(0, len(old), batch):
            victims = old[start : start + batch]
            ids = [s.instance.id for s in victims]
            _note(group, wording.rolling_terminating(ids, len(ids)))
            for victim in victims:
                # CloudFormation terminates through the Auto Scaling API on the stack's behalf;
                # the activity's cause for it is assumed to be a user request's.
                cause = wording.user_terminated(lifecycle.now(), victim.instance.id, 1, 1)
                lifecycle.remove(group, victim, lifecycle.terminated(group, victim, cause))
            done += len(ids)
            new = _launch(group, group.desired_capacity)
            _note(group, wording.rolling_terminated(ids, done * 100 // len(old)))
            _wait(group, new, wait, pause, tally)
    finally:
        if group.min_size != low or group.desired_capacity != desired:
            group.min_size = low
            group.set_desired_capacity(desired)
        if suspended:
            backend.resume_processes(group.name, suspended)


class _Tally:
    """Signals so far against MinSuccessfulInstancesPercent of the instances replaced."""

    def __init__(self, total: int, percent: int) -> None:
        self.total, self.percent = total, percent
        self.successes = self.lost = 0

    def check(self) -> None:
        from moto.autoscaling.exceptions import ValidationError

        if self.lost and (self.total - self.lost) * 100 < self.percent * self.total:
            raise ValidationError(
                wording.rolling_unsatisfied(self.successes, self.total, self.percent)
            )


def _launch(group: Any, size: int) -> list[str]:
    before = {s.instance.id for s in group.instance_states}
    group.set_desired_capacity(size)
    return [s.instance.id for s in group.instance_states if s.instance.id not in before]


def _wait(group: Any, new: list[str], wait: bool, pause: str, tally: _Tally) -> None:
    """Wait for the new instances' signals (WaitOnResourceSignals), within PauseTime."""
    if not wait or not new:
        tally.successes += len(new)
        return
    _note(group, wording.rolling_waiting(len(new), pause))
    deadline = time.monotonic() + seconds(pause)
    missing = 0
    for instance_id in new:
        status = _signal(group, instance_id, deadline)
        if status is None:
            missing += 1
            continue
        _note(group, wording.rolling_signal(status, instance_id))
        if status == "SUCCESS":
            tally.successes += 1
        else:
            tally.lost += 1
    if missing:
        _note(group, wording.rolling_timed_out(missing))
        tally.lost += missing
    tally.check()
