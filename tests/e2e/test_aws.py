"""The scenario against real AWS: only with credentials and an explicit target, skipped with a
visible reason otherwise. Target: PIPEKIT_E2E_ENV=<env> (a dedicated test stack), optionally
PIPEKIT_E2E_ARGS="--git-remote URL --allow-branch BRANCH"."""

from __future__ import annotations

import os
import shlex

import boto3
import pytest

from pipekit.cli import main

pytestmark = [pytest.mark.aws, pytest.mark.slow]


def _skip_reason() -> str | None:
    env = os.environ.get("PIPEKIT_E2E_ENV")
    if not env:
        return "no explicit target: set PIPEKIT_E2E_ENV to a test stack's environment (e.g. dev)"
    if env == "local":
        return "PIPEKIT_E2E_ENV=local is covered by test_e2e_local.py"
    if boto3.Session().get_credentials() is None:
        return "no AWS credentials (aws configure / aws sso login / AWS_PROFILE)"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_full_scenario_on_aws():
    args = ["e2e", "--env", os.environ["PIPEKIT_E2E_ENV"]]
    args += shlex.split(os.environ.get("PIPEKIT_E2E_ARGS", ""))
    assert main(args) == 0
