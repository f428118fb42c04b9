"""The emulator's clock (POST /_pipekit/clock) and the S3 lifecycle rules it applies, seen
through real boto3 clients: what S3 would have expired by then is gone, answered as AWS answers
(NoSuchKey; a delete marker in a versioned bucket), and nothing else is. Last, the real
artifact bucket: nothing goes by age alone, only what the Prune stage tagged."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from pipekit.emulator import records
from pipekit.emulator.lifecycle import next_midnight
from tests.emulator.test_stack import deploy
from tests.support.emulator_fixtures import advance_clock

BUCKET = "clock-test"


def lifecycle(s3: Any, *rules: dict[str, Any], bucket: str = BUCKET) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})


def expire_after(days: int, **extra: Any) -> dict[str, Any]:
    rule = {"ID": f"expire-{days}", "Status": "Enabled", "Filter": {}}
    return {**rule, "Expiration": {"Days": days}, **extra}


def gone(s3: Any, key: str, bucket: str = BUCKET) -> bool:
    try:
        s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        # what AWS answers for a key that does not exist (or whose current version is a marker)
        assert error.response["Error"]["Code"] == "NoSuchKey"
        assert error.response["Error"]["Message"] == "The specified key does not exist."
        return True
    return False


def post(aws: Any, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{aws.endpoint_url}/_pipekit/clock", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


@pytest.fixture
def s3(aws: Any) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_the_clock_only_moves_forward_and_reset_puts_it_back(aws: Any) -> None:
    answer = advance_clock(aws, days=2)
    assert answer["offsetSeconds"] == 2 * 86400
    assert abs(parse(answer["now"]) - (datetime.now(UTC) + timedelta(days=2))) < timedelta(
        seconds=30
    )
    assert post(aws, json.dumps({"advance_days": -1}).encode())[0] == 400
    status, error = post(aws, b"{not json")
    assert status == 400 and "error" in error
    assert advance_clock(aws, seconds=30)["offsetSeconds"] == 2 * 86400 + 30
    with urllib.request.urlopen(f"{aws.endpoint_url}/_pipekit/clock", timeout=10) as response:
        assert json.loads(response.read())["offsetSeconds"] == 2 * 86400 + 30
    aws.reset()
    assert advance_clock(aws, seconds=0)["offsetSeconds"] == 0


def test_records_and_objects_made_after_an_advance_carry_the_advanced_time(
    aws: Any, s3: Any
) -> None:
    advance_clock(aws, days=3)
    expected = datetime.now(UTC) + timedelta(days=3)
    assert abs(records.now() - expected) < timedelta(seconds=30)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    modified = s3.head_object(Bucket=BUCKET, Key="k")["LastModified"]
    assert abs(modified - expected) < timedelta(seconds=30)


def test_13_days_old_survives_a_14_day_rule_15_days_old_is_gone(aws: Any, s3: Any) -> None:
    lifecycle(s3, expire_after(14))
    s3.put_object(Bucket=BUCKET, Key="artifact.zip", Body=b"x")
    assert advance_clock(aws, days=13)["expired"] == []
    assert not gone(s3, "artifact.zip")
    expired = advance_clock(aws, days=2)["expired"]
    assert [(e["bucket"], e["kind"], e["key"]) for e in expired] == [
        (BUCKET, "delete", "artifact.zip")
    ]
    assert expired[0]["ruleId"] == "expire-14"
    assert gone(s3, "artifact.zip")


def test_expiry_is_rounded_up_to_the_next_midnight_utc(aws: Any, s3: Any) -> None:
    lifecycle(s3, expire_after(1))
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    created = s3.head_object(Bucket=BUCKET, Key="k")["LastModified"]
    due = next_midnight(created + timedelta(days=1))
    now = parse(advance_clock(aws, seconds=0)["now"])
    advance_clock(aws, seconds=(due - now).total_seconds() - 60)
    assert not gone(s3, "k")  # more than a day old, but before the midnight
    (expired,) = advance_clock(aws, seconds=120)["expired"]
    assert parse(expired["at"]) == due
    assert gone(s3, "k")


def test_filters_expire_only_what_they_name(aws: Any, s3: Any) -> None:
    lifecycle(
        s3,
        expire_after(1, Filter={"Prefix": "tmp/"}),
        expire_after(2, Filter={"Tag": {"Key": "retention", "Value": "short"}}),
    )
    s3.put_object(Bucket=BUCKET, Key="tmp/a", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="keep/b", Body=b"x", Tagging="retention=short")
    s3.put_object(Bucket=BUCKET, Key="keep/c", Body=b"x", Tagging="retention=long")
    s3.put_object(Bucket=BUCKET, Key="keep/d", Body=b"x")
    advance_clock(aws, days=5)
    assert gone(s3, "tmp/a") and gone(s3, "keep/b")
    assert not gone(s3, "keep/c") and not gone(s3, "keep/d")


def test_a_versioned_bucket_gets_a_delete_marker(aws: Any, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    lifecycle(s3, expire_after(1))
    version = s3.put_object(Bucket=BUCKET, Key="k", Body=b"kept")["VersionId"]
    (expired,) = advance_clock(aws, days=3)["expired"]
    assert expired["kind"] == "delete_marker"
    assert gone(s3, "k")
    listed = s3.list_object_versions(Bucket=BUCKET)
    (marker,) = listed["DeleteMarkers"]
    assert (marker["Key"], marker["IsLatest"], marker["VersionId"]) == (
        "k",
        True,
        expired["versionId"],
    )
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(version, False)]
    kept = s3.get_object(Bucket=BUCKET, Key="k", VersionId=version)["Body"].read()
    assert kept == b"kept"


def test_a_versioned_objects_whole_history_can_expire(aws: Any, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    history = {"NoncurrentVersionExpiration": {"NoncurrentDays": 1}}
    lifecycle(s3, expire_after(1, **history))
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    kinds = [e["kind"] for e in advance_clock(aws, days=10)["expired"]]
    # the marker, the version it made noncurrent, then the marker alone (Days cleans it up)
    assert kinds == ["delete_marker", "delete_version", "delete_version"]
    listed = s3.list_object_versions(Bucket=BUCKET)
    assert "Versions" not in listed and "DeleteMarkers" not in listed


def test_noncurrent_versions_and_incomplete_uploads_go_too(aws: Any, s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    lifecycle(
        s3,
        {
            "ID": "tidy",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
    )
    old = s3.put_object(Bucket=BUCKET, Key="k", Body=b"old")["VersionId"]
    new = s3.put_object(Bucket=BUCKET, Key="k", Body=b"new")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big")["UploadId"]
    advance_clock(aws, days=3)
    versions = s3.list_object_versions(Bucket=BUCKET)["Versions"]
    assert [v["VersionId"] for v in versions] == [new]
    assert old != new
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET)
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=BUCKET, Key="big", UploadId=upload, PartNumber=1, Body=b"x")
    assert caught.value.response["Error"]["Code"] == "NoSuchUpload"


def test_the_artifact_bucket_expires_only_what_the_prune_stage_tagged(aws: Any) -> None:
    """Nothing goes by age alone (a rollback or a launch may need a bundle of any age); an old
    object tagged pipekit:expired=true goes at the next midnight; uploads left incomplete go
    after a day."""
    outputs = deploy(aws)
    s3, bucket = aws.client("s3"), outputs["ArtifactBucketName"]
    keys = ["pipekit-local-pipeli/SourceOutp/a1.zip", "pipekit-local-pipeli/BuildOutpu/b2.zip"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"artifact")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pipekit-local-pipeli/partial.zip")
    advance_clock(aws, days=400)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 2
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)  # DaysAfterInitiation: 1
    assert upload["UploadId"]
    expired = {"TagSet": [{"Key": "pipekit:expired", "Value": "true"}]}
    s3.put_object_tagging(Bucket=bucket, Key=keys[0], Tagging=expired)
    # its Expiration date (creation + 1 day, at midnight UTC) is long past: it goes at the
    # next lifecycle run, which the emulator makes at each clock advance
    assert not gone(s3, keys[0], bucket)
    advance_clock(aws, days=1)
    assert gone(s3, keys[0], bucket)
    assert not gone(s3, keys[1], bucket)


@pytest.mark.parametrize(
    ("rule_filter", "what"),
    [
        ({"Tag": {"Key": "k", "Value": "v"}}, "Tags"),
        ({"And": {"Prefix": "p/", "Tags": [{"Key": "k", "Value": "v"}]}}, "Tags"),
        ({"ObjectSizeGreaterThan": 10}, "Object Size"),
    ],
)
def test_s3_refuses_aborting_uploads_in_a_rule_that_filters_on_tags_or_size(
    s3: Any, rule_filter: dict, what: str
) -> None:
    rule = {
        "ID": "r",
        "Status": "Enabled",
        "Filter": rule_filter,
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    with pytest.raises(ClientError) as caught:
        lifecycle(s3, rule)
    error = caught.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "InvalidRequest",
        f"AbortIncompleteMultipartUpload cannot be specified with {what}.",
    )
    lifecycle(s3, {**rule, "Filter": {"Prefix": "p/"}})  # a prefix is fine


def test_a_templates_lifecycle_filters_are_kept(aws: Any) -> None:
    body = """
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      LifecycleConfiguration:
        Rules:
          - Id: tagged
            Status: Enabled
            TagFilters: [{Key: retention, Value: short}]
            ObjectSizeGreaterThan: "2"
            ExpirationInDays: 1
          - Id: history
            Status: Enabled
            NoncurrentVersionExpiration: {NoncurrentDays: 1, NewerNoncurrentVersions: 1}
Outputs:
  Name: {Value: !Ref Bucket}
"""
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="lifecycle-filters", TemplateBody=body)
    stack = cfn.describe_stacks(StackName="lifecycle-filters")["Stacks"][0]
    bucket = stack["Outputs"][0]["OutputValue"]
    s3 = aws.client("s3")
    s3.put_object(Bucket=bucket, Key="big", Body=b"12345", Tagging="retention=short")
    s3.put_object(Bucket=bucket, Key="small", Body=b"1", Tagging="retention=short")
    s3.put_object(Bucket=bucket, Key="untagged", Body=b"12345")
    for body_ in (b"v1", b"v2", b"v3"):
        s3.put_object(Bucket=bucket, Key="history", Body=body_)
    advance_clock(aws, days=5)
    assert gone(s3, "big", bucket)
    assert not gone(s3, "small", bucket) and not gone(s3, "untagged", bucket)
    history = [
        v for v in s3.list_object_versions(Bucket=bucket)["Versions"] if v["Key"] == "history"
    ]
    assert len(history) == 2  # the current one and the newest noncurrent one (v2)


def test_stack_events_carry_the_advanced_time_as_the_records_do(aws: Any) -> None:
    """Every service stamps the same "now": after an advance, CloudFormation's events are as
    late as the records (a deployment's completeTime before the stack event it led to)."""
    advanced = parse(advance_clock(aws, days=10)["now"])
    cfn = aws.client("cloudformation")
    cfn.create_stack(StackName="clocked", TemplateBody=CLOCKED_TEMPLATE)
    events = cfn.describe_stack_events(StackName="clocked")["StackEvents"]
    assert events
    assert all(e["Timestamp"] >= advanced - timedelta(seconds=5) for e in events)


CLOCKED_TEMPLATE = """
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""
