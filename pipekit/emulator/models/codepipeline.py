"""AWS::CodePipeline::Pipeline, which moto's CodePipeline backend has no CloudFormation model for.

The pipeline is created in moto's own backend, so get_pipeline returns the template's declaration
(converted to the API shape by convert.py). On AWS a new pipeline starts an execution (trigger
CreatePipeline): PIPELINE_CREATED_HOOKS is where local mode's engine hears of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from moto.core.common_models import CloudFormationModel

from pipekit.emulator.convert import convert
from pipekit.emulator.models.base import Model, tags

# Called with (account_id, region_name, pipeline_name) after CloudFormation creates a pipeline:
# on AWS that starts an execution (trigger CreatePipeline); local mode registers its engine here.
PIPELINE_CREATED_HOOKS: list[Callable[[str, str, str], None]] = []


class Pipeline(Model, CloudFormationModel):
    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Version", "Arn")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodePipeline::Pipeline"

    @property
    def backend(self) -> Any:
        from moto.codepipeline.models import codepipeline_backends

        return codepipeline_backends[self.account_id][self.region_name]

    def declaration(self) -> dict[str, Any]:
        pipeline = convert("codepipeline", "PipelineDeclaration", self.props)
        pipeline["name"] = self.name
        pipeline.pop("version", None)
        return pipeline

    def create(self) -> None:
        from moto.codepipeline.models import CodePipeline

        pipeline = self.declaration()
        _check_trust(self.account_id, pipeline["roleArn"], "codepipeline.amazonaws.com")
        created = CodePipeline(self.account_id, self.region_name, pipeline)
        created.tags = {t["key"]: t["value"] for t in tags(self.props)}
        self.backend.pipelines[self.name] = created
        for hook in PIPELINE_CREATED_HOOKS:
            # A listener's failure is its own problem, not the stack's.
            try:
                hook(self.account_id, self.region_name, self.name)
            except Exception:
                logging.getLogger(__name__).exception("pipeline-created hook %r failed", hook)

    def update(self) -> None:
        self.backend.update_pipeline(self.declaration())
        self.backend.pipelines[self.name].tags = {t["key"]: t["value"] for t in tags(self.props)}

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.delete_pipeline(self.name)

    def attribute(self, name: str) -> Any:
        pipeline = self.backend.pipelines[self.name]
        if name == "Version":
            return str(pipeline.pipeline["version"])
        return pipeline._arn


def _check_trust(account_id: str, role_arn: str, service: str) -> None:
    """The role must exist and trust the service (moto's own check rejects a list of services)."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[account_id]["aws"].get_role_by_arn(role_arn)
    except Exception:
        raise ValidationError(message=f"Role {role_arn} does not exist") from None
    document = role.assume_role_policy_document
    policy = json.loads(document) if isinstance(document, str) else document
    for statement in policy.get("Statement", []):
        services = (statement.get("Principal") or {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and service in services:
            return
    raise ValidationError(
        message=f"{service} is not authorized to perform AssumeRole on {role_arn}"
    )
