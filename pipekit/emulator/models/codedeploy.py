"""AWS::CodeDeploy::Application, ::DeploymentGroup and ::DeploymentConfig, which moto's CodeDeploy
backend has no CloudFormation models for. Custom deployment configs have no store in moto: they
are kept here (DeploymentConfig.STORE) and only CloudFormation sees them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.convert import convert
from pipekit.emulator.models.base import Model, tags


class DeployApplication(Model, CloudFormationModel):
    NAME_PROPERTY = "ApplicationName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::Application"

    @property
    def backend(self) -> Any:
        from moto.codedeploy.models import codedeploy_backends

        return codedeploy_backends[self.account_id][self.region_name]

    def create(self) -> None:
        self.backend.create_application(
            self.name,
            self.props.get("ComputePlatform", "Server"),
            tags(self.props, "Key", "Value"),
        )

    def update(self) -> None:
        self.backend.applications[self.name].tags = tags(self.props, "Key", "Value")

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.applications.pop(self.name, None)
        self.backend.deployment_groups.pop(self.name, None)


class DeploymentGroup(Model, CloudFormationModel):
    NAME_PROPERTY = "DeploymentGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::DeploymentGroup"

    @property
    def backend(self) -> Any:
        from moto.codedeploy.models import codedeploy_backends

        return codedeploy_backends[self.account_id][self.region_name]

    @property
    def application_name(self) -> str:
        return self.props["ApplicationName"]

    def create(self, group_id: str | None = None) -> None:
        request = convert("codedeploy", "CreateDeploymentGroupInput", self.props)
        self.backend.create_deployment_group(
            application_name=self.application_name,
            deployment_group_name=self.name,
            deployment_config_name=request.get("deploymentConfigName"),
            ec2_tag_filters=request.get("ec2TagFilters"),
            on_premises_instance_tag_filters=request.get("onPremisesInstanceTagFilters"),
            auto_scaling_groups=request.get("autoScalingGroups"),
            service_role_arn=request["serviceRoleArn"],
            trigger_configurations=request.get("triggerConfigurations"),
            alarm_configuration=request.get("alarmConfiguration"),
            auto_rollback_configuration=request.get("autoRollbackConfiguration"),
            outdated_instances_strategy=request.get("outdatedInstancesStrategy", "UPDATE"),
            deployment_style=request.get(
                "deploymentStyle",
                {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
            ),
            blue_green_deployment_configuration=request.get("blueGreenDeploymentConfiguration"),
            load_balancer_info=request.get("loadBalancerInfo"),
            ec2_tag_set=request.get("ec2TagSet"),
            ecs_services=request.get("ecsServices"),
            on_premises_tag_set=request.get("onPremisesTagSet"),
            tags=tags(self.props, "Key", "Value"),
            termination_hook_enabled=request.get("terminationHookEnabled", False),
        )
        if group_id:
            self.group.deployment_group_id = group_id

    @property
    def group(self) -> Any:
        return self.backend.deployment_groups[self.application_name][self.name]

    def update(self) -> None:
        # In place: the group keeps its ID, as on AWS (the agent's state is keyed by it).
        group_id = self.group.deployment_group_id
        self.backend.deployment_groups[self.application_name].pop(self.name)
        self.create(group_id)

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.deployment_groups.get(self.application_name, {}).pop(self.name, None)


class DeploymentConfig(Model, CloudFormationModel):
    """Custom deployment configs: moto has no store for them, so they live here."""

    NAME_PROPERTY = "DeploymentConfigName"
    STORE: ClassVar[dict[tuple[str, str, str], dict[str, Any]]] = {}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeDeploy::DeploymentConfig"

    def create(self) -> None:
        self.STORE[(self.account_id, self.region_name, self.name)] = dict(self.props)

    def delete(self, account_id: str, region_name: str) -> None:
        self.STORE.pop((account_id, region_name, self.name), None)
