"""`pipekit destroy`: empty the stack's buckets and delete it (idempotent)."""

from __future__ import annotations

from pipekit.harness.config import add_environment_arguments, environment_from_args
from pipekit.harness.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser("destroy", help="empty the stack's buckets, delete the stack")
    add_environment_arguments(parser)
    parser.add_argument("--force", action="store_true", help="required for protected envs (prod)")
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None, *, delay: int = 10) -> int:
    from pipekit.harness.destroy import destroy_environment, refuse_protected

    env = environment_from_args(args)
    refuse_protected(env, args.force)  # before any client: refusing needs no credentials
    destroy_environment(env, clients or clients_for(env), force=args.force, delay=delay)
    return 0
