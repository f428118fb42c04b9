"""`python -m tests.bench.emulator [--runs N]`: how long the emulator takes to start, and to
create, update and delete the real root stack with its five nested stacks (through change sets,
as a deploy does). Prints the numbers; asserts nothing."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.emulator_fixtures import local_parameters, publish_templates

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "pipekit-bench-templates"
STACK = "pipekit-bench"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


def _publish(s3: Any, prefix: str) -> str:
    return publish_templates(s3, BUCKET, prefix, ROOT / "templates")


def _apply(cfn: Any, name: str, kind: str, url: str, params: list[dict[str, str]]) -> None:
    cfn.create_change_set(
        StackName=STACK,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=url,
        Parameters=params,
        Capabilities=CAPABILITIES,
    )
    cfn.get_waiter("change_set_create_complete").wait(
        StackName=STACK, ChangeSetName=name, WaiterConfig={"Delay": 1}
    )
    cfn.execute_change_set(StackName=STACK, ChangeSetName=name)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    cfn.get_waiter(waiter).wait(StackName=STACK, WaiterConfig={"Delay": 1})


def run_once(emulator: Any) -> dict[str, float]:
    emulator.reset()
    s3, cfn, ssm = (emulator.client(name) for name in ("s3", "cloudformation", "ssm"))
    s3.create_bucket(Bucket=BUCKET)
    timings = {}
    started = time.perf_counter()
    _apply(cfn, "create", "CREATE", _publish(s3, "v1/"), local_parameters(ssm, BUCKET, "v1/"))
    timings["create"] = time.perf_counter() - started
    started = time.perf_counter()
    update = {"DeploymentMode": "fleet", "BranchName": "release"}
    _apply(
        cfn, "update", "UPDATE", _publish(s3, "v2/"), local_parameters(ssm, BUCKET, "v2/", **update)
    )
    timings["update (single -> fleet)"] = time.perf_counter() - started
    started = time.perf_counter()
    cfn.delete_stack(StackName=STACK)
    cfn.get_waiter("stack_delete_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1})
    timings["delete"] = time.perf_counter() - started
    return timings


def _cold_start() -> float:
    """Import (moto, the extensions) plus start, in a fresh interpreter, as a service pays it."""
    code = (
        "import time; t = time.perf_counter(); import pipekit.emulator as e; s = e.start(); "
        "s.client('sts').get_caller_identity(); print(time.perf_counter() - t)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(result.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.emulator", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    from pipekit.emulator.server import start

    startup = _cold_start()
    emulator = start()
    try:
        runs = [run_once(emulator) for _ in range(args.runs)]
    finally:
        emulator.stop()
    print(f"cold start (import moto + extensions, start, first call): {startup:.2f} s")
    print(f"root + 5 nested stacks, real templates, {args.runs} runs (min / median / max):")
    for phase in runs[0]:
        values = [run[phase] for run in runs]
        print(
            f"  {phase:26} {min(values):6.2f} s  {statistics.median(values):6.2f} s"
            f"  {max(values):6.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
