"""`pipekit deploy`: preflight, publish, change set, confirm, execute, follow, outputs."""

from __future__ import annotations

from botocore.exceptions import ClientError

from pipekit.commands.publish import publish_step
from pipekit.config import add_environment_arguments, environment_from_args
from pipekit.preflight import (
    connection_region,
    connection_service,
    pending_connection_help,
    run_preflight,
)
from pipekit.progress import confirm, console, stdin_is_interactive
from pipekit.session import aws_errors, clients_for


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


@aws_errors
def run(args, clients=None) -> int:
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


def connection_line(clients, arn: str) -> str:
    if not arn:
        return "Connection: none in the outputs"
    try:
        client = clients(connection_service(arn), connection_region(arn))
        status = client.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]
    except (ClientError, Exception) as exc:  # the outputs are printed regardless
        return f"Connection {arn}: status unknown ({exc.__class__.__name__})"
    if status == "PENDING":
        return (
            f"Connection {arn}: PENDING; the pipeline cannot read GitHub until you "
            + pending_connection_help(arn, connection_region(arn))
        )
    return f"Connection {arn}: {status}"


def print_outputs(clients, outputs: dict[str, str]) -> None:
    console.print(f"App URL:        {outputs.get('AppUrl', '-')}")
    console.print(f"Pipeline:       {outputs.get('PipelineConsoleUrl', '-')}")
    console.print(connection_line(clients, outputs.get("ConnectionArn", "")))
