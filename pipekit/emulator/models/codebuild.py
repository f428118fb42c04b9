"""AWS::CodeBuild::Project, which moto's CodeBuild backend has no CloudFormation model for.

Created through the backend's create_project, then given every other property the template set,
so batch_get_projects shows what the template declared.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.convert import convert
from pipekit.emulator.models.base import Model, tags


class BuildProject(Model, CloudFormationModel):
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeBuild::Project"

    @property
    def backend(self) -> Any:
        from moto.codebuild.models import codebuild_backends

        return codebuild_backends[self.account_id][self.region_name]

    def create(self) -> None:
        request = convert("codebuild", "CreateProjectInput", self.props)
        request["name"] = self.name
        self.backend.create_project(
            project_name=self.name,
            description=request.get("description"),
            project_source=request.get("source", {}),
            artifacts=request.get("artifacts", {}),
            environment=request.get("environment", {}),
            service_role=request.get("serviceRole", ""),
            tags=tags(self.props),
            cache=request.get("cache"),
            timeout=request.get("timeoutInMinutes", 60),
            queued_timeout=request.get("queuedTimeoutInMinutes", 480),
            source_version=request.get("sourceVersion"),
            logs_config=request.get("logsConfig"),
            vpc_config=request.get("vpcConfig"),
        )
        metadata = self.backend.codebuild_projects[self.name].project_metadata
        # Everything else the template set (concurrency, encryption key, ...), as the API shows it.
        for key, value in request.items():
            if key not in ("tags",) and key not in metadata:
                metadata[key] = value
        metadata.setdefault("timeoutInMinutes", 60)

    def update(self) -> None:
        created = self.backend.codebuild_projects[self.name].project_metadata["created"]
        self.backend.codebuild_projects.pop(self.name, None)
        self.create()
        self.backend.codebuild_projects[self.name].project_metadata["created"] = created

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.delete_project(self.name)

    def attribute(self, name: str) -> Any:
        return self.backend.codebuild_projects[self.name].arn
