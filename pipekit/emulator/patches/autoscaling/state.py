"""What Auto Scaling keeps that moto does not: each group's scaling activities, the lifecycle
actions of instances waiting on a hook, processes suspended with a reason, the launch template
version each instance was launched from, and who is told when instances launch or terminate.

Listeners stand in for what AWS does next on its own: an instance's user data running, the SQS
notification CodeDeploy polls (local mode registers them; with none, the emulator alone keeps
moto's "the instance runs at once").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# (account, region, group name, instance id, lifecycle actions) -> None; an action is the detail
# of EventBridge's "EC2 Instance-launch Lifecycle Action" event (EC2 Auto Scaling user guide,
# ec2-auto-scaling-event-reference): LifecycleActionToken, AutoScalingGroupName,
# LifecycleHookName, EC2InstanceId, LifecycleTransition, NotificationMetadata.
LaunchListener = Callable[[str, str, str, str, list[dict[str, Any]]], None]
# (account, region, group name, instance id) -> None
TerminateListener = Callable[[str, str, str, str], None]
# (account, region, instance id, timeout seconds) -> "SUCCESS" | "FAILURE" | None (no signal)
SignalSource = Callable[[str, str, str, float], str | None]

LAUNCH_LISTENERS: list[LaunchListener] = []
TERMINATE_LISTENERS: list[TerminateListener] = []
SIGNAL_SOURCES: list[SignalSource] = []

# Launches in a row that end abandoned before the group suspends its Launch process. AWS does
# this ("administrative suspension") after about a day of failed launches (EC2 Auto Scaling user
# guide, as-suspend-resume-processes); the emulator after 1 launch + 3 relaunches, so a bad
# revision's cancel-relaunch loop (CodeDeploy user guide, troubleshooting-auto-scaling) ends.
ADMINISTRATIVE_SUSPENSION_AFTER = 4


@dataclass
class Action:
    """One instance's wait in Pending:Wait: the hooks not yet completed, and its token."""

    token: str
    group: str
    instance_id: str
    hooks: set[str]
    activity: dict[str, Any]


@dataclass
class GroupState:
    activities: list[dict[str, Any]] = field(default_factory=list)  # newest first
    reasons: dict[str, str] = field(default_factory=dict)  # suspended process -> reason
    failed_launches: int = 0  # abandoned launches in a row


@dataclass
class RegionState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    groups: dict[str, GroupState] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)  # instance id -> its wait
    launched_from: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (lt, version)
    # (instance id, target group ARN) the group registered on InService (autoscaling/targets)
    registered: set[tuple[str, str]] = field(default_factory=set)

    def group(self, name: str) -> GroupState:
        return self.groups.setdefault(name, GroupState())


_STATES: dict[tuple[str, str], RegionState] = {}
_LOCK = threading.Lock()


def state(account_id: str, region: str) -> RegionState:
    with _LOCK:
        return _STATES.setdefault((account_id, region), RegionState())


def where(instance_id: str) -> tuple[str, str] | None:
    """(account, region) of a group's instance launched here."""
    with _LOCK:
        states = list(_STATES.items())
    for key, region_state in states:
        if instance_id in region_state.launched_from:
            return key
    return None


def reset() -> None:
    with _LOCK:
        _STATES.clear()
