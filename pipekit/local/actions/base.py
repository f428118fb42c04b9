"""What an action provider's handler gets and gives back.

A handler is `run(ctx: ActionContext) -> ActionResult` and raises `pipekit.local.wire.ActionFailed`
to fail the action; the engine records either outcome (`pipekit.local.wire`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipekit.local import artifacts, authz
from pipekit.local.deployer import Deployer
from pipekit.local.gitremote import GitRemote
from pipekit.local.wire import ActionFailed, ActionResult, Execution


@dataclass
class Runners:
    """What actually builds and deploys; `pipekit.local.service` wires in the real ones."""

    # run_build(source_dir, work_dir, env, buildspec) -> BuildResult
    build: Callable[..., Any]
    # deploy_to_host(host, revision, get_object=, deployment_id=, application_name=,
    #                deployment_group_name=, deployment_group_id=,
    #                ignore_application_stop_failures=, file_exists_behavior=[, env=])
    #   -> DeploymentOutcome (the instance's agent; it reads the bundle with get_object)
    deploy: Callable[..., Any]
    # instance id -> a booted Host for it
    host_for: Callable[[str], Any]
    # connection ARN -> status (AVAILABLE, PENDING, ERROR) or None when unknown
    connection_status: Callable[[str], str | None] = lambda arn: None
    connection_wait_s: float = 0.0
    # the emulated AWS endpoint, for what a build calls with its role (pipekit.local.rolecreds)
    endpoint_url: str = ""
    # instance id -> the emulated endpoint as that instance's host reaches it ("" for none:
    # its hooks then get no credentials, pipekit.local.instance_aws)
    instance_endpoint: Callable[[str], str] = lambda instance_id: ""


@dataclass
class ActionContext:
    """One run of one action: the engine's means, the execution, the action and its
    configuration with every `#{namespace.Variable}` resolved."""

    runners: Runners
    git: GitRemote
    deployer: Deployer
    work_dir: Path
    execution: Execution
    definition: dict[str, Any]
    action: dict[str, Any]
    config: dict[str, str]
    store: dict[str, Any]  # the pipeline's artifactStore

    def scratch(self, name: str) -> Path:
        return artifacts.scratch(self.work_dir, self.execution, name)

    def artifact_location(self, name: str) -> dict[str, str]:
        return artifacts.location(self.execution, self.store, name)

    def put_artifact(self, name: str, path: Path, key: str | None = None) -> dict[str, str]:
        return artifacts.put(self.execution, self.store, name, path, key=key)

    def pipeline_principal(self) -> authz.Principal:
        """The pipeline's service role, as CodePipeline assumes it for this action (a session
        per call, named with the time in milliseconds: see `pipekit.local.authz`)."""
        execution = self.execution
        return authz.Principal(
            "pipeline",
            str(self.definition.get("roleArn", "")),
            str(int(time.time() * 1000)),
            f"arn:aws:codepipeline:{execution.region}:{execution.account_id}:"
            f"{execution.pipeline_name}",
        )

    def authorize(
        self,
        step: str,
        fields: dict[str, str],
        describe: Callable[[authz.Denied], str],
        conditions: frozenset[str] = frozenset(),
        external_id: str | None = None,
    ) -> None:
        """Authorize the calls CodePipeline makes with the pipeline's role at `step`; a refusal
        fails the action with the message `describe` gives it (`pipekit.iam.failures`)."""
        try:
            authz.authorize(
                step, self.pipeline_principal(), self.execution.region, fields, conditions
            )
        except authz.Denied as denied:
            raise ActionFailed("JobFailed", describe(denied), external_id) from None

    def get_artifact(self, location: dict, dest: Path) -> Path:
        return artifacts.get(self.execution, location, dest)


Handler = Callable[[ActionContext], ActionResult]
