"""`pipekit approve`: answer the manual approval a run waits at (ApprovalBeforeDeploy true)."""

from __future__ import annotations

from pipekit.harness.config import add_environment_arguments, environment_from_args
from pipekit.harness.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "approve", help="approve (or reject) the run that waits for approval before Deploy"
    )
    add_environment_arguments(parser)
    parser.add_argument("--reject", action="store_true", help="reject it: the run fails")
    parser.add_argument("--comment", help="why, recorded as the approval's summary")
    parser.add_argument(
        "--execution", help="the run meant (its execution id or a prefix); refused if not waiting"
    )
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    from pipekit.harness.approve import approve

    env = environment_from_args(args)
    approve(
        env,
        clients or clients_for(env),
        reject=args.reject,
        comment=args.comment,
        execution=args.execution,
    )
    return 0
