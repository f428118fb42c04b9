"""`pipekit deploy`: preflight, publish, change set, confirm, execute, follow, outputs."""

from __future__ import annotations

from pipekit.harness.config import add_environment_arguments, environment_from_args
from pipekit.harness.deploy import deploy_environment, print_outputs
from pipekit.harness.session import aws_errors, clients_for
from pipekit.progress import confirm, stdin_is_interactive


def register(subparsers) -> None:
    parser = subparsers.add_parser("deploy", help="create or update the stack via a change set")
    add_environment_arguments(parser)
    parser.add_argument(
        "--bucket", help="template bucket (default pipekit-templates-<acct>-<region>)"
    )
    parser.add_argument("--yes", action="store_true", help="execute the change set without asking")
    parser.add_argument(
        "--update-ami",
        action="store_true",
        help="move to the latest Amazon Linux 2023 image (replaces the instances); without it "
        "an existing stack keeps its AMI",
    )
    parser.add_argument(
        "--poll", type=float, default=5.0, help="seconds between event polls (default 5)"
    )
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    env = environment_from_args(args)
    clients = clients or clients_for(env)
    status, outputs = deploy_environment(
        env,
        clients,
        bucket=args.bucket,
        assume_yes=args.yes,
        interactive=stdin_is_interactive(),
        ask=confirm,
        interval=args.poll,
        update_ami=args.update_ami,
    )
    if status == "CANCELLED":
        return 1
    print_outputs(clients, outputs)
    return 0
