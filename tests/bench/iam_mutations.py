"""The whole IAM mutation set (tests/support/iam_mutations.py): one line per permission,
removed -> failing step -> error, then the table's rows local mode never exercises.

    python -m tests.bench.iam_mutations [--only TEXT]      (make test-iam-mutations)

Exit status 0 when the templates pass as they are and every mutation fails at its step with
AWS's error; 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.support.iam_mutations import Harness, baseline, mutations, run_mutation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the mutations whose label has TEXT")
    args = parser.parse_args(argv)
    from pipekit.emulator import start

    emulator = start()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="iam-mutations-") as tmp:
            harness = Harness(emulator, Path(tmp))
            trace, outcome = baseline(harness)
            if outcome.step is not None:
                print(f"the templates as they are fail at {outcome.step} ({outcome.where}):")
                print(f"  {outcome.error}")
                return 1
            found, unexercised = mutations(trace)
            chosen = [m for m in found if args.only in m.label]
            print(f"{len(trace)} authorizations in a run; {len(chosen)} of {len(found)} mutations")
            print("removed | failing step | error | verdict")
            results = []
            for mutation in chosen:
                results.append(run_mutation(harness, mutation))
                print(results[-1].row(), flush=True)
            for call in unexercised:
                print(
                    f"not exercised: {call.step} {call.principal} {call.action} (when {call.when})"
                )
            missed = [r for r in results if not r.caught]
            print(
                f"{len(results) - len(missed)} caught, {len(missed)} missed in "
                f"{time.monotonic() - started:.0f} s"
            )
            return 1 if missed else 0
    finally:
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
