"""One place that builds boto3 clients for a (region, endpoint, credentials) target."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from pipekit.errors import UserError
from pipekit.harness.config import Environment

# Standard retry mode backs off on throttling (and transient 5xx) with jitter; 8 attempts
# rides out a burst of describe_stack_events polling without hiding a real outage for long.
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=60,
)
# The emulator carries out a stack operation inside the call that starts it (AWS returns at
# once): ExecuteChangeSet of a rolling update returns only when each new instance has signalled,
# i.e. after CodeDeploy's launch deployment to it. A read timeout shorter than that makes
# botocore retry the call, which then meets the finished change set (EXECUTE_COMPLETE).
EMULATOR_READ_TIMEOUT_S = 900


def config_for(endpoint_url: str | None) -> Config:
    """The client configuration for a target: AWS's, or the emulator's (same retries, a read
    timeout that outlasts a synchronous stack operation)."""
    if endpoint_url is None:
        return RETRY_CONFIG
    return RETRY_CONFIG.merge(Config(read_timeout=EMULATOR_READ_TIMEOUT_S))


@dataclass
class Clients:
    """Lazily created clients sharing one session; tests pass a factory of stubbed clients."""

    session: boto3.Session
    endpoint_url: str | None = None
    config: Config | None = None
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return self.session.region_name

    def __call__(self, service: str, region: str | None = None) -> Any:
        key = f"{service}@{region or self.region}"
        if key not in self._cache:
            self._cache[key] = self.session.client(
                service,
                region_name=region or self.region,
                endpoint_url=self.endpoint_url,
                config=self.config or config_for(self.endpoint_url),
            )
        return self._cache[key]


def build_session(env: Environment) -> boto3.Session:
    kwargs: dict[str, Any] = {}
    if env.credentials:
        kwargs.update(env.credentials)
    # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which other AWS tools honour.
    region = env.region or os.environ.get("AWS_REGION")
    if region:
        kwargs["region_name"] = region
    return boto3.Session(**kwargs)


def clients_for(env: Environment) -> Clients:
    """Clients for `env`, failing with a clear sentence when no region or credentials resolve.

    Both checks are local (no request is sent): botocore's chain reads env vars, profiles, SSO
    caches and, last, the instance metadata service (at most ~2 s when it is unreachable).
    """
    session = build_session(env)
    if session.get_credentials() is None:
        raise UserError(
            "no AWS credentials found: run `aws configure` (or `aws sso login`), or set "
            "AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for a run with no AWS "
            "account use `make local` and ENV=local"
        )
    if not session.region_name:
        raise UserError(
            "no AWS region configured: set AWS_DEFAULT_REGION (or a region in your profile), "
            "or pass ARGS='--region eu-west-1'"
        )
    return Clients(session=session, endpoint_url=env.endpoint_url)


def aws_errors(func):
    """Turn errors AWS (or the network) returns into one-sentence UserErrors for the CLI."""
    import functools

    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except NoCredentialsError:
            raise UserError(
                "no AWS credentials found: run `aws configure` or set AWS_PROFILE"
            ) from None
        except EndpointConnectionError as exc:
            where = exc.kwargs.get("endpoint_url")
            raise UserError(
                f"cannot reach AWS at {where}: check the network or --endpoint-url"
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise UserError(
                f"AWS refused {exc.operation_name} ({error.get('Code', '?')}): "
                f"{error.get('Message', '')}".rstrip(": ")
                + (
                    " (still throttled after retries: try again in a minute)"
                    if "Throttl" in str(error.get("Code", ""))
                    else ""
                )
            ) from None
        except BotoCoreError as exc:
            raise UserError(f"the AWS SDK failed: {exc}") from None

    return wrapper
