"""pipekit.emulator.lifecycle: which objects S3's lifecycle rules expire by a given time, as a
pure function of the bucket's contents, its rules and the time (no emulator needed).

The timing rule is S3's: an object's expiry is its creation time plus the rule's days, rounded
up to the next midnight UTC (S3 user guide, "Lifecycle configuration elements": created on
1/15/2014 10:30 AM UTC with 3 days, the action is due 1/19/2014 00:00 UTC)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from pipekit.emulator.lifecycle import Bucket, Rule, Upload, Version, expires_at, plan

T0 = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def at(days: float, base: datetime = T0) -> datetime:
    return base + timedelta(days=days)


def ids() -> object:
    counter = itertools.count(1)
    return lambda: f"marker-{next(counter)}"


def obj(key: str, created: datetime = T0, **kw: object) -> Version:
    return Version(key=key, version_id=kw.pop("version_id", "null"), created=created, **kw)


def expire(days: int, **rule: object) -> dict:
    return {"ID": "r", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": days}, **rule}


def kinds(actions: list) -> list[tuple[str, str, str]]:
    return [(a.kind, a.key, a.version_id) for a in actions]


def test_the_user_guides_example() -> None:
    created = datetime(2014, 1, 15, 10, 30, tzinfo=UTC)
    assert expires_at(created, 3) == datetime(2014, 1, 19, tzinfo=UTC)


def test_13_days_survive_a_14_day_rule_15_days_do_not() -> None:
    bucket = Bucket(versions={"a": [obj("a")]}, rules=[expire(14)])
    assert plan(bucket, at(13)) == []
    assert kinds(plan(bucket, at(15))) == [("delete", "a", "null")]


def test_expiry_waits_for_the_next_midnight() -> None:
    bucket = Bucket(versions={"a": [obj("a")]}, rules=[expire(1)])
    midnight = datetime(2026, 3, 12, tzinfo=UTC)  # 10 Mar 14:30 + 1 day, rounded up
    assert plan(bucket, at(1)) == []  # a full day old, but before the midnight
    assert plan(bucket, midnight - timedelta(seconds=1)) == []
    (action,) = plan(bucket, midnight)
    assert action.at == midnight
    assert action.rule_id == "r"


def test_a_date_expires_what_it_covers_at_that_midnight() -> None:
    rule = {"ID": "d", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": "2026-04-01"}}
    bucket = Bucket(versions={"a": [obj("a")]}, rules=[rule])
    assert plan(bucket, datetime(2026, 3, 31, 23, 59, tzinfo=UTC)) == []
    (action,) = plan(bucket, datetime(2026, 4, 1, tzinfo=UTC))
    assert action.at == datetime(2026, 4, 1, tzinfo=UTC)


def test_disabled_rules_do_nothing() -> None:
    bucket = Bucket(versions={"a": [obj("a")]}, rules=[expire(1, Status="Disabled")])
    assert plan(bucket, at(100)) == []


@pytest.mark.parametrize(
    ("rule_filter", "expired"),
    [
        ({"Prefix": "logs/"}, ["logs/1"]),
        ({"Tag": {"Key": "tier", "Value": "tmp"}}, ["keep/2"]),
        ({"And": {"Prefix": "logs/", "Tags": [{"Key": "tier", "Value": "tmp"}]}}, []),
        ({"And": {"Prefix": "keep/", "Tag": {"Key": "tier", "Value": "tmp"}}}, ["keep/2"]),
        ({"ObjectSizeGreaterThan": 10}, ["logs/1"]),
        ({"ObjectSizeLessThan": "10"}, ["keep/2"]),
        ({"And": {"ObjectSizeGreaterThan": 1, "ObjectSizeLessThan": 100}}, ["keep/2", "logs/1"]),
        (None, ["keep/2", "logs/1"]),
    ],
)
def test_filters_keep_what_they_do_not_name(rule_filter: dict | None, expired: list) -> None:
    versions = {
        "logs/1": [obj("logs/1", size=50, tags={"tier": "gold"})],
        "keep/2": [obj("keep/2", size=5, tags={"tier": "tmp"})],
    }
    bucket = Bucket(versions=versions, rules=[expire(1, Filter=rule_filter)])
    assert sorted(a.key for a in plan(bucket, at(3))) == expired


def test_the_legacy_top_level_prefix_filters_too() -> None:
    rule = {"ID": "old", "Status": "Enabled", "Prefix": "tmp/", "Expiration": {"Days": "2"}}
    bucket = Bucket(versions={"tmp/x": [obj("tmp/x")], "y": [obj("y")]}, rules=[rule])
    assert kinds(plan(bucket, at(3))) == [("delete", "tmp/x", "null")]


def test_a_versioned_bucket_gets_a_delete_marker_and_keeps_the_version() -> None:
    bucket = Bucket(
        versions={"a": [obj("a", version_id="v1")]}, rules=[expire(2)], versioning="Enabled"
    )
    (action,) = plan(bucket, at(10), new_version_id=ids())
    assert (action.kind, action.key, action.version_id) == ("delete_marker", "a", "marker-1")
    assert action.at == datetime(2026, 3, 13, tzinfo=UTC)


def test_a_delete_marker_already_current_is_left_alone() -> None:
    marker = obj("a", at(1), version_id="m", delete_marker=True)
    versions = {"a": [obj("a", version_id="v1"), marker]}
    bucket = Bucket(versions=versions, rules=[expire(2)], versioning="Enabled")
    assert plan(bucket, at(10)) == []


def test_noncurrent_versions_expire_after_their_successor_is_days_old() -> None:
    versions = {
        "a": [
            obj("a", version_id="v1"),
            obj("a", at(5), version_id="v2"),  # v1 noncurrent since day 5
            obj("a", at(6), version_id="v3"),
        ]
    }
    rule = {"ID": "nc", "Status": "Enabled", "Filter": {"Prefix": ""}}
    rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": 2}
    bucket = Bucket(versions=versions, rules=[rule], versioning="Enabled")
    # v1: day 5 (15 Mar 14:30) + 2 -> 18 Mar 00:00; v2: day 6 + 2 -> 19 Mar 00:00
    assert plan(bucket, datetime(2026, 3, 17, 23, tzinfo=UTC)) == []
    assert kinds(plan(bucket, datetime(2026, 3, 18, tzinfo=UTC))) == [("delete_version", "a", "v1")]
    assert len(plan(bucket, datetime(2026, 3, 19, tzinfo=UTC))) == 2


def test_newer_noncurrent_versions_are_retained() -> None:
    versions = {"a": [obj("a", at(i), version_id=f"v{i}") for i in range(5)]}  # v4 current
    rule = {"ID": "nc", "Status": "Enabled", "Filter": {}}
    rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": "1", "NewerNoncurrentVersions": "2"}
    bucket = Bucket(versions=versions, rules=[rule], versioning="Enabled")
    # v3 and v2 are the two newest noncurrent versions: kept however old
    assert sorted(a.version_id for a in plan(bucket, at(100))) == ["v0", "v1"]


def test_expiry_then_noncurrent_expiry_then_the_lone_marker_cascade() -> None:
    rules = [
        expire(2),
        {
            "ID": "nc",
            "Status": "Enabled",
            "Filter": {},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 3},
        },
    ]
    bucket = Bucket(versions={"a": [obj("a", version_id="v1")]}, rules=rules, versioning="Enabled")
    actions = plan(bucket, at(30), new_version_id=ids())
    assert kinds(actions) == [
        ("delete_marker", "a", "marker-1"),  # 13 Mar 00:00
        ("delete_version", "a", "v1"),  # noncurrent since 13 Mar 00:00 + 3 -> 17 Mar 00:00
        # the marker is now the only version, and old enough for the Days (13 Mar + 2): it goes
        # at the next daily run, the day after it became the only version (as observed in
        # https://repost.aws/ja/questions/QUHvtMcfxcQLOQtGFjg_SoOw for this very configuration)
        ("delete_version", "a", "marker-1"),
    ]
    assert [a.at for a in actions] == [
        datetime(2026, 3, 13, tzinfo=UTC),
        datetime(2026, 3, 17, tzinfo=UTC),
        datetime(2026, 3, 18, tzinfo=UTC),
    ]


def test_expired_object_delete_markers_go_the_next_midnight() -> None:
    lone = obj("a", T0, version_id="m", delete_marker=True)
    rule = {"ID": "eodm", "Status": "Enabled", "Filter": {}}
    rule["Expiration"] = {"ExpiredObjectDeleteMarker": "true"}
    bucket = Bucket(versions={"a": [lone]}, rules=[rule], versioning="Enabled")
    assert plan(bucket, datetime(2026, 3, 10, 23, 59, tzinfo=UTC)) == []
    assert kinds(plan(bucket, datetime(2026, 3, 11, tzinfo=UTC))) == [("delete_version", "a", "m")]
    not_lone = Bucket(
        versions={"a": [obj("a", version_id="v1"), lone]}, rules=[rule], versioning="Enabled"
    )
    assert plan(not_lone, at(100)) == []


def test_a_suspended_bucket_replaces_the_null_version_with_a_null_marker() -> None:
    versions = {"a": [obj("a", version_id="v1"), obj("a", at(1), version_id="null")]}
    bucket = Bucket(versions=versions, rules=[expire(1)], versioning="Suspended")
    # one action: the null marker replaces the null version (the applier drops it)
    assert kinds(plan(bucket, at(5))) == [("delete_marker", "a", "null")]
    eodm = {"ID": "e", "Status": "Enabled", "Filter": {}}
    eodm["Expiration"] = {"ExpiredObjectDeleteMarker": True}
    nc = {"ID": "nc", "Status": "Enabled", "Filter": {}}
    nc["NoncurrentVersionExpiration"] = {"NoncurrentDays": 1}
    later = Bucket(versions=versions, rules=[expire(1), nc, eodm], versioning="Suspended")
    actions = plan(later, at(10))
    assert kinds(actions) == [
        ("delete_marker", "a", "null"),  # 11 Mar 14:30 + 1 -> 13 Mar
        ("delete_version", "a", "v1"),  # noncurrent since 11 Mar 14:30 (not since the marker)
        ("delete_version", "a", "null"),  # the null marker, alone since 13 Mar -> 14 Mar
    ]
    assert [a.at.day for a in actions] == [13, 13, 14]


def test_incomplete_multipart_uploads_are_aborted() -> None:
    rule = {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": "up/"}}
    rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": 1}
    uploads = [Upload("up/big", "u1", T0), Upload("other", "u2", T0)]
    bucket = Bucket(uploads=uploads, rules=[rule])
    assert plan(bucket, at(1)) == []
    assert kinds(plan(bucket, datetime(2026, 3, 12, tzinfo=UTC))) == [
        ("abort_upload", "up/big", "u1")
    ]


def test_rules_read_from_the_xml_moto_keeps_and_from_cloudformation() -> None:
    xml = {
        "ID": "x",
        "Status": "Enabled",
        "Filter": {"And": {"Prefix": "p/", "Tag": [{"Key": "a", "Value": "1"}]}},
        "Expiration": {"Days": "7"},
        "NoncurrentVersionExpiration": {"NoncurrentDays": "3", "NewerNoncurrentVersions": "1"},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": "2"},
    }
    rule = Rule.parse(xml)
    assert (rule.prefix, rule.tags, rule.expiration_days) == ("p/", {"a": "1"}, 7)
    assert (rule.noncurrent_days, rule.newer_noncurrent, rule.abort_days) == (3, 1, 2)
    assert Rule.parse({"Status": "Enabled", "Filter": None}).prefix == ""
