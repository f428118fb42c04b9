"""`pipekit local up|down|info`: the whole pipeline on this machine, no AWS account."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("local", help="run the pipeline locally (up, down, info)")
    parser.add_argument("action", choices=["up", "down", "info"])
    parser.add_argument("--state-dir", type=Path, help="default: <project>/.local")
    parser.add_argument("--port", type=int, help="emulated AWS endpoint port (PIPEKIT_LOCAL_PORT)")
    parser.add_argument(
        "--control-port", type=int, help="local service control port (PIPEKIT_LOCAL_CONTROL_PORT)"
    )
    parser.add_argument(
        "--env", default="local", help="local environment: parameters/<ENV>.json (local, local-*)"
    )
    parser.add_argument("--stack-name", help="default: pipekit-<ENV>")
    parser.set_defaults(func=run)


def run(args) -> int:
    from pipekit.local import lifecycle

    if args.action == "up":
        stack = lifecycle.up(
            state_dir=args.state_dir,
            port=args.port,
            control_port=args.control_port,
            stack_name=args.stack_name,
            env=args.env,
        )
        print(lifecycle.describe(stack), flush=True)
    elif args.action == "down":
        lifecycle.down(state_dir=args.state_dir)
    else:
        print(lifecycle.info(args.state_dir))
    return 0
