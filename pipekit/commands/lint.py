"""`pipekit lint`: check every parameters/*.json against the root template, offline."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("lint", help="validate parameters/*.json against the template")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pipekit.harness import config
    from pipekit.harness.preflight import lint_parameter_files

    lint_parameter_files(config.PROJECT_ROOT)
    return 0
