"""AWS::S3::BucketPolicy, which moto has no CloudFormation model for (moto's own S3 fixes are in
patches/s3.py)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.utilities.utils import get_partition

from pipekit.emulator.models.base import Model


class BucketPolicy(Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @property
    def backend(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self.account_id][get_partition(self.region_name)]

    @property
    def physical_resource_id(self) -> str:
        return self.props["Bucket"]

    def create(self) -> None:
        document = self.props["PolicyDocument"]
        if not isinstance(document, str):
            document = json.dumps(document)
        self.backend.put_bucket_policy(self.props["Bucket"], document.encode())

    def update(self) -> None:
        self.create()

    def delete(self, account_id: str, region_name: str) -> None:
        from moto.s3.exceptions import MissingBucket

        with contextlib.suppress(MissingBucket):
            self.backend.delete_bucket_policy(self.props["Bucket"])
