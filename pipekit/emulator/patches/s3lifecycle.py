"""S3 lifecycle rules, which moto stores but never runs: `apply_lifecycle(now)` reads every
bucket of moto's S3 backends, asks `pipekit.emulator.lifecycle.plan` what S3 would have expired
by `now`, and does it (the admin call POST /_pipekit/clock calls it after moving the clock).

What `patch()` changes so the plan has what it needs:
- moto's S3 timestamps (objects, delete markers, multipart uploads, buckets) come from the
  emulator's clock, so objects written after an advance are as young as they would be on AWS;
- moto records no initiation time for a multipart upload: it is kept (`pipekit_initiated`);
- moto's own lifecycle model drops ObjectSizeGreaterThan/LessThan and NewerNoncurrentVersions:
  the rules are also kept as given (`pipekit_lifecycle`), after moto has validated them;
- S3 refuses a rule that aborts incomplete multipart uploads and filters on tags or object size
  (uploads have neither); moto accepted it. Refused as S3 does (`refuse_abort_with_tags`).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from pipekit.emulator import clock
from pipekit.emulator.lifecycle import NULL, Action, Bucket, Upload, Version, plan


def patch() -> None:
    from moto.s3 import models

    models.utcnow = clock.utcnow_naive  # FakeKey, FakeDeleteMarker, lock checks

    original_bucket_init = models.FakeBucket.__init__

    def bucket_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_bucket_init(self, *args, **kwargs)
        self.creation_date = clock.now()
        self.pipekit_lifecycle = []

    original_multipart_init = models.FakeMultipart.__init__

    def multipart_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_multipart_init(self, *args, **kwargs)
        self.pipekit_initiated = clock.now()

    original_set = models.FakeBucket.set_lifecycle
    original_delete = models.FakeBucket.delete_lifecycle

    def set_lifecycle(self: Any, rules: list[dict[str, Any]]) -> None:
        for rule in rules:
            refuse_abort_with_tags(rule)
        original_set(self, copy.deepcopy(rules))  # moto rewrites parts of them in place
        self.pipekit_lifecycle = copy.deepcopy(rules)

    def delete_lifecycle(self: Any) -> None:
        original_delete(self)
        self.pipekit_lifecycle = []

    models.FakeBucket.__init__ = bucket_init
    models.FakeMultipart.__init__ = multipart_init
    models.FakeBucket.set_lifecycle = set_lifecycle
    models.FakeBucket.delete_lifecycle = delete_lifecycle


def refuse_abort_with_tags(rule: dict[str, Any]) -> None:
    """PutBucketLifecycleConfiguration answers 400 InvalidRequest "AbortIncompleteMultipartUpload
    cannot be specified with Tags." for a rule with both (S3 user guide, "Lifecycle configuration
    elements": the action is not supported for rules that filter on object tags; the wording as
    AWS answers it is quoted by terraform-provider-aws users and by S3 reimplementations' tests;
    "... with Object Size" likewise for a size filter). Rules as moto's XML parser reads them."""
    if rule.get("AbortIncompleteMultipartUpload") is None:
        return
    rule_filter = rule.get("Filter") or {}
    predicates = {**rule_filter, **(rule_filter.get("And") or {})}
    if predicates.get("Tag"):
        raise _invalid_request("AbortIncompleteMultipartUpload cannot be specified with Tags.")
    if {"ObjectSizeGreaterThan", "ObjectSizeLessThan"} & set(predicates):
        raise _invalid_request(
            "AbortIncompleteMultipartUpload cannot be specified with Object Size."
        )


def _invalid_request(message: str) -> Exception:
    from moto.s3.exceptions import S3ClientError

    return S3ClientError("InvalidRequest", message)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _version(backend: Any, key: str, stored: Any) -> Version:
    from moto.s3.models import FakeDeleteMarker

    created = _aware(stored.last_modified)
    if isinstance(stored, FakeDeleteMarker):
        return Version(key, str(stored.version_id), created, delete_marker=True)
    tags = backend.tagger.get_tag_dict_for_resource(stored.arn)
    return Version(key, str(stored.version_id), created, size=stored.size, tags=tags)


def snapshot(backend: Any, bucket: Any) -> Bucket:
    """moto's bucket as `lifecycle.plan` reads it."""
    versions = {
        key: [_version(backend, key, v) for v in stored] for key, stored in bucket.keys.lists()
    }
    uploads = [
        Upload(m.key_name, upload_id, getattr(m, "pipekit_initiated", clock.now()))
        for upload_id, m in bucket.multiparts.items()
    ]
    return Bucket(
        versions=versions,
        rules=getattr(bucket, "pipekit_lifecycle", []),
        uploads=uploads,
        versioning=bucket.versioning_status,
    )


def _drop(keys: Any, key: str) -> None:
    """Remove a key and all its versions (moto's own pop fails on delete markers, which have no
    dispose(); setlist disposes the object versions and skips the markers)."""
    if key in keys:
        keys.setlist(key, [])
        dict.pop(keys, key)


def _do(bucket: Any, action: Action) -> None:
    from moto.s3.models import FakeDeleteMarker

    keys = bucket.keys
    if action.kind == "abort_upload":
        if action.version_id in bucket.multiparts:
            del bucket.multiparts[action.version_id]
    elif action.kind == "delete":
        _drop(keys, action.key)
    elif action.kind == "delete_version":
        left = [v for v in keys.getlist(action.key, []) if str(v.version_id) != action.version_id]
        if left:
            keys.setlist(action.key, left)
        else:
            _drop(keys, action.key)
    elif action.kind == "delete_marker":
        marker = FakeDeleteMarker(key=keys[action.key])
        marker.last_modified = action.at.astimezone(UTC).replace(tzinfo=None)
        marker._version_id = action.version_id
        if action.version_id == NULL:  # replaces the null version (versioning suspended)
            keys.setlist(action.key, [v for v in keys.getlist(action.key) if v.version_id != NULL])
        keys[action.key] = marker


def apply_lifecycle(now: datetime) -> list[dict[str, Any]]:
    """Expire, in every bucket of every account, what S3's lifecycle rules would have by `now`;
    what was done, oldest first."""
    from moto.s3.models import s3_backends

    done: list[dict[str, Any]] = []
    for account_id, partitions in list(s3_backends.items()):
        for backend in list(partitions.values()):
            for bucket in list(backend.buckets.values()):
                if not getattr(bucket, "pipekit_lifecycle", None):
                    continue
                for action in plan(snapshot(backend, bucket), now):
                    _do(bucket, action)
                    done.append(
                        {
                            "account": account_id,
                            "bucket": bucket.name,
                            "kind": action.kind,
                            "key": action.key,
                            "versionId": action.version_id,
                            "at": action.at.isoformat(),
                            "ruleId": action.rule_id,
                        }
                    )
    return sorted(done, key=lambda d: d["at"])
