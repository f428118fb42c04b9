"""Build logs in the emulated CloudWatch Logs, where `aws logs` and the e2e report read them
(group `/aws/codebuild/<project>`, stream `<build uuid>`, as CodeBuild names them)."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("pipekit.local.logs")

MAX_EVENTS = 5000  # the newest lines of a longer log


def put_log(account_id: str, region: str, group: str, stream: str, text: str) -> None:
    """Store `text` line by line; a failure is logged, never fatal to the build."""
    try:
        from moto.logs.models import logs_backends

        logs = logs_backends[account_id][region]
        if group not in logs.groups:
            logs.create_log_group(group, {})
        logs.create_log_stream(group, stream)
        now_ms = int(time.time() * 1000)
        events = [
            {"timestamp": now_ms, "message": line} for line in text.splitlines()[-MAX_EVENTS:]
        ]
        if events:
            logs.put_log_events(group, stream, events)
    except Exception:
        log.warning("could not store the build log in the emulated CloudWatch Logs", exc_info=True)
