"""An instance's way through the group, as EC2 Auto Scaling walks it (user guide,
ec2-auto-scaling-lifecycle; CodeDeploy user guide, integrations-aws-auto-scaling):

- launched: `Pending`, then `Pending:Wait` while a launch lifecycle hook waits (moto: straight to
  InService, hooks or not); every launch is a scaling activity (moto records none);
- CompleteLifecycleAction (moto: not implemented): CONTINUE puts it `InService`; ABANDON
  terminates it and the group launches another to keep its desired capacity;
- terminated (by a user request, a scale-in, an abandoned launch, or found terminated): a
  `Terminating EC2 instance` activity, its lifecycle action dropped, listeners told.

Instances waiting in Pending:* count toward the group's capacity (moto counted InService only,
so it launched again for an instance still waiting).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pipekit.emulator import clock
from pipekit.emulator.patches.autoscaling import targets, wording
from pipekit.emulator.patches.autoscaling.state import (
    ADMINISTRATIVE_SUSPENSION_AFTER,
    LAUNCH_LISTENERS,
    TERMINATE_LISTENERS,
    Action,
    state,
)

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
# Pending and InService instances are the group's capacity (botocore autoscaling LifecycleState;
# EC2 Auto Scaling user guide, ec2-auto-scaling-lifecycle).
COUNTED = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")

_why = threading.local()


def now() -> datetime:
    return clock.now()


@contextlib.contextmanager
def because(cause: str, launch: str | None = None) -> Iterator[None]:
    """What started the launches and terminations made in this block: `cause` is the first
    sentence of their Cause (e.g. a user request that set the desired capacity); `launch`, when
    given, is a launch's whole Cause instead of "an instance was started in response to a
    difference between desired and actual capacity"."""
    outer = (getattr(_why, "cause", ""), getattr(_why, "launch", None))
    _why.cause, _why.launch = cause, launch
    try:
        yield
    finally:
        _why.cause, _why.launch = outer


def _cause(*rest: str) -> str:
    return wording.then(getattr(_why, "cause", ""), *rest)


def counted(group: Any) -> list[Any]:
    return [s for s in group.instance_states if s.lifecycle_state in COUNTED]


def launch_hooks(group: Any) -> list[Any]:
    backend = group.autoscaling_backend
    return [
        h
        for h in backend.describe_lifecycle_hooks(group.name)
        if h.lifecycle_transition == LAUNCHING
    ]


def launched_version(group: Any) -> tuple[str, str]:
    """(launch template id, version number) a launch uses now."""
    template = group.ec2_launch_template
    if template is None:
        return ("", "")
    return (template.id, str(template.get_version(group.launch_template_version).number))


def patch() -> None:
    from moto.autoscaling.models import FakeAutoScalingGroup, InstanceState

    original_launch = FakeAutoScalingGroup.replace_autoscaling_group_instances

    def replace_autoscaling_group_instances(
        self: Any, count_needed: int, propagated_tags: dict[str, str]
    ) -> None:
        if "Launch" in {p["ProcessName"] for p in self.suspended_processes}:
            return  # a suspended Launch process launches nothing (as-suspend-resume-processes)
        before = {s.instance.id for s in self.instance_states}
        size = len(counted(self))
        original_launch(self, count_needed, propagated_tags)
        _launched(self, [s for s in self.instance_states if s.instance.id not in before], size)

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
    FakeAutoScalingGroup.active_instances = counted

    original_template = InstanceState.launch_template

    def launch_template(self: Any) -> dict[str, Any] | None:
        # moto reported every instance with the group's current version; AWS reports the one
        # the instance was launched from, which is how a rolling update tells obsolete ones.
        spec = original_template.fget(self)
        group = self.auto_scaling_group
        launched = state(group.account_id, group.region).launched_from.get(self.instance.id)
        if spec is not None and launched is not None:
            spec = {**spec, "Version": launched[1]}
        return spec

    InstanceState.launch_template = property(launch_template)


def _launched(group: Any, new: list[Any], size: int) -> None:
    if not new:
        return
    st = state(group.account_id, group.region)
    when = now()
    cause = getattr(_why, "launch", None) or _cause(wording.started(when, size, size + len(new)))
    hooks = launch_hooks(group)
    told: list[tuple[str, list[dict[str, Any]]]] = []
    with st.lock:
        for instance_state in new:
            instance = instance_state.instance
            st.launched_from[instance.id] = launched_version(group)
            record = wording.activity(
                group,
                wording.launching(instance.id),
                cause,
                when,
                status="MidLifecycleAction" if hooks else "Successful",
                instance=instance,
                activity_id=str(uuid.uuid4()),
            )
            st.group(group.name).activities.insert(0, record)
            details: list[dict[str, Any]] = []
            if hooks:
                instance_state.lifecycle_state = "Pending:Wait"
                token = str(uuid.uuid4())
                st.actions[instance.id] = Action(
                    token, group.name, instance.id, {h.name for h in hooks}, record
                )
                details = [
                    {
                        "LifecycleActionToken": token,
                        "AutoScalingGroupName": group.name,
                        "LifecycleHookName": h.name,
                        "EC2InstanceId": instance.id,
                        "LifecycleTransition": LAUNCHING,
                        "NotificationMetadata": getattr(h, "notification_metadata", None),
                    }
                    for h in hooks
                ]
            else:
                instance_state.lifecycle_state = "InService"
            told.append((instance.id, details))
    if not hooks:
        targets.register_in_service(group)  # InService at once: into its target groups
    for instance_id, details in told:
        for listener in list(LAUNCH_LISTENERS):
            listener(group.account_id, group.region, group.name, instance_id, details)


def active_action(group: Any, hook_name: str, instance_id: str | None, token: str | None) -> Action:
    """The lifecycle action CompleteLifecycleAction / RecordLifecycleActionHeartbeat name, or
    AWS's ValidationError."""
    from moto.autoscaling.exceptions import ValidationError

    st = state(group.account_id, group.region)
    with st.lock:
        for action in st.actions.values():
            if action.group != group.name or hook_name not in action.hooks:
                continue
            if (token and action.token == token) or (
                not token and action.instance_id == instance_id
            ):
                return action
    raise ValidationError(wording.no_active_action(instance_id, token))


def complete(group: Any, action: Action, hook_name: str, result: str) -> None:
    """One hook's answer. CONTINUE once every hook continued: InService. ABANDON: the launch is
    cancelled, the instance terminated, and the group launches again (CodeDeploy user guide,
    integrations-aws-auto-scaling, "If CodeDeploy indicates ABANDON ...")."""
    st = state(group.account_id, group.region)
    instance_state = next(
        (s for s in group.instance_states if s.instance.id == action.instance_id), None
    )
    with st.lock:
        action.hooks.discard(hook_name)
        if result == "CONTINUE" and action.hooks:
            return  # other hooks still wait
        st.actions.pop(action.instance_id, None)
        record = action.activity
        record.update(EndTime=now(), Progress=100)
        records = st.group(group.name)
        if result == "CONTINUE":
            record["StatusCode"] = "Successful"
            records.failed_launches = 0
            if instance_state is not None:
                instance_state.lifecycle_state = "InService"
            suspend = False
        else:
            record["StatusCode"] = "Cancelled"
            record["StatusMessage"] = wording.abandoned(action.token)
            records.failed_launches += 1
            suspend = records.failed_launches >= ADMINISTRATIVE_SUSPENSION_AFTER
    if result == "CONTINUE" and instance_state is not None:
        targets.register_in_service(group)  # InService: into its target groups
    if result == "CONTINUE" or instance_state is None:
        return
    if suspend:
        suspend_launch(group, records.failed_launches)
    remove(group, instance_state, activity=None)
    with because(""):
        group.set_desired_capacity(group.desired_capacity)


def suspend_launch(group: Any, failures: int) -> None:
    """Auto Scaling's administrative suspension of Launch, here after `failures` abandoned
    launches in a row (AWS: after about a day of them; the reason's wording is local)."""
    st = state(group.account_id, group.region)
    with st.lock:
        st.group(group.name).reasons["Launch"] = (
            f"Administrative suspension: {failures} launches in a row failed to complete their "
            "lifecycle action (local mode suspends after "
            f"{ADMINISTRATIVE_SUSPENSION_AFTER}; AWS after about 24 hours of failed launches)"
        )
    group.autoscaling_backend.suspend_processes(group.name, ["Launch"])


def remove(group: Any, instance_state: Any, activity: dict[str, Any] | None) -> None:
    """Take an instance out of the group and terminate it; `activity` is its Terminating
    activity (None when the terminated instance's own launch activity says why)."""
    st = state(group.account_id, group.region)
    instance_id = instance_state.instance.id
    with st.lock:
        if activity is not None:
            st.group(group.name).activities.insert(0, activity)
        st.actions.pop(instance_id, None)
    group.instance_states = [s for s in group.instance_states if s is not instance_state]
    targets.deregister(group, instance_id)
    if instance_state.instance.state not in ("terminated", "shutting-down"):
        group.autoscaling_backend.ec2_backend.terminate_instances([instance_id])
    for listener in list(TERMINATE_LISTENERS):
        listener(group.account_id, group.region, group.name, instance_id)


def terminated(group: Any, instance_state: Any, cause: str) -> dict[str, Any]:
    """The `Terminating EC2 instance` activity (Successful: the emulator terminates at once)."""
    return wording.activity(
        group,
        wording.terminating(instance_state.instance.id),
        _cause(cause),
        now(),
        status="Successful",
        instance=instance_state.instance,
        activity_id=str(uuid.uuid4()),
    )
