"""The emulator's clock: real time plus an offset that only moves forward (`advance`), back to
zero on an emulator reset. S3's object and delete-marker times, multipart initiation times, the
records' times (records/store.py), CloudFormation's stack events and Auto Scaling's activities
(patches/timestamps.py) read it, so what is made after an advance carries the advanced time;
the admin call that advances it (admin.py) then applies S3 lifecycle rules.

A leaf module: it imports nothing of the package, so records/ can use it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_lock = threading.Lock()
_offset = timedelta(0)


def now() -> datetime:
    """The emulated time, timezone-aware UTC."""
    return datetime.now(UTC) + _offset


def utcnow_naive() -> datetime:
    """The emulated time as moto keeps its timestamps (naive UTC, as moto.core.utils.utcnow)."""
    return now().replace(tzinfo=None)


def offset() -> timedelta:
    return _offset


def advance(seconds: float) -> datetime:
    """Move the clock forward by `seconds` (>= 0); the new time."""
    global _offset
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"the clock only moves forward (asked to move by {seconds} s)")
    with _lock:
        _offset += timedelta(seconds=seconds)
    return now()


def reset() -> None:
    global _offset
    with _lock:
        _offset = timedelta(0)
