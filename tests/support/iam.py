"""Roles for tests that build pipelines, projects and deployment groups by hand: local mode
authorizes every call a service makes on a role's behalf (pipekit.local.authz), so a test's role
must trust the services that use it and allow what they do, as it would have to on AWS."""

from __future__ import annotations

import json
from typing import Any

SERVICES = ("codepipeline", "codebuild", "codedeploy")
ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def trust_policy(services: tuple[str, ...] = SERVICES) -> dict[str, Any]:
    """A trust policy letting each service assume the role (a statement per service: moto's
    CreatePipeline looks for a lone Service string)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": f"{service}.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
            for service in services
        ],
    }


def service_role(
    iam: Any,
    name: str,
    services: tuple[str, ...] = SERVICES,
    statements: list[dict[str, Any]] | None = None,
) -> str:
    """Create a role the services may assume, with one inline policy of `statements` (default:
    everything allowed); returns its ARN."""
    trust = trust_policy(services)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": statements or [ALLOW_ALL]}
    iam.put_role_policy(RoleName=name, PolicyName="test", PolicyDocument=json.dumps(policy))
    return arn
