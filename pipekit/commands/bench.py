"""`pipekit bench`: local-mode speed, commit to live and broken commit to restored, per stage."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="time commit->live and broken->restored locally")
    parser.add_argument(
        "--state-dir", type=Path, help="local mode state (default <project>/.local)"
    )
    parser.add_argument(
        "--json", type=Path, default=Path("build/bench/local.json"), help="where to write results"
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from pipekit.local import bench

    bench.run_and_report(args.state_dir, args.json)
    return 0
