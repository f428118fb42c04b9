"""Where CloudFormation reads a TemplateURL from, and the errors it gives when it cannot.

moto takes the bucket name up to the first dot of the host (so dotted bucket names break) and
answers a missing object with an internal error; AWS answers with a ValidationError.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from moto.cloudformation.exceptions import ValidationError

_VIRTUAL_HOSTED = re.compile(r"^(?P<bucket>.+)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
_PATH_STYLE = re.compile(r"^s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")
NOT_S3 = "TemplateURL must be an Amazon S3 URL."
NO_ACCESS = "TemplateURL must reference a valid S3 object to which you have access."
NO_KEY = (
    "S3 error: The specified key does not exist.\n"
    "For more information check http://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html"
)


def bucket_and_key(template_url: str) -> tuple[str, str]:
    parsed = urlparse(template_url)
    host, path = parsed.hostname or "", parsed.path.lstrip("/")
    if host in ("localhost", "127.0.0.1") or _PATH_STYLE.match(host):
        bucket, _, key = path.partition("/")
    elif match := _VIRTUAL_HOSTED.match(host):
        bucket, key = match.group("bucket"), path
    else:
        raise ValidationError(message=NOT_S3)
    if not bucket or not key:
        raise ValidationError(message=NO_ACCESS)
    return bucket, key


def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
    from moto.s3.exceptions import MissingBucket, MissingKey
    from moto.s3.models import s3_backends

    bucket, key = bucket_and_key(template_url)
    try:
        found = s3_backends[account_id][partition].get_object(bucket, key)
    except MissingBucket:
        raise ValidationError(message=NO_ACCESS) from None
    except MissingKey:
        raise ValidationError(message=NO_KEY) from None
    if found is None:
        raise ValidationError(message=NO_KEY)
    return found.value.decode("utf-8")


def patch() -> None:
    """moto's modules each imported the loader by name: replace it in every one."""
    from moto.cloudformation import models, responses, utils

    for module in (utils, models, responses):
        module.get_stack_from_s3_url = get_stack_from_s3_url  # type: ignore[attr-defined]
