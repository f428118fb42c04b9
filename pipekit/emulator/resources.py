"""CloudFormation models for the resource types moto skips, each backed by moto's own service
backend so the service API returns what the template declared.

Ref and GetAtt follow the CloudFormation return values of each type (resource schemas'
readOnlyProperties and primaryIdentifier). Properties are converted to the API request shapes by
walking the botocore models (convert.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from pipekit.emulator.convert import convert

# Called with (account_id, region_name, pipeline_name) after CloudFormation creates a pipeline:
# on AWS that starts an execution (trigger CreatePipeline); local mode registers its engine here.
PIPELINE_CREATED_HOOKS: list[Callable[[str, str, str], None]] = []


def _tags(props: dict[str, Any], key: str = "key", value: str = "value") -> list[dict[str, str]]:
    return [{key: t["Key"], value: t["Value"]} for t in props.get("Tags") or []]


class _Model:
    """Shared plumbing; each concrete class also derives from CloudFormationModel directly,
    because moto finds models through CloudFormationModel.__subclasses__()."""

    ATTRIBUTES: tuple[str, ...] = ()
    NAME_PROPERTY = ""

    def __init__(self, name: str, props: dict[str, Any], account_id: str, region_name: str):
        self.name = name
        self.props = props
        self.account_id = account_id
        self.region_name = region_name

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return self.attribute(attribute_name)

    def attribute(self, name: str) -> Any:
        raise UnformattedGetAttTemplateException()

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        props = cloudformation_json.get("Properties") or {}
        model = cls(resource_name, props, account_id, region_name)
        model.create()
        return model

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[misc]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        props = cloudformation_json.get("Properties") or {}
        if cls.replaces(original_resource.props, props):
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        original_resource.props = props
        original_resource.update()
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        props = cloudformation_json.get("Properties") or {}
        cls(resource_name, props, account_id, region_name).delete(account_id, region_name)

    @classmethod
    def replaces(cls, old: dict[str, Any], new: dict[str, Any]) -> bool:
        from pipekit.emulator.extensions import create_only_properties

        return any(
            old.get(name) != new.get(name)
            for name in create_only_properties(cls.cloudformation_type())  # type: ignore[attr-defined]
        )

    def create(self) -> None:
        raise NotImplementedError

    def update(self) -> None:
        self.delete(self.account_id, self.region_name)
        self.create()

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError


# --- CodePipeline ------------------------------------------------------------------------------


class Pipeline(_Model, CloudFormationModel):
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
        created.tags = {t["key"]: t["value"] for t in _tags(self.props)}
        self.backend.pipelines[self.name] = created
        for hook in PIPELINE_CREATED_HOOKS:
            # A listener's failure is its own problem, not the stack's.
            try:
                hook(self.account_id, self.region_name, self.name)
            except Exception:
                logging.getLogger(__name__).exception("pipeline-created hook %r failed", hook)

    def update(self) -> None:
        self.backend.update_pipeline(self.declaration())
        self.backend.pipelines[self.name].tags = {t["key"]: t["value"] for t in _tags(self.props)}

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


# --- CodeBuild ---------------------------------------------------------------------------------


class BuildProject(_Model, CloudFormationModel):
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
            tags=_tags(self.props),
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


# --- CodeDeploy --------------------------------------------------------------------------------


class DeployApplication(_Model, CloudFormationModel):
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
            _tags(self.props, "Key", "Value"),
        )

    def update(self) -> None:
        self.backend.applications[self.name].tags = _tags(self.props, "Key", "Value")

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.applications.pop(self.name, None)
        self.backend.deployment_groups.pop(self.name, None)


class DeploymentGroup(_Model, CloudFormationModel):
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
            tags=_tags(self.props, "Key", "Value"),
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


class DeploymentConfig(_Model, CloudFormationModel):
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


# --- S3, SNS, CloudWatch -----------------------------------------------------------------------


class BucketPolicy(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @property
    def backend(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self.account_id][get_partition(self.region_name)]

    @property
    def physical_resource_id(self) -> str:
        return self.props["Bucket"]

    def create(self) -> None:
        document = self.props["PolicyDocument"]
        if not isinstance(document, str):
            document = json.dumps(document)
        self.backend.put_bucket_policy(self.props["Bucket"], document.encode())

    def update(self) -> None:
        self.create()

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.s3.exceptions import MissingBucket

        with contextlib.suppress(MissingBucket):
            self.backend.delete_bucket_policy(self.props["Bucket"])


class Subscription(_Model, CloudFormationModel):
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @property
    def backend(self) -> Any:
        from moto.sns.models import sns_backends

        region = self.props.get("Region") or self.region_name
        return sns_backends[self.account_id][region]

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def create(self) -> None:
        subscription = self.backend.subscribe(
            self.props["TopicArn"], self.props.get("Endpoint", ""), self.props["Protocol"]
        )
        self.arn = subscription.arn
        for attribute in ("DeliveryPolicy", "FilterPolicy", "RedrivePolicy"):
            if attribute in self.props:
                value = self.props[attribute]
                value = value if isinstance(value, str) else json.dumps(value)
                self.backend.set_subscription_attributes(self.arn, attribute, value)
        if "RawMessageDelivery" in self.props:
            raw = str(self.props["RawMessageDelivery"]).lower()
            self.backend.set_subscription_attributes(self.arn, "RawMessageDelivery", raw)

    def update(self) -> None:
        self.backend.unsubscribe(self.arn)
        self.create()

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.unsubscribe(self.arn)

    def attribute(self, name: str) -> Any:
        return self.arn


class TopicPolicy(_Model, CloudFormationModel):
    ATTRIBUTES = ("Id",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @property
    def backend(self) -> Any:
        from moto.sns.models import sns_backends

        return sns_backends[self.account_id][self.region_name]

    @property
    def physical_resource_id(self) -> str:
        return self.policy_id

    def create(self) -> None:
        self.policy_id = getattr(self, "policy_id", None) or str(uuid.uuid4())
        document = self.props["PolicyDocument"]
        document = document if isinstance(document, str) else json.dumps(document)
        for topic in self.props.get("Topics", []):
            self.backend.set_topic_attribute(topic, "policy", document)

    def delete(self, account_id: str, region_name: str) -> None:
        for arn in self.props.get("Topics", []):
            topic = self.backend.topics.get(arn)
            if topic is not None:
                topic._policy_json = topic._create_default_topic_policy(
                    region_name, account_id, topic.name
                )

    def attribute(self, name: str) -> Any:
        return self.policy_id


class Alarm(_Model, CloudFormationModel):
    NAME_PROPERTY = "AlarmName"
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @property
    def backend(self) -> Any:
        from moto.cloudwatch.models import cloudwatch_backends

        return cloudwatch_backends[self.account_id][self.region_name]

    def create(self) -> None:
        from moto.cloudwatch.models import MetricDataQuery, MetricStat

        request = convert("cloudwatch", "PutMetricAlarmInput", self.props)
        queries = [
            MetricDataQuery(
                query_id=q["Id"],
                label=q.get("Label", ""),
                period=q.get("Period"),
                return_data=q.get("ReturnData", True),
                expression=q.get("Expression"),
                metric_stat=MetricStat(**_metric_stat(q["MetricStat"]))
                if "MetricStat" in q
                else None,
            )
            for q in request.get("Metrics", [])
        ]
        self.backend.put_metric_alarm(
            name=self.name,
            namespace=request.get("Namespace"),
            metric_name=request.get("MetricName"),
            comparison_operator=request["ComparisonOperator"],
            evaluation_periods=request["EvaluationPeriods"],
            period=request.get("Period"),
            threshold=request.get("Threshold"),
            statistic=request.get("Statistic"),
            description=request.get("AlarmDescription"),
            dimensions=request.get("Dimensions", []),
            alarm_actions=request.get("AlarmActions", []),
            metric_data_queries=queries or None,
            datapoints_to_alarm=request.get("DatapointsToAlarm"),
            extended_statistic=request.get("ExtendedStatistic"),
            ok_actions=request.get("OKActions"),
            insufficient_data_actions=request.get("InsufficientDataActions"),
            unit=request.get("Unit"),
            actions_enabled=request.get("ActionsEnabled", True),
            treat_missing_data=request.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=request.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=request.get("ThresholdMetricId"),
            tags=_tags(self.props, "Key", "Value"),
        )

    def update(self) -> None:
        self.create()  # put_metric_alarm replaces an alarm of the same name

    def delete(self, account_id: str, region_name: str) -> None:
        self.backend.delete_alarms([self.name])

    def attribute(self, name: str) -> Any:
        return self.backend.alarms[self.name].alarm_arn


def _metric_stat(stat: dict[str, Any]) -> dict[str, Any]:
    from moto.cloudwatch.models import Dimension, Metric

    metric = stat["Metric"]
    return {
        "metric": Metric(
            metric_name=metric.get("MetricName"),
            namespace=metric.get("Namespace"),
            dimensions=[Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
        ),
        "period": str(stat["Period"]),
        "stat": stat["Stat"],
        "unit": stat.get("Unit"),
    }


class NotificationRule(_Model, CloudFormationModel):
    """No codestar-notifications API in moto: the rule only exists for CloudFormation."""

    NAME_PROPERTY = "Name"
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CodeStarNotifications::NotificationRule"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def create(self) -> None:
        self.arn = getattr(self, "arn", None) or (
            f"arn:aws:codestar-notifications:{self.region_name}:{self.account_id}:"
            f"notificationrule/{uuid.uuid4().hex}"
        )

    def update(self) -> None:
        pass

    def delete(self, account_id: str, region_name: str) -> None:
        pass

    def attribute(self, name: str) -> Any:
        return self.arn


# --- fixes to moto's own services --------------------------------------------------------------


def patch_services() -> None:
    _patch_deployment_group_info()
    _patch_bucket()
    _patch_stack_resources()
    _patch_delete_stack()
    patch_deletions()
    patch_elbv2_attributes()
    patch_bucket_policy_conditions()


def _patch_deployment_group_info() -> None:
    from moto.codedeploy import responses

    original = responses._deployment_group_info

    def _deployment_group_info(group: Any) -> dict[str, Any]:
        info = original(group)
        # moto serialises the group's ASG names as [{}]: the API shape is [{name, hook}].
        info["autoScalingGroups"] = [
            {"name": g} if isinstance(g, str) else g for g in group.auto_scaling_groups
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


def _bucket_extras(backend: Any, name: str, props: dict[str, Any]) -> None:
    """What moto's AWS::S3::Bucket ignores: versioning, public access block, lifecycle,
    ownership controls."""
    if "VersioningConfiguration" in props:
        backend.put_bucket_versioning(name, props["VersioningConfiguration"]["Status"])
    if "PublicAccessBlockConfiguration" in props:
        block = {
            k: bool(str(v).lower() == "true")
            for k, v in props["PublicAccessBlockConfiguration"].items()
        }
        backend.put_public_access_block(name, block)
    if "LifecycleConfiguration" in props:
        backend.put_bucket_lifecycle_configuration(
            name, [lifecycle_rule(r) for r in props["LifecycleConfiguration"].get("Rules", [])]
        )
    if "OwnershipControls" in props:
        rules = props["OwnershipControls"].get("Rules") or []
        if rules:
            # moto keeps the rule as the bare ObjectOwnership string.
            backend.put_bucket_ownership_controls(name, rules[0]["ObjectOwnership"])


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as the S3 API (and moto's backend) spells it."""
    out: dict[str, Any] = {"ID": rule.get("Id"), "Status": rule["Status"]}
    out["Filter"] = {"Prefix": rule.get("Prefix", "")}
    expiration: dict[str, Any] = {}
    if "ExpirationInDays" in rule:
        expiration["Days"] = int(rule["ExpirationInDays"])
    if "ExpirationDate" in rule:
        expiration["Date"] = rule["ExpirationDate"]
    if "ExpiredObjectDeleteMarker" in rule:
        expiration["ExpiredObjectDeleteMarker"] = bool(rule["ExpiredObjectDeleteMarker"])
    if expiration:
        out["Expiration"] = expiration
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(noncurrent["NoncurrentDays"])}
    elif "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])
        }
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        out["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(abort["DaysAfterInitiation"])
        }
    transitions = [
        {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
        for t in rule.get("Transitions", [])
        if "TransitionInDays" in t
    ]
    if transitions:
        out["Transition"] = transitions
    return out


def _patch_bucket() -> None:
    from moto.s3.models import FakeBucket, s3_backends

    original_create = FakeBucket.create_from_cloudformation_json.__func__
    original_update = FakeBucket.update_from_cloudformation_json.__func__

    def create(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        bucket = original_create(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        backend = s3_backends[account_id][get_partition(region_name)]
        _bucket_extras(backend, bucket.name, cloudformation_json.get("Properties", {}))
        return bucket

    def update(
        cls: Any,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Any:
        props = cloudformation_json.get("Properties", {})
        # moto's update tags "properties['BucketName']", which fails for generated names.
        props.setdefault("BucketName", original_resource.name)
        bucket = original_update(
            cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
        )
        backend = s3_backends[account_id][get_partition(region_name)]
        _bucket_extras(backend, bucket.name, props)
        return bucket

    def delete(self: Any, account_id: str, region_name: str) -> None:
        from moto.cloudformation.exceptions import ValidationError

        backend = s3_backends[account_id][get_partition(region_name)]
        bucket = backend.buckets.get(self.name)
        if bucket is None:
            return
        if bucket.keys:
            # As on AWS: CloudFormation cannot delete a bucket that still holds objects
            # (versions and delete markers included).
            raise ValidationError(
                message="The bucket you tried to delete is not empty. You must delete all "
                f"versions in the bucket. (Service: S3, Status Code: 409, Bucket: {self.name})"
            )
        backend.delete_bucket(self.name)

    FakeBucket.create_from_cloudformation_json = classmethod(create)
    FakeBucket.update_from_cloudformation_json = classmethod(update)
    FakeBucket.delete = delete


def _patch_stack_resources() -> None:
    from moto.cloudformation.models import Stack

    def stack_resources(self: Any) -> list[Any]:
        # Resources whose Condition is false are None in moto's map: not part of the stack.
        return [r for r in self.resource_map.values() if r is not None and not isinstance(r, str)]

    Stack.stack_resources = property(stack_resources)


def _patch_delete_stack() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id)
        if stack is None:
            for candidate in list(self.stacks.values()):
                if candidate.name == name_or_stack_id:
                    stack = candidate
                    break
        if stack is None:
            return
        stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.status = "DELETE_IN_PROGRESS"
        try:
            stack.resource_map.delete()
        except Exception:  # AWS reports it on the stack, not on the call
            failed = sorted(
                {
                    e.logical_resource_id
                    for e in stack.events
                    if e.resource_status == "DELETE_FAILED" and e.logical_resource_id != stack.name
                }
            )
            stack.status = "DELETE_FAILED"
            stack._add_stack_event(
                "DELETE_FAILED",
                resource_status_reason="The following resource(s) failed to delete: "
                f"[{', '.join(failed)}]. ",
            )
            return
        stack._add_stack_event("DELETE_COMPLETE")
        stack.status = "DELETE_COMPLETE"
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
        for name, export in list(self.exports.items()):
            if export.exporting_stack_id == stack.stack_id:
                self.exports.pop(name, None)

    CloudFormationBackend.delete_stack = delete_stack


# --- deletion for moto models that have none (their resources outlived the stack) --------------


def _ec2(account_id: str, region_name: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region_name]


def _elbv2(account_id: str, region_name: str) -> Any:
    from moto.elbv2.models import elbv2_backends

    return elbv2_backends[account_id][region_name]


def _delete_eip(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.allocation_id in {a.allocation_id for a in backend.addresses}:
        backend.release_address(allocation_id=self.allocation_id)


def _delete_igw(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.id in backend.internet_gateways:
        backend.delete_internet_gateway(self.id)


def _delete_gateway_attachment(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    gateway = backend.internet_gateways.get(self.gateway_id)
    if gateway is not None and gateway.vpc is not None:
        backend.detach_internet_gateway(self.gateway_id, self.vpc_id)


def _delete_route(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.route_table.id in backend.route_tables:
        backend.delete_route(
            self.route_table.id, self.destination_cidr_block, self.destination_ipv6_cidr_block
        )


def _delete_route_table(self: Any, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    if self.id in backend.route_tables:
        backend.delete_route_table(self.id)


def _delete_subnet_association(self: Any, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).subnet_associations.pop(
        f"{self.route_table_id}:{self.subnet_id}", None
    )


def _delete_ingress(self: Any, account_id: str, region_name: str) -> None:
    # The rule lives in its group; revoking it is what AWS does. Gone with the group otherwise.
    backend = _ec2(account_id, region_name)
    group = backend.get_security_group_from_id(self.security_group.id)
    if group is None:
        return
    props = self.properties
    with contextlib.suppress(Exception):
        backend.revoke_security_group_ingress(
            group_name_or_id=group.id,
            ip_protocol=props.get("IpProtocol"),
            from_port=props.get("FromPort"),
            to_port=props.get("ToPort"),
            ip_ranges=[{"CidrIp": props["CidrIp"]}] if props.get("CidrIp") else [],
            source_groups=(
                [{"GroupId": props["SourceSecurityGroupId"]}]
                if props.get("SourceSecurityGroupId")
                else []
            ),
        )


def _delete_listener(self: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    with contextlib.suppress(Exception):
        backend.delete_listener(self.arn)


def _delete_target_group(self: Any, account_id: str, region_name: str) -> None:
    backend = _elbv2(account_id, region_name)
    if self.arn in backend.target_groups:
        backend.delete_target_group(self.arn)


def patch_deletions() -> None:
    from moto.ec2.models.elastic_ip_addresses import ElasticAddress
    from moto.ec2.models.internet_gateways import InternetGateway
    from moto.ec2.models.route_tables import Route, RouteTable
    from moto.ec2.models.security_groups import SecurityGroupIngress
    from moto.ec2.models.subnets import SubnetRouteTableAssociation
    from moto.ec2.models.vpn_gateway import VPCGatewayAttachment
    from moto.elbv2.models import FakeListener, FakeTargetGroup

    ElasticAddress.delete = _delete_eip
    InternetGateway.delete = _delete_igw
    VPCGatewayAttachment.delete = _delete_gateway_attachment
    Route.delete = _delete_route
    RouteTable.delete = _delete_route_table
    SubnetRouteTableAssociation.delete = _delete_subnet_association
    SecurityGroupIngress.delete = _delete_ingress
    FakeListener.delete = _delete_listener
    FakeTargetGroup.delete = _delete_target_group


class SecurityGroupEgress(_Model, CloudFormationModel):
    """moto has AWS::EC2::SecurityGroupIngress but no Egress."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::SecurityGroupEgress"

    @property
    def physical_resource_id(self) -> str:
        return self.rule_id

    def _rule(self) -> dict[str, Any]:
        props = self.props
        return {
            "group_name_or_id": props["GroupId"],
            "ip_protocol": str(props["IpProtocol"]),
            "from_port": props.get("FromPort"),
            "to_port": props.get("ToPort"),
            "ip_ranges": (
                [{"CidrIp": props["CidrIp"], "Description": props.get("Description", "")}]
                if props.get("CidrIp")
                else []
            ),
            "source_groups": (
                [{"GroupId": props["DestinationSecurityGroupId"]}]
                if props.get("DestinationSecurityGroupId")
                else []
            ),
            "prefix_list_ids": (
                [{"PrefixListId": props["DestinationPrefixListId"]}]
                if props.get("DestinationPrefixListId")
                else []
            ),
        }

    def create(self) -> None:
        rules, _group = _ec2(self.account_id, self.region_name).authorize_security_group_egress(
            **self._rule()
        )
        self.rule_id = rules[0].id if rules else f"sgr-{uuid.uuid4().hex[:17]}"

    def delete(self, account_id: str, region_name: str) -> None:
        backend = _ec2(account_id, region_name)
        if backend.get_security_group_from_id(self.props["GroupId"]) is None:
            return
        rule = self._rule()
        rule.pop("prefix_list_ids")
        with contextlib.suppress(Exception):
            backend.revoke_security_group_egress(**rule)


def patch_elbv2_attributes() -> None:
    """GetAtt values moto lacks, with the shapes CloudFormation documents:
    LoadBalancerFullName app/<name>/<id>, TargetGroupFullName targetgroup/<name>/<id>."""
    from moto.elbv2.models import FakeLoadBalancer, FakeTargetGroup

    original_lb = FakeLoadBalancer.get_cfn_attribute

    def lb_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "LoadBalancerFullName":
            return self.arn.split(":loadbalancer/", 1)[1]
        if attribute_name == "CanonicalHostedZoneID":
            return "Z35SXDOTRQ7X7K"  # the us-east-1 ALB zone; moto has no per-region table
        if attribute_name == "SecurityGroups":
            return list(self.security_groups)
        if attribute_name == "LoadBalancerArn":
            return self.arn
        return original_lb(self, attribute_name)

    FakeLoadBalancer.get_cfn_attribute = lb_attribute

    def tg_has(cls: Any, attr: str) -> bool:
        return attr in (
            "TargetGroupArn",
            "TargetGroupFullName",
            "TargetGroupName",
            "LoadBalancerArns",
        )

    def tg_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name == "TargetGroupFullName":
            return self.arn.split(":", 5)[5]
        if attribute_name == "TargetGroupName":
            return self.name
        if attribute_name == "TargetGroupArn":
            return self.arn
        if attribute_name == "LoadBalancerArns":
            return list(self.load_balancer_arns)
        raise UnformattedGetAttTemplateException()

    FakeTargetGroup.has_cfn_attr = classmethod(tg_has)
    FakeTargetGroup.get_cfn_attribute = tg_attribute


def _condition_holds(condition: dict[str, Any]) -> bool | None:
    """Evaluate a bucket-policy Condition for a request to the emulated endpoint, which stands
    for an HTTPS request to AWS. None = cannot tell (moto cannot evaluate it either)."""
    context = {"aws:securetransport": "true"}
    for operator, tests in condition.items():
        if operator not in ("Bool", "StringEquals"):
            return None
        for key, expected in tests.items():
            actual = context.get(key.lower())
            if actual is None:
                return None
            values = expected if isinstance(expected, list) else [expected]
            if actual not in {str(v).lower() for v in values}:
                return False
    return True


def patch_bucket_policy_conditions() -> None:
    """moto enforces bucket policies but ignores their Conditions, so the usual guardrail
    `Deny s3:* unless aws:SecureTransport` denied every request. Statements whose condition
    does not hold are left out; those it cannot evaluate are left out too, as moto cannot."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        raw = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        document = json.loads(raw)
        statements = document.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        kept = [s for s in statements if "Condition" not in s or _condition_holds(s["Condition"])]
        return IAMPolicy(json.dumps({**document, "Statement": kept})).is_action_permitted(
            action, resource
        )

    FakeBucket.get_permission = get_permission
