"""`pipekit destroy`: empty the stack's buckets and delete it (idempotent)."""

from __future__ import annotations

from pipekit.config import add_environment_arguments, environment_from_args
from pipekit.errors import UserError
from pipekit.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser("destroy", help="empty the stack's buckets, delete the stack")
    add_environment_arguments(parser)
    parser.add_argument("--force", action="store_true", help="required for protected envs (prod)")
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None, *, delay: int = 10) -> int:
    from pipekit.destroy import delete_stack, empty_bucket, owned_buckets, stack_id_of
    from pipekit.preflight import caller_account
    from pipekit.progress import console

    env = environment_from_args(args)
    if env.protected and not args.force:
        raise UserError(
            f"{env.name} is protected: to delete {env.stack_name} and everything in its buckets, "
            f"run `{env.make_hint('destroy', '--force')}`"
        )
    clients = clients or clients_for(env)
    account = caller_account(clients("sts"))
    console.print(f"Acting on account {account}, region {clients.region}")
    cfn = clients("cloudformation")
    stack_id = stack_id_of(cfn, env.stack_name)
    if stack_id is None:
        console.print(f"The stack {env.stack_name} does not exist: nothing to delete.")
        return 0
    s3 = clients("s3")
    for bucket in owned_buckets(cfn, stack_id):
        removed = empty_bucket(s3, bucket)
        console.print(f"Emptied s3://{bucket} ({removed} object versions and delete markers)")
    console.print(f"Deleting {env.stack_name} and waiting for it to go...")
    delete_stack(cfn, stack_id, delay=delay)
    console.print(f"Deleted {env.stack_name}.")
    return 0
