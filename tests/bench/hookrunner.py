"""`python -m tests.bench.hookrunner`: the hook runner's numbers on a local host: rootfs
creation, bundle build and size, hooks-start to ValidateService-passed for a first install and
for an upgrade. Prints them; asserts nothing. Needs root, systemd-nspawn and debootstrap."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from pipekit.local.runtime.buildrunner import run_build
from pipekit.local.runtime.host import boot_host
from pipekit.local.runtime.rootfs import ensure_rootfs, rootfs_build_seconds
from tests.support.bundles import deploy_zip

ROOT = Path(__file__).resolve().parents[2]
PORT = 21500


def main(port: int = PORT) -> int:
    path = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
    started = time.monotonic()
    rootfs = ensure_rootfs()
    print(
        f"rootfs: {rootfs} (created in {rootfs_build_seconds(rootfs)} s; "
        f"this call {time.monotonic() - started:.1f} s)"
    )
    with tempfile.TemporaryDirectory(prefix="pk-b-bench-") as tmp:
        work = Path(tmp)
        builds = []
        for n in (1, 2):
            t0 = time.monotonic()
            env = {"PATH": path, "COMMIT_ID": f"{n}" * 40, "PIPELINE_EXECUTION_ID": f"bench-{n}"}
            result = run_build(ROOT, work / f"build{n}", env)
            if result.status != "SUCCEEDED" or result.artifact is None:
                print(result.log[-3000:])
                return 1
            print(
                f"build {n}: {time.monotonic() - t0:.2f} s, bundle "
                f"{result.artifact.stat().st_size / 1e6:.2f} MB, phases "
                + ", ".join(f"{p.name}={p.duration_s:.2f}" for p in result.phases)
            )
            builds.append(result.artifact)
        t0 = time.monotonic()
        host = boot_host("pk-b-bench", app_port=port, state_dir=work / "hosts")
        print(f"host boot: {time.monotonic() - t0:.2f} s")
        try:
            for n, bundle in enumerate(builds, 1):
                t0 = time.monotonic()
                outcome = deploy_zip(
                    host,
                    bundle,
                    deployment_id=f"d-BENCH{n}",
                    application_name="sample-app",
                    deployment_group_name="bench",
                    deployment_group_id="bench-dg",
                )
                label = "first install" if n == 1 else "upgrade"
                print(
                    f"deploy {n} ({label}): {outcome.status}, hooks start to ValidateService "
                    f"passed {time.monotonic() - t0:.2f} s; "
                    + ", ".join(f"{e.name}={e.duration_s:.2f}" for e in outcome.events)
                )
                if outcome.status != "Succeeded":
                    print(outcome.log_tail)
                    return 1
        finally:
            host.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
