"""`make why`: one screen for a failed pipeline run, joining what a user would dig out of four
consoles (the stack's events, the pipeline's action executions, the build's phases and log, the
deployment's lifecycle events and rollback), with the way out of the traps the project knows."""

from __future__ import annotations

import json

from pipekit.errors import UserError
from pipekit.harness import diagnosis as dx
from pipekit.harness.config import Environment
from pipekit.harness.deploy import stack_outputs
from pipekit.harness.explain import (
    RECENT_RUNS,
    diagnose,
    launch_trap,
    select_run,
    stack_failure,
)
from pipekit.harness.preflight import existing_stack_status
from pipekit.harness.status import app_version
from pipekit.progress import console


def render(d: dx.Diagnosis, pipeline: str) -> None:
    """The one screen."""
    console.rule(f"[bold]why: {pipeline} run {d.execution_id}[/]")
    console.print(f"Run {d.execution_id} of commit {(d.commit or '-')[:12]}: [bold]{d.status}[/]")
    headline, *details = dx.report_lines(d)
    console.print(headline, style="red", markup=False)
    for line in details:
        console.print(line, markup=False)
    if d.live:
        console.print(f"Live now: {d.live}", markup=False)
    if d.trap is not None:
        # plain lines, not a panel: the command must survive copying from any terminal width
        console.print(f"This is {d.trap.name}: {d.trap.explanation}", style="yellow", markup=False)
        if d.trap.command:
            console.print("The way out:", style="bold")
            console.print(f"  {d.trap.command}", markup=False)


def show_why(
    env: Environment,
    clients,
    *,
    execution: str | None = None,
    commit: str | None = None,
    output: str = "text",
) -> dx.Diagnosis | None:
    """What `make why` prints (a screen, or JSON in the shape of docs/schemas/why.schema.json);
    returns the diagnosis (None when there is no failed run)."""
    cfn = clients("cloudformation")
    status = existing_stack_status(cfn, env)
    cause = stack_failure(cfn, env.stack_name, status)
    outputs = stack_outputs(cfn, env.stack_name)
    pipeline = outputs.get("PipelineName")
    if not pipeline:
        raise UserError(f"the stack {env.stack_name} has no PipelineName output (yet)")
    summaries = clients("codepipeline").list_pipeline_executions(
        pipelineName=pipeline, maxResults=RECENT_RUNS
    )["pipelineExecutionSummaries"]
    summary = select_run(summaries, execution=execution, commit=commit)
    if summary is None and (execution or commit):
        named = f"execution {execution}" if execution else f"commit {commit}"
        raise UserError(
            f"no run of {named} among the last {RECENT_RUNS} runs of {pipeline}: "
            f"`{env.make_hint('status')}` lists the recent runs"
        )
    d = None
    if summary is not None:
        d = diagnose(clients, env, outputs, summary)
        url = env.app_url or outputs.get("AppUrl")
        d.live = app_version(url) if url else None
    launch = launch_trap(clients, env, outputs) if d is None or d.trap is None else None
    if d is not None and launch is not None:
        d.trap = launch
    if output == "json":
        data = dx.to_json(d)
        if d is None and launch is not None:
            data["abandoned_launch"] = {
                "name": launch.name,
                "explanation": launch.explanation,
                "command": launch.command,
            }
        if cause:
            data["stack_cause"] = {
                "status": status,
                "resource": cause.get("LogicalResourceId"),
                "reason": cause.get("ResourceStatusReason"),
            }
        console.out(json.dumps(data, indent=2), highlight=False)
        return d
    if cause:
        console.print(
            f"Stack {env.stack_name}: {status}; first cause: {cause.get('LogicalResourceId')}: "
            f"{cause.get('ResourceStatusReason')}",
            markup=False,
        )
    if d is None:
        latest = summaries[0]["status"] if summaries else "none yet"
        console.print(
            f"No failed run among the last {len(summaries)} runs of {pipeline} "
            f"(the latest: {latest})."
        )
        if launch is not None:
            console.print(f"But this is {launch.name}: {launch.explanation}", markup=False)
            if launch.command:
                console.print(f"The way out:\n  {launch.command}", markup=False)
        return None
    render(d, pipeline)
    return d
