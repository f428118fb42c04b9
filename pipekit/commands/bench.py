"""`pipekit bench`: local-mode speed, commit to live and broken commit to restored, per stage."""

from __future__ import annotations

from pathlib import Path

from pipekit.errors import UserError


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
    from pipekit.local import bench, lifecycle

    state_dir = args.state_dir or lifecycle.PROJECT_ROOT / ".local"
    stack = lifecycle.read_state(state_dir)
    if stack is None or not lifecycle.is_running(stack):
        raise UserError("local mode is not running: run `make local` first")
    try:
        report = bench.run_bench(stack)
    except (TimeoutError, RuntimeError) as exc:
        raise UserError(f"benchmark aborted: {exc}; see `make status ENV=local`") from None
    print(bench.table(report))
    print(f"Results: {bench.write_json(report, args.json)}")
    return 0
