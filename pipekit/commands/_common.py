"""Steps several harness commands share (publish before deploy, the outputs after)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from pipekit.config import Environment
from pipekit.preflight import (
    Plan,
    connection_region,
    connection_service,
    load_root_parameters,
    pending_connection_help,
)
from pipekit.progress import console
from pipekit.publish import Published, console_link, default_bucket_name, publish_templates


def publish_step(env: Environment, clients, plan: Plan, bucket: str | None) -> Published:
    bucket = bucket or default_bucket_name(plan.account, plan.region)
    published = publish_templates(
        clients("s3"), env.template_dir, bucket=bucket, region=plan.region
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
