"""How long a release should take on AWS, step by step, from the stack's settings: the model
behind the README's "How long a release takes" (pipekit.harness.modeltables renders its
tables: `python -m pipekit.harness.modeltables`). Plain functions: settings in, seconds per step
out.

Every step says which setting governs it (file and value) and where its seconds come from: an
AWS document, or "estimate" where AWS publishes no number. `make bench` measures the same steps
from the services' records (pipekit.harness.timing), so a first AWS run checks the model.

Three timelines per setting:
- commit -> live: push to the first instance serving the commit (single mode: ApplicationStart
  on the one instance; fleet: the first round's AllowTraffic);
- commit -> all live: to the end of the deployment (fleet: every round);
- broken -> restored: a commit whose app does not start, pushed, to every instance serving the
  previous revision again (the failed deployment, then CodeDeploy's rollback deployment).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# --- Sources ------------------------------------------------------------------------------
ESTIMATE = "estimate"
SOURCES = {
    "elb-drain": (
        "ELB API, TargetGroupAttribute deregistration_delay.timeout_seconds: the time to wait "
        "before a deregistering target goes from draining to unused (botocore elbv2 model)"
    ),
    "elb-first-check": (
        "Amazon ECS developer guide, load-balancer-healthcheck: a newly registered target "
        "must pass one health check to be considered healthy; the healthy threshold applies "
        "only to a target recovering from unhealthy"
    ),
    "codedeploy-configs": (
        "CodeDeploy user guide, deployment-configurations: OneAtATime one instance at a time; "
        "HalfAtATime up to half of the instances at a time (fractions rounded down); "
        "AllAtOnce all of them"
    ),
    "codedeploy-rollback": (
        "CodeDeploy user guide, deployments-rollback-and-redeploy: a rollback is a new "
        "deployment of the last known good revision"
    ),
    "validate-script": "scripts/validate_service.sh: polls /health and /version every 0.25 s",
    "lambda-compute": (
        "CodeBuild user guide, lambda.html: Lambda compute has optimized start-up and does not "
        "queue; no number published"
    ),
}

# --- The settings the model reads ---------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The root parameters that govern a release's time, with the deployment's shape."""

    mode: str = "single"  # DeploymentMode
    fleet_size: int = 1  # FleetSize (fleet mode)
    fleet_deployment_config: str = "CodeDeployDefault.HalfAtATime"
    deregistration_delay_s: int = 5
    health_check_interval_s: int = 5
    health_check_timeout_s: int = 4
    healthy_threshold: int = 2
    unhealthy_threshold: int = 2
    validate_service_s: int = 30
    build_compute: str = "BUILD_GENERAL1_SMALL"  # CodeBuildComputeType

    @property
    def fleet(self) -> bool:
        return self.mode == "fleet"

    @property
    def deployment_config(self) -> str:
        return self.fleet_deployment_config if self.fleet else "CodeDeployDefault.AllAtOnce"

    @property
    def instances(self) -> int:
        return self.fleet_size if self.fleet else 1


# Root parameter name -> Settings field.
PARAMETERS = {
    "FleetDeploymentConfig": "fleet_deployment_config",
    "DeregistrationDelaySeconds": "deregistration_delay_s",
    "HealthCheckIntervalSeconds": "health_check_interval_s",
    "HealthCheckTimeoutSeconds": "health_check_timeout_s",
    "HealthyThresholdCount": "healthy_threshold",
    "UnhealthyThresholdCount": "unhealthy_threshold",
    "ValidateServiceSeconds": "validate_service_s",
    "CodeBuildComputeType": "build_compute",
}

# The values the templates had before these settings were parameters (commit f8e794f:
# ec2.yaml's target group, pipeline.yaml's OneAtATime, validate_service.sh's 60 s).
BEFORE = {
    "FleetDeploymentConfig": "CodeDeployDefault.OneAtATime",
    "DeregistrationDelaySeconds": "30",
    "HealthCheckIntervalSeconds": "10",
    "HealthCheckTimeoutSeconds": "5",
    "HealthyThresholdCount": "2",
    "UnhealthyThresholdCount": "2",
    "ValidateServiceSeconds": "60",
    "CodeBuildComputeType": "BUILD_GENERAL1_SMALL",
}


def settings_from(parameters: Mapping[str, str], mode: str, fleet_size: int) -> Settings:
    """Settings from root parameter values (strings, as CloudFormation has them)."""
    values: dict[str, Any] = {"mode": mode, "fleet_size": fleet_size}
    for name, field_name in PARAMETERS.items():
        if name in parameters:
            default = getattr(Settings, field_name)
            raw = parameters[name]
            values[field_name] = int(raw) if isinstance(default, int) else str(raw)
    return Settings(**values)


def root_defaults(root_template: Path) -> dict[str, str]:
    """The Default of each root parameter the model reads (templates/root.yaml)."""
    from pipekit.cfn.template import load_template

    params = load_template(root_template)["Parameters"]
    return {n: str(params[n]["Default"]) for n in PARAMETERS if "Default" in params.get(n, {})}


# --- Steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    governed_by: str  # file and setting with its value, or what fixes it
    source: str  # a SOURCES key or ESTIMATE
    times: int = 1  # repeated (fleet rounds)

    @property
    def total(self) -> float:
        return self.seconds * self.times


# Fixed estimates (no AWS number exists): seconds, what fixes them.
WEBHOOK_S = 2.0
SOURCE_S = 4.0
HANDOFF_S = 1.0
EC2_START_S = 45.0  # queued + provisioning, on-demand EC2 compute: 20-90 s seen reported
LAMBDA_START_S = 3.0
LAMBDA_WHAT_IF = "BUILD_LAMBDA_1GB"
# CodeBuild's phases after provisioning: phase -> (seconds, what fixes it)
BUILD_PHASES = {
    "DOWNLOAD_SOURCE": (2.0, "the source zip from the artifact bucket"),
    "INSTALL": (8.0, "buildspec.yml install: runtime-versions python 3.11, pip install (no cache)"),
    "PRE_BUILD": (3.0, "buildspec.yml pre_build: the app's unit tests"),
    "BUILD": (4.0, "buildspec.yml build: pip download of the pinned wheels"),
    "POST_BUILD..FINALIZING": (4.0, "bundle upload, test report, logs"),
}
DEPLOY_START_S = 5.0  # CreateDeployment -> the agent's first command
AGENT_ROUND_TRIP_S = 1.0  # per lifecycle event the agent runs (poll, acknowledge, report)
HOOKS = (
    ("ApplicationStop", 1.0, "scripts/application_stop.sh (appspec.yml timeout 60)"),
    ("DownloadBundle", 2.0, "the agent reads the bundle from S3"),
    ("BeforeInstall", 0.5, "scripts/before_install.sh"),
    ("Install", 1.0, "the agent copies the files (appspec.yml files)"),
    ("AfterInstall", 3.0, "scripts/after_install.sh: the venv from bundled wheels"),
    ("ApplicationStart", 1.0, "scripts/application_start.sh: systemd starts gunicorn"),
)
VALIDATE_GOOD_S = 1.0  # gunicorn answers within about a second of ApplicationStart
CRASH_DETECTED_S = 3.0  # validate_service.sh fails at the release's first crash
CRASH_SEEN_BY = "scripts/validate_service.sh crashed()"
TRAFFIC_POLL_S = 5.0  # CodeDeploy's own wait around (de)registration
ROLLBACK_START_S = 3.0  # failed deployment ends -> CodeDeploy creates the rollback
PIPELINE_SEES_DEPLOY_S = 3.0  # deployment ends -> the Deploy action's status


def batch_size(config: str, instances: int) -> int:
    """Instances one round of the deployment updates (SOURCES["codedeploy-configs"])."""
    if config.endswith(".AllAtOnce"):
        return instances
    if config.endswith(".HalfAtATime"):
        return max(1, instances // 2)
    if config.endswith(".OneAtATime"):
        return 1
    raise ValueError(f"no batch rule for deployment config {config!r}")


def rounds(s: Settings) -> int:
    return math.ceil(s.instances / batch_size(s.deployment_config, s.instances))


def _root(name: str, value: Any) -> str:
    return f"templates/root.yaml {name} = {value}"


def pipeline_steps(s: Settings) -> list[Step]:
    """Push -> the deployment created: the webhook, Source, the build, the hand-offs."""
    lam = s.build_compute.startswith("BUILD_LAMBDA")
    start = Step(
        "Build: queued + provisioning",
        LAMBDA_START_S if lam else EC2_START_S,
        _root("CodeBuildComputeType", s.build_compute),
        "lambda-compute" if lam else ESTIMATE,
    )
    steps = [
        Step("webhook -> execution start", WEBHOOK_S, "GitHub connection trigger", ESTIMATE),
        Step("Source (CodeConnections, CODE_ZIP)", SOURCE_S, "templates/pipeline.yaml", ESTIMATE),
        Step("hand-off Source -> Build", HANDOFF_S, "CodePipeline", ESTIMATE),
        start,
    ]
    steps += [Step(f"Build: {p}", sec, what, ESTIMATE) for p, (sec, what) in BUILD_PHASES.items()]
    steps.append(Step("hand-off Build -> Deploy", HANDOFF_S, "CodePipeline", ESTIMATE))
    steps.append(Step("Deploy: deployment created -> agent", DEPLOY_START_S, "agent", ESTIMATE))
    return steps


def _governed(name: str, seconds: float, parameter: str, value: Any, source: str, times: int = 1):
    return Step(name, seconds, _root(parameter, value), source, times)


def _validate_step(s: Settings, validate: str, n: int) -> Step:
    if validate == "good":
        step = _governed(
            "ValidateService",
            VALIDATE_GOOD_S + AGENT_ROUND_TRIP_S,
            "ValidateServiceSeconds",
            s.validate_service_s,
            "validate-script",
            n,
        )
        return replace(step, governed_by=step.governed_by + " (a bound, not spent)")
    if validate == "crash":
        crash = CRASH_DETECTED_S + AGENT_ROUND_TRIP_S
        return Step("ValidateService fails (crash seen)", crash, CRASH_SEEN_BY, ESTIMATE)
    spent = s.validate_service_s + AGENT_ROUND_TRIP_S
    budget = s.validate_service_s
    return _governed(
        "ValidateService fails (budget spent)",
        spent,
        "ValidateServiceSeconds",
        budget,
        "validate-script",
    )


def instance_steps(s: Settings, *, validate: str = "good") -> list[Step]:
    """One instance (one round), BlockTraffic to AllowTraffic. `validate`: good, crash (the
    app dies at start) or unhealthy (it runs but never serves the commit: the whole budget)."""
    n = rounds(s) if validate == "good" else 1  # a failed round stops the deployment
    drain, interval = s.deregistration_delay_s, s.health_check_interval_s
    steps = []
    if s.fleet:
        block = drain + TRAFFIC_POLL_S
        steps.append(
            _governed(
                "BlockTraffic (drain)", block, "DeregistrationDelaySeconds", drain, "elb-drain", n
            )
        )
    steps += [Step(name, sec + AGENT_ROUND_TRIP_S, what, ESTIMATE, n) for name, sec, what in HOOKS]
    steps.append(_validate_step(s, validate, n))
    if s.fleet and validate == "good":
        allow = interval + TRAFFIC_POLL_S
        name = "AllowTraffic (first health check)"
        steps.append(
            _governed(name, allow, "HealthCheckIntervalSeconds", interval, "elb-first-check", n)
        )
    return steps


def release(s: Settings) -> list[Step]:
    """Push -> every instance serving the commit."""
    return [
        *pipeline_steps(s),
        *instance_steps(s),
        Step(
            "Deploy action sees the deployment end",
            PIPELINE_SEES_DEPLOY_S,
            "CodePipeline",
            ESTIMATE,
        ),
    ]


def broken(s: Settings, failure: str = "crash") -> list[Step]:
    """Push of a broken commit -> every instance serving the previous revision again."""
    rollback = [
        replace(step, name=f"rollback: {step.name}") for step in instance_steps(s, validate="good")
    ]
    return [
        *pipeline_steps(s),
        *instance_steps(s, validate=failure),
        Step(
            "rollback deployment created",
            ROLLBACK_START_S,
            "templates/pipeline.yaml AutoRollbackConfiguration",
            "codedeploy-rollback",
        ),
        *rollback,
    ]


def total(steps: list[Step]) -> float:
    return round(sum(step.total for step in steps), 1)


def totals(s: Settings) -> dict[str, float]:
    """The headline numbers: commit -> live (first instance serving), commit -> all live,
    broken -> restored (crash, and a release that never gets healthy)."""
    pre = total(pipeline_steps(s))
    one_round = sum(step.seconds for step in instance_steps(s))
    if not s.fleet:  # live at ApplicationStart's end, before ValidateService passes
        one_round -= VALIDATE_GOOD_S + AGENT_ROUND_TRIP_S
    return {
        "commit_to_live_s": round(pre + one_round, 1),
        "commit_to_all_live_s": total(release(s)),
        "broken_to_restored_s": total(broken(s, "crash")),
        "unhealthy_to_restored_s": total(broken(s, "unhealthy")),
    }
