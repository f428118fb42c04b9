"""The group's size and the requests that change it, as EC2 Auto Scaling answers them:

- SetDesiredCapacity / UpdateAutoScalingGroup outside [MinSize, MaxSize]: AWS's ValidationError
  (moto accepted any number and launched that many);
- scale-in terminates per the default termination policy with a `Terminating EC2 instance`
  activity (moto terminated silently, with no activity);
- TerminateInstanceInAutoScalingGroup, an instance found terminated or stopped in EC2, and
  SetInstanceHealth Unhealthy: the instance goes with its activity and the group launches its
  replacement (moto: no activity; Unhealthy was only a label);
- CompleteLifecycleAction, RecordLifecycleActionHeartbeat (moto: not implemented),
  DescribeScalingActivities (moto: always empty), processes suspended with a reason;
- PutLifecycleHook keeps NotificationMetadata (moto dropped it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipekit.emulator.patches.autoscaling import lifecycle, wording
from pipekit.emulator.patches.autoscaling.state import state

# (account, region, group name, new desired capacity) -> a refusal, or None. Local mode refuses
# what its hosts cannot do (two instances sharing one network); AWS has no such limit.
CAPACITY_GUARDS: list[Callable[[str, str, str, int], str | None]] = []


def check_size(group: Any, desired: int, low: int, high: int, *, set_call: bool) -> None:
    """AWS's refusals of a desired capacity outside the group's bounds, then local mode's."""
    from moto.autoscaling.exceptions import ValidationError

    if set_call and desired > high:
        raise ValidationError(wording.desired_above_max(desired, high))
    if set_call and desired < low:
        raise ValidationError(wording.desired_below_min(desired, low))
    if not set_call and not low <= desired <= high:
        raise ValidationError(wording.desired_outside(desired, low, high))
    for guard in CAPACITY_GUARDS:
        refusal = guard(group.account_id, group.region, group.name, desired)
        if refusal:
            raise ValidationError(refusal)


def termination_order(group: Any) -> list[Any]:
    """Instances a scale-in takes first. Default termination policy (EC2 Auto Scaling user
    guide, as-instance-termination): unprotected instances only; those from the oldest launch
    template version first (the emulator puts a group in one Availability Zone, so the zone
    balancing step never decides); then, standing in for "closest to the next billing hour",
    the longest running."""
    current = lifecycle.launched_version(group)
    launched = state(group.account_id, group.region).launched_from
    candidates = [s for s in lifecycle.counted(group) if not s.protected_from_scale_in]

    def key(s: Any) -> tuple[bool, int, Any]:
        version = launched.get(s.instance.id, current)
        number = int(version[1]) if version[1].isdigit() else 0
        return (version == current, number, s.instance.launch_time)

    return sorted(candidates, key=key)


def patch() -> None:
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup

    original_set = FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        target = self.min_size if new_capacity is None else new_capacity
        members = lifecycle.counted(self)
        if target is not None and target < len(members):
            old = len(members)
            for victim in termination_order(self)[: old - target]:
                cause = wording.shrinking(lifecycle.now(), old, target, victim.instance.id)
                lifecycle.remove(self, victim, lifecycle.terminated(self, victim, cause))
        original_set(self, new_capacity)

    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity

    def suspended_processes(self: Any) -> list[dict[str, str]]:
        reasons = state(self.account_id, self.region).group(self.name).reasons
        return [
            {"ProcessName": p, "SuspensionReason": reasons.get(p, "")}
            for p in self._suspended_processes
        ]

    FakeAutoScalingGroup.suspended_processes = property(
        suspended_processes, FakeAutoScalingGroup.suspended_processes.fset
    )

    original_resume = AutoScalingBackend.resume_processes

    def resume_processes(self: Any, group_name: str, scaling_processes: list[str]) -> None:
        original_resume(self, group_name, scaling_processes)
        group = self.autoscaling_groups[group_name]
        records = state(group.account_id, group.region).group(group_name)
        resumed = set(records.reasons) - {p["ProcessName"] for p in group.suspended_processes}
        for process in resumed:
            records.reasons.pop(process, None)
        if "Launch" not in {p["ProcessName"] for p in group.suspended_processes}:
            records.failed_launches = 0
            group.set_desired_capacity(group.desired_capacity)  # launches what it owes

    AutoScalingBackend.resume_processes = resume_processes
    AutoScalingBackend.terminate_instance = terminate_instance
    AutoScalingBackend.notify_terminate_instances = notify_terminate_instances
    AutoScalingBackend.set_instance_health = set_instance_health

    original_hook = AutoScalingBackend.create_lifecycle_hook

    def create_lifecycle_hook(self: Any, *args: Any, metadata: str | None = None, **kw: Any) -> Any:
        hook = original_hook(self, *args, **kw)
        hook.notification_metadata = metadata
        hook.role_arn = None  # moto made up a role and a queue; a hook has them only if given
        hook.notification_target_arn = None
        # GlobalTimeout: 100 times HeartbeatTimeout or 48 hours, whichever is smaller (botocore
        # autoscaling LifecycleHook.GlobalTimeout)
        hook.global_timeout = min(172800, 100 * hook.heartbeat_timeout)
        return hook

    AutoScalingBackend.create_lifecycle_hook = create_lifecycle_hook
    _responses()


def _find(backend: Any, instance_id: str) -> tuple[Any, Any] | None:
    for group in backend.autoscaling_groups.values():
        for s in group.instance_states:
            if s.instance.id == instance_id:
                return group, s
    return None


def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
    from moto.autoscaling.exceptions import ValidationError

    found = _find(self, instance_id)
    if found is None:
        # As public clients of the API match it (ValidationError).
        raise ValidationError(
            f"Instance Id not found - No managed instance found for instance ID: {instance_id}"
        )
    group, instance_state = found
    old = group.desired_capacity
    new = old - 1 if should_decrement else old
    record = lifecycle.terminated(
        group, instance_state, wording.user_terminated(lifecycle.now(), instance_id, old, new)
    )
    lifecycle.remove(group, instance_state, record)
    group.desired_capacity = new
    with lifecycle.because(""):
        group.set_desired_capacity(new)  # the replacement, unless decremented
    return record


def _replace(
    backend: Any, instance_ids: list[str], cause: Callable[[], str], launch: str | None
) -> None:
    for instance_id in instance_ids:
        found = _find(backend, instance_id)
        if found is None:
            continue
        group, instance_state = found
        suspended = {p["ProcessName"] for p in group.suspended_processes}
        if "ReplaceUnhealthy" in suspended or "HealthCheck" in suspended:
            instance_state.health_status = "Unhealthy"
            if instance_state.instance.state != "terminated":
                continue  # marked, replaced when the processes resume (as-suspend-resume-processes)
        lifecycle.remove(
            group, instance_state, lifecycle.terminated(group, instance_state, cause())
        )
        with lifecycle.because("", launch):
            group.set_desired_capacity(group.desired_capacity)


def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
    """EC2 TerminateInstances on a group's instance: the group's EC2 health check finds it
    terminated, takes it out of service and launches a replacement (EC2 Auto Scaling user guide,
    ec2-auto-scaling-health-checks; the cause as in wording.ec2_health_check)."""
    _replace(self, instance_ids, lambda: wording.ec2_health_check(lifecycle.now()), None)


def set_instance_health(self: Any, instance_id: str, health_status: str) -> None:
    """SetInstanceHealth: Unhealthy makes ReplaceUnhealthy terminate and replace it (EC2 Auto
    Scaling user guide, as-configure-healthcheck / health checks)."""
    found = _find(self, instance_id)
    if found is None:
        return
    found[1].health_status = health_status
    if health_status == "Unhealthy":
        now = lifecycle.now()
        _replace(
            self,
            [instance_id],
            lambda: wording.user_health_check(now),
            wording.replacing_unhealthy(now),
        )


def _responses() -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult, EmptyResult

    def _group(self: Any, name: str) -> Any:
        group = self.autoscaling_backend.autoscaling_groups.get(name)
        if group is None:
            raise ValidationError(
                f"AutoScalingGroup name not found - AutoScalingGroup '{name}' not found"
            )
        return group

    def set_desired_capacity(self: Any) -> Any:
        group = _group(self, self._get_param("AutoScalingGroupName"))
        desired = self._get_int_param("DesiredCapacity")
        check_size(group, desired, group.min_size, group.max_size, set_call=True)
        cause = wording.user_set_desired(lifecycle.now(), group.desired_capacity, desired)
        with lifecycle.because(cause):
            self.autoscaling_backend.set_desired_capacity(group.name, desired)
        return EmptyResult()

    original_update = AutoScalingResponse.update_auto_scaling_group

    def update_auto_scaling_group(self: Any) -> Any:
        group = _group(self, self._get_param("AutoScalingGroupName"))
        low = self._get_int_param("MinSize")
        high = self._get_int_param("MaxSize")
        desired = self._get_int_param("DesiredCapacity")
        low = group.min_size if low is None else low
        high = group.max_size if high is None else high
        size = len(lifecycle.counted(group))
        # UpdateAutoScalingGroup: a new MinSize above, or MaxSize below, the group's size moves
        # the desired capacity to it (API reference; moto does the same).
        target = desired
        if target is None:
            target = low if low > size else high if high < size else group.desired_capacity
        check_size(group, target, low, high, set_call=False)
        cause = wording.user_updated_group(
            lifecycle.now(), (low, high, target), group.desired_capacity, target
        )
        with lifecycle.because(cause if target != group.desired_capacity else ""):
            return original_update(self)

    def terminate_instance_in_auto_scaling_group(self: Any) -> Any:
        activity = self.autoscaling_backend.terminate_instance(
            self._get_param("InstanceId"),
            self._get_bool_param("ShouldDecrementDesiredCapacity", False),
        )
        return ActionResult({"Activity": dict(activity)})

    def describe_scaling_activities(self: Any) -> Any:
        name = self._get_param("AutoScalingGroupName")
        ids = set(self._get_param("ActivityIds", []) or [])
        st = state(self.current_account, self.region)
        with st.lock:
            groups = [name] if name else list(st.groups)
            found = [
                dict(a)
                for g in groups
                for a in st.group(g).activities
                if not ids or a["ActivityId"] in ids
            ]
        # "Activities still in progress are described first" (as-verify-scaling-activity),
        # then newest first.
        found.sort(
            key=lambda a: (
                a["StatusCode"] in ("Successful", "Failed", "Cancelled"),
                -a["StartTime"].timestamp(),
            )
        )
        limit = self._get_int_param("MaxRecords") or 100
        return ActionResult({"Activities": found[:limit]})

    def complete_lifecycle_action(self: Any) -> Any:
        group = _group(self, self._get_param("AutoScalingGroupName"))
        hook = self._get_param("LifecycleHookName")
        result = self._get_param("LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise ValidationError(f"Invalid LifecycleActionResult: {result}")
        action = lifecycle.active_action(
            group, hook, self._get_param("InstanceId"), self._get_param("LifecycleActionToken")
        )
        lifecycle.complete(group, action, hook, result)
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: Any) -> Any:
        # Extends the wait by HeartbeatTimeout; the emulator keeps no timer (see the README).
        group = _group(self, self._get_param("AutoScalingGroupName"))
        lifecycle.active_action(
            group,
            self._get_param("LifecycleHookName"),
            self._get_param("InstanceId"),
            self._get_param("LifecycleActionToken"),
        )
        return EmptyResult()

    def put_lifecycle_hook(self: Any) -> Any:
        self.autoscaling_backend.create_lifecycle_hook(
            name=self._get_param("LifecycleHookName"),
            as_name=self._get_param("AutoScalingGroupName"),
            transition=self._get_param("LifecycleTransition"),
            timeout=self._get_int_param("HeartbeatTimeout"),
            result=self._get_param("DefaultResult"),
            metadata=self._get_param("NotificationMetadata"),
        )
        return EmptyResult()

    for handler in (
        set_desired_capacity,
        update_auto_scaling_group,
        terminate_instance_in_auto_scaling_group,
        describe_scaling_activities,
        complete_lifecycle_action,
        record_lifecycle_action_heartbeat,
        put_lifecycle_hook,
    ):
        setattr(AutoScalingResponse, handler.__name__, handler)
