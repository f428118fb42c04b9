"""CodeDeploy's get_deployment_group, as AWS shapes it: moto serialises the group's Auto Scaling
groups as `[{}]` (the API shape is `[{name, hook}]`) and leaves out its alarmConfiguration."""

from __future__ import annotations

from typing import Any


def patch() -> None:
    from moto.codedeploy import responses

    original = responses._deployment_group_info

    def _deployment_group_info(group: Any) -> dict[str, Any]:
        info = original(group)
        # moto serialises the group's ASG names as [{}]: the API shape is [{name, hook}], hook
        # the launch hook CodeDeploy installed in it (patches/autoscaling/hooks.py).
        hooks = getattr(group, "pipekit_hooks", None) or {}
        info["autoScalingGroups"] = [
            {"name": g, **({"hook": hooks[g]} if g in hooks else {})} if isinstance(g, str) else g
            for g in group.auto_scaling_groups
        ]
        alarms = group.alarm_configuration
        if isinstance(alarms, dict):
            info["alarmConfiguration"] = alarms
        elif alarms is not None:
            info["alarmConfiguration"] = {
                "enabled": bool(alarms.enabled),
                "ignorePollAlarmFailure": bool(alarms.ignore_poll_alarm_failure),
                "alarms": alarms.alarms,
            }
        return info

    responses._deployment_group_info = _deployment_group_info
