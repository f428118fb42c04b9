"""`pipekit status`: recent runs, stage states, last deployment, live version."""

from __future__ import annotations

from pipekit.harness.config import add_environment_arguments, environment_from_args
from pipekit.harness.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser("status", help="pipeline runs, stages, deployment, version")
    add_environment_arguments(parser)
    parser.add_argument("--runs", type=int, default=5, help="how many recent runs (default 5)")
    parser.add_argument(
        "--output",
        choices=["text", "json"],
        default="text",
        help="text (tables) or json (docs/schemas/status.schema.json)",
    )
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    from pipekit.harness.status import show_status

    env = environment_from_args(args)
    show_status(env, clients or clients_for(env), args.runs, args.output)
    return 0
