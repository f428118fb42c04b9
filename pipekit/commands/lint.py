"""`pipekit lint`: check every parameters/*.json against the root template, offline."""

from __future__ import annotations

from pathlib import Path

from pipekit.config import Environment, known_environments
from pipekit.errors import UserError
from pipekit.preflight import PLACEHOLDER_OWNER, check_parameter_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("lint", help="validate parameters/*.json against the template")
    parser.set_defaults(func=run)


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


def run(args) -> int:
    from pipekit import config

    lint_parameter_files(config.PROJECT_ROOT)
    return 0
