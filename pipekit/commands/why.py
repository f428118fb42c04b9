"""`pipekit why`: one screen for a failed pipeline run, and the way out."""

from __future__ import annotations

from pipekit.harness.config import add_environment_arguments, environment_from_args
from pipekit.harness.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser("why", help="why the latest failed run failed, and the way out")
    add_environment_arguments(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--execution", help="a pipeline execution id (or its first characters)")
    which.add_argument("--commit", help="the newest run of this commit")
    parser.add_argument(
        "--output",
        choices=["text", "json"],
        default="text",
        help="text (one screen) or json (docs/schemas/why.schema.json)",
    )
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    from pipekit.harness.why import show_why

    env = environment_from_args(args)
    show_why(
        env,
        clients or clients_for(env),
        execution=args.execution,
        commit=args.commit,
        output=args.output,
    )
    return 0
