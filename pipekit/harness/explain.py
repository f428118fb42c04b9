"""Reading what explains a failed pipeline run: the action executions, the build and its log,
the deployment, its lifecycle events and rollback, the connection; and which trap it is. The
verdicts are `diagnosis`'s plain functions; `why` prints the result, `status` its one line."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipekit.harness import diagnosis as dx
from pipekit.harness import runs
from pipekit.harness.config import Environment
from pipekit.harness.events import first_cause, latest_operation
from pipekit.harness.preflight import pending_connection_help

RECENT_RUNS = 50  # how far back `why` looks for a failed run, a commit or an execution id


def select_run(
    summaries: list[dict], *, execution: str | None = None, commit: str | None = None
) -> dict | None:
    """The run `why` explains: the one named (an execution id or its prefix, as `status` shows
    it; or the newest standard run of a commit), else the newest Failed run."""
    if execution:
        return next((s for s in summaries if s["pipelineExecutionId"].startswith(execution)), None)
    if commit:
        return next(
            (
                s
                for s in summaries
                if s.get("executionType", "STANDARD") != "ROLLBACK"
                and any(
                    dx.same_commit(r.get("revisionId"), commit)
                    for r in s.get("sourceRevisions", [])
                )
            ),
            None,
        )
    return next((s for s in summaries if s.get("status") == "Failed"), None)


def stack_failure(cfn: Any, stack_name: str, status: str) -> dict | None:
    """The first real cause of the stack's last operation, when it failed."""
    if not (status.endswith("_FAILED") or "ROLLBACK" in status):
        return None
    events = latest_operation(cfn.describe_stack_events(StackName=stack_name)["StackEvents"])
    stack_id = events[0]["StackId"] if events else stack_name
    return first_cause({stack_id: events}, stack_id)


def live_and_good_commits(clients, outputs: dict[str, str]) -> tuple[str | None, str | None]:
    """The live commit and the commit of the last good revision before it (the way out of the
    ApplicationStop trap), read from the group's deployments and the project's builds."""
    app, group = outputs.get("CodeDeployApplicationName"), outputs.get("DeploymentGroupName")
    project = outputs.get("BuildProjectName")
    if not (app and group and project):
        return None, None
    live, previous = dx.live_and_previous(runs.group_deployments(clients("codedeploy"), app, group))
    if live is None:
        return None, None
    builds = runs.project_builds(clients("codebuild"), project)
    return (
        dx.commit_of_revision(builds, live.get("revision")),
        dx.commit_of_revision(builds, previous.get("revision")) if previous else None,
    )


def read_build(cb: Any, logs: Any | None, d: dx.Diagnosis, build_id: str) -> None:
    d.build = runs.build(cb, build_id)
    if d.build is None:
        d.notes.append(f"build {build_id} is no longer recorded")
        return
    if logs is None:
        return
    try:
        d.log_tail = dx.log_lines(runs.log_events(logs, d.build))
    except ClientError as exc:  # the log is a courtesy: say why it is missing
        d.notes.append(f"log tail unavailable: {runs.error_code(exc)}")


def read_deployment(cd: Any, d: dx.Diagnosis, deployment_id: str) -> None:
    d.deployment = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    d.events = dx.failed_lifecycle_events(runs.deployment_targets(cd, deployment_id))
    rollback_id = (d.deployment.get("rollbackInfo") or {}).get("rollbackDeploymentId")
    if rollback_id:
        d.rollback = cd.get_deployment(deploymentId=rollback_id)["deploymentInfo"]


def read_failure(
    d: dx.Diagnosis, details: list[dict], *, codebuild: Any, logs: Any | None, codedeploy: Any
) -> None:
    """The failing action of `details` (list_action_executions), its build or deployment."""
    d.failure = dx.failing_action(details)
    failure = d.failure
    if failure is None or not failure.external_id:
        return
    if failure.category == "Build":
        read_build(codebuild, logs, d, failure.external_id)
    elif failure.category == "Deploy":
        read_deployment(codedeploy, d, failure.external_id)


def find_trap(clients, d: dx.Diagnosis, env: Environment, outputs: dict, way_out: bool) -> None:
    if dx.is_application_stop_trap(d.events):
        live, good = live_and_good_commits(clients, outputs) if way_out else (None, None)
        script = next((e.script for e in d.events if e.event == "ApplicationStop"), None)
        d.trap = dx.application_stop_trap(
            f"make redeploy ENV={env.name}", good, live_commit=live, script=script
        )
    elif dx.is_expired_bundle(d.events):
        d.trap = dx.expired_bundle_trap(outputs.get("PipelineName"))
    elif d.failure is not None and d.failure.category == "Source":
        explain_source(clients, d, outputs)


def launch_trap(clients, env: Environment, outputs: dict) -> dx.Trap | None:
    """A launch that ABANDONs: the group's newest launch activity was abandoned; the cause is
    CodeDeploy's failed launch deployment (its failing script and last log line)."""
    group = outputs.get("AutoScalingGroupName")
    if not group:
        return None
    asg = clients("autoscaling")
    activities = asg.describe_scaling_activities(AutoScalingGroupName=group, MaxRecords=20)
    activity = dx.abandoned_launch(activities.get("Activities", []))
    if activity is None:
        return None
    cause = None
    app, dg = outputs.get("CodeDeployApplicationName"), outputs.get("DeploymentGroupName")
    if app and dg:
        cd = clients("codedeploy")
        failed = dx.failed_launch_deployment(runs.group_deployments(cd, app, dg))
        if failed is not None:
            events = dx.failed_lifecycle_events(runs.deployment_targets(cd, failed["deploymentId"]))
            cause = f"deployment {failed['deploymentId']}: {dx.deployment_cause(events, failed)}"
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    suspended = any(
        p.get("ProcessName") == "Launch" for g in groups for p in g.get("SuspendedProcesses", [])
    )
    return dx.abandoned_launch_trap(group, activity, cause, suspended, env.make_hint("why"))


def explain_source(clients, d: dx.Diagnosis, outputs: dict) -> None:
    arn = outputs.get("ConnectionArn")
    if not arn:
        return
    service, region = arn.split(":")[2], arn.split(":")[3]
    try:
        status = clients(service, region).get_connection(ConnectionArn=arn)["Connection"]
    except ClientError as exc:
        d.notes.append(f"could not read the connection {arn}: {runs.error_code(exc)}")
        return
    if status.get("ConnectionStatus") == "PENDING":
        d.trap = dx.pending_connection_trap(pending_connection_help(arn, region))


def diagnose(
    clients, env: Environment, outputs: dict, summary: dict, *, way_out: bool = True
) -> dx.Diagnosis:
    """Read everything that explains one execution (a list_pipeline_executions summary);
    `way_out=False` skips what only the trap's command needs (the group's history, builds)."""
    pipeline = outputs["PipelineName"]
    revisions = summary.get("sourceRevisions") or [{}]
    d = dx.Diagnosis(
        summary["pipelineExecutionId"], summary.get("status", "?"), revisions[0].get("revisionId")
    )
    details = runs.action_executions(clients("codepipeline"), pipeline, d.execution_id)
    read_failure(
        d,
        details,
        codebuild=clients("codebuild"),
        logs=clients("logs"),
        codedeploy=clients("codedeploy"),
    )
    find_trap(clients, d, env, outputs, way_out)
    return d


def status_cause(clients, env: Environment, outputs: dict, summary: dict) -> str:
    """`make status`'s one line for a failed run, pointing to `make why`."""
    try:
        cause = dx.headline(diagnose(clients, env, outputs, summary, way_out=False))
    except ClientError as exc:  # status shows the rest even when this cannot be read
        cause = f"run {summary['pipelineExecutionId'][:8]} failed ({runs.error_code(exc)})"
    return f"{cause}; details: `{env.make_hint('why')}`"
