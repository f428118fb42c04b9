"""The one talker to HAProxy's runtime API and reader of its statistics: a command, and `show
stat`, over its stats socket (`stats socket
<path> level admin`, HAProxy management guide, "9.3. Unix Socket commands"), parsed from its CSV
("9.1. CSV format": the first line is the header, starting with "# ", then one line per proxy,
server, FRONTEND and BACKEND). Bounded: one connection, a timeout, a size cap."""

from __future__ import annotations

import csv
import io
import socket
from pathlib import Path

MAX_BYTES = 4 * 1024 * 1024


class StatsUnavailable(OSError):
    """The stats socket cannot be read (HAProxy not running, wrong path, timeout)."""


def command(socket_path: str | Path, text: str, *, timeout_s: float = 3.0) -> str:
    """One runtime API command (management guide 9.3) over the socket; HAProxy's answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(socket_path))
            sock.sendall(text.encode() + b"\n")
            chunks, size = [], 0
            while size < MAX_BYTES:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except OSError as exc:
        raise StatsUnavailable(f"cannot talk to HAProxy at {socket_path}: {exc}") from exc
    return b"".join(chunks).decode("utf-8", "replace")


def show_stat(socket_path: str | Path, *, timeout_s: float = 2.0) -> list[dict[str, str]]:
    """`show stat` rows as dicts keyed by the CSV header (pxname, svname, status, hrsp_5xx...)."""
    return parse(command(socket_path, "show stat", timeout_s=timeout_s))


def parse(text: str) -> list[dict[str, str]]:
    """The CSV of `show stat` as dicts (the header's leading '# ' removed, empty lines skipped)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise StatsUnavailable(f"not a 'show stat' answer: {text[:200]!r}")
    lines[0] = lines[0][2:]
    return [dict(row) for row in csv.DictReader(io.StringIO("\n".join(lines)))]
