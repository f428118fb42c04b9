"""`pipekit config`: the app's settings in Parameter Store (set NAME VALUE [--secure], list)."""

from __future__ import annotations

from pipekit.harness.config import add_environment_arguments, environment_from_args
from pipekit.harness.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "config", help="the app's settings in Parameter Store (applied at the next deployment)"
    )
    add_environment_arguments(parser)
    actions = parser.add_subparsers(dest="action", required=True)
    set_parser = actions.add_parser("set", help="set NAME to VALUE under the stack's path")
    set_parser.add_argument("name", help="the setting's name (the app sees it upper-cased)")
    set_parser.add_argument("value")
    set_parser.add_argument(
        "--secure", action="store_true", help="a SecureString (encrypted with aws/ssm)"
    )
    actions.add_parser("list", help="the settings under the stack's path (secrets masked)")
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    from pipekit.harness import config_params

    env = environment_from_args(args)
    clients = clients or clients_for(env)
    if args.action == "set":
        config_params.set_parameter(env, clients, args.name, args.value, secure=args.secure)
    else:
        config_params.list_parameters(env, clients)
    return 0
