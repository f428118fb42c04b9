"""The emulator's admin call, as WSGI middleware in front of the rest: `/_pipekit/clock`.

- `GET /_pipekit/clock`: `{"now": ISO 8601, "offsetSeconds": N}`.
- `POST /_pipekit/clock` with `{"advance_days": N}` or `{"advance_seconds": N}` (N >= 0, either
  or both): moves the clock forward, then applies every bucket's S3 lifecycle rules as S3 would
  have by the new time (patches/s3lifecycle.py) and evaluates every CloudWatch alarm at it
  (alarms/tick.py); answers the new time, the offset, `"expired"`: what was done (`bucket`,
  `kind`, `key`, `versionId`, `at`, `ruleId`) and `"alarms"`: the state changes (`account`,
  `region`, `alarm`, `from`, `to`). Advancing by 0 applies the rules at the current time.
  400 with `{"error": ...}` for a bad request.

Only unsigned requests are taken: an AWS request (signed, or presigned) for a key named
`_pipekit/clock` in a virtual-hosted bucket goes to moto as ever.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from pipekit.emulator import clock
from pipekit.emulator.alarms.tick import tick_all
from pipekit.emulator.patches.s3lifecycle import apply_lifecycle

CLOCK_PATH = "/_pipekit/clock"
_advancing = threading.Lock()


def _state() -> dict[str, Any]:
    return {"now": clock.now().isoformat(), "offsetSeconds": clock.offset().total_seconds()}


def _seconds(body: bytes) -> float:
    try:
        request = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(request, dict) or not {"advance_days", "advance_seconds"} & set(request):
        raise ValueError('expected {"advance_days": N} or {"advance_seconds": N}')
    unknown = set(request) - {"advance_days", "advance_seconds"}
    if unknown:
        raise ValueError(f"unknown member(s): {sorted(unknown)}")
    total = 0.0
    for name, scale in (("advance_days", 86400), ("advance_seconds", 1)):
        value = request.get(name, 0)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise ValueError(f"{name} must be a number")
        if value < 0:
            raise ValueError(f"{name} must not be negative: the clock only moves forward")
        total += value * scale
    return total


def advance(seconds: float) -> dict[str, Any]:
    """Move the clock, apply the lifecycle rules, evaluate the alarms (what the POST does)."""
    with _advancing:
        now = clock.advance(seconds)
        expired = apply_lifecycle(now)
        alarms = tick_all(now=now)
    return {**_state(), "expired": expired, "alarms": alarms}


class AdminApp:
    """WSGI middleware: serves /_pipekit/clock, passes everything else on."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        signed = environ.get("HTTP_AUTHORIZATION") or "X-Amz-Signature" in environ.get(
            "QUERY_STRING", ""
        )
        if environ.get("PATH_INFO") != CLOCK_PATH or signed:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        status, result = "200 OK", _state()
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            try:
                result = advance(_seconds(body))
            except ValueError as exc:
                status, result = "400 Bad Request", {"error": str(exc)}
        elif method != "GET":
            status, result = "405 Method Not Allowed", {"error": f"{method} is not allowed"}
        payload = json.dumps(result).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response(status, headers)
        return [payload]
