"""Checks run before anything changes: local ones first (parameters against the root template),
then read-only API calls (identity, connection status, stack state)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from pipekit.cfn import parameters as cfn_parameters
from pipekit.cfn.template import load_template
from pipekit.errors import UserError
from pipekit.harness.config import Environment, known_environments
from pipekit.progress import console

ROOT_TEMPLATE = "root.yaml"
# Set by publish/deploy (AmiId: pipekit/harness/ami.py), so a parameter file may omit them.
HARNESS_PARAMETERS = ("TemplateBucketName", "TemplateKeyPrefix", "TemplateBucketRegion", "AmiId")
PLACEHOLDER_OWNER = "example-org/"

UPDATABLE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
# A stack left by an unexecuted CREATE change set: a new CREATE change set replaces it.
CREATABLE_AGAIN = {"REVIEW_IN_PROGRESS"}


@dataclass(frozen=True)
class Plan:
    """What preflight resolved: deploy and publish act on exactly this."""

    account: str
    region: str
    parameters: dict[str, str]
    stack_status: str | None  # None: the stack does not exist yet
    connection_status: str | None  # None: the stack will create the connection

    @property
    def change_set_type(self) -> str:
        return "UPDATE" if self.stack_status in UPDATABLE else "CREATE"


# ---- local checks ---------------------------------------------------------------------------


def load_root_template(template_dir: Path) -> dict[str, Any]:
    """The root template as data (needs no AWS); a one-sentence UserError when it cannot be."""
    path = template_dir / ROOT_TEMPLATE
    if not path.exists():
        raise UserError(f"the root template {path} is missing: is this a complete clone?")
    try:
        template = load_template(path)
    except Exception as exc:  # a YAML or tag error: one sentence, not a traceback
        raise UserError(f"the root template {path} does not load ({exc})") from None
    if not isinstance(template.get("Parameters") or {}, dict):
        raise UserError(f"{path} has a malformed Parameters section")
    return template


def load_root_parameters(template_dir: Path) -> dict[str, dict[str, Any]]:
    """The root template's Parameters section (needs no AWS)."""
    return load_root_template(template_dir).get("Parameters") or {}


def read_parameters(path: Path) -> dict[str, str]:
    """A create-stack parameter file as {key: value}; every problem is a one-sentence UserError."""
    if not path.exists():
        raise UserError(
            f"the parameter file {path} is missing: create it (see parameters/dev.json)"
        )
    return cfn_parameters.read_parameter_file(path)


def parameter_problems(
    definitions: dict[str, dict[str, Any]],
    values: dict[str, str],
    *,
    for_deploy: bool = True,
    rules: dict[str, Any] | None = None,
) -> list[str]:
    """Every way `values` does not fit the root template's parameters and Rules, in a stable
    order, by the same rules the emulator applies (pipekit.cfn.parameters).

    The placeholder repository is valid for the template (the committed dev/prod files carry
    it), so only a deploy refuses it."""
    problems: list[str] = []
    unknown = cfn_parameters.unknown_parameters(definitions, values)
    if unknown:
        problems.append(
            "unknown parameter(s) " + ", ".join(unknown) + " (the root template does not have them)"
        )
    missing = cfn_parameters.missing_parameters(definitions, values, HARNESS_PARAMETERS)
    if missing:
        problems.append("required parameter(s) " + ", ".join(missing) + " not set")
    for name in sorted(values):
        if name in definitions:
            broken = cfn_parameters.violation(name, definitions[name] or {}, values[name])
            if broken:
                problems.append(broken.sentence().rstrip("."))
    if not problems and rules:
        # harness-filled parameters are not known yet: rules that use them are not checked here
        known = {
            k: v
            for k, v in cfn_parameters.effective_values(definitions, values).items()
            if k not in HARNESS_PARAMETERS or k in values
        }
        failed = cfn_parameters.failed_rule(rules, known)
        if failed:
            problems.append(f"the template's Rules refuse these values: {failed.rstrip('.')}")
    repo = values.get("GitHubRepository", "")
    if for_deploy and repo.startswith(PLACEHOLDER_OWNER):
        problems.append(
            f"GitHubRepository is still the placeholder {repo!r}: set it to your repository "
            "as owner/repo"
        )
    return problems


def check_parameter_file(env: Environment, *, for_deploy: bool = True) -> dict[str, str]:
    """All local checks for `env`; returns the parameter values (no AWS involved)."""
    template = load_root_template(env.template_dir)
    values = read_parameters(env.parameter_file)
    problems = parameter_problems(
        template.get("Parameters") or {}, values, for_deploy=for_deploy, rules=template.get("Rules")
    )
    if problems:
        rel = _relative(env.parameter_file, env.root)
        raise UserError(f"{rel} does not fit templates/{ROOT_TEMPLATE}: " + "; ".join(problems))
    return values


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ---- read-only API checks ---------------------------------------------------------------------


def caller_account(sts) -> str:
    try:
        return sts.get_caller_identity()["Account"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise UserError(
            f"AWS rejected your credentials ({code}): refresh them (`aws sso login`, or new "
            "access keys) and try again"
        ) from None


def connection_service(arn: str) -> str:
    """`codeconnections` or `codestar-connections`, from the ARN's service field."""
    parts = arn.split(":")
    if (
        len(parts) < 6
        or parts[0] != "arn"
        or parts[2]
        not in (
            "codeconnections",
            "codestar-connections",
        )
    ):
        raise UserError(
            f"ConnectionArn {arn!r} is not a connection ARN "
            "(arn:aws:codeconnections:<region>:<account>:connection/<id>)"
        )
    return parts[2]


def connection_region(arn: str) -> str:
    return arn.split(":")[3]


def connections_console_url(region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/codesuite/settings/connections?region={region}"


def pending_connection_help(arn: str | None, region: str) -> str:
    target = f"the connection {arn}" if arn else "the pipeline's new connection"
    return (
        f"open {connections_console_url(region)}, choose {target}, click "
        "'Update pending connection', then install (or choose) the AWS Connector for GitHub app "
        "on the account that owns the repository"
    )


def connection_status(client, arn: str) -> str:
    """The status of an existing connection; an unusable one is a UserError saying what to do."""
    try:
        status = client.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise UserError(
                f"the connection {arn} does not exist: fix ConnectionArn, or leave it empty to "
                "have the stack create one"
            ) from None
        raise UserError(
            f"could not read the connection {arn} ({code}): check your access"
        ) from None
    region = connection_region(arn)
    if status == "PENDING":
        raise UserError(
            f"the connection {arn} is PENDING (the GitHub handshake was never finished): "
            + pending_connection_help(arn, region)
            + ", then run the command again"
        )
    if status != "AVAILABLE":
        raise UserError(
            f"the connection {arn} is {status}: check it at {connections_console_url(region)}; "
            "delete it and create a new one there (or leave ConnectionArn empty) if it cannot "
            "be repaired"
        )
    return status


def stack_status(cfn, stack_name: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            return None
        raise
    return stacks[0]["StackStatus"] if stacks else None


def existing_stack_status(cfn, env: Environment) -> str:
    """The stack's status, for a command that needs the stack; a UserError saying how to deploy
    it when there is none."""
    status = stack_status(cfn, env.stack_name)
    if status is None:
        raise UserError(
            f"the stack {env.stack_name} does not exist: deploy it with `{env.make_hint('deploy')}`"
        )
    return status


def stack_state_problem(status: str | None, stack_name: str, env: Environment) -> str | None:
    """Why the stack cannot be created or updated now, and the way out; None when it can."""
    if status is None or status in UPDATABLE or status in CREATABLE_AGAIN:
        return None
    destroy = env.make_hint("destroy", "--force" if env.protected else "")
    if status in {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"}:
        return (
            f"the stack {stack_name} is {status}: its first creation failed and CloudFormation "
            f"cannot update such a stack; delete it with `{destroy}` (see the events for the "
            "cause first), then deploy again"
        )
    if status == "DELETE_FAILED":
        return (
            f"the stack {stack_name} is DELETE_FAILED: run `{destroy}` again (it empties the "
            "buckets that usually block the deletion), then deploy"
        )
    if status in {"UPDATE_ROLLBACK_FAILED", "IMPORT_ROLLBACK_FAILED", "UPDATE_FAILED"}:
        return (
            f"the stack {stack_name} is {status}: fix the resource named in its events, then run "
            f"`aws cloudformation continue-update-rollback --stack-name {stack_name}` (or "
            f"`{destroy}`), then deploy again"
        )
    if status.endswith("_IN_PROGRESS"):
        return (
            f"the stack {stack_name} is busy ({status}): wait for it to finish "
            f"(`{env.make_hint('status')}` or the CloudFormation console), then deploy again"
        )
    return f"the stack {stack_name} is {status} and cannot be updated"


def run_preflight(env: Environment, clients, *, check_stack: bool = True) -> Plan:
    """Local checks, then read-only calls; prints what it will act on. Raises UserError."""
    values = check_parameter_file(env)
    account = caller_account(clients("sts"))
    region = clients.region
    where = f" via {env.endpoint_url}" if env.endpoint_url else ""
    console.print(f"Acting on account [bold]{account}[/], region [bold]{region}[/]{where}")
    console.print(
        f"Environment {env.name}: stack {env.stack_name}, parameters {env.parameter_file.name}"
    )

    arn = values.get("ConnectionArn", "")
    conn_status = None
    if arn:
        service = connection_service(arn)
        conn_status = connection_status(clients(service, connection_region(arn)), arn)
        console.print(f"Connection {arn}: {conn_status}")
    else:
        console.print(
            "ConnectionArn is empty: the stack will create a connection, which starts PENDING; "
            "after the deploy, " + pending_connection_help(None, region) + "."
        )

    status = None
    if check_stack:
        status = stack_status(clients("cloudformation"), env.stack_name)
        problem = stack_state_problem(status, env.stack_name, env)
        if problem:
            raise UserError(problem)
        console.print(f"Stack {env.stack_name}: {status or 'does not exist yet (will be created)'}")
    return Plan(
        account=account,
        region=region,
        parameters=values,
        stack_status=status,
        connection_status=conn_status,
    )


def lint_parameter_files(root: Path) -> list[str]:
    """One line per parameter file; raises UserError naming how many do not fit."""
    names = known_environments(root)
    if not names:
        raise UserError(f"no parameter files in {root / 'parameters'}")
    lines, failures = [], 0
    for name in names:
        # Built directly: resolve_environment("local") would need the local service running.
        env = Environment(
            name=name,
            parameter_file=root / "parameters" / f"{name}.json",
            stack_name=f"pipekit-{name}",
            protected=False,
            region=None,
            endpoint_url=None,
            credentials=None,
            root=root,
        )
        try:
            values = check_parameter_file(env, for_deploy=False)
        except UserError as exc:
            failures += 1
            lines.append(f"FAIL {exc}")
            continue
        note = ""
        if values.get("GitHubRepository", "").startswith(PLACEHOLDER_OWNER):
            note = " (GitHubRepository is the placeholder: set it before deploying)"
        lines.append(f"ok   parameters/{name}.json{note}")
    for line in lines:
        print(line)
    if failures:
        raise UserError(f"{failures} parameter file(s) do not fit templates/root.yaml (see above)")
    return lines
