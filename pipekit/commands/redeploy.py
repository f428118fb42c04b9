"""`pipekit redeploy`: deploy an earlier successful build's bundle through CodeDeploy."""

from __future__ import annotations

from pipekit.harness.config import add_environment_arguments, environment_from_args, is_local
from pipekit.harness.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "redeploy", help="deploy an earlier build's bundle (default: the live commit's)"
    )
    add_environment_arguments(parser)
    parser.add_argument(
        "--commit", help="the commit whose successful build to deploy (default: the live one)"
    )
    parser.add_argument(
        "--ignore-application-stop-failures",
        action="store_true",
        help="go on when the installed revision's ApplicationStop script fails (the way out "
        "of the ApplicationStop trap)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for it (default 1800)"
    )
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    from pipekit.harness.redeploy import redeploy

    env = environment_from_args(args)
    info = redeploy(
        env,
        clients or clients_for(env),
        commit=args.commit,
        ignore_application_stop_failures=args.ignore_application_stop_failures,
        timeout=args.timeout,
        interval=1.0 if is_local(env.name) else 5.0,
    )
    return 0 if info.get("status") == "Succeeded" else 1
