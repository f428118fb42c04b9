"""`pipekit e2e`: push a visible change and watch it go live, push a broken one and watch it roll
back, then restore the branch. Writes a JSON report next to the table it prints."""

from __future__ import annotations

import argparse

from rich.console import Console

from pipekit.e2e import report as report_mod
from pipekit.e2e.scenario import Options, Scenario
from pipekit.e2e.target import preflight, resolve_target
from pipekit.e2e.waiting import Clients


def register(subparsers: argparse._SubParsersAction) -> None:
    from pipekit.config import add_environment_arguments

    parser = subparsers.add_parser("e2e", help=__doc__.splitlines()[0], description=__doc__)
    add_environment_arguments(parser)
    parser.add_argument(
        "--git-remote",
        help="the pipeline repository's git URL to push to (default: the local remote in local "
        "mode, else this checkout's remote matching the pipeline's FullRepositoryId)",
    )
    parser.add_argument(
        "--allow-branch",
        metavar="BRANCH",
        help="allow test commits on BRANCH even though it is not named for tests",
    )
    parser.add_argument("--app-url", help="override the stack's AppUrl output")
    parser.add_argument("--report-dir", default="reports", help="where the JSON report goes")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for one pipeline run"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipekit.config import environment_from_args, read_local_state
    from pipekit.preflight import connection_service
    from pipekit.session import clients_for

    env = environment_from_args(args)
    clients = clients_for(env)
    console = Console()
    local_state = read_local_state(env.root) if env.name == "local" else None
    target, notes = resolve_target(
        env=env.name,
        stack_name=env.stack_name,
        cfn=clients("cloudformation"),
        codepipeline=clients("codepipeline"),
        git_remote=args.git_remote,
        app_url=args.app_url or env.app_url,
        local_state=local_state,
        local_git_root=env.root / ".local" / "git" if env.name == "local" else None,
    )
    connections = None
    if target.connection_arn:
        connections = clients(connection_service(target.connection_arn))
    notes += preflight(target, connections=connections, allow_branch=args.allow_branch)
    for note in notes:
        console.print(f"[bold]preflight[/bold] {note}")
    scenario = Scenario(
        Clients(
            codepipeline=clients("codepipeline"),
            codedeploy=clients("codedeploy"),
            codebuild=clients("codebuild"),
            logs=clients("logs"),
        ),
        target,
        options=Options(execution_timeout=args.timeout),
        console=console,
    )
    scenario.report.preflight = notes
    result = scenario.run()
    report_mod.render(result, console)
    path = result.write_json(env.root / args.report_dir)
    console.print(f"report: {path}")
    return 0 if result.ok else 1
