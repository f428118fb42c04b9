"""What the emulated account grants, read from moto's backends as plain dicts, and a call
evaluated against it with `pipekit.iam.policy` (whose rules are AWS's; it is not changed here).

- `named_policies(account_id, role)`: a role's identity-based policies, each with its name (an
  inline policy's name, a managed policy's ARN): its inline policies (the role's own `Policies`
  and those `AWS::IAM::Policy` resources put on it; moto keeps both as role policies) and the
  default version of every attached managed policy (AWS-managed ones with AWS's documents:
  `patches/iam.py` materialises them, and attaches an `AWS::IAM::Role`'s `ManagedPolicyArns`).
  The IAM user guide ("Policy evaluation logic") counts exactly these as the identity-based
  policies of a role session. `identity_policies(account_id, role)`: the same documents, unnamed.
- `trust_policy(account_id, role)`: the role's trust policy (who may assume it), or None.
- `bucket_policy(account_id, bucket)`: the bucket's policy document, or None.
- `authorize(...)`: a `Decision`, never an exception. What cannot be evaluated faithfully is
  denied (fail closed, so a test never passes locally on a guess): an unknown role, a document
  `pipekit.iam.policy` does not model (its `UnsupportedPolicy`), or a role with a permissions
  boundary (not modelled). Same-account evaluation only; no SCPs or session policies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipekit.iam.policy import IMPLICIT_DENY, Context, Decision, evaluate, load_document

DEFAULT_PARTITION = "aws"


def _partition(arn: str) -> str:
    return arn.split(":")[1] if arn.startswith("arn:") else DEFAULT_PARTITION


def _role(account_id: str, role: str) -> Any | None:
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    if not account_id or not role:  # no such role (and no backend made up for account "")
        return None
    backend = iam_backends[account_id][_partition(role)]
    try:
        return backend.get_role_by_arn(role) if role.startswith("arn:") else backend.get_role(role)
    except NotFoundException:
        return None


def _default_document(policy: Any) -> dict[str, Any]:
    for version in policy.versions:
        if version.is_default:
            return load_document(version.document)
    raise LookupError(f"{policy.arn} has no default version")


def named_policies(account_id: str, role: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, document) of the role's (ARN or name) inline policies, then (ARN, default version)
    of its attached managed policies; [] when there is no such role."""
    found = _role(account_id, role)
    if found is None:
        return []
    inline = [(name, load_document(document)) for name, document in found.policies.items()]
    managed = [(arn, _default_document(p)) for arn, p in found.managed_policies.items()]
    return inline + managed


def identity_policies(account_id: str, role: str) -> list[dict[str, Any]]:
    """The documents of `named_policies`, in its order."""
    return [document for _, document in named_policies(account_id, role)]


def trust_policy(account_id: str, role: str) -> dict[str, Any] | None:
    """The role's (ARN or name) trust policy document, or None when there is no such role."""
    found = _role(account_id, role)
    return None if found is None else load_document(found.assume_role_policy_document)


def bucket_policy(account_id: str, bucket: str, partition: str = DEFAULT_PARTITION) -> dict | None:
    """The bucket's policy document as a dict (None: no bucket, or no policy)."""
    from moto.s3.models import s3_backends

    found = s3_backends[account_id][partition].buckets.get(bucket)
    if found is None or not found.policy:
        return None
    raw = found.policy.decode() if isinstance(found.policy, bytes) else found.policy
    return json.loads(raw)


def role_id(account_id: str, role: str) -> str:
    """The role's unique id (`AROA...`), "" when there is no such role."""
    found = _role(account_id, role)
    return str(found.id) if found is not None else ""


def authorize(
    account_id: str,
    role_arn: str,
    action: str,
    resource: str,
    context: Context | None = None,
    resource_policy: Mapping[str, Any] | None = None,
) -> Decision:
    """May a session of `role_arn` call `action` on `resource` with this request `context`?
    `resource_policy` (e.g. `bucket_policy(...)`) is evaluated with the role as the caller."""
    role = _role(account_id, role_arn)
    if role is None:
        return Decision(IMPLICIT_DENY, [f"no role {role_arn} in account {account_id}"])
    if role.permissions_boundary_arn:
        return Decision(IMPLICIT_DENY, ["unsupported: permissions boundaries are not modelled"])
    try:
        return evaluate(
            identity_policies(account_id, role.arn),
            action,
            resource,
            context,
            resource_policy=resource_policy,
            caller=role.arn,
        )
    except (ValueError, LookupError) as exc:  # UnsupportedPolicy, a malformed document
        return Decision(IMPLICIT_DENY, [f"unsupported: {exc}"])


__all__ = [
    "authorize",
    "bucket_policy",
    "identity_policies",
    "named_policies",
    "role_id",
    "trust_policy",
]
