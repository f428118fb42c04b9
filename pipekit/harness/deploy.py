"""Create or update the root stack through a change set, then follow it to the end."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError, WaiterError
from rich.table import Table

from pipekit.errors import UserError
from pipekit.harness.ami import PARAMETER as AMI_PARAMETER
from pipekit.harness.ami import choose_ami
from pipekit.harness.config import Environment
from pipekit.harness.events import describe_cause, follow, is_success
from pipekit.harness.preflight import (
    Plan,
    connection_region,
    connection_service,
    pending_connection_help,
    run_preflight,
)
from pipekit.harness.publish import publish_step
from pipekit.progress import console, duration

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed")


class DeployFailed(UserError):
    exit_code = 1


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str  # True | False | Conditional | "" (not a Modify)
    stack: str  # "" for the root, else the nested stack's logical path

    @property
    def replaces(self) -> bool:
        return self.replacement in {"True", "Conditional"}


def is_no_change(status_reason: str | None) -> bool:
    return bool(status_reason) and any(r in status_reason for r in NO_CHANGE_REASONS)


def changes_of(response: dict, stack: str = "") -> tuple[list[Change], list[tuple[str, str]]]:
    """Resource changes in one describe_change_set response, and nested change sets to expand."""
    changes: list[Change] = []
    nested: list[tuple[str, str]] = []
    for item in response.get("Changes", []):
        rc = item.get("ResourceChange") or {}
        change = Change(
            action=rc.get("Action", "?"),
            logical_id=rc.get("LogicalResourceId", "?"),
            resource_type=rc.get("ResourceType", "?"),
            replacement=rc.get("Replacement", "") if rc.get("Action") == "Modify" else "",
            stack=stack,
        )
        changes.append(change)
        if rc.get("ChangeSetId") and rc.get("ResourceType") == "AWS::CloudFormation::Stack":
            path = f"{stack}/{change.logical_id}" if stack else change.logical_id
            nested.append((rc["ChangeSetId"], path))
    return changes, nested


def describe_all(cfn, change_set_id: str, stack: str = "") -> list[Change]:
    """All changes, nested change sets expanded (IncludeNestedStacks)."""
    changes: list[Change] = []
    nested: list[tuple[str, str]] = []
    kwargs = {"ChangeSetName": change_set_id}
    while True:
        response = cfn.describe_change_set(**kwargs)
        page_changes, page_nested = changes_of(response, stack)
        changes += page_changes
        nested += page_nested
        if not response.get("NextToken"):
            break
        kwargs["NextToken"] = response["NextToken"]
    for child_id, path in nested:
        changes += describe_all(cfn, child_id, path)
    return changes


def changes_table(changes: list[Change]) -> Table:
    table = Table(title="Change set", show_lines=False)
    for column in ("Action", "Stack", "Resource", "Type", "Replacement"):
        table.add_column(column)
    for c in changes:
        style = "bold red" if c.replaces or c.action == "Remove" else ""
        action = f"{c.action} (REPLACE)" if c.replaces else c.action
        table.add_row(
            action, c.stack or "root", c.logical_id, c.resource_type, c.replacement, style=style
        )
    return table


def summary(changes: list[Change]) -> str:
    counts = {
        "added": sum(c.action == "Add" for c in changes),
        "modified": sum(c.action == "Modify" for c in changes),
        "removed": sum(c.action == "Remove" for c in changes),
        "replaced": sum(c.replaces for c in changes),
    }
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def stack_parameters(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


def create_change_set(
    cfn, env: Environment, plan: Plan, template_url: str, parameters: dict[str, str]
) -> dict:
    """Create the change set and wait for it; returns describe_change_set (or {} if no changes)."""
    name = "pipekit-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    response = cfn.create_change_set(
        StackName=env.stack_name,
        ChangeSetName=name,
        ChangeSetType=plan.change_set_type,
        TemplateURL=template_url,
        Parameters=stack_parameters(parameters),
        Capabilities=CAPABILITIES,
        IncludeNestedStacks=True,
        Tags=[{"Key": "pipekit:environment", "Value": env.name}],
        Description=f"pipekit deploy of {env.name}",
    )
    change_set_id = response["Id"]
    # A failed waiter is not an answer: the status and reason read next say what happened.
    with contextlib.suppress(WaiterError):
        cfn.get_waiter("change_set_create_complete").wait(
            ChangeSetName=change_set_id, WaiterConfig={"Delay": 3, "MaxAttempts": 200}
        )
    described = cfn.describe_change_set(ChangeSetName=change_set_id)
    if described.get("Status") == "FAILED":
        reason = described.get("StatusReason", "")
        if is_no_change(reason):
            cfn.delete_change_set(ChangeSetName=change_set_id)
            return {}
        raise DeployFailed(f"CloudFormation rejected the change set: {reason}")
    return described


def deploy(
    cfn,
    env: Environment,
    plan: Plan,
    template_url: str,
    parameters: dict[str, str],
    *,
    assume_yes: bool,
    interactive: bool,
    ask: Callable[[str], bool],
    interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    notes: Sequence[str] = (),
) -> str:
    """Run the deployment; returns the final stack status ("NO_CHANGES" for an empty update).
    `notes` are consequences the change set does not spell out (an AMI change), printed in red
    under its summary."""
    described = create_change_set(cfn, env, plan, template_url, parameters)
    if not described:
        console.print(f"[green]No changes[/]: {env.stack_name} already matches this version.")
        return "NO_CHANGES"
    change_set_id = described["ChangeSetId"]
    changes = describe_all(cfn, change_set_id)
    console.print(changes_table(changes))
    console.print(f"{summary(changes)}")
    for note in notes:
        console.print(f"[bold red]{note}[/]")
    if not assume_yes:
        if not interactive:
            cfn.delete_change_set(ChangeSetName=change_set_id)
            raise UserError(
                "no terminal to confirm the change set on: pass --yes "
                f"(`{env.make_hint('deploy', '--yes')}`) to execute without asking"
            )
        try:
            accepted = ask(f"Execute these changes on {env.stack_name}?")
        except (KeyboardInterrupt, EOFError):
            accepted = False
        if not accepted:
            cfn.delete_change_set(ChangeSetName=change_set_id)
            console.print("Cancelled: the change set was deleted, nothing changed.")
            return "CANCELLED"
    since = described.get("CreationTime") or datetime.now(UTC)
    cfn.execute_change_set(ChangeSetName=change_set_id)
    stack_id = described["StackId"]
    operation = plan.change_set_type
    started = time.monotonic()
    try:
        status, follower = follow(cfn, stack_id, since, interval=interval, sleep=sleep)
    except KeyboardInterrupt:
        console.print(
            f"\nStopped watching: the {operation.lower()} of {env.stack_name} continues in "
            f"CloudFormation. Watch it with `{env.make_hint('status')}` or at "
            f"{stack_console_url(plan.region, stack_id)}"
        )
        raise
    if not is_success(status, operation):
        cause = follower.cause()
        detail = describe_cause(cause) if cause else "no failure event found"
        hint = (
            f"; the stack is now ROLLBACK_COMPLETE: `{env.make_hint('destroy')}` then deploy again"
            if status == "ROLLBACK_COMPLETE"
            else ""
        )
        raise DeployFailed(f"the {operation.lower()} ended {status}; first cause: {detail}{hint}")
    console.print(f"[green]{env.stack_name}: {status}[/] in {duration(time.monotonic() - started)}")
    return status


def stack_console_url(region: str, stack_id: str) -> str:
    from urllib.parse import quote

    return (
        f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
        f"#/stacks/events?stackId={quote(stack_id, safe='')}"
    )


def stack_outputs(cfn, stack_name: str) -> dict[str, str]:
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError:
        return {}
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", [])}


def deploy_environment(
    env: Environment,
    clients,
    *,
    bucket: str | None = None,
    overrides: dict[str, str] | None = None,
    assume_yes: bool,
    interactive: bool,
    ask: Callable[[str], bool],
    interval: float = 5.0,
    update_ami: bool = False,
) -> tuple[str, dict[str, str]]:
    """Preflight, publish, change set, confirm, execute, follow: the whole `make deploy`, also
    what `local up` runs. `overrides` win over the parameter file and the chosen AMI (and lose
    to the template location publish fills in). `update_ami` moves the stack to the latest
    Amazon Linux 2023 image; without it an existing stack keeps its own (pipekit/harness/ami.py).
    Returns the final status (see `deploy`) and the stack's outputs."""
    plan = run_preflight(env, clients)
    ami = choose_ami(clients, env, plan, update=update_ami)
    console.print(ami.describe(env))
    published = publish_step(env, clients, plan, bucket)
    parameters = {
        **plan.parameters,
        AMI_PARAMETER: ami.ami_id,
        **(overrides or {}),
        **published.root_parameters(),
    }
    note = ami.change_note()
    cfn = clients("cloudformation")
    status = deploy(
        cfn,
        env,
        plan,
        published.root_url,
        parameters,
        assume_yes=assume_yes,
        interactive=interactive,
        ask=ask,
        interval=interval,
        notes=[note] if note else [],
    )
    return status, ({} if status == "CANCELLED" else stack_outputs(cfn, env.stack_name))


def connection_line(clients, arn: str) -> str:
    if not arn:
        return "Connection: none in the outputs"
    try:
        client = clients(connection_service(arn), connection_region(arn))
        status = client.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]
    except (ClientError, Exception) as exc:  # the outputs are printed regardless
        return f"Connection {arn}: status unknown ({exc.__class__.__name__})"
    if status == "PENDING":
        return (
            f"Connection {arn}: PENDING; the pipeline cannot read GitHub until you "
            + pending_connection_help(arn, connection_region(arn))
        )
    return f"Connection {arn}: {status}"


def print_outputs(clients, outputs: dict[str, str]) -> None:
    console.print(f"App URL:        {outputs.get('AppUrl', '-')}")
    console.print(f"Pipeline:       {outputs.get('PipelineConsoleUrl', '-')}")
    console.print(connection_line(clients, outputs.get("ConnectionArn", "")))
