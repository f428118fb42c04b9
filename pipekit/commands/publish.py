"""`pipekit publish`: upload the templates and print the console launch link."""

from __future__ import annotations

from pipekit.config import Environment, add_environment_arguments, environment_from_args
from pipekit.preflight import Plan, load_root_parameters, run_preflight
from pipekit.progress import console
from pipekit.publish import Published, console_link, default_bucket_name, publish_templates
from pipekit.session import aws_errors, clients_for


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
    published = publish_step(env, clients, plan, args.bucket)
    print_launch_link(env, plan, published)
    return 0


def publish_step(env: Environment, clients, plan: Plan, bucket: str | None) -> Published:
    bucket = bucket or default_bucket_name(plan.account, plan.region)
    plain_http = (env.endpoint_url or "").startswith("http://")
    published = publish_templates(
        clients("s3"), env.template_dir, bucket=bucket, region=plan.region, tls_only=not plain_http
    )
    console.print(
        f"Published {len(published.keys)} templates to s3://{bucket}/{published.prefix}templates/"
    )
    return published


def print_launch_link(env: Environment, plan: Plan, published: Published) -> None:
    definitions = load_root_parameters(env.template_dir)
    defaults = {
        name: str(d.get("Default")) for name, d in definitions.items() if "Default" in (d or {})
    }
    parameters = {**plan.parameters, **published.root_parameters()}
    link, left_out = console_link(
        plan.region, published.root_url, env.stack_name, parameters, defaults
    )
    console.print(f"Root template: {published.root_url}")
    console.print("Launch it in the console (tick the IAM capability boxes, then Create stack):")
    console.print(link, soft_wrap=True)
    if left_out:
        console.print(
            "The link would exceed 1024 characters, so type these in the console: "
            + ", ".join(f"{n}={parameters[n]}" for n in left_out)
        )
