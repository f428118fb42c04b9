"""Follow a stack operation: stream the events of the root and its nested stacks, and find the
first real cause of a failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from botocore.exceptions import ClientError

from pipekit.progress import console, elapsed

NESTED_TYPE = "AWS::CloudFormation::Stack"
# Reasons that only echo a failure elsewhere: the cause is in another event.
ECHO_REASONS = (
    "Embedded stack",
    "Resource creation cancelled",
    "Resource update cancelled",
    "The following resource(s) failed to",
    "Resource deletion cancelled",
)


def is_terminal(status: str) -> bool:
    return status.endswith("_COMPLETE") or status.endswith("_FAILED")


def is_success(status: str, operation: str) -> bool:
    """Whether a terminal stack status means `operation` (CREATE|UPDATE|DELETE) worked."""
    return (
        status
        in {
            "CREATE": {"CREATE_COMPLETE"},
            "UPDATE": {"UPDATE_COMPLETE"},
            "DELETE": {"DELETE_COMPLETE"},
        }[operation]
    )


def is_echo(reason: str | None) -> bool:
    return bool(reason) and any(reason.startswith(echo) for echo in ECHO_REASONS)


def first_cause(events_by_stack: dict[str, list[dict]], root_id: str) -> dict | None:
    """The earliest *_FAILED event whose reason is not an echo, digging into nested stacks.

    Follows the root's first failed nested stack down to the event that started the failure;
    events are the raw StackEvent dicts (any order).
    """
    seen: set[str] = set()

    def dig(stack_id: str) -> dict | None:
        if stack_id in seen:
            return None
        seen.add(stack_id)
        failed = sorted(
            (
                e
                for e in events_by_stack.get(stack_id, [])
                if e.get("ResourceStatus", "").endswith("_FAILED")
            ),
            key=lambda e: e["Timestamp"],
        )
        for event in failed:
            child = event.get("PhysicalResourceId")
            if (
                event.get("ResourceType") == NESTED_TYPE
                and child
                and child != stack_id
                and child in events_by_stack
            ):
                found = dig(child)
                if found:
                    return found
            if not is_echo(event.get("ResourceStatusReason")) and event.get(
                "LogicalResourceId"
            ) != event.get("StackName"):
                return event
        # Nothing but echoes and stack-level events: the stack-level reason is the best we have.
        for event in failed:
            if not is_echo(event.get("ResourceStatusReason")):
                return event
        return None

    return dig(root_id)


def latest_operation(events: list[dict]) -> list[dict]:
    """The events (newest first, as the API returns them) of the stack's latest operation:
    up to and including the root's most recent "User Initiated" event."""
    for index, event in enumerate(events):
        if event.get("ResourceStatusReason") == "User Initiated" and event.get(
            "LogicalResourceId"
        ) == event.get("StackName"):
            return events[: index + 1]
    return events


def describe_cause(event: dict) -> str:
    return (
        f"{event.get('StackName', '?')}/{event.get('LogicalResourceId', '?')} "
        f"({event.get('ResourceType', '?')}) {event.get('ResourceStatus', '?')}: "
        f"{event.get('ResourceStatusReason') or 'no reason given'}"
    )


@dataclass
class EventFollower:
    """Polls describe_stack_events for the root and each nested stack it discovers."""

    cfn: object
    root_id: str
    since: datetime
    printer: Callable[[str], None] = console.print
    seen: set[str] = field(default_factory=set)
    stacks: dict[str, str] = field(default_factory=dict)  # stack id -> display name
    events: dict[str, list[dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stacks.setdefault(self.root_id, "root")
        self.started = time.monotonic()

    def _new_events(self, stack_id: str) -> list[dict]:
        """Unseen events of this operation, oldest first.

        Pages come newest first; paging stops at a page holding only older events. Ordering
        within a page is not relied on (emulators differ), only EventId and Timestamp.
        """
        fresh: list[dict] = []
        paginator = self.cfn.get_paginator("describe_stack_events")
        try:
            for page in paginator.paginate(StackName=stack_id):
                page_events = page.get("StackEvents", [])
                fresh += [
                    e
                    for e in page_events
                    if e["EventId"] not in self.seen and e["Timestamp"] >= self.since
                ]
                if page_events and all(
                    e["Timestamp"] < self.since or e["EventId"] in self.seen for e in page_events
                ):
                    break
        except ClientError as exc:
            # A nested stack deleted during rollback/teardown can vanish between polls.
            if "does not exist" not in exc.response.get("Error", {}).get("Message", ""):
                raise
        return sorted(fresh, key=lambda e: e["Timestamp"])

    def poll(self) -> list[dict]:
        """Fetch, record and print the events that appeared since the last poll."""
        out: list[dict] = []
        for stack_id in list(self.stacks):
            for event in self._new_events(stack_id):
                self.seen.add(event["EventId"])
                self.events.setdefault(stack_id, []).append(event)
                child = event.get("PhysicalResourceId")
                if (
                    event.get("ResourceType") == NESTED_TYPE
                    and child
                    and child.startswith("arn:")
                    and child != stack_id
                    and child not in self.stacks
                ):
                    self.stacks[child] = event.get("LogicalResourceId", child)
                out.append(event)
                self.printer(self.format(stack_id, event))
        return out

    def format(self, stack_id: str, event: dict) -> str:
        status = event.get("ResourceStatus", "")
        colour = "red" if "FAILED" in status else "green" if status.endswith("COMPLETE") else ""
        styled = f"[{colour}]{status}[/]" if colour else status
        where = self.stacks.get(stack_id, "?")
        reason = event.get("ResourceStatusReason")
        tail = f"  {reason}" if reason else ""
        return (
            f"[dim]{elapsed(time.monotonic() - self.started)}[/] {where:<10} "
            f"{event.get('LogicalResourceId', '')} ({event.get('ResourceType', '')}) "
            f"{styled}{tail}"
        )

    def cause(self) -> dict | None:
        return first_cause(self.events, self.root_id)


def follow(
    cfn,
    stack_id: str,
    since: datetime,
    *,
    interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    printer: Callable[[str], None] = console.print,
) -> tuple[str, EventFollower]:
    """Stream events until the root stack reaches a terminal status; returns it and the log."""
    follower = EventFollower(cfn=cfn, root_id=stack_id, since=since, printer=printer)
    while True:
        follower.poll()
        try:
            status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        except ClientError as exc:
            if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
                return "DELETE_COMPLETE", follower
            raise
        if is_terminal(status) and not status.endswith("_IN_PROGRESS"):
            follower.poll()  # the events that landed with the final status
            return status, follower
        sleep(interval)
