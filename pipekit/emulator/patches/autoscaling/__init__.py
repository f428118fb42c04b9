"""EC2 Auto Scaling as AWS runs it, where moto stops short (each module's docstring says what moto
did and what AWS does):

- `lifecycle`: an instance's states (Pending:Wait on launch hooks, InService, terminated), the
  launch and termination activities, CONTINUE/ABANDON;
- `capacity`: desired capacity and its refusals, scale-in, replacements (user request, EC2
  health check, SetInstanceHealth), CompleteLifecycleAction, DescribeScalingActivities;
- `hooks`: the launch lifecycle hook a CodeDeploy deployment group installs;
- `rolling`: CloudFormation's in-place update and AutoScalingRollingUpdate;
- `targets`: TargetGroupARNs: registered on InService, deregistered when terminated;
- `wording`: every message, with its source; `state`: what moto does not keep, and the
  listeners local mode registers (`state.LAUNCH_LISTENERS`, `TERMINATE_LISTENERS`,
  `SIGNAL_SOURCES`; `capacity.CAPACITY_GUARDS`).
"""

from __future__ import annotations

from typing import Any

from pipekit.emulator.patches.autoscaling import capacity, hooks, lifecycle, rolling, state, targets


def patch() -> None:
    from moto.autoscaling.models import AutoScalingBackend

    lifecycle.patch()
    capacity.patch()
    hooks.patch()
    rolling.patch()
    targets.patch()

    original_delete = AutoScalingBackend.delete_auto_scaling_group

    def delete_auto_scaling_group(self: Any, group_name: str) -> None:
        original_delete(self, group_name)
        # a group's lifecycle hooks go with it (moto kept them, keyed by the group's name)
        for key, hook in list(self.lifecycle_hooks.items()):
            if hook.auto_scaling_group_name == group_name:
                self.lifecycle_hooks.pop(key, None)
        st = state.state(self.account_id, self.region_name)
        with st.lock:
            st.groups.pop(group_name, None)

    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


def reset() -> None:
    state.reset()
