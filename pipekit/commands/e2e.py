"""`pipekit e2e`: push a visible change and watch it go live, push a broken one and watch it roll
back, then restore the branch. Writes a JSON report next to the table it prints."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from pipekit.e2e.target import add_target_arguments
    from pipekit.harness.config import add_environment_arguments

    parser = subparsers.add_parser("e2e", help=__doc__.splitlines()[0], description=__doc__)
    add_environment_arguments(parser)
    add_target_arguments(parser)
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for one pipeline run"
    )
    parser.add_argument(
        "--scenario",
        choices=("broken", "alarm"),
        default="broken",
        help="the bad change after the good one: broken (ValidateService catches it) or alarm "
        "(passes ValidateService, answers 5xx on /: the deployment group's alarm stops it; "
        "fleet mode)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipekit.e2e.run import run_e2e
    from pipekit.harness.config import environment_from_args

    return run_e2e(
        environment_from_args(args),
        git_remote=args.git_remote,
        allow_branch=args.allow_branch,
        app_url=args.app_url,
        report_dir=args.report_dir,
        timeout=args.timeout,
        kind=args.scenario,
    )
