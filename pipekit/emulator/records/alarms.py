"""CodeDeploy's alarm check: with the deployment group's AlarmConfiguration enabled, a deployment
whose alarms are in ALARM is stopped (status Stopped, error code ALARM_ACTIVE) and, with
DEPLOYMENT_STOP_ON_ALARM among its AutoRollbackConfiguration events, rolled back
(deployments.rolls_back).

Sources:
- "If any of the specified alarms are activated, the deployment stops, and the status is updated
  to Stopped" (CodeDeploy user guide, monitoring-create-alarms.html).
- The error, as GetDeployment shows it on AWS (get-deployment output quoted in public repositories,
  e.g. a Lambda canary stopped at its start with two alarms in ALARM): code `ALARM_ACTIVE`,
  message "One or more alarms have been activated according to the Amazon CloudWatch metrics you
  selected, and the affected deployments have been stopped. Activated alarms: <a> <b>". The same
  record shows the check made as the deployment starts (stopped 0.7 s after its start) and its
  rollback deployment Succeeded while one alarm was still in ALARM: CodeDeploy does not stop its
  own rollback on alarms (`checked` below).
- IgnorePollAlarmFailure: "true: The deployment proceeds even if alarm status information can't
  be retrieved from Amazon CloudWatch. false: The deployment stops if alarm status information
  can't be retrieved" (CodeDeploy API reference, AlarmConfiguration). The error code of that stop
  is not documented; ALARM_ACTIVE (the only alarm code in botocore's ErrorCode enum) with a
  message naming the unreadable alarms is this emulator's choice.
- A deployment's overrideAlarmConfiguration replaces the group's (botocore CreateDeploymentInput).
- How often CodeDeploy polls is not documented: local mode checks as a deployment starts and
  between its instances and lifecycle events (pipekit/local/deployer.py).
"""

from __future__ import annotations

from typing import Any

ALARM_ACTIVE = "ALARM_ACTIVE"
_ACTIVE_MESSAGE = (
    "One or more alarms have been activated according to the Amazon CloudWatch metrics you "
    "selected, and the affected deployments have been stopped. Activated alarms: "
)


def alarm_config(config: Any) -> dict[str, Any]:
    """An AlarmConfiguration in API shape, from a dict in API or CloudFormation casing or moto's
    AlarmConfiguration object."""
    if config is None:
        return {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []}
    if not isinstance(config, dict):
        config = {
            "enabled": config.enabled,
            "ignorePollAlarmFailure": config.ignore_poll_alarm_failure,
            "alarms": config.alarms,
        }

    def flag(key: str) -> bool:
        value = config.get(key, config.get(key[0].upper() + key[1:], False))
        return str(value).lower() == "true"

    alarms = config.get("alarms", config.get("Alarms")) or []
    return {
        "enabled": flag("enabled"),
        "ignorePollAlarmFailure": flag("ignorePollAlarmFailure"),
        "alarms": [{"name": a.get("name", a.get("Name"))} for a in alarms],
    }


def checked(deployment: dict[str, Any] | None) -> bool:
    """Does CodeDeploy poll alarms for this deployment? Not for its own rollbacks (see above)."""
    return not deployment or deployment.get("creator") != "codeDeployRollback"


def deployment_stop(
    account_id: str, region: str, group: Any, deployment: dict[str, Any] | None = None
) -> dict[str, str] | None:
    """The ErrorInformation stopping the deployment now (its alarms in ALARM, or unreadable with
    IgnorePollAlarmFailure false), else None. `group`: moto's deployment group; `deployment`:
    the DeploymentInfo record (its overrideAlarmConfiguration and creator are read)."""
    if not checked(deployment):
        return None
    override = alarm_config((deployment or {}).get("overrideAlarmConfiguration"))
    config = override if override["enabled"] else alarm_config(group.alarm_configuration)
    if not config["enabled"] or not config["alarms"]:
        return None
    from moto.cloudwatch.models import cloudwatch_backends

    known = cloudwatch_backends[account_id][region].alarms
    names = [a["name"] for a in config["alarms"]]
    active = [n for n in names if n in known and known[n].state_value == "ALARM"]
    if active:
        return {
            "code": ALARM_ACTIVE,
            "message": _ACTIVE_MESSAGE + " ".join(f"<{n}>" for n in active),
        }
    unreadable = [n for n in names if n not in known]
    if unreadable and not config["ignorePollAlarmFailure"]:
        return {
            "code": ALARM_ACTIVE,
            "message": "The deployment was stopped because the state of its alarms could not be "
            "retrieved from Amazon CloudWatch (IgnorePollAlarmFailure is false). Alarms: "
            + " ".join(f"<{n}>" for n in unreadable),
        }
    return None
