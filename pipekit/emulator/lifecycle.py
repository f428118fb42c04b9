"""S3 lifecycle expiration as a pure function: a bucket's contents + its rules + a time -> what S3
would have expired by then, in order (`plan`). No moto here; patches/s3lifecycle.py reads moto's
buckets into `Bucket`s and applies the `Action`s.

The rules, from the Amazon S3 user guide and API reference:
- Timing ("Lifecycle configuration elements", https://docs.aws.amazon.com/AmazonS3/latest/
  userguide/intro-lifecycle-rules.html): "Amazon S3 calculates the time by adding the number of
  days specified in the rule to the object creation time and rounding the resulting time to the
  next day midnight UTC" (created 1/15/2014 10:30 AM UTC, 3 days: 1/19/2014 00:00 UTC). A
  noncurrent version's days count from when it became noncurrent, i.e. from the creation of its
  successor ("How Amazon S3 calculates when an object became noncurrent", same page). The same
  rounding is applied to AbortIncompleteMultipartUpload's DaysAfterInitiation (counted from the
  upload's initiation); the guide states the rounding for the object-age actions only.
- `Expiration.Date`: "The time is always midnight UTC" (API reference, LifecycleExpiration);
  objects created after the date are expired at the next midnight (the daily run).
- What expiring does ("Expiring objects", userguide/lifecycle-expire-general-considerations):
  nonversioned bucket: the object is removed; versioning-enabled: "If the current object version
  is not a delete marker, Amazon S3 adds a delete marker with a unique version ID. This makes the
  current version noncurrent"; versioning-suspended: "a delete marker with null as the version
  ID. This delete marker replaces any object version with a null version ID"; no action when a
  delete marker is current and other versions exist.
- Expired object delete markers (a delete marker that is the only version): removed by
  `ExpiredObjectDeleteMarker: true`, and "When you specify the Days tag, Amazon S3 automatically
  performs ExpiredObjectDeleteMarker cleanup when the delete markers are old enough to satisfy the
  age criteria" (user guide, quoted in https://repost.aws/ja/questions/QUHvtMcfxcQLOQtGFjg_SoOw,
  where the marker went the day after it became the only version): at the first midnight after
  it became the only version (and, with Days, once old enough).
- `NoncurrentVersionExpiration.NewerNoncurrentVersions`: that many newest noncurrent versions are
  retained whatever their age (API reference, NoncurrentVersionExpiration).
- Filters (API reference, LifecycleRuleFilter): Prefix, Tag (key and value), And (all of its
  predicates), ObjectSizeGreaterThan / ObjectSizeLessThan (strict); an empty Filter matches every
  object; the legacy top-level Prefix too. Delete markers have no tags and no size (0 bytes).
  Multipart uploads are matched by prefix only (S3 refuses AbortIncompleteMultipartUpload in a
  rule with tag filters).

S3 runs lifecycle asynchronously, at some point after an object is due; here every action
happens exactly when due, and the state it leaves (a new delete marker, a version become
noncurrent, a marker left alone) is what later rules see, so one `plan` covers any span of time.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

NULL = "null"  # the version ID of objects in unversioned buckets (and of suspended writes)


def next_midnight(moment: datetime) -> datetime:
    """The first midnight UTC after `moment` ("rounding ... to the next day midnight UTC")."""
    return datetime.combine(moment.astimezone(UTC).date(), time(), tzinfo=UTC) + timedelta(days=1)


def expires_at(start: datetime, days: int) -> datetime:
    """When an action `days` after `start` is due: start + days, rounded up to the next midnight."""
    return next_midnight(start + timedelta(days=days))


@dataclass(frozen=True)
class Version:
    """One version of an object (an unversioned bucket's object is its only version, "null")."""

    key: str
    version_id: str
    created: datetime  # LastModified, timezone-aware
    delete_marker: bool = False
    size: int = 0
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Upload:
    key: str
    upload_id: str
    initiated: datetime


@dataclass(frozen=True)
class Bucket:
    """A snapshot: every key's versions, oldest first (the last is current), the incomplete
    multipart uploads, the lifecycle rules as the S3 API spells them, the versioning status
    (None: never enabled, "Enabled", "Suspended")."""

    versions: Mapping[str, list[Version]] = field(default_factory=dict)
    rules: list[Mapping[str, Any]] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    versioning: str | None = None


@dataclass(frozen=True)
class Action:
    """What S3 does: `delete` (a nonversioned object is removed), `delete_marker` (a marker with
    `version_id` becomes current; a "null" one replaces the null version, if any),
    `delete_version` (that version or marker is permanently removed), `abort_upload`
    (`version_id` is the upload ID)."""

    kind: str
    key: str
    version_id: str
    at: datetime
    rule_id: str | None


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _date(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), tzinfo=UTC)
    else:
        text = str(value).replace("Z", "+00:00")
        moment = datetime.fromisoformat(text)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _tags(value: Any) -> dict[str, str]:
    """Tags as the API (a list of {Key, Value}) or moto's parsed XML (one dict, or a list)."""
    if not value:
        return {}
    items = value if isinstance(value, list) else [value]
    return {t["Key"]: t.get("Value") or "" for t in items}


@dataclass(frozen=True)
class Rule:
    id: str | None
    enabled: bool
    prefix: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    size_gt: int | None = None
    size_lt: int | None = None
    expiration_days: int | None = None
    expiration_date: datetime | None = None
    expired_object_delete_marker: bool = False
    noncurrent_days: int | None = None
    newer_noncurrent: int = 0
    abort_days: int | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Rule:
        """A rule as PutBucketLifecycleConfiguration spells it (ints or XML strings alike)."""
        spec = raw.get("Filter") or {}
        both = spec.get("And") or {}
        tags = {**_tags(spec.get("Tag")), **_tags(both.get("Tags")), **_tags(both.get("Tag"))}
        expiration = raw.get("Expiration") or {}
        noncurrent = raw.get("NoncurrentVersionExpiration") or {}
        abort = raw.get("AbortIncompleteMultipartUpload") or {}
        return cls(
            id=raw.get("ID"),
            enabled=raw.get("Status") == "Enabled",
            prefix=raw.get("Prefix") or spec.get("Prefix") or both.get("Prefix") or "",
            tags=tags,
            size_gt=_int(spec.get("ObjectSizeGreaterThan", both.get("ObjectSizeGreaterThan"))),
            size_lt=_int(spec.get("ObjectSizeLessThan", both.get("ObjectSizeLessThan"))),
            expiration_days=_int(expiration.get("Days")),
            expiration_date=_date(expiration.get("Date")),
            expired_object_delete_marker=_bool(expiration.get("ExpiredObjectDeleteMarker")),
            noncurrent_days=_int(noncurrent.get("NoncurrentDays")),
            newer_noncurrent=_int(noncurrent.get("NewerNoncurrentVersions")) or 0,
            abort_days=_int(abort.get("DaysAfterInitiation")),
        )

    def matches(self, version: Version) -> bool:
        if not version.key.startswith(self.prefix):
            return False
        if any(version.tags.get(k) != v for k, v in self.tags.items()):
            return False
        if self.size_gt is not None and not version.size > self.size_gt:
            return False
        return self.size_lt is None or version.size < self.size_lt

    def expires_current(self, version: Version) -> datetime | None:
        """When this rule's Expiration (Days or Date) is due for a current version."""
        if self.expiration_days is not None:
            return expires_at(version.created, self.expiration_days)
        if self.expiration_date is not None:
            return max(self.expiration_date, next_midnight(version.created))
        return None


class _Simulation:
    """The bucket's state while actions happen, earliest first."""

    def __init__(self, bucket: Bucket, new_version_id: Callable[[], str]):
        self.versioning = bucket.versioning
        self.versions = {k: list(v) for k, v in bucket.versions.items() if v}
        self.uploads = list(bucket.uploads)
        self.rules = [r for r in (Rule.parse(raw) for raw in bucket.rules) if r.enabled]
        self.new_version_id = new_version_id
        # key -> when its delete marker became the only version (absent: from its creation)
        self.lone_since: dict[str, datetime] = {}
        # (key, version ID) -> when the version became noncurrent: its successor's creation,
        # kept when that successor is later replaced (a suspended bucket's null version)
        self.noncurrent_since = {
            (key, older.version_id): newer.created
            for key, versions in self.versions.items()
            for older, newer in itertools.pairwise(versions)
        }

    def due(self) -> list[tuple[datetime, int, Action]]:
        """Every action some rule makes due, whenever that is (sorted by the caller)."""
        found: list[tuple[datetime, int, Action]] = []

        def add(at: datetime, kind: str, key: str, version_id: str, rule: Rule) -> None:
            found.append((at, len(found), Action(kind, key, version_id, at, rule.id)))

        for key, versions in self.versions.items():
            current = versions[-1]
            for rule in self.rules:
                if rule.matches(current):
                    self._current(rule, key, versions, add)
                for index, version in enumerate(versions[:-1]):
                    newer = len(versions) - 2 - index
                    if rule.noncurrent_days is None or newer < rule.newer_noncurrent:
                        continue
                    if rule.matches(version):
                        since = self.noncurrent_since[(key, version.version_id)]
                        at = expires_at(since, rule.noncurrent_days)
                        add(at, "delete_version", key, version.version_id, rule)
        for upload in self.uploads:
            for rule in self.rules:
                sized = rule.size_gt is not None or rule.size_lt is not None
                if rule.abort_days is None or rule.tags or sized:
                    continue
                if upload.key.startswith(rule.prefix):
                    at = expires_at(upload.initiated, rule.abort_days)
                    add(at, "abort_upload", upload.key, upload.upload_id, rule)
        return found

    def _current(self, rule: Rule, key: str, versions: list[Version], add: Any) -> None:
        current = versions[-1]
        if not current.delete_marker:
            at = rule.expires_current(current)
            if at is None:
                return
            if self.versioning is None:
                add(at, "delete", key, current.version_id, rule)
            elif self.versioning == "Suspended":
                add(at, "delete_marker", key, NULL, rule)  # replaces any null version
            else:
                add(at, "delete_marker", key, "", rule)
            return
        if len(versions) > 1:
            return  # a current marker with other versions: no action
        lone = next_midnight(self.lone_since.get(key, current.created))
        age = rule.expires_current(current)
        if age is not None:
            add(max(age, lone), "delete_version", key, current.version_id, rule)
        elif rule.expired_object_delete_marker:
            add(lone, "delete_version", key, current.version_id, rule)

    def apply(self, action: Action) -> Action:
        key, versions = action.key, self.versions.get(action.key, [])
        if action.kind == "abort_upload":
            self.uploads = [u for u in self.uploads if u.upload_id != action.version_id]
        elif action.kind == "delete":
            self.versions.pop(key, None)
        elif action.kind == "delete_version":
            left = [v for v in versions if v.version_id != action.version_id]
            if left:
                self.versions[key] = left
                if len(left) == 1 and left[0].delete_marker:
                    self.lone_since[key] = action.at
            else:
                self.versions.pop(key, None)
                self.lone_since.pop(key, None)
        elif action.kind == "delete_marker":
            marker_id = action.version_id or self.new_version_id()
            action = replace(action, version_id=marker_id)
            marker = Version(key=key, version_id=marker_id, created=action.at, delete_marker=True)
            kept = [v for v in versions if marker_id != NULL or v.version_id != NULL]
            if kept:
                self.noncurrent_since.setdefault((key, kept[-1].version_id), action.at)
            self.versions[key] = [*kept, marker]
        return action


def plan(
    bucket: Bucket, now: datetime, new_version_id: Callable[[], str] = lambda: str(uuid.uuid4())
) -> list[Action]:
    """Every action the bucket's lifecycle rules take by `now`, in the order S3 takes them, each
    seeing what the earlier ones left. `new_version_id` names the delete markers S3 adds."""
    simulation = _Simulation(bucket, new_version_id)
    done: list[Action] = []
    while True:  # ends: every action removes a version or an upload, or makes a marker current
        pending = sorted(
            (item for item in simulation.due() if item[0] <= now),
            key=lambda item: (item[0], item[1]),
        )
        if not pending:
            return done
        action = pending[0][2]
        if done and action.at < done[-1].at:
            # made due by an earlier action: S3 cannot take it before that one
            action = replace(action, at=done[-1].at)
        done.append(simulation.apply(action))
