"""`pipekit deploy`: preflight, publish, change set, confirm, execute, follow, outputs."""

from __future__ import annotations

from pipekit.config import add_environment_arguments, environment_from_args
from pipekit.preflight import run_preflight
from pipekit.progress import confirm, stdin_is_interactive
from pipekit.session import clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser("deploy", help="create or update the stack via a change set")
    add_environment_arguments(parser)
    parser.add_argument(
        "--bucket", help="template bucket (default pipekit-templates-<acct>-<region>)"
    )
    parser.add_argument("--yes", action="store_true", help="execute the change set without asking")
    parser.add_argument(
        "--poll", type=float, default=5.0, help="seconds between event polls (default 5)"
    )
    parser.set_defaults(func=run)


def run(args, clients=None) -> int:
    from pipekit.commands._common import print_outputs, publish_step
    from pipekit.deploy import deploy, stack_outputs

    env = environment_from_args(args)
    clients = clients or clients_for(env)
    plan = run_preflight(env, clients)
    published = publish_step(env, clients, plan, args.bucket)
    parameters = {**plan.parameters, **published.root_parameters()}
    cfn = clients("cloudformation")
    status = deploy(
        cfn,
        env,
        plan,
        published.root_url,
        parameters,
        assume_yes=args.yes,
        interactive=stdin_is_interactive(),
        ask=confirm,
        interval=args.poll,
    )
    if status == "CANCELLED":
        return 1
    print_outputs(clients, stack_outputs(cfn, env.stack_name))
    return 0
