"""S3 as CloudFormation and clients see it on AWS, where moto differs.

- AWS::S3::Bucket: moto ignores versioning, the public access block, lifecycle rules (with
  their tag and size filters) and ownership controls; they are applied. CloudFormation cannot
  delete a bucket that still holds objects: the resource ends DELETE_FAILED, as on AWS.
- Bucket policies: moto enforces their statements but ignores every Condition, so the usual
  `Deny unless aws:SecureTransport` guardrail locked every client out; a request to the emulator
  counts as HTTPS.
- A multipart upload that is gone (aborted, completed, or aborted by a lifecycle rule) is
  `NoSuchUpload` (404) for UploadPart, UploadPartCopy and CompleteMultipartUpload ("Special
  errors" in botocore's S3 model documentation of each), as moto answers ListParts; moto raised
  a KeyError for them (HTTP 500).
"""

from __future__ import annotations

import json
from typing import Any

from moto.utilities.utils import get_partition


def patch() -> None:
    _patch_bucket()
    _patch_bucket_policy_conditions()
    _patch_missing_uploads()


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


def lifecycle_filter(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation rule's Prefix, TagFilters and ObjectSizeGreaterThan/LessThan as the S3
    API's Filter: exactly one predicate, or several under And (API reference,
    LifecycleRuleFilter), tags spelled as moto's XML parser reads them (`Tag`)."""
    tags = [{"Key": t["Key"], "Value": t["Value"]} for t in rule.get("TagFilters") or []]
    sizes = {k: int(rule[k]) for k in ("ObjectSizeGreaterThan", "ObjectSizeLessThan") if k in rule}
    prefix = {"Prefix": rule["Prefix"]} if rule.get("Prefix") else {}
    if len(tags) + len(sizes) + len(prefix) > 1:
        return {"And": {**prefix, **({"Tag": tags} if tags else {}), **sizes}}
    if tags:
        return {"Tag": tags[0]}
    return sizes or {"Prefix": rule.get("Prefix", "")}


def lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as the S3 API (and moto's backend) spells it."""
    out: dict[str, Any] = {"ID": rule.get("Id"), "Status": rule["Status"]}
    out["Filter"] = lifecycle_filter(rule)
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
        if "NewerNoncurrentVersions" in noncurrent:
            newer = int(noncurrent["NewerNoncurrentVersions"])
            out["NoncurrentVersionExpiration"]["NewerNoncurrentVersions"] = newer
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


def _patch_bucket_policy_conditions() -> None:
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


def _patch_missing_uploads() -> None:
    from moto.s3.exceptions import NoSuchUpload
    from moto.s3.models import S3Backend

    def checked(method: str) -> None:
        original = getattr(S3Backend, method)

        def wrapped(self: Any, bucket_name: str, upload_id: str, *args: Any, **kwargs: Any) -> Any:
            if upload_id not in self.get_bucket(bucket_name).multiparts:
                raise NoSuchUpload(upload_id=upload_id)
            return original(self, bucket_name, upload_id, *args, **kwargs)

        setattr(S3Backend, method, wrapped)

    for method in ("upload_part", "upload_part_copy", "complete_multipart_upload"):
        checked(method)
