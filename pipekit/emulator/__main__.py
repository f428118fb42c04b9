"""`python -m pipekit.emulator --port N`: serve the emulated AWS endpoint in the foreground."""

from __future__ import annotations

import argparse
import signal
import threading

from pipekit.emulator.server import start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipekit.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0 = any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--log-requests", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    emulator = start(port=args.port, host=args.host, log_requests=args.log_requests)
    print(emulator.endpoint_url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
