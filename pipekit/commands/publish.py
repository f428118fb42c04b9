"""`pipekit publish`: upload the templates and print the console launch link."""

from __future__ import annotations

from pipekit.harness.ami import choose_ami
from pipekit.harness.config import add_environment_arguments, environment_from_args
from pipekit.harness.preflight import run_preflight
from pipekit.harness.publish import print_launch_link, publish_step
from pipekit.harness.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser("publish", help="upload the templates, print the launch link")
    add_environment_arguments(parser)
    parser.add_argument(
        "--bucket", help="template bucket (default pipekit-templates-<acct>-<region>)"
    )
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    env = environment_from_args(args)
    clients = clients or clients_for(env)
    plan = run_preflight(env, clients, check_stack=False)
    # The link creates a stack: it gets the latest image (or the parameter file's).
    ami = choose_ami(clients, env, plan, update=False)
    published = publish_step(env, clients, plan, args.bucket)
    print_launch_link(env, plan, published, ami_id=ami.ami_id)
    return 0
