"""The one reader of the app over HTTP: `/version` JSON and the `/` page, with short timeouts
(status, local mode, the e2e and the bench all read the app through here)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer at all (refused, timed out, reset)
    body: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def get(url: str, timeout: float = 3.0) -> Answer:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # our own app
            return Answer(resp.status, resp.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode("utf-8", "replace"), f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        return Answer(None, "", f"{type(exc).__name__}: {exc}")


def join(base: str, path: str) -> str:
    return base.rstrip("/") + path


def version(base_url: str, timeout: float = 3.0) -> tuple[Answer, dict[str, Any] | None]:
    """The `/version` answer and its JSON (None when the body is not a JSON object)."""
    answer = get(join(base_url, "/version"), timeout)
    if not answer.ok:
        return answer, None
    try:
        data = json.loads(answer.body)
    except ValueError:
        return answer, None
    return answer, data if isinstance(data, dict) else None


def version_data(base_url: str, timeout: float = 3.0) -> dict[str, Any] | None:
    """The `/version` JSON object, or None when the app did not answer with one."""
    return version(base_url, timeout)[1]
