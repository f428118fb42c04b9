"""`pipekit status`: recent runs, stage states, last deployment, live version."""

from __future__ import annotations

from rich.table import Table

from pipekit.config import add_environment_arguments, environment_from_args
from pipekit.errors import UserError
from pipekit.session import aws_errors, clients_for


def register(subparsers) -> None:
    parser = subparsers.add_parser("status", help="pipeline runs, stages, deployment, version")
    add_environment_arguments(parser)
    parser.add_argument("--runs", type=int, default=5, help="how many recent runs (default 5)")
    parser.set_defaults(func=run)


@aws_errors
def run(args, clients=None) -> int:
    from pipekit.deploy import stack_outputs
    from pipekit.events import first_cause, latest_operation
    from pipekit.preflight import stack_status
    from pipekit.progress import console, duration
    from pipekit.status import app_version, last_deployment, pipeline_stages, recent_runs

    env = environment_from_args(args)
    clients = clients or clients_for(env)
    cfn = clients("cloudformation")
    status = stack_status(cfn, env.stack_name)
    if status is None:
        raise UserError(
            f"the stack {env.stack_name} does not exist: deploy it with `{env.make_hint('deploy')}`"
        )
    console.print(f"Stack {env.stack_name}: {status}")
    if status.endswith("_FAILED") or "ROLLBACK" in status:
        events = latest_operation(
            cfn.describe_stack_events(StackName=env.stack_name)["StackEvents"]
        )
        stack_id = events[0]["StackId"] if events else env.stack_name
        cause = first_cause({stack_id: events}, stack_id)
        if cause:
            console.print(
                f"  last failure: {cause.get('LogicalResourceId')}: "
                f"{cause.get('ResourceStatusReason')}"
            )
    outputs = stack_outputs(cfn, env.stack_name)
    pipeline = outputs.get("PipelineName")
    if pipeline:
        codepipeline = clients("codepipeline")
        table = Table(title=f"Recent runs of {pipeline}")
        for column in ("Execution", "Commit", "Trigger", "Type", "Status", "Duration"):
            table.add_column(column)
        for r in recent_runs(codepipeline, pipeline, args.runs):
            style = "red" if r.status == "Failed" else "green" if r.status == "Succeeded" else ""
            table.add_row(
                r.execution_id[:8],
                r.commit,
                r.trigger,
                r.kind,
                r.status,
                duration(r.duration_s),
                style=style,
            )
        console.print(table)
        stages = pipeline_stages(codepipeline, pipeline)
        if stages is None:
            console.print("Stage states: not available from this endpoint")
        else:
            for stage, state, execution, detail in stages:
                line = f"  {stage:<8} {state:<11} {execution[:8]}"
                console.print(line + (f"  {detail}" if detail else ""))
    else:
        console.print("No PipelineName output yet.")
    app, group = outputs.get("CodeDeployApplicationName"), outputs.get("DeploymentGroupName")
    if app and group:
        deployment = last_deployment(clients("codedeploy"), app, group)
        console.print(f"Last deployment: {deployment or 'none yet'}")
    url = env.app_url or outputs.get("AppUrl")
    console.print(f"App: {app_version(url) if url else 'no AppUrl output'}")
    return 0
