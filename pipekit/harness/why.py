"""`make why`: one screen for a failed pipeline run, joining what a user would dig out of four
consoles (the stack's events, the pipeline's action executions, the build's phases and log, the
deployment's lifecycle events and rollback), with the way out of the traps the project knows."""

from __future__ import annotations

from rich.panel import Panel

from pipekit.errors import UserError
from pipekit.harness import diagnosis as dx
from pipekit.harness.config import Environment
from pipekit.harness.deploy import stack_outputs
from pipekit.harness.explain import RECENT_RUNS, diagnose, select_run, stack_failure
from pipekit.harness.preflight import stack_status
from pipekit.harness.status import app_version
from pipekit.progress import console


def render(d: dx.Diagnosis, pipeline: str) -> None:
    """The one screen."""
    commit = (d.commit or "-")[:12]
    console.rule(f"[bold]why: {pipeline} run {d.execution_id}[/]")
    console.print(f"Run {d.execution_id} of commit {commit}: [bold]{d.status}[/]")
    console.print(f"[red]{dx.headline(d)}[/]")
    f = d.failure
    if f is not None:
        console.print(f"Failing action: {f.stage}/{f.action} ({f.category or '?'})")
        if f.message:
            console.print(f"  {f.code or 'error'}: {f.message}")
    if d.build is not None:
        phase = dx.failed_phase(d.build)
        console.print(f"Build {d.build.get('id')}: {d.build.get('buildStatus')}")
        if phase is not None:
            console.print(f"  phase {phase['phaseType']} {phase.get('phaseStatus')}")
            command = dx.failing_command(phase)
            console.print(f"  command: {command}" if command else f"  {dx.phase_message(phase)}")
        if d.log_tail:
            console.print("  log tail:")
            for line in d.log_tail:
                console.print(f"  | {line}", markup=False)
    if d.deployment is not None:
        error = d.deployment.get("errorInformation") or {}
        console.print(
            f"Deployment {d.deployment.get('deploymentId')}: {d.deployment.get('status')}"
            + (f" ({error.get('code')}: {error.get('message', '')})" if error else "")
        )
        for e in d.events:
            console.print(
                f"  {e.target}: {e.event} failed, {e.error_code or '?'}"
                + (f", script {e.script}" if e.script else "")
            )
            if e.message:
                console.print(f"    {e.message}", markup=False)
            for line in dx.tail_lines(e.log_tail, 10):
                console.print(f"    | {line}", markup=False)
        console.print(f"Rollback: {dx.rollback_summary(d.deployment, d.rollback)}")
    if d.live:
        console.print(f"Live now: {d.live}")
    for note in d.notes:
        console.print(f"({note})")
    if d.trap is not None:
        body = d.trap.explanation
        if d.trap.command:
            body += f"\n\nThe way out:\n  {d.trap.command}"
        console.print(Panel(body, title=f"This is {d.trap.name}", expand=False))


def show_why(
    env: Environment, clients, *, execution: str | None = None, commit: str | None = None
) -> dx.Diagnosis | None:
    """What `make why` prints; returns the diagnosis (None when there is no failed run)."""
    cfn = clients("cloudformation")
    status = stack_status(cfn, env.stack_name)
    if status is None:
        raise UserError(
            f"the stack {env.stack_name} does not exist: deploy it with `{env.make_hint('deploy')}`"
        )
    cause = stack_failure(cfn, env.stack_name, status)
    if cause:
        console.print(
            f"Stack {env.stack_name}: {status}; first cause: {cause.get('LogicalResourceId')}: "
            f"{cause.get('ResourceStatusReason')}"
        )
    outputs = stack_outputs(cfn, env.stack_name)
    pipeline = outputs.get("PipelineName")
    if not pipeline:
        raise UserError(f"the stack {env.stack_name} has no PipelineName output (yet)")
    summaries = clients("codepipeline").list_pipeline_executions(
        pipelineName=pipeline, maxResults=RECENT_RUNS
    )["pipelineExecutionSummaries"]
    summary = select_run(summaries, execution=execution, commit=commit)
    if summary is None:
        if execution or commit:
            named = f"execution {execution}" if execution else f"commit {commit}"
            raise UserError(
                f"no run of {named} among the last {RECENT_RUNS} runs of {pipeline}: "
                f"`{env.make_hint('status')}` lists the recent runs"
            )
        latest = summaries[0]["status"] if summaries else "none yet"
        console.print(
            f"No failed run among the last {len(summaries)} runs of {pipeline} "
            f"(the latest: {latest})."
        )
        return None
    d = diagnose(clients, env, outputs, summary)
    url = env.app_url or outputs.get("AppUrl")
    d.live = app_version(url) if url else None
    render(d, pipeline)
    return d
