"""`pipekit bench`: how long a release takes, step by step, from the services' own records
(action executions, build phases, deployment lifecycle events); on AWS and in local mode alike."""

from __future__ import annotations

import argparse

from pipekit.harness.session import aws_errors


def register(subparsers: argparse._SubParsersAction) -> None:
    from pipekit.e2e.target import add_target_arguments
    from pipekit.harness.config import add_environment_arguments

    parser = subparsers.add_parser(
        "bench", help="time a release per step from the services' records", description=__doc__
    )
    add_environment_arguments(parser)
    parser.add_argument(
        "--last",
        type=int,
        metavar="N",
        help="read the last N pipeline runs instead of pushing a good and a broken commit",
    )
    add_target_arguments(parser)
    parser.set_defaults(func=run)


@aws_errors
def run(args: argparse.Namespace) -> int:
    from pipekit.e2e.bench import bench
    from pipekit.errors import UserError
    from pipekit.harness.config import environment_from_args

    if args.last is not None and not 1 <= args.last <= 100:
        raise UserError("--last takes a number of runs from 1 to 100")
    status, _, _ = bench(
        environment_from_args(args),
        last=args.last,
        git_remote=args.git_remote,
        allow_branch=args.allow_branch,
        app_url=args.app_url,
        report_dir=args.report_dir,
    )
    return status
