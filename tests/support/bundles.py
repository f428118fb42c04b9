"""A bundle zip on this machine, deployed as the instance would fetch it from S3: for tests and
benchmarks of the hook runner that have no emulated S3 at hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipekit.local.runtime.agent import S3Object
from pipekit.local.runtime.hookrunner import DeploymentOutcome, deploy_to_host

BUCKET = "bundles"


def deploy_zip(host: Any, bundle_zip: Path, **kwargs: Any) -> DeploymentOutcome:
    """deploy_to_host with the instance reading `bundle_zip` as its S3 revision."""

    def get_object(bucket: str, key: str, version_id: str | None) -> S3Object:
        assert (bucket, key) == (BUCKET, bundle_zip.name)
        return S3Object(bundle_zip.read_bytes(), '"etag"')

    revision = {
        "revisionType": "S3",
        "s3Location": {"bucket": BUCKET, "key": bundle_zip.name, "bundleType": "zip"},
    }
    return deploy_to_host(host, revision, get_object=get_object, **kwargs)
