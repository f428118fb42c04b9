"""Tear a stack down: empty the buckets it owns (every version and delete marker), delete it,
wait. Touches nothing the stack does not own."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError, WaiterError

from pipekit.errors import UserError
from pipekit.harness.config import Environment
from pipekit.harness.preflight import caller_account
from pipekit.progress import console

BUCKET_TYPE = "AWS::S3::Bucket"
NESTED_TYPE = "AWS::CloudFormation::Stack"


def owned_buckets(cfn, stack: str) -> list[str]:
    """Physical names of the S3 buckets that are resources of `stack` or its nested stacks."""
    buckets: list[str] = []
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for resource in page.get("StackResourceSummaries", []):
            physical = resource.get("PhysicalResourceId")
            if not physical or resource.get("ResourceStatus") == "DELETE_COMPLETE":
                continue
            if resource["ResourceType"] == BUCKET_TYPE:
                buckets.append(physical)
            elif resource["ResourceType"] == NESTED_TYPE and physical.startswith("arn:"):
                buckets += owned_buckets(cfn, physical)
    return buckets


def _object_batches(s3, bucket: str) -> Iterator[list[dict[str, str]]]:
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        batch = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        # delete_objects takes at most 1000 keys; a page holds up to 1000 of each kind.
        for start in range(0, len(batch), 1000):
            yield batch[start : start + 1000]


def empty_bucket(s3, bucket: str) -> int:
    """Delete every object version and delete marker; returns how many. Absent bucket = 0."""
    removed = 0
    try:
        for batch in _object_batches(s3, bucket):
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise UserError(
                    f"could not empty bucket {bucket}: {first.get('Key')} "
                    f"{first.get('Code')}: {first.get('Message')}"
                )
            removed += len(batch)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return removed
        raise
    return removed


def stack_id_of(cfn, stack_name: str) -> str | None:
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            return None
        raise
    if stack["StackStatus"] == "DELETE_COMPLETE":
        return None
    return stack["StackId"]


def delete_stack(cfn, stack_id: str, *, delay: int = 10, max_attempts: int = 360) -> None:
    cfn.delete_stack(StackName=stack_id)
    try:
        cfn.get_waiter("stack_delete_complete").wait(
            StackName=stack_id, WaiterConfig={"Delay": delay, "MaxAttempts": max_attempts}
        )
    except WaiterError as exc:
        reason = ""
        try:
            stack = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]
            reason = f" ({stack['StackStatus']}: {stack.get('StackStatusReason', '')})"
        except (ClientError, IndexError, KeyError):
            pass
        raise UserError(
            f"the stack did not delete{reason}; see its events, then run destroy again"
        ) from exc


def refuse_protected(env: Environment, force: bool) -> None:
    """A protected environment (prod) is destroyed only on an explicit --force."""
    if env.protected and not force:
        raise UserError(
            f"{env.name} is protected: to delete {env.stack_name} and everything in its buckets, "
            f"run `{env.make_hint('destroy', '--force')}`"
        )


def destroy_environment(env: Environment, clients, *, force: bool, delay: int = 10) -> None:
    """Empty the stack's own buckets and delete the stack; idempotent."""
    refuse_protected(env, force)
    account = caller_account(clients("sts"))
    console.print(f"Acting on account {account}, region {clients.region}")
    cfn = clients("cloudformation")
    stack_id = stack_id_of(cfn, env.stack_name)
    if stack_id is None:
        console.print(f"The stack {env.stack_name} does not exist: nothing to delete.")
        return
    s3 = clients("s3")
    for bucket in owned_buckets(cfn, stack_id):
        removed = empty_bucket(s3, bucket)
        console.print(f"Emptied s3://{bucket} ({removed} object versions and delete markers)")
    console.print(f"Deleting {env.stack_name} and waiting for it to go...")
    delete_stack(cfn, stack_id, delay=delay)
    console.print(f"Deleted {env.stack_name}.")
