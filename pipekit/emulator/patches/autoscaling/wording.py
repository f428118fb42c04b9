"""What Auto Scaling and CloudFormation write about a group, word for word: the Description,
Cause and StatusMessage of scaling activities (botocore autoscaling shape `Activity`) and the
ResourceStatusReason of a rolling update's stack events. Plain functions of numbers, ids and
times; each string's source is beside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

# Causes join their sentences with two spaces (EC2 Auto Scaling user guide,
# as-verify-scaling-activity: "...from 3 to 2.  At 2020-02-11T18:34:31Z an instance was ...").
JOIN = "  "


def stamp(when: datetime) -> str:
    """The time inside a Cause: `2020-02-11T18:34:31Z` (as-verify-scaling-activity)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- Descriptions (as-verify-scaling-activity; Get-ASScalingActivity example output in the AWS
# Tools for PowerShell reference) ---------------------------------------------------------------


def launching(instance_id: str) -> str:
    return f"Launching a new EC2 instance: {instance_id}"


def terminating(instance_id: str) -> str:
    return f"Terminating EC2 instance: {instance_id}"


# --- Causes ------------------------------------------------------------------------------------


def user_set_desired(when: datetime, old: int, new: int) -> str:
    # Get-ASScalingActivity example: "At 2015-11-22T15:45:16Z a user request explicitly set
    # group desired capacity changing the desired capacity from 1 to 2."
    return (
        f"At {stamp(when)} a user request explicitly set group desired capacity changing the "
        f"desired capacity from {old} to {new}."
    )


def user_updated_group(when: datetime, sizes: tuple[int, int, int], old: int, new: int) -> str:
    # Eucalyptus' AWS-compatible Auto Scaling tests (cause of an UpdateAutoScalingGroup):
    # "a user request update of AutoScalingGroup constraints to min: 0, max: 1, desired: 1
    # changing the desired capacity from 0 to 1"
    low, high, desired = sizes
    return (
        f"At {stamp(when)} a user request update of AutoScalingGroup constraints to min: {low}, "
        f"max: {high}, desired: {desired} changing the desired capacity from {old} to {new}."
    )


def started(when: datetime, old: int, new: int) -> str:
    # AWS knowledge center, lifecycle-actions-code-deploy: "At 2016-07-22T16:16:56Z an instance
    # was started in response to a difference between desired and actual capacity, increasing
    # the capacity from 2 to 3."
    return (
        f"At {stamp(when)} an instance was started in response to a difference between desired "
        f"and actual capacity, increasing the capacity from {old} to {new}."
    )


def replacing_unhealthy(when: datetime) -> str:
    # Seen in a public post-mortem's copy of the group's activity history after an instance was
    # marked unhealthy: "an instance was launched in response to an unhealthy instance needing
    # to be replaced".
    return (
        f"At {stamp(when)} an instance was launched in response to an unhealthy instance "
        "needing to be replaced."
    )


def shrinking(when: datetime, old: int, new: int, instance_id: str) -> str:
    # as-verify-scaling-activity: "At ... an instance was taken out of service in response to a
    # difference between desired and actual capacity, shrinking the capacity from 3 to 2.  At
    # ... instance i-06c4794c2499af1df was selected for termination."
    return (
        f"At {stamp(when)} an instance was taken out of service in response to a difference "
        f"between desired and actual capacity, shrinking the capacity from {old} to {new}."
        f"{JOIN}At {stamp(when)} instance {instance_id} was selected for termination."
    )


def user_terminated(when: datetime, instance_id: str, old: int, new: int) -> str:
    # TerminateInstanceInAutoScalingGroup. Public activity histories read "... was taken out of
    # service in response to a user request"; the capacity clause only when the desired
    # capacity was decremented (moto writes the same sentence).
    text = (
        f"At {stamp(when)} instance {instance_id} was taken out of service in response to a "
        "user request"
    )
    return text + (f", shrinking the capacity from {old} to {new}." if new < old else ".")


def ec2_health_check(when: datetime) -> str:
    # Amazon EC2 Auto Scaling workshop and public activity histories, for an instance stopped or
    # terminated outside the group: "an instance was taken out of service in response to an EC2
    # health check indicating it has been terminated or stopped."
    return (
        f"At {stamp(when)} an instance was taken out of service in response to an EC2 health "
        "check indicating it has been terminated or stopped."
    )


def user_health_check(when: datetime) -> str:
    # EC2 Auto Scaling user guide, health checks: "At 2022-05-14T20:11:53Z an instance was taken
    # out of service in response to a user health-check" (SetInstanceHealth Unhealthy).
    return (
        f"At {stamp(when)} an instance was taken out of service in response to a user health-check."
    )


def then(*causes: str) -> str:
    """Causes that led one to another, as AWS chains them in one Cause."""
    return JOIN.join(c for c in causes if c)


# --- StatusMessage of a launch whose lifecycle action was abandoned -----------------------------


def abandoned(token: str, why: str = "Lifecycle Action Completed with ABANDON Result") -> str:
    # AWS knowledge center, lifecycle-actions-code-deploy: "Instance failed to complete user's
    # Lifecycle Action: Lifecycle Action with token 0fc62a4b-... was abandoned: Lifecycle Action
    # Completed with ABANDON Result"; a timeout ends in ": Heartbeat Timeout" (CodeDeploy user
    # guide, troubleshooting-auto-scaling-heartbeat).
    return (
        "Instance failed to complete user's Lifecycle Action: Lifecycle Action with token "
        f"{token} was abandoned: {why}"
    )


def details(subnet_id: str | None, zone: str) -> str:
    # Activity.Details, a JSON string: {"Subnet ID":"subnet-5ea0c127","Availability Zone":...}
    # (as-verify-scaling-activity).
    return json.dumps(
        {"Subnet ID": subnet_id or "", "Availability Zone": zone}, separators=(",", ":")
    )


def activity(
    group: Any,
    description: str,
    cause: str,
    when: datetime,
    *,
    status: str,
    instance: Any = None,
    message: str | None = None,
    activity_id: str,
) -> dict[str, Any]:
    """A botocore `Activity` (StatusCode from the ScalingActivityStatusCode enum)."""
    done = status in ("Successful", "Failed", "Cancelled")
    record: dict[str, Any] = {
        "ActivityId": activity_id,
        "AutoScalingGroupName": group.name,
        "Description": description,
        "Cause": cause,
        "StartTime": when,
        "StatusCode": status,
        # Not seen documented for a launch waiting on a hook; moto's own activities use 30-50.
        "Progress": 100 if done else 30,
        "AutoScalingGroupARN": group.arn,
    }
    if done:
        record["EndTime"] = when
    if message:
        record["StatusMessage"] = message
    if instance is not None:
        record["Details"] = details(getattr(instance, "subnet_id", None), instance.placement.zone)
    return record


# --- CloudFormation's rolling update (stack events of the group, UPDATE_IN_PROGRESS) -----------
# Wording from public copies of stack events (aws-cloudformation-templates issues, blog posts
# quoting the console): "Rolling update initiated. Terminating 3 obsolete instance(s) in batches
# of 1, while keeping at least 3 instance(s) in service. Waiting on resource signals with a
# timeout of PT15M when new instances are added to the autoscaling group.", "Temporarily setting
# autoscaling group MinSize and DesiredCapacity to 4.", "Terminating instance(s) [i-48fa9d90];
# replacing with 1 new instance(s).", "Successfully terminated instance(s) [i-06f296d7c57a95051]
# (Progress 50%).", "New instance(s) added to autoscaling group - Waiting on 1 resource
# signal(s) with a timeout of PT5M.", "Received SUCCESS signal with UniqueId i-81c6a159",
# "Failed to receive 3 resource signal(s) for the current batch.  Each resource signal timeout
# is counted as a FAILURE.", "Received 0 SUCCESS signal(s) out of 6.  Unable to satisfy 100%
# MinSuccessfulInstancesPercent requirement". A copy without MinInstancesInService reads only
# "... in batches of 1."; leaving out the clauses that do not apply is inferred from it.


def rolling_started(obsolete: int, batch: int, keep: int, signals_timeout: str | None) -> str:
    text = (
        f"Rolling update initiated. Terminating {obsolete} obsolete instance(s) in batches of "
        f"{batch}"
    )
    if keep:
        text += f", while keeping at least {keep} instance(s) in service"
    text += "."
    if signals_timeout:
        text += (
            f" Waiting on resource signals with a timeout of {signals_timeout} when new "
            "instances are added to the autoscaling group."
        )
    return text


def rolling_capacity(size: int) -> str:
    return f"Temporarily setting autoscaling group MinSize and DesiredCapacity to {size}."


def rolling_terminating(instance_ids: list[str], count: int) -> str:
    listed = ",".join(instance_ids)
    return f"Terminating instance(s) [{listed}]; replacing with {count} new instance(s)."


def rolling_terminated(instance_ids: list[str], percent: int) -> str:
    return f"Successfully terminated instance(s) [{','.join(instance_ids)}] (Progress {percent}%)."


def rolling_waiting(count: int, timeout: str) -> str:
    return (
        f"New instance(s) added to autoscaling group - Waiting on {count} resource signal(s) "
        f"with a timeout of {timeout}."
    )


def rolling_signal(status: str, instance_id: str) -> str:
    return f"Received {status} signal with UniqueId {instance_id}"


def rolling_timed_out(count: int) -> str:
    return (
        f"Failed to receive {count} resource signal(s) for the current batch.  Each resource "
        "signal timeout is counted as a FAILURE."
    )


def rolling_unsatisfied(successes: int, total: int, percent: int) -> str:
    return (
        f"Received {successes} SUCCESS signal(s) out of {total}.  Unable to satisfy {percent}% "
        "MinSuccessfulInstancesPercent requirement"
    )


def min_in_service_too_big() -> str:
    # aws-cloudformation-user-guide PR #164 quotes the UPDATE_FAILED reason.
    return "MinInstancesInService must be less than the autoscaling group's MaxSize"


# --- Refusals (ValidationError) ----------------------------------------------------------------


def desired_above_max(desired: int, high: int) -> str:
    # kubernetes/autoscaler#943: "ValidationError: New SetDesiredCapacity value 3 is above max
    # value 2 for the AutoScalingGroup."; Eucalyptus' AWS-compatible service words it the same.
    return (
        f"New SetDesiredCapacity value {desired} is above max value {high} for the "
        "AutoScalingGroup."
    )


def desired_below_min(desired: int, low: int) -> str:
    # Eucalyptus' AWS-compatible Auto Scaling service (AutoScalingService.setDesiredCapacity),
    # the twin of the message above; not seen from AWS itself.
    return (
        f"New SetDesiredCapacity value {desired} is below min value {low} for the AutoScalingGroup."
    )


def desired_outside(desired: int, low: int, high: int) -> str:
    # UpdateAutoScalingGroup (traveloka/terraform-aws-autoscaling#56, convox/praxis#258):
    # "ValidationError: Desired capacity:10 must be between the specified min size:1 and max
    # size:1"
    return (
        f"Desired capacity:{desired} must be between the specified min size:{low} and max "
        f"size:{high}"
    )


def no_active_action(instance_id: str | None, token: str | None) -> str:
    # Public clients match AWS's ValidationError: "No active Lifecycle Action found with
    # instance ID i-08406e13ee788fc10" / "... found with token <token>".
    if token:
        return f"No active Lifecycle Action found with token {token}"
    return f"No active Lifecycle Action found with instance ID {instance_id}"
