"""The IAM mutation test: for each row of pipekit.iam.calls, the templates without the permission
that grants it must fail the run at that row's step, with AWS's error.

How: deploy the real templates into the emulator and run the pipeline once through the real
engine, its build and deploy runners replaced by instant fakes (no nspawn host, no buildspec:
every call a service makes still goes through pipekit.local.authz), recording every
authorization. From that trace, each row's grant is found by evaluating the role's policies one
by one: the statement (policy name and Sid) that allows it, or the AWS-managed policy. Each
mutation removes the action from that statement in a copy of the templates (or detaches the
managed policy), deploys the copy and runs again, which stops at the first refusal. The instance's
boot (cfn-signal, the Elastic IP) is not run by local mode: its calls are evaluated against the
deployed instance role with the fields the stack gives them.

A build whose buildspec is inline in the template (the Prune stage's pruner) runs for real: its
commands call AWS with the AWS CLI as the project's role, each request authorized by the
emulator's session middleware (`pipekit.emulator.authn`), which the trace records too
(`SessionCheck`). For the pruner to make every call it can, an artifact older than the retention
is put in the bucket first (the clock moved past it); removed, each of those permissions fails
the Prune stage's BUILD phase with AWS's access-denied message in the build log.
"""

from __future__ import annotations

import contextlib
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pipekit.emulator import access, authn, records
from pipekit.iam import calls, failures, operations
from pipekit.iam.policy import access_denied_message, evaluate, request_context
from pipekit.local import authz
from pipekit.local.actions.base import Runners
from pipekit.local.engine import Engine
from pipekit.local.gitremote import GitRemote
from tests.support.emulator_fixtures import advance_clock, local_parameters, publish_templates
from tests.support.template_mutation import Grant, mutated_copy, template_of

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
BUCKET, STACK = "pipekit-iam-templates", "pipekit-iam"
ACCOUNT, REGION = "123456789012", "us-east-1"
# steps whose error carries IAM's own "User: ... is not authorized to perform" sentence
IAM_WORDED = {
    "build.start",
    "build.poll",
    "build.logs",
    "build.reports",
    "deploy.start",
    "deploy.poll",
}


@dataclass(frozen=True)
class Check:
    """One authorization a run made."""

    step: str
    principal: authz.Principal
    fields: dict[str, str]
    conditions: frozenset[str]


@dataclass(frozen=True)
class SessionCheck:
    """One (action, resource) a role session's request needed: a build's own AWS call."""

    role_arn: str
    service: str
    operation: str
    action: str
    resource: str

    def refused_text(self) -> str:
        """AWS's access-denied sentence for it, from "is not authorized" on (the caller before
        it names the build's session, new in each run); S3 quotes the resource."""
        shown = f'"{self.resource}"' if self.service == "s3" else self.resource
        message = access_denied_message("-", self.action, shown, evaluate([], "", ""))
        return message.removeprefix("User: - ")


@dataclass(frozen=True)
class Outcome:
    """Where a run failed (the step it reads from what AWS's APIs show) and the error."""

    step: str | None
    error: str
    where: str


@dataclass
class Mutation:
    """A permission taken away and the traced calls that need it, in run order."""

    kind: str
    action: str
    grants: frozenset[Grant]
    needs: list[tuple[calls.Call | None, Check | SessionCheck]] = field(default_factory=list)

    @property
    def label(self) -> str:
        what = self.action if self.action != "*" else "everything"
        return f"{self.kind} role: {what} ({'; '.join(sorted(map(str, self.grants)))})"

    def expected(self, trace: list[Check | SessionCheck]) -> tuple[str, str]:
        """(step, text the error must contain) of the first call that needs the permission,
        with the values the mutated run gave it (its own keys, streams, role names)."""
        call, first = self.needs[0]
        if isinstance(first, SessionCheck):
            same = [
                c
                for c in trace
                if isinstance(c, SessionCheck)
                and (c.operation, c.action) == (first.operation, first.action)
            ]
            if not same:
                return "build.commands", f"(the run never made {first.operation})"
            return "build.commands", same[-1].refused_text()
        assert call is not None
        checks = [
            c
            for c in trace
            if isinstance(c, Check) and c.step == call.step and c.principal.kind == call.principal
        ]
        if not checks:
            return call.step, f"(the run never reached {call.step})"
        check = checks[-1]
        action, resource, _ = authz.request(call, check.principal, REGION, check.fields)
        if call.step in IAM_WORDED:
            return call.step, (
                f"User: {check.principal.caller} is not authorized to perform: {action} on "
                f"resource: {resource} because no identity-based policy allows the {action} action"
            )
        denied = authz.Denied(call.step, check.principal, action, resource, evaluate([], "", ""))
        texts = {
            "source.connection": failures.source(denied, check.fields.get("connection_arn", "")),
            "source.upload": failures.source(denied, ""),
            "deploy": failures.deployment(denied)[1],
            "instance.bundle": failures.bundle(denied)[1],
            "instance.boot": failures.boot(denied),
        }
        return call.step, texts.get(call.step, "AccessDenied: Access Denied")


class FakeRunners:
    """Builds zip the source and report the buildspec's report groups, but a buildspec inline in
    the template (the pruner's) runs for real; deployments succeed."""

    def build(self, src: Path, work: Path, env: dict, buildspec: Path | None) -> Any:
        import yaml

        from pipekit.local.runtime.buildrunner import run_build

        if buildspec is not None and not buildspec.is_relative_to(src):  # the template's own
            return run_build(src, work, env, buildspec)

        work.mkdir(parents=True, exist_ok=True)
        out = work / "bundle.zip"
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("appspec.yml", "version: 0.0\nos: linux\n")
        spec = yaml.safe_load((buildspec or src / "buildspec.yml").read_text()) or {}
        report = work / "report.xml"
        report.write_text("<testsuite tests='0'/>")
        phase = SimpleNamespace(name="BUILD", status="SUCCEEDED", duration_s=0.0)
        return SimpleNamespace(
            status="SUCCEEDED",
            phases=[phase],
            artifact=out,
            exported_variables={},
            reports={name: [report] for name in spec.get("reports") or {}},
            log="built",
        )

    def deploy(self, host: Any, revision: dict, *, get_object: Any, **kwargs: Any) -> Any:
        """The agent's DownloadBundle through the instance's S3 read (where the instance role
        is authorized), then success."""
        from pipekit.local.runtime.agent import S3Error

        location = revision["s3Location"]
        try:
            get_object(location["bucket"], location["key"], location.get("version"))
        except S3Error as exc:
            failed = SimpleNamespace(
                name="DownloadBundle", status="Failed", log_tail="", message=exc.message
            )
            return SimpleNamespace(
                status="Failed", error_code="INVALID_REVISION", message=exc.message, events=[failed]
            )
        event = SimpleNamespace(name="ApplicationStart", status="Succeeded", log_tail="")
        return SimpleNamespace(status="Succeeded", error_code=None, message=None, events=[event])


@contextlib.contextmanager
def recording() -> Iterator[list[Check | SessionCheck]]:
    """Every authz.authorize call and every role session's request made meanwhile, in order
    (the call sites use the modules' functions)."""
    trace: list[Check | SessionCheck] = []
    real, real_refusal = authz.authorize, authn.refusal

    def record(step, principal, region, fields, conditions=frozenset(), **kwargs):
        trace.append(Check(step, principal, dict(fields), frozenset(conditions)))
        return real(step, principal, region, fields, conditions, **kwargs)

    def record_session(session, request, region):
        with contextlib.suppress(operations.Unmodelled):  # refused as such below
            name, _, pairs = authn.needs(session, request, region)
            trace.extend(
                SessionCheck(session.role_arn, request.service, name, action, resource)
                for action, resource in pairs
            )
        return real_refusal(session, request, region)

    authz.authorize, authn.refusal = record, record_session
    try:
        yield trace
    finally:
        authz.authorize, authn.refusal = real, real_refusal


class Harness:
    def __init__(self, emulator: Any, work: Path) -> None:
        self.em, self.work = emulator, work
        self.outputs: dict[str, str] = {}

    def deploy(self, templates: Path) -> None:
        """A fresh emulator with the templates deployed as publish + deploy would."""
        self.em.reset()
        s3, cfn = self.em.client("s3"), self.em.client("cloudformation")
        s3.create_bucket(Bucket=BUCKET)
        url = publish_templates(s3, BUCKET, "v1/", templates)
        cfn.create_stack(
            StackName=STACK,
            TemplateURL=url,
            Parameters=local_parameters(self.em.client("ssm"), BUCKET, "v1/"),
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(
                f"{STACK} is {stack['StackStatus']}: {stack.get('StackStatusReason')}"
            )
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def boot(self) -> tuple[Check, Outcome | None]:
        """The instance's boot calls (templates/ec2.yaml user data), evaluated."""
        cfn, ec2 = self.em.client("cloudformation"), self.em.client("ec2")
        ec2_stack = cfn.describe_stack_resource(StackName=STACK, LogicalResourceId="Ec2Stack")
        stack_id = ec2_stack["StackResourceDetail"]["PhysicalResourceId"]
        eip = cfn.describe_stack_resource(StackName=stack_id, LogicalResourceId="ElasticIp")
        address = eip["StackResourceDetail"]["PhysicalResourceId"]
        allocation = next(
            a["AllocationId"]
            for a in ec2.describe_addresses()["Addresses"]
            if address in (a["PublicIp"], a["AllocationId"])
        )
        groups = self.em.client("autoscaling").describe_auto_scaling_groups()
        instance_id = groups["AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
        tags = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
        tag = {t["Key"]: t["Value"] for t in tags["Instances"][0].get("Tags", [])}
        role = authz.instance_role_arn(ACCOUNT, REGION, instance_id) or ""
        fields = {"stack_id": stack_id, "allocation_id": allocation, "instance_id": instance_id}
        fields["instance_stack_tag"] = tag.get("pipekit:stack", "")
        check = Check(
            "instance.boot",
            authz.Principal("instance", role, instance_id),
            fields,
            frozenset({"single"}),
        )
        try:
            authz.authorize(check.step, check.principal, REGION, fields, check.conditions)
        except authz.Denied as denied:
            return check, Outcome("instance.boot", failures.boot(denied), "the Auto Scaling group")
        return check, None

    def run(self) -> Outcome:
        """One run of the deployed pipeline to its end (or its first failure)."""
        remote = GitRemote(self.work / "git")
        repo = "local/sample-app"
        shutil.rmtree(remote.path(repo), ignore_errors=True)
        remote.create(repo, "http://127.0.0.1:1/unused")
        remote.seed(repo, ROOT, "main")
        self.stale_artifact()
        fake = FakeRunners()
        runners = Runners(fake.build, fake.deploy, lambda i: i, endpoint_url=self.em.endpoint_url)
        engine = Engine(runners, remote, self.work / "run")
        records.install()
        records.set_controller(engine)
        try:
            name = self.outputs["PipelineName"]
            execution = engine.start_execution(
                ACCOUNT,
                REGION,
                name,
                trigger_type="StartPipelineExecution",
                trigger_detail="",
                source_revisions=None,
                variables=None,
            )
            while engine.events.get(timeout=120)[0] != execution:
                pass
            return self.outcome(name, execution)
        finally:
            records.set_controller(None)
            engine.close()

    def stale_artifact(self) -> None:
        """An artifact no deployment names, older than the stack's retention: the Prune stage
        must read its tags and mark it."""
        cfn = self.em.client("cloudformation")
        stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
        days = next(
            int(p["ParameterValue"])
            for p in stack["Parameters"]
            if p["ParameterKey"] == "ArtifactRetentionDays"
        )
        bucket = self.outputs["ArtifactBucketName"]
        self.em.client("s3").put_object(Bucket=bucket, Key="stale/artifact.zip", Body=b"old")
        advance_clock(self.em, days=days + 1)

    def outcome(self, pipeline: str, execution: str) -> Outcome:
        details = self.em.client("codepipeline").list_action_executions(
            pipelineName=pipeline, filter={"pipelineExecutionId": execution}
        )["actionExecutionDetails"]
        failed = [d for d in details if d["status"] == "Failed"]
        if not failed:
            return Outcome(None, "", "the run succeeded")
        detail = failed[0]
        result = detail["output"]["executionResult"]
        message, provider = (
            result["errorDetails"]["message"],
            detail["input"]["actionTypeId"]["provider"],
        )
        where = f"{detail['stageName']} action"
        if provider == "CodeBuild":
            return self._build_outcome(result.get("externalExecutionId"), message, where)
        if provider == "CodeDeploy":
            return self._deploy_outcome(detail["input"]["configuration"], message, where)
        step = (
            "source.connection"
            if message.startswith("Unable to use Connection")
            else "source.upload"
        )
        return Outcome(step, message, where)

    def _build_outcome(self, build_id: str | None, message: str, where: str) -> Outcome:
        if not build_id:
            return Outcome("build.start", message, where)
        build = self.em.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
        phase = next((p for p in build["phases"] if p.get("phaseStatus") == "FAILED"), None)
        if phase is None:
            return Outcome("build.poll", message, where)
        context = phase["contexts"][0]["message"]
        if phase["phaseType"] == "BUILD":  # the buildspec's commands: what they logged
            log = self._build_log(build)
            # the AWS CLI's own line first, for the report's one-line summary
            said = [line for line in log.splitlines() if line.startswith("An error occurred (")]
            return Outcome("build.commands", "\n".join([*said, log, context]), "build phase BUILD")
        step = {"QUEUED": "build.logs", "DOWNLOAD_SOURCE": "build.source"}.get(phase["phaseType"])
        if step is None:
            reports = context.startswith("Error in UPLOAD_ARTIFACTS phase: [")
            step = "build.reports" if reports else "build.upload"
        return Outcome(step, context, f"build phase {phase['phaseType']}")

    def _build_log(self, build: dict) -> str:
        where = build["logs"]
        events = self.em.client("logs").get_log_events(
            logGroupName=where["groupName"], logStreamName=where["streamName"]
        )["events"]
        return "".join(f"{e['message']}\n" for e in events)

    def _deploy_outcome(self, config: dict, message: str, where: str) -> Outcome:
        cd = self.em.client("codedeploy")
        ids = cd.list_deployments(
            applicationName=config["ApplicationName"],
            deploymentGroupName=config["DeploymentGroupName"],
        )["deployments"]
        if not ids:
            return Outcome("deploy.start", message, where)
        info = cd.get_deployment(deploymentId=ids[0])["deploymentInfo"]
        if info["status"] == "Succeeded":
            return Outcome("deploy.poll", message, where)
        error = info.get("errorInformation", {})
        if error.get("code") == "IAM_ROLE_PERMISSIONS":
            return Outcome("deploy", error["message"], f"deployment {error['code']}")
        targets = cd.list_deployment_targets(deploymentId=ids[0])["targetIds"]
        found = cd.batch_get_deployment_targets(deploymentId=ids[0], targetIds=targets)
        for target in found["deploymentTargets"]:
            for event in target["instanceTarget"]["lifecycleEvents"]:
                if event["lifecycleEventName"] == "DownloadBundle" and event["status"] == "Failed":
                    where = f"{target['instanceTarget']['targetId']} DownloadBundle"
                    return Outcome("instance.bundle", event["diagnostics"]["message"], where)
        return Outcome(None, error.get("message", message), where)


def grants_of(role_arn: str, action: str, resource: str, context: dict) -> frozenset[Grant]:
    """The statements (or AWS-managed policies) of the role that allow the request."""
    found = set()
    for name, document in access.named_policies(ACCOUNT, role_arn):
        decision = evaluate([document], action, resource, context)
        if not decision.allowed:
            continue
        if name.startswith("arn:"):
            policy = name.rsplit("/", 1)[-1]
            found.add(Grant(template_of(TEMPLATES, policy, managed=True), policy))
            continue
        for label in decision.matched:
            sid = label.split(":", 1)[1]
            found.add(Grant(template_of(TEMPLATES, name, managed=False), name, sid))
    return frozenset(found)


def mutations(trace: list[Check | SessionCheck]) -> tuple[list[Mutation], list[calls.Call]]:
    """The mutations a baseline trace calls for, and the table's rows it never exercised."""
    found: dict[tuple[str, str, frozenset[Grant]], Mutation] = {}
    seen: set[calls.Call] = set()
    # a row made for two roles (the build and the prune projects' CodeBuild calls) is granted
    # by each role's own statements: one mutation per role
    made_for: set[tuple[calls.Call, str]] = set()
    for check in trace:
        if isinstance(check, SessionCheck):
            context = request_context(check.role_arn, ACCOUNT)
            grants = grants_of(check.role_arn, check.action, check.resource, context)
            key = ("build", check.action if any(g.sid for g in grants) else "*", grants)
            found.setdefault(key, Mutation(*key)).needs.append((None, check))
            continue
        for call in authz.rows(check.step, check.principal.kind, check.conditions):
            if (call, check.principal.role_arn) in made_for:
                continue
            seen.add(call)
            made_for.add((call, check.principal.role_arn))
            action, resource, context = authz.request(call, check.principal, REGION, check.fields)
            grants = grants_of(check.principal.role_arn, action, resource, context)
            key_action = action if any(g.sid for g in grants) else "*"
            key = (check.principal.kind, key_action, grants)
            found.setdefault(key, Mutation(check.principal.kind, key_action, grants)).needs.append(
                (call, check)
            )
    return list(found.values()), [c for c in calls.CALLS if c not in seen]


@dataclass
class Result:
    mutation: Mutation
    outcome: Outcome
    trace: list[Check | SessionCheck]

    @property
    def caught(self) -> bool:
        step, text = self.mutation.expected(self.trace)
        return self.outcome.step == step and text in self.outcome.error

    def row(self) -> str:
        first = self.outcome.error.splitlines()[0] if self.outcome.error else "-"
        expected = self.mutation.expected(self.trace)[0]
        verdict = "ok" if self.caught else f"MISSED (expected {expected})"
        failing = f"{self.outcome.step or 'none'} ({self.outcome.where})"
        return f"{self.mutation.label} | {failing} | {first} | {verdict}"


def baseline(harness: Harness) -> tuple[list[Check | SessionCheck], Outcome]:
    """Deploy the templates as they are and run once, recording every authorization."""
    with recording() as trace:
        harness.deploy(TEMPLATES)
        _, refused = harness.boot()
        outcome = refused or harness.run()
    return trace, outcome


def run_mutation(harness: Harness, mutation: Mutation) -> Result:
    dest = harness.work / "mutated"
    shutil.rmtree(dest, ignore_errors=True)
    mutated_copy(TEMPLATES, dest, mutation.grants, mutation.action)
    with recording() as trace:
        harness.deploy(dest)
        _, refused = harness.boot()
        outcome = refused or harness.run()
    return Result(mutation, outcome, trace)
