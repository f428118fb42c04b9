"""`make redeploy`: deploy the bundle of an earlier successful build through CodeDeploy, the way
out of the ApplicationStop trap (with ignoreApplicationStopFailures) and a way to roll forward
or back by hand. It waits, printing lifecycle events as they change, and says what is live.

Where a commit's bundle is found: the build project's builds (ListBuildsForProject,
BatchGetBuilds). Each build exports COMMIT_ID (buildspec.yml `exported-variables`) and records
its output artifact as `artifacts.location` (`arn:aws:s3:::<bucket>/<key>`, the CodePipeline
artifact: AWS CLI reference, `codebuild batch-get-builds` example). That works the same on AWS
and locally, and also finds a commit that built but never deployed; deployments' revisions
carry no commit, so they could only answer for the live one (the default here)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from pipekit.errors import UserError
from pipekit.harness import diagnosis as dx
from pipekit.harness import runs
from pipekit.harness.config import Environment
from pipekit.harness.deploy import stack_outputs
from pipekit.harness.preflight import existing_stack_status
from pipekit.harness.status import app_version
from pipekit.progress import console, duration

# DeploymentStatus values of a deployment that still holds the group (botocore codedeploy);
# CodeDeploy runs one at a time per group and refuses another with
# DeploymentLimitExceededException.
ACTIVE = ["Created", "Queued", "InProgress", "Baking", "Ready"]
TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
_SHA = re.compile(r"[0-9a-fA-F]{7,40}")
_ACTIVE_ID = re.compile(r"active Deployment '?(d-[A-Z0-9]+)'?")


def bundle_of_commit(builds: list[dict], commit: str, project: str) -> dict:
    """The newest successful build of `commit` with an output artifact, or a UserError that
    says why there is none (never built, or its builds failed)."""
    mine = [b for b in builds if dx.same_commit(dx.exported_variable(b, "COMMIT_ID"), commit)]
    commits = {dx.exported_variable(b, "COMMIT_ID") for b in mine}
    if len(commits) > 1:
        raise UserError(f"{commit} is the start of several commits' SHAs: give more of it")
    if not mine:
        raise UserError(
            f"commit {commit} never built in {project} (its last {len(builds)} builds): push it "
            "and let the pipeline build it, or name a commit `make status` lists"
        )
    for build in mine:  # newest first
        if build.get("buildStatus") == "SUCCEEDED" and dx.s3_arn_location(
            (build.get("artifacts") or {}).get("location")
        ):
            return build
    last = mine[0]
    raise UserError(
        f"the build of commit {commit} ({last.get('id')}) ended {last.get('buildStatus')}: "
        "there is no bundle to deploy; `make why` shows why it failed"
    )


def revision_of_build(build: dict) -> dict:
    bucket, key = dx.s3_arn_location(build["artifacts"]["location"]) or ("", "")
    # CodePipeline's artifacts are zip files (the CodeDeploy action deploys them as bundleType
    # zip; AWS CodePipeline user guide, "Input and output artifacts").
    return {"revisionType": "S3", "s3Location": {"bucket": bucket, "key": key, "bundleType": "zip"}}


def active_deployment_message(group: str, deployment_id: str, env: Environment) -> str:
    return (
        f"deployment {deployment_id} is still in progress on the deployment group {group} "
        "(CodeDeploy runs one deployment at a time per group): wait for it to end "
        f"(`{env.make_hint('status')}`), then run this again"
    )


def ensure_bundle_exists(s3: Any, revision: dict, what: str) -> None:
    location = revision.get("s3Location") or {}
    kwargs = {"Bucket": location.get("bucket"), "Key": location.get("key")}
    if location.get("version"):
        kwargs["VersionId"] = location["version"]
    try:
        s3.head_object(**kwargs)
    except ClientError as exc:
        if dx.is_no_such_key(exc.response.get("Error", {})):
            raise UserError(
                f"the bundle of {what} ({dx.revision_name(revision)}) has expired from the "
                "artifact bucket (its lifecycle rule removed it): build it again by pushing a "
                "commit, or redeploy a newer build"
            ) from None
        raise


def event_changes(targets: list[dict], seen: dict[tuple[str, str], str]) -> list[str]:
    """Lines for the lifecycle events whose status changed since `seen` (updated in place)."""
    lines = []
    for resp in targets:
        target = resp.get("instanceTarget") or resp.get("instanceSummary") or {}
        name = target.get("targetId") or target.get("instanceId") or "?"
        for event in target.get("lifecycleEvents", []):
            key, status = (name, event["lifecycleEventName"]), event.get("status", "?")
            if status == "Pending" or seen.get(key) == status:
                continue
            seen[key] = status
            line = f"  {name}: {event['lifecycleEventName']} {status}"
            diag = event.get("diagnostics") or {}
            if status == "Failed" and diag.get("message"):
                line += f" ({diag['message']})"
            lines.append(line)
    return lines


def wait(
    cd: Any,
    deployment_id: str,
    *,
    timeout: float,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Poll the deployment until it ends (at most `timeout` s), printing event changes."""
    deadline, seen = clock() + timeout, {}
    while True:
        info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        for line in event_changes(runs.deployment_targets(cd, deployment_id), seen):
            console.print(line, markup=False)
        if info.get("status") in TERMINAL:
            return info
        if clock() >= deadline:
            raise UserError(
                f"deployment {deployment_id} is still {info.get('status')} after "
                f"{duration(timeout)}: follow it with `make status`"
            )
        sleep(interval)


def choose_revision(clients, env: Environment, outputs: dict, commit: str | None) -> tuple:
    """(revision, description of it): the commit's build bundle, or the live revision."""
    app, group = outputs["CodeDeployApplicationName"], outputs["DeploymentGroupName"]
    project = outputs.get("BuildProjectName", "")
    if commit:
        if not _SHA.fullmatch(commit):
            raise UserError(f"{commit!r} is not a commit SHA (7 to 40 hexadecimal digits)")
        if not project:
            raise UserError(f"the stack {env.stack_name} has no BuildProjectName output")
        build = bundle_of_commit(
            runs.project_builds(clients("codebuild"), project), commit, project
        )
        found = dx.exported_variable(build, "COMMIT_ID") or commit
        return revision_of_build(build), f"commit {found[:12]} (build {build['id']})"
    cd = clients("codedeploy")
    info = cd.get_deployment_group(applicationName=app, deploymentGroupName=group)
    last = info["deploymentGroupInfo"].get("lastSuccessfulDeployment") or {}
    if not last.get("deploymentId"):
        raise UserError(
            f"the deployment group {group} has no successful deployment yet: name a build "
            'with ARGS="--commit SHA"'
        )
    revision = cd.get_deployment(deploymentId=last["deploymentId"])["deploymentInfo"]["revision"]
    builds = runs.project_builds(clients("codebuild"), project) if project else []
    live = dx.commit_of_revision(builds, revision)
    what = f"commit {live[:12]}" if live else dx.revision_name(revision)
    return revision, f"the live revision, {what} (deployment {last['deploymentId']})"


def redeploy(
    env: Environment,
    clients,
    *,
    commit: str | None = None,
    ignore_application_stop_failures: bool = False,
    timeout: float = 1800,
    interval: float = 5.0,
) -> dict:
    """Deploy, wait, report; returns the deployment's final deploymentInfo."""
    cfn = clients("cloudformation")
    existing_stack_status(cfn, env)
    outputs = stack_outputs(cfn, env.stack_name)
    app, group = outputs.get("CodeDeployApplicationName"), outputs.get("DeploymentGroupName")
    if not (app and group):
        raise UserError(f"the stack {env.stack_name} has no deployment group outputs (yet)")
    cd = clients("codedeploy")
    active = cd.list_deployments(
        applicationName=app, deploymentGroupName=group, includeOnlyStatuses=ACTIVE
    ).get("deployments", [])
    if active:
        raise UserError(active_deployment_message(group, active[0], env))
    revision, what = choose_revision(clients, env, outputs, commit)
    ensure_bundle_exists(clients("s3"), revision, what)
    flag = " ignoring ApplicationStop failures" if ignore_application_stop_failures else ""
    try:
        deployment_id = cd.create_deployment(
            applicationName=app,
            deploymentGroupName=group,
            revision=revision,
            description=f"pipekit redeploy of {what}{flag}"[:100],
            ignoreApplicationStopFailures=ignore_application_stop_failures,
        )["deploymentId"]
    except ClientError as exc:
        if runs.error_code(exc) != "DeploymentLimitExceededException":
            raise
        message = exc.response.get("Error", {}).get("Message", "")
        found = _ACTIVE_ID.search(message)
        raise UserError(
            active_deployment_message(group, found.group(1) if found else "?", env)
        ) from None
    console.print(f"Deploying {what} to {group}{flag}: deployment {deployment_id}")
    info = wait(cd, deployment_id, timeout=timeout, interval=interval)
    error = info.get("errorInformation") or {}
    console.print(
        f"Deployment {deployment_id}: {info.get('status')}"
        + (f" ({error.get('code')}: {error.get('message', '')})" if error else "")
    )
    url = env.app_url or outputs.get("AppUrl")
    console.print(f"App: {app_version(url) if url else 'no AppUrl output'}")
    if info.get("status") != "Succeeded":
        events = dx.failed_lifecycle_events(runs.deployment_targets(cd, deployment_id))
        console.print(f"Why: {dx.deployment_cause(events, info)}", markup=False)
        for event in events:
            for line in dx.tail_lines(event.log_tail, 10):
                console.print(f"  | {line}", markup=False)
    return info
