"""The Prune stage's keep-or-mark decision (templates/pipeline.yaml, PruneProject), over
deployments and objects shaped as the aws CLI prints BatchGetDeployments and ListObjectsV2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from tests.support.pruner import module, source

BUCKET = "env-artifactbucket-1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
prune = module()


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def deployment(n: int, key: str, status: str = "Succeeded", done: float = 0, **kw: str) -> dict:
    info = {
        "deploymentId": f"d-{n:09d}",
        "status": status,
        "creator": kw.get("creator", "user"),
        "revision": {
            "revisionType": "S3",
            "s3Location": {"bucket": kw.get("bucket", BUCKET), "key": key, "bundleType": "zip"},
        },
    }
    if status in ("Succeeded", "Failed", "Stopped"):
        info["completeTime"] = (T0 + timedelta(days=done)).timestamp()  # CLI v1: epoch seconds
    return info


def obj(key: str, days: float) -> dict:
    return {"Key": key, "LastModified": at(days), "Size": 3_000_000}


def verdicts(deployments: list, objects: list, releases: int = 2, days: int = 14) -> dict:
    return {key: v for key, v, _ in prune.decide(deployments, objects, BUCKET, releases, days)}


def test_the_program_is_stdlib_only_and_calls_the_cli_with_json_output() -> None:
    imports = {
        line.split()[1] for line in source().splitlines() if line.startswith(("import ", "from "))
    }
    assert imports == {"json", "os", "subprocess", "datetime"}
    assert '"--output", "json"' in source()


def test_keeps_the_last_n_distinct_successful_revisions_however_old() -> None:
    deployments = [
        deployment(1, "p/BuildOutpu/b1", done=1),
        deployment(2, "p/BuildOutpu/b2", done=2),
        deployment(3, "p/BuildOutpu/b3", status="Failed", done=3),
        deployment(4, "p/BuildOutpu/b2", done=4, creator="codeDeployRollback"),
        deployment(5, "p/BuildOutpu/b4", done=5),
        deployment(6, "p/BuildOutpu/b4", done=400, creator="autoscaling"),
    ]
    objects = [obj(f"p/BuildOutpu/b{i}", i) for i in (1, 2, 3, 4)] + [
        obj("p/SourceOutp/s1", 1),
        obj("p/SourceOutp/s9", 400),  # this run's own artifact: "now"
    ]
    assert verdicts(deployments, objects) == {
        # b4 (newest success) and b2 (its rollback counts as a success after b1's) are the two
        "p/BuildOutpu/b4": "keep",
        "p/BuildOutpu/b2": "keep",
        "p/BuildOutpu/b1": "mark",
        "p/BuildOutpu/b3": "mark",  # a failed revision: no rollback or launch deploys it
        "p/SourceOutp/s1": "mark",
        "p/SourceOutp/s9": "keep",
    }


def test_distinct_means_a_revision_deployed_twice_counts_once() -> None:
    deployments = [
        deployment(1, "b1", done=1),
        deployment(2, "b2", done=2),
        deployment(3, "b2", done=3, creator="autoscaling"),
        deployment(4, "b2", done=4, creator="autoscaling"),
    ]
    objects = [obj("b1", 1), obj("b2", 2), obj("now", 100)]
    assert verdicts(deployments, objects)["b1"] == "keep"


def test_nothing_younger_than_the_retention_is_marked_and_now_is_the_newest_object() -> None:
    objects = [obj("old", 0), obj("young", 10), obj("newest", 20)]
    # 20 days after the oldest object, but nothing is newer than the newest object itself
    assert verdicts([], objects, days=14) == {"old": "mark", "young": "keep", "newest": "keep"}
    assert verdicts([], objects, days=21) == {"old": "keep", "young": "keep", "newest": "keep"}


def test_a_running_deployments_revision_is_kept() -> None:
    deployments = [deployment(1, "b1", done=1), deployment(2, "b0", status="InProgress")]
    objects = [obj("b0", 0), obj("b1", 1), obj("now", 100)]
    found = {key: (v, why) for key, v, why in prune.decide(deployments, objects, BUCKET, 1, 14)}
    assert found["b0"] == ("keep", "deployment d-000000002 is InProgress")
    assert found["b1"][0] == "keep" and found["b1"][1].startswith("release 1 of 1")


def test_a_revision_in_another_bucket_takes_no_place_among_the_releases() -> None:
    deployments = [
        deployment(1, "b1", done=1),
        deployment(2, "b1", done=2, bucket="someone-elses"),
    ]
    assert verdicts(deployments, [obj("b1", 1), obj("now", 100)], releases=1)["b1"] == "keep"


@pytest.mark.parametrize(
    "stamp",
    [
        1767225600,
        1767225600.5,
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00.000Z",
    ],
)
def test_timestamps_as_cli_v1_and_v2_print_them(stamp: object) -> None:
    assert prune.moment(stamp).replace(microsecond=0) == T0


def test_an_empty_bucket_marks_nothing() -> None:
    assert prune.decide([deployment(1, "b1", done=1)], [], BUCKET, 3, 14) == []


def test_marking_keeps_other_tags_and_skips_what_is_already_marked(monkeypatch) -> None:
    calls: list[tuple] = []
    answers = {"get-object-tagging": {"TagSet": [{"Key": "team", "Value": "a"}]}}

    def fake(*args: str) -> dict:
        calls.append(args)
        return answers.get(args[1], {})

    monkeypatch.setattr(prune, "aws", fake)
    assert prune.mark(BUCKET, "k") == "marked"
    put = calls[-1]
    assert put[:6] == ("s3api", "put-object-tagging", "--bucket", BUCKET, "--key", "k")
    assert put[7] == (
        '{"TagSet": [{"Key": "team", "Value": "a"}, {"Key": "pipekit:expired", "Value": "true"}]}'
    )
    answers["get-object-tagging"]["TagSet"].append(prune.TAG)
    calls.clear()
    assert prune.mark(BUCKET, "k") == "already marked"
    assert [c[1] for c in calls] == ["get-object-tagging"]


def test_stubber_shapes_match_what_the_program_reads() -> None:
    """The fields it reads exist in botocore's shapes of the two responses."""
    import boto3

    cd = boto3.client("codedeploy", region_name="us-east-1")
    with Stubber(cd) as stub:
        stub.add_response(
            "batch_get_deployments",
            {"deploymentsInfo": [{**deployment(1, "b1", done=1), "completeTime": T0}]},
        )
        cd.batch_get_deployments(deploymentIds=["d-000000001"])
