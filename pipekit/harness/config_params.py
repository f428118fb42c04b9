"""`make config`: the app's settings in Parameter Store, under the stack's AppConfigPath.

`set NAME VALUE [--secure]` writes `<path>NAME` (String, or SecureString encrypted with the
AWS-managed key aws/ssm: PutParameter without KeyId, botocore ssm model PutParameterRequest.KeyId
"If you don't specify a key ID, the system uses the default key"); `list` shows the parameters
directly under the path, SecureString values masked. scripts/app_config.sh writes them into the
app's environment at the next deployment (or `make redeploy`). The path is the stack's output
`AppConfigPath` (templates/root.yaml), so the instances and this command agree on it.
Pure parts (`setting_name`, `check_value`, `rows`) work on plain values and botocore dicts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipekit.errors import UserError
from pipekit.harness.config import Environment
from pipekit.harness.deploy import stack_outputs
from pipekit.harness.preflight import existing_stack_status
from pipekit.progress import console

# An environment variable name: what scripts/app_config.sh writes (it upper-cases the name and
# skips anything else).
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The instance's own settings (ec2.yaml user data): /etc/sample-app/env wins over config.env,
# so a parameter of that name would be silently ignored.
RESERVED = frozenset({"PORT", "APP_CONFIG_PATH", "AWS_REGION"})
# botocore ssm model, PutParameterRequest.Value: "Standard parameters have a value limit of 4 KB"
VALUE_LIMIT_BYTES = 4096
MASK = "********"


@dataclass(frozen=True)
class Row:
    name: str  # relative to the path
    type: str
    value: str  # masked for a SecureString
    version: int
    modified: str


def setting_name(name: str, path: str) -> str:
    """The full parameter name for `name` (relative, or already under `path`); a UserError for
    a name outside the path or one the hook would not write."""
    relative = name[len(path) :] if name.startswith(path) else name
    if "/" in relative:
        raise UserError(
            f"{name!r} is outside this environment's configuration path {path}: give the "
            f"name alone (e.g. GREETING), which is stored as {path}GREETING"
        )
    if not NAME_PATTERN.fullmatch(relative):
        raise UserError(
            f"{relative!r} is not an environment variable name: use letters, digits and "
            "underscores, not starting with a digit (the app sees it upper-cased)"
        )
    if relative.upper() in RESERVED:
        raise UserError(
            f"{relative.upper()} is the instance's own setting (/etc/sample-app/env), which "
            "wins over the app's configuration: choose another name"
        )
    return path + relative


def check_value(value: str) -> None:
    if value == "":
        raise UserError("the value is empty: Parameter Store keeps no empty value")
    if "\n" in value or "\r" in value:
        raise UserError("the value has several lines: the app's environment file takes one line")
    size = len(value.encode())
    if size > VALUE_LIMIT_BYTES:
        raise UserError(
            f"the value has {size} bytes: a standard parameter holds at most {VALUE_LIMIT_BYTES}"
        )
    if "{{" in value and "}}" in value:
        # botocore ssm model, PutParameterRequest.Value: no values wrapped in double brackets
        raise UserError("the value contains {{...}}: Parameter Store refuses such values")


def rows(parameters: list[dict], path: str) -> list[Row]:
    """get_parameters_by_path's Parameters as table rows, SecureString values masked."""
    found = []
    for p in sorted(parameters, key=lambda p: p["Name"]):
        secure = p.get("Type") == "SecureString"
        modified = p.get("LastModifiedDate")
        found.append(
            Row(
                name=p["Name"][len(path) :] if p["Name"].startswith(path) else p["Name"],
                type=p.get("Type", "?"),
                value=MASK if secure else p.get("Value", ""),
                version=int(p.get("Version", 0)),
                modified=modified.strftime("%Y-%m-%d %H:%M") if modified else "",
            )
        )
    return found


def config_path(env: Environment, clients) -> str:
    cfn = clients("cloudformation")
    existing_stack_status(cfn, env)
    path = stack_outputs(cfn, env.stack_name).get("AppConfigPath")
    if not path:
        raise UserError(
            f"the stack {env.stack_name} has no AppConfigPath output: update it with "
            f"`{env.make_hint('deploy')}` (it adds the app configuration path)"
        )
    return path


def set_parameter(env: Environment, clients, name: str, value: str, *, secure: bool) -> str:
    """Write one setting; returns its full name. Bad input changes nothing."""
    check_value(value)
    path = config_path(env, clients)
    full = setting_name(name, path)
    kind = "SecureString" if secure else "String"
    ssm = clients("ssm")
    existing = _existing_type(ssm, path, full)
    if existing == "SecureString" and not secure:
        # Refused rather than turn a secret into plain text by a forgotten flag.
        raise UserError(
            f"{full} is a SecureString: set it with --secure (its value stays encrypted)"
        )
    version = ssm.put_parameter(Name=full, Value=value, Type=kind, Overwrite=True)["Version"]
    shown = MASK if secure else value
    console.print(
        f"{full} = {shown} ({kind}, version {version}). It reaches the app at the next "
        f"deployment: push a commit, or `{env.make_hint('redeploy')}`",
        markup=False,
    )
    return full


def list_parameters(env: Environment, clients) -> list[Row]:
    path = config_path(env, clients)
    found = rows(_by_path(clients("ssm"), path), path)
    if not found:
        console.print(
            f"No settings under {path}: add one with "
            f"`{env.make_hint('config', 'set GREETING Hello')}`",
            markup=False,
        )
        return found
    width = max(len("NAME"), *(len(r.name) for r in found))
    console.print(f"Settings under {path} (the app sees each NAME upper-cased):", markup=False)
    console.print(f"{'NAME':<{width}}  {'TYPE':<12}  {'VER':>3}  {'MODIFIED':<16}  VALUE")
    for r in found:
        console.print(
            f"{r.name:<{width}}  {r.type:<12}  {r.version:>3}  {r.modified:<16}  {r.value}",
            markup=False,
            soft_wrap=True,
        )
    return found


def _by_path(ssm, path: str) -> list[dict]:
    found: list[dict] = []
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=path, Recursive=False, WithDecryption=False
    ):
        found.extend(page.get("Parameters", []))
    return found


def _existing_type(ssm, path: str, full: str) -> str | None:
    for p in _by_path(ssm, path):
        if p["Name"] == full:
            return p.get("Type")
    return None
