"""A group's TargetGroupARNs as AWS keeps them: Auto Scaling registers an instance with the
group's target groups when it enters InService (after its launch lifecycle hooks), and
deregisters it when the group takes it out to terminate it.

Sources: EC2 Auto Scaling user guide, lifecycle-hooks.html ("A popular use of lifecycle hooks
is to control when instances are registered with Elastic Load Balancing ... before instances
are registered with the load balancer at the end of the lifecycle hook") and
lifecycle-hooks-overview.html (Pending:Wait, then Pending:Proceed, then InService; on scale-in
the instance is deregistered from the load balancer before it terminates). moto registered
every instance of the group, Pending:Wait ones included, on every capacity change, and so
re-registered an instance a deployment had deregistered (CodeDeploy's BlockTraffic).

Not modelled yet: AWS waits for the deregistration delay before it terminates the instance
(the activity's "WaitingForELBConnectionDraining"); the emulator terminates at once while the
target drains.
"""

from __future__ import annotations

from typing import Any

from pipekit.emulator.patches.autoscaling.state import state


def patch() -> None:
    from moto.autoscaling.models import AutoScalingBackend

    def update_attached_target_groups(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups.get(group_name)
        if group is not None:
            register_in_service(group)

    AutoScalingBackend.update_attached_target_groups = update_attached_target_groups


def _target_groups(group: Any) -> list[Any]:
    backend = group.autoscaling_backend.elbv2_backend
    return [backend.target_groups[a] for a in group.target_group_arns if a in backend.target_groups]


def register_in_service(group: Any) -> None:
    """Register the group's InService instances with each of its target groups they are not yet
    registered with by the group (once: a deployment's deregistration stands)."""
    st = state(group.account_id, group.region)
    for target_group in _target_groups(group):
        with st.lock:
            new = [
                s.instance.id
                for s in group.instance_states
                if s.lifecycle_state == "InService"
                and (s.instance.id, target_group.arn) not in st.registered
            ]
            st.registered.update((i, target_group.arn) for i in new)
        if new:
            target_group.register([{"Id": i, "Port": target_group.port} for i in new])


def deregister(group: Any, instance_id: str) -> None:
    """Take an instance the group is terminating out of its target groups (it drains)."""
    st = state(group.account_id, group.region)
    for target_group in _target_groups(group):
        with st.lock:
            st.registered.discard((instance_id, target_group.arn))
        if instance_id in target_group.targets:
            target_group.deregister([{"Id": instance_id}])
