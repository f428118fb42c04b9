"""What an EC2 instance reads from S3, in local mode: the emulated S3 (moto's backend, in this
process). On AWS the CodeDeploy agent downloads the revision with the instance role's
credentials (aws-codedeploy-agent `command_executor.rb`, download_from_s3); the instance role
therefore needs s3:GetObject (and s3:GetObjectVersion for a versioned revision) on the bundle.
"""

from __future__ import annotations

from moto.s3.models import s3_backends

from pipekit.local.runtime.agent import S3Error, S3Object


def instance_get_object(
    account_id: str, region: str, instance_id: str, bucket: str, key: str, version_id: str | None
) -> S3Object:
    """S3 GetObject made by the instance `instance_id` with its instance role: the one place
    local mode's instances read S3 (the IAM check of the instance role is made here).
    Errors are S3's own codes and messages (moto's: "The specified key does not exist.")."""
    from moto.s3.exceptions import MissingBucket

    from pipekit.local import authz

    location = {"bucket": bucket, "key": key, **({"version": version_id} if version_id else {})}
    refused = authz.bundle_refusal(account_id, region, instance_id, location)
    if refused is not None:  # S3 answers a refused read with AccessDenied, "Access Denied"
        raise S3Error("AccessDenied", refused[1])
    backend = s3_backends[account_id]["aws"]
    try:
        found = backend.get_object(bucket, key, version_id=version_id)
    except MissingBucket:
        raise S3Error("NoSuchBucket", "The specified bucket does not exist") from None
    if found is None:
        if version_id is not None:
            raise S3Error("NoSuchVersion", "The specified version does not exist.")
        raise S3Error("NoSuchKey", "The specified key does not exist.")
    return S3Object(found.value, found.etag, version_id=found.version_id)
