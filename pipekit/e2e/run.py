"""The whole `make test-e2e`: resolve the target from the stack, check it, run the scenario,
print the table and write the JSON report. The same code for AWS and local mode."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from pipekit.e2e import report as report_mod
from pipekit.e2e.scenario import Options, Scenario
from pipekit.e2e.target import Target, preflight, resolve_target
from pipekit.e2e.waiting import Clients
from pipekit.harness.config import Environment, is_local, read_local_state
from pipekit.harness.preflight import connection_service
from pipekit.harness.session import clients_for


def prepare(
    env: Environment,
    console: Console,
    *,
    git_remote: str | None = None,
    allow_branch: str | None = None,
    app_url: str | None = None,
    check: bool = True,
) -> tuple[Clients, Target, list[str]]:
    """The clients, the target and the preflight notes (printed): what the e2e and the bench
    act on. `check=False` skips the preflight (for reading records only: nothing is pushed)."""
    clients = clients_for(env)
    # The local remote from the running local mode's state, unless the caller named one.
    local = is_local(env.name)
    local_state = read_local_state(env.root) if local and git_remote is None else None
    target, notes = resolve_target(
        env=env.name,
        stack_name=env.stack_name,
        cfn=clients("cloudformation"),
        codepipeline=clients("codepipeline"),
        git_remote=git_remote,
        app_url=app_url or env.app_url,
        local_state=local_state,
        local_git_root=env.root / ".local" / "git" if local else None,
    )
    connections = None
    if target.connection_arn:
        connections = clients(connection_service(target.connection_arn))
    if check:
        notes += preflight(target, connections=connections, allow_branch=allow_branch)
    for note in notes:
        console.print(f"[bold]preflight[/bold] {note}")
    services = Clients(
        codepipeline=clients("codepipeline"),
        codedeploy=clients("codedeploy"),
        codebuild=clients("codebuild"),
        logs=clients("logs"),
        elbv2=clients("elbv2"),
        cloudwatch=clients("cloudwatch"),
    )
    return services, target, notes


def run_e2e(
    env: Environment,
    *,
    git_remote: str | None = None,
    allow_branch: str | None = None,
    app_url: str | None = None,
    report_dir: Path | str = "reports",
    timeout: float = 1800,
    kind: str = "broken",
) -> int:
    """0 when the scenario passed, 1 when it failed (the report says why)."""
    console = Console()
    services, target, notes = prepare(
        env, console, git_remote=git_remote, allow_branch=allow_branch, app_url=app_url
    )
    scenario = Scenario(
        services, target, options=Options(execution_timeout=timeout, kind=kind), console=console
    )
    scenario.report.preflight = notes
    result = scenario.run()
    report_mod.render(result, console)
    path = result.write_json(env.root / report_dir)
    console.print(f"report: {path}")
    return 0 if result.ok else 1
