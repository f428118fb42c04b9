"""The launch lifecycle hook CodeDeploy installs in each Auto Scaling group of a deployment group
(moto's CodeDeploy installed none, so a new instance never waited for its deployment).

"When you create or update a deployment group to include an Auto Scaling group, CodeDeploy ...
installs a lifecycle hook in the Auto Scaling group" (CodeDeploy user guide,
integrations-aws-auto-scaling). As AWS shows it (describe-lifecycle-hooks output and CloudTrail
PutLifecycleHook records quoted in public posts, e.g. echorand.me "AWS CodeDeploy Deployment
Group and Initial Auto Scaling lifecycle hook", LeanerCloud/AutoSpotting#14):

    LifecycleHookName     CodeDeploy-managed-automatic-launch-deployment-hook-<group name>-<uuid>
    LifecycleTransition   autoscaling:EC2_INSTANCE_LAUNCHING
    HeartbeatTimeout      600
    GlobalTimeout         60000
    DefaultResult         ABANDON
    NotificationMetadata  the deployment group's id

Its NotificationTargetARN is an SQS queue of CodeDeploy's own account; here nothing is queued:
the emulator tells its launch listeners. An update re-installs the hooks with new UUIDs
(troubleshooting-auto-scaling: "CodeDeploy re-installs the Auto Scaling hooks with new UUIDs");
deleting the group, or its application, removes them.
"""

from __future__ import annotations

import uuid
from typing import Any

from pipekit.emulator.patches.autoscaling.lifecycle import LAUNCHING

PREFIX = "CodeDeploy-managed-automatic-launch-deployment-hook-"
HEARTBEAT_TIMEOUT = 600


def _asg_names(group: Any) -> list[str]:
    names = []
    for entry in group.auto_scaling_groups or []:
        name = entry if isinstance(entry, str) else (entry.get("name") or entry.get("Name"))
        if name:
            names.append(name)
    return names


def install(group: Any, account_id: str, region: str) -> None:
    from moto.autoscaling.models import autoscaling_backends

    backend = autoscaling_backends[account_id][region]
    group.pipekit_hooks = {}
    for name in _asg_names(group):
        if name not in backend.autoscaling_groups:
            continue
        hook_name = f"{PREFIX}{group.deployment_group_name}-{uuid.uuid4()}"
        backend.create_lifecycle_hook(
            name=hook_name,
            as_name=name,
            transition=LAUNCHING,
            timeout=HEARTBEAT_TIMEOUT,
            result="ABANDON",
            metadata=group.deployment_group_id,
        )
        group.pipekit_hooks[name] = hook_name


def uninstall(group: Any, account_id: str, region: str) -> None:
    from moto.autoscaling.models import autoscaling_backends

    backend = autoscaling_backends[account_id][region]
    for name, hook_name in (getattr(group, "pipekit_hooks", None) or {}).items():
        backend.delete_lifecycle_hook(name, hook_name)
    group.pipekit_hooks = {}


def patch() -> None:
    from moto.codedeploy.models import CodeDeployBackend

    from pipekit.emulator.models.codedeploy import DeployApplication, DeploymentGroup

    original_create = CodeDeployBackend.create_deployment_group

    def create_deployment_group(
        self: Any, application_name: str, deployment_group_name: str, *a: Any, **kw: Any
    ) -> str:
        group_id = original_create(self, application_name, deployment_group_name, *a, **kw)
        group = self.deployment_groups[application_name][deployment_group_name]
        install(group, self.account_id, self.region_name)
        return group_id

    CodeDeployBackend.create_deployment_group = create_deployment_group

    original_model_create = DeploymentGroup.create
    original_update = DeploymentGroup.update
    original_delete = DeploymentGroup.delete
    original_app_delete = DeployApplication.delete

    def model_create(self: Any, group_id: str | None = None) -> None:
        original_model_create(self, group_id)
        # the group keeps its id through an update: the hooks carry the id it ends up with
        backend = self.backend
        for name, hook_name in (getattr(self.group, "pipekit_hooks", None) or {}).items():
            from moto.autoscaling.models import autoscaling_backends

            asg_backend = autoscaling_backends[backend.account_id][backend.region_name]
            for hook in asg_backend.describe_lifecycle_hooks(name, [hook_name]):
                hook.notification_metadata = self.group.deployment_group_id

    def update(self: Any) -> None:
        uninstall(self.group, self.account_id, self.region_name)
        original_update(self)

    def delete(self: Any, account_id: str, region_name: str) -> None:
        group = self.backend.deployment_groups.get(self.application_name, {}).get(self.name)
        if group is not None:
            uninstall(group, account_id, region_name)
        original_delete(self, account_id, region_name)

    def app_delete(self: Any, account_id: str, region_name: str) -> None:
        for group in self.backend.deployment_groups.get(self.name, {}).values():
            uninstall(group, account_id, region_name)
        original_app_delete(self, account_id, region_name)

    DeploymentGroup.create = model_create
    DeploymentGroup.update = update
    DeploymentGroup.delete = delete
    DeployApplication.delete = app_delete
