"""`pipekit lint`: check every parameters/*.json against the root template, offline."""

from __future__ import annotations

from pipekit.config import known_environments, resolve_environment
from pipekit.errors import UserError
from pipekit.preflight import check_parameter_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("lint", help="validate parameters/*.json against the template")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pipekit.config import PROJECT_ROOT, Environment

    failures = []
    names = known_environments(PROJECT_ROOT)
    if not names:
        raise UserError("no parameters/*.json to check")
    for name in names:
        # No resolve_environment here: `local` would require the local service to be running.
        env = Environment(
            name=name,
            parameter_file=PROJECT_ROOT / "parameters" / f"{name}.json",
            stack_name=f"pipekit-{name}",
            protected=False,
            root=PROJECT_ROOT,
            region=None,
            endpoint_url=None,
            credentials=None,
        )
        try:
            check_parameter_file(env)
            print(f"ok   parameters/{name}.json")
        except UserError as exc:
            failures.append(str(exc))
            print(f"FAIL {exc}")
    if failures:
        raise UserError(f"{len(failures)} parameter file(s) do not fit the root template")
    return 0


__all__ = ["register", "resolve_environment"]
