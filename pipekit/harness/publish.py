"""Upload the templates to a private, encrypted bucket under a versioned prefix, and build the
console "Create stack" link a browser-only user can launch from."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import botocore.session
from botocore.exceptions import ClientError, UnknownRegionError
from botocore.regions import EndpointResolver

from pipekit.errors import UserError
from pipekit.harness.config import Environment
from pipekit.harness.preflight import Plan, load_root_parameters
from pipekit.progress import console

CONSOLE_URL_LIMIT = 1024  # the console ignores longer quick-create links


@dataclass(frozen=True)
class Published:
    bucket: str
    prefix: str  # ends in "/"
    region: str
    root_url: str
    keys: list[str]

    def root_parameters(self) -> dict[str, str]:
        """The parameters that let the root template find its children."""
        return {
            "TemplateBucketName": self.bucket,
            "TemplateKeyPrefix": self.prefix,
            "TemplateBucketRegion": self.region,
        }


def template_files(template_dir: Path) -> list[Path]:
    files = sorted(template_dir.glob("*.yaml"))
    if not any(f.name == "root.yaml" for f in files):
        raise UserError(f"no root.yaml in {template_dir}: is this a complete clone?")
    return files


def content_hash(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def template_version(template_dir: Path) -> str:
    """The templates' git commit (plus `-dirty-<hash>` if they differ from it), else a hash."""
    files = template_files(template_dir)
    digest = content_hash(files)

    def git(*argv: str) -> str:
        return subprocess.run(
            ["git", "-C", str(template_dir), *argv],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()

    try:
        # The last commit that touched the templates, so unrelated commits keep the prefix
        # (and a redeploy of unchanged templates stays an update with no changes).
        commit = git("log", "-1", "--format=%h", "--abbrev=12", "--", ".")
        dirty = git("status", "--porcelain", "--untracked-files=all", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return f"content-{digest}"
    if not commit:  # not committed yet
        return f"content-{digest}"
    return f"{commit}-dirty-{digest}" if dirty else commit


def default_bucket_name(account: str, region: str) -> str:
    return f"pipekit-templates-{account}-{region}"


class Partition(NamedTuple):
    name: str  # aws, aws-cn, aws-us-gov, ...: the ARN's partition, as ${AWS::Partition}
    dns_suffix: str  # amazonaws.com, amazonaws.com.cn, ...: as ${AWS::URLSuffix}


@cache
def partition_of(region: str) -> Partition:
    """The region's partition and DNS suffix, from botocore's endpoint data through its public
    API (Session.get_partition_for_region, EndpointResolver.get_partition_dns_suffix)."""
    session = botocore.session.get_session()
    try:
        name = session.get_partition_for_region(region)
    except UnknownRegionError:
        raise UserError(
            f"{region!r} is not a Region botocore knows: check the region (or upgrade boto3)"
        ) from None
    suffix = EndpointResolver(session.get_data("endpoints")).get_partition_dns_suffix(name)
    return Partition(name, suffix)


def s3_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted URL the root template builds for its children, ${AWS::URLSuffix}
    included, so the root's own URL has the same form."""
    return f"https://{bucket}.s3.{region}.{partition_of(region).dns_suffix}/{quote(key)}"


def tls_only_policy(bucket: str, region: str) -> str:
    arn = f"arn:{partition_of(region).name}:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [arn, f"{arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def bucket_region(s3, bucket: str) -> str | None:
    """The bucket's region, or None when it does not exist; a foreign bucket is a UserError."""
    try:
        response = s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket", "NotFound"}:
            return None
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise UserError(
                f"the template bucket {bucket} exists but you cannot use it (another account "
                "owns it, or your role lacks s3:ListBucket): pass ARGS='--bucket <your bucket>'"
            ) from None
        raise
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return response.get("BucketRegion") or headers.get("x-amz-bucket-region")


def ensure_bucket(s3, bucket: str, region: str, *, tls_only: bool = True) -> bool:
    """Create the template bucket when missing (private, encrypted, TLS only); True if created.

    `tls_only=False` is for a plain-http emulated endpoint, which would otherwise enforce the
    policy against our own uploads."""
    existing = bucket_region(s3, bucket)
    if existing is not None:
        if existing != region:
            raise UserError(
                f"the template bucket {bucket} is in {existing}, not {region}: nested stacks "
                "need their templates in the stack's region; pass ARGS='--bucket <name>'"
            )
        return False
    kwargs: dict = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    if tls_only:
        s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket, region))
    return True


def publish_templates(
    s3,
    template_dir: Path,
    *,
    bucket: str,
    region: str,
    version: str | None = None,
    tls_only: bool = True,
) -> Published:
    files = template_files(template_dir)
    version = version or template_version(template_dir)
    prefix = f"pipekit/{version}/"
    ensure_bucket(s3, bucket, region, tls_only=tls_only)
    keys = []
    for path in files:
        key = f"{prefix}templates/{path.name}"
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType="application/x-yaml",
            ServerSideEncryption="AES256",
        )
        keys.append(key)
    root_key = f"{prefix}templates/root.yaml"
    return Published(
        bucket=bucket,
        prefix=prefix,
        region=region,
        root_url=s3_url(bucket, region, root_key),
        keys=keys,
    )


def console_link(
    region: str,
    template_url: str,
    stack_name: str,
    parameters: dict[str, str],
    defaults: dict[str, str] | None = None,
) -> tuple[str, list[str]]:
    """The "Create stack" review link with parameters filled in, and the names left out.

    Parameters equal to their template default are dropped first when the link would exceed
    the console's 1024 characters; then the longest ones, which the user must type in.
    """
    defaults = defaults or {}
    base = (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/create/review?templateURL={quote(template_url, safe='')}"
        f"&stackName={quote(stack_name, safe='')}"
    )

    def part(name: str) -> str:
        return f"&param_{quote(name, safe='')}={quote(parameters[name], safe='')}"

    names = [n for n in parameters if parameters[n] != ""]
    link = base + "".join(part(n) for n in names)
    if len(link) <= CONSOLE_URL_LIMIT:
        return link, []
    names = [n for n in names if defaults.get(n) != parameters[n]]
    left_out: list[str] = []
    while len(base + "".join(part(n) for n in names)) > CONSOLE_URL_LIMIT and names:
        longest = max(names, key=lambda n: len(part(n)))
        names.remove(longest)
        left_out.append(longest)
    return base + "".join(part(n) for n in names), sorted(left_out)


# --- The publish step of `publish`, `deploy` and `local up` ------------------------------


def publish_step(env: Environment, clients, plan: Plan, bucket: str | None) -> Published:
    bucket = bucket or default_bucket_name(plan.account, plan.region)
    plain_http = (env.endpoint_url or "").startswith("http://")
    published = publish_templates(
        clients("s3"), env.template_dir, bucket=bucket, region=plan.region, tls_only=not plain_http
    )
    console.print(
        f"Published {len(published.keys)} templates to s3://{bucket}/{published.prefix}templates/"
    )
    return published


def print_launch_link(
    env: Environment, plan: Plan, published: Published, *, ami_id: str | None = None
) -> None:
    definitions = load_root_parameters(env.template_dir)
    defaults = {
        name: str(d.get("Default")) for name, d in definitions.items() if "Default" in (d or {})
    }
    chosen = {"AmiId": ami_id} if ami_id else {}
    parameters = {**plan.parameters, **chosen, **published.root_parameters()}
    console.print(f"Root template: {published.root_url}")
    if partition_of(plan.region).name != "aws":
        # The console's Region hosts outside the aws partition are not in the endpoint data,
        # and a guessed link would be worse than none.
        console.print(
            f"Open the CloudFormation console in {plan.region}, choose Create stack, paste the "
            "root template's URL, and enter: "
            + ", ".join(f"{n}={v}" for n, v in sorted(parameters.items()) if v)
        )
        return
    link, left_out = console_link(
        plan.region, published.root_url, env.stack_name, parameters, defaults
    )
    console.print("Launch it in the console (tick the IAM capability boxes, then Create stack):")
    console.print(link, soft_wrap=True)
    if left_out:
        console.print(
            "The link would exceed 1024 characters, so type these in the console: "
            + ", ".join(f"{n}={parameters[n]}" for n in left_out)
        )
