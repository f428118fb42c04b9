"""CodeDeploy deployment configurations (EC2/on-premises) and the rules CodeDeploy draws from
them: GetDeploymentConfig's answer (DeploymentConfigInfo, botocore shape) for the predefined
configs and custom ones, the minimum number of healthy instances, how many instances a
deployment may take offline at once, and whether the overall deployment succeeded.

Sources (CodeDeploy API reference, MinimumHealthyHosts; user guide instances-health and
deployment-configurations):
- HOST_COUNT: the minimum as an absolute value; FLEET_PERCENT: a percentage of the instances in
  the deployment, converted at the start of the deployment "and rounds up fractional instances"
  (CreateDeploymentConfig minimumHealthyHosts).
- "In an example of nine instances, if a HOST_COUNT of six is specified, deploy to up to three
  instances at a time. The deployment is successful if six or more instances are deployed to
  successfully ... If a FLEET_PERCENT of 40 is specified, deploy to up to five instances at a
  time. The deployment is successful if four or more instances are deployed to successfully."
- GetDeploymentConfig answers CodeDeployDefault.OneAtATime with type MOST_CONCURRENCY, value 1:
  one instance at a time; CodeDeploy keeps all instances but one healthy, so "if the deployment
  to the last instance fails, the overall deployment is still successful".
- AllAtOnce: as many instances as possible at once; it succeeds when the revision is deployed to
  one or more instances. HalfAtATime: up to half at a time (rounded down); it succeeds when at
  least half (rounded up) succeed.
- "Deployment to at least one instance must succeed ... even if the minimum healthy hosts value
  is 0" (instances-health).
- A minimum not below the number of instances fails the deployment at once: "when the
  deployment starts, the number of healthy instances will already be less than or equal to the
  specified minimum number of healthy instances, and CodeDeploy will immediately fail the
  overall deployment" (instances-health); ErrorCode HEALTH_CONSTRAINTS_INVALID (botocore).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

from pipekit.emulator.records.exceptions import (
    DeploymentConfigAlreadyExistsException,
    DeploymentConfigDoesNotExistException,
    InvalidMinimumHealthyHostValueException,
)

MOST_CONCURRENCY = "MOST_CONCURRENCY"
# The predefined EC2/on-premises configs, as GetDeploymentConfig returns them.
PREDEFINED: dict[str, dict[str, Any]] = {
    "CodeDeployDefault.OneAtATime": {"type": MOST_CONCURRENCY, "value": 1},
    "CodeDeployDefault.HalfAtATime": {"type": "FLEET_PERCENT", "value": 50},
    "CodeDeployDefault.AllAtOnce": {"type": "HOST_COUNT", "value": 0},
}
# Custom configs created through CreateDeploymentConfig: (account, region, name) -> info.
_CREATED: dict[tuple[str, str, str], dict[str, Any]] = {}

# local wording: CodeDeploy's message for this code is not documented.
HEALTH_CONSTRAINTS_INVALID = (
    "HEALTH_CONSTRAINTS_INVALID",
    "The deployment failed because the minimum number of healthy instances ({minimum}) is not "
    "less than the number of instances in the deployment ({total}).",
)


def _predefined_info(name: str) -> dict[str, Any]:
    return {
        # AWS gives predefined configs fixed ids; these are local, stable per name.
        "deploymentConfigId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "deploymentConfigName": name,
        "minimumHealthyHosts": dict(PREDEFINED[name]),
        "createTime": datetime(2014, 11, 12, tzinfo=UTC),
        "computePlatform": "Server",
    }


def get(account_id: str, region: str, name: str) -> dict[str, Any]:
    """GetDeploymentConfig's deploymentConfigInfo for `name`: predefined, created through the
    API, or an AWS::CodeDeploy::DeploymentConfig the emulator's CloudFormation created."""
    if name in PREDEFINED:
        return _predefined_info(name)
    found = _CREATED.get((account_id, region, name))
    if found is not None:
        return dict(found)
    from pipekit.emulator.models.codedeploy import DeploymentConfig

    props = DeploymentConfig.STORE.get((account_id, region, name))
    if props is not None and props.get("MinimumHealthyHosts"):
        hosts = props["MinimumHealthyHosts"]
        return {
            "deploymentConfigId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{account_id}/{name}")),
            "deploymentConfigName": name,
            "minimumHealthyHosts": {"type": hosts["Type"], "value": int(hosts["Value"])},
            "computePlatform": props.get("ComputePlatform", "Server"),
        }
    raise DeploymentConfigDoesNotExistException(
        # botocore's description of the exception (the service's wording is unknown)
        "The deployment configuration does not exist with the user or Amazon Web Services account."
    )


def create(account_id: str, region: str, request: dict[str, Any]) -> str:
    """CreateDeploymentConfig (EC2/on-premises minimumHealthyHosts); returns the new id."""
    name = request.get("deploymentConfigName") or ""
    if name in PREDEFINED or (account_id, region, name) in _CREATED:
        raise DeploymentConfigAlreadyExistsException(
            "A deployment configuration with the specified name with the user or Amazon Web "
            "Services account already exists."
        )
    hosts = request.get("minimumHealthyHosts") or {}
    kind, value = hosts.get("type"), hosts.get("value")
    if (
        kind not in ("HOST_COUNT", "FLEET_PERCENT")
        or not isinstance(value, int)
        or value < 0
        or (kind == "FLEET_PERCENT" and value > 100)
    ):
        raise InvalidMinimumHealthyHostValueException(
            "The minimum healthy instance value was specified in an invalid format."
        )
    info = {
        "deploymentConfigId": str(uuid.uuid4()),
        "deploymentConfigName": name,
        "minimumHealthyHosts": {"type": kind, "value": value},
        "createTime": datetime.now(UTC),
        "computePlatform": request.get("computePlatform") or "Server",
    }
    _CREATED[(account_id, region, name)] = info
    return info["deploymentConfigId"]


def reset() -> None:
    _CREATED.clear()


# ---------------------------------------------------------------- the rules (plain functions)


def minimum_healthy(config: dict[str, Any], total: int) -> int:
    """The minimum number of healthy instances for a deployment to `total` instances."""
    hosts = config["minimumHealthyHosts"]
    if hosts["type"] == MOST_CONCURRENCY:  # all but one (OneAtATime)
        return max(total - int(hosts["value"]), 0)
    if hosts["type"] == "FLEET_PERCENT":
        return math.ceil(total * int(hosts["value"]) / 100)
    return int(hosts["value"])


def invalid(config: dict[str, Any], total: int) -> dict[str, str] | None:
    """ErrorInformation when the minimum cannot be kept from the start, else None."""
    minimum = minimum_healthy(config, total)
    if total and minimum >= total:
        code, message = HEALTH_CONSTRAINTS_INVALID
        return {"code": code, "message": message.format(minimum=minimum, total=total)}
    return None


def next_batch(config: dict[str, Any], total: int, failed: int, pending: int) -> int:
    """How many of the `pending` instances CodeDeploy takes offline next, given `failed`
    instances so far (the others serve: pending ones the old revision, finished ones the new):
    as many as keep the minimum healthy; 0 means the deployment cannot go on."""
    capacity = (total - failed) - minimum_healthy(config, total)
    return max(0, min(capacity, pending))


def succeeded(config: dict[str, Any], total: int, succeeded_count: int) -> bool:
    """Does the overall deployment succeed with `succeeded_count` of `total` instances done?"""
    return succeeded_count >= 1 and succeeded_count >= minimum_healthy(config, total)
