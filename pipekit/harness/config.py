"""Which environment a command acts on: parameter file, stack name, protection, endpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pipekit.errors import UserError
from pipekit.local.state import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    default_state_dir,
    read_state_data,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROTECTED_ENVIRONMENTS = frozenset({"prod"})
LOCAL_ENVIRONMENT = "local"


@dataclass(frozen=True)
class Environment:
    name: str
    parameter_file: Path
    stack_name: str
    protected: bool
    region: str | None  # None = the standard boto3 chain decides
    endpoint_url: str | None
    credentials: dict[str, str] | None  # None = the standard boto3 credential chain
    app_url: str | None = None  # known up front only in local mode
    root: Path = PROJECT_ROOT

    @property
    def template_dir(self) -> Path:
        return self.root / "templates"

    def make_hint(self, target: str, extra: str = "") -> str:
        """The command a user types to run `target` on this environment."""
        args = f" ARGS={extra!r}" if extra else ""
        return f"make {target} ENV={self.name}{args}"


def is_local(name: str) -> bool:
    """Whether ENV=`name` is a local mode's environment (`local`, `local-fleet`, `local-*`)."""
    return name == LOCAL_ENVIRONMENT or name.startswith(f"{LOCAL_ENVIRONMENT}-")


def known_environments(root: Path = PROJECT_ROOT) -> list[str]:
    return sorted(p.stem for p in (root / "parameters").glob("*.json"))


def read_local_state(root: Path = PROJECT_ROOT) -> dict:
    """What `make local` recorded in <root>/.local/state.json, or a UserError saying what to run."""
    return read_state_data(default_state_dir(root))


def resolve_environment(
    name: str,
    *,
    stack_name: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    root: Path | None = None,
) -> Environment:
    """Map `--env NAME` and its overrides to an Environment; unknown names are a user error."""
    root = root or PROJECT_ROOT
    parameter_file = root / "parameters" / f"{name}.json"
    known = known_environments(root)
    if name not in known and not parameter_file.exists():
        listing = ", ".join(known) if known else "none: the parameters/ directory is empty"
        raise UserError(
            f"unknown environment {name!r}: there is no parameters/{name}.json "
            f"(known environments: {listing})"
        )
    credentials = None
    app_url = None
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if is_local(name):
        state = read_local_state(root)
        running = state.get("env") or LOCAL_ENVIRONMENT
        if running != name:
            raise UserError(
                f"local mode runs ENV={running}, not ENV={name} (one local mode at a time): "
                f"use ENV={running}, or `make local-down` then `make local ENV={name}`"
            )
        endpoint = endpoint_url or state["endpoint_url"]
        region = region or state.get("region") or LOCAL_REGION
        app_url = state.get("app_url")
        credentials = dict(LOCAL_CREDENTIALS)
    return Environment(
        name=name,
        parameter_file=parameter_file,
        stack_name=stack_name or f"pipekit-{name}",
        protected=name in PROTECTED_ENVIRONMENTS,
        region=region,
        endpoint_url=endpoint,
        credentials=credentials,
        app_url=app_url,
        root=root,
    )


def add_environment_arguments(parser) -> None:
    """The options every AWS-facing sub-command shares."""
    parser.add_argument("--env", default="dev", help="environment: parameters/<ENV>.json")
    parser.add_argument("--stack-name", help="override the stack name (default pipekit-<ENV>)")
    parser.add_argument("--region", help="override the region (default: AWS_REGION / profile)")
    parser.add_argument(
        "--endpoint-url", help="an emulated AWS endpoint (default: AWS_ENDPOINT_URL if set)"
    )


def environment_from_args(args) -> Environment:
    return resolve_environment(
        args.env,
        stack_name=getattr(args, "stack_name", None),
        endpoint_url=getattr(args, "endpoint_url", None),
        region=getattr(args, "region", None),
    )
