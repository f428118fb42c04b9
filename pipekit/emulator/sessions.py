"""Role sessions as STS hands them out: temporary credentials for a role, which requests signed
with them are then authorized as (`pipekit.emulator.authn`).

`issue(account_id, role_arn, session_name)` answers the `Credentials` member of STS's
AssumeRole response (STS API reference, AssumeRole and the `Credentials` data type):
`AccessKeyId` (temporary keys start with `ASIA`, IAM user guide "Unique identifiers", IDs
prefixes: ASIA = temporary access key; 20 characters), `SecretAccessKey` (40), `SessionToken`
and `Expiration` (AssumeRole's DurationSeconds defaults to 3600). `lookup(access_key_id)` finds
a live one; `revoke` forgets one (a build's session ends with its build); an emulator reset
clears them all (`Emulator.reset`).

The assumed-role ARN is `pipekit.iam.policy.session_arn`'s.
"""

from __future__ import annotations

import base64
import secrets
import string
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipekit.emulator import clock
from pipekit.iam.policy import session_arn

DEFAULT_DURATION_S = 3600
_KEY_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class RoleSession:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime
    account_id: str
    role_arn: str
    session_name: str

    @property
    def partition(self) -> str:
        return self.role_arn.split(":")[1]

    @property
    def arn(self) -> str:
        """The assumed-role session ARN (AWS's messages name the caller with it)."""
        return session_arn(self.role_arn, self.session_name)

    def expired(self) -> bool:
        return clock.now() >= self.expiration


_SESSIONS: dict[str, RoleSession] = {}
_REVOKED: set[str] = set()
_LOCK = threading.Lock()


def _access_key_id() -> str:
    return "ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def issue(
    account_id: str, role_arn: str, session_name: str, duration_s: int = DEFAULT_DURATION_S
) -> dict[str, object]:
    """A new session of `role_arn`: STS's `Credentials` (AccessKeyId, SecretAccessKey,
    SessionToken, Expiration)."""
    if not role_arn.startswith("arn:") or ":role/" not in role_arn:
        raise ValueError(f"not a role ARN: {role_arn!r}")
    session = RoleSession(
        access_key_id=_access_key_id(),
        secret_access_key=base64.b64encode(secrets.token_bytes(30)).decode(),
        session_token=base64.b64encode(secrets.token_bytes(300)).decode(),
        expiration=clock.now() + timedelta(seconds=duration_s),
        account_id=account_id,
        role_arn=role_arn,
        session_name=session_name,
    )
    with _LOCK:
        _SESSIONS[session.access_key_id] = session
    return {
        "AccessKeyId": session.access_key_id,
        "SecretAccessKey": session.secret_access_key,
        "SessionToken": session.session_token,
        "Expiration": session.expiration,
    }


def lookup(access_key_id: str) -> RoleSession | None:
    """The session these credentials belong to (expired or not), None if unknown or revoked."""
    with _LOCK:
        return _SESSIONS.get(access_key_id)


def revoked(access_key_id: str) -> bool:
    """Were these a session's credentials, now revoked?"""
    with _LOCK:
        return access_key_id in _REVOKED


def revoke(access_key_id: str) -> None:
    """Forget the session: its credentials no longer exist."""
    with _LOCK:
        if _SESSIONS.pop(access_key_id, None) is not None:
            _REVOKED.add(access_key_id)


def reset() -> None:
    with _LOCK:
        _SESSIONS.clear()
        _REVOKED.clear()


__all__ = ["RoleSession", "issue", "lookup", "reset", "revoke", "revoked"]
