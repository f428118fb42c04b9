"""The user data's wait-in-service step (templates/ec2.yaml), run with bash against fake `aws`,
`curl` and `sleep`: it signals only once the Auto Scaling API says the instance is InService
(CodeDeploy's launch deployment succeeded), and fails, so the trap signals FAILURE with the
step's name, when that does not happen within its bound or the API refuses the call."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_templates import _user_data, rendered

FAKES = {
    # each call answers the next line of states.txt (the last one repeats) and logs its argv
    "aws": """#!/bin/bash
echo "$*" >> "$FAKE_DIR/aws.log"
[ -f "$FAKE_DIR/denied" ] && { echo 'An error occurred (AccessDenied)' >&2; exit 254; }
n=$(wc -l < "$FAKE_DIR/aws.log")
line=$(sed -n "${n}p" "$FAKE_DIR/states.txt")
[ -n "$line" ] || line=$(tail -n 1 "$FAKE_DIR/states.txt")
echo "$line"
""",
    "curl": """#!/bin/bash
case "$*" in *instance-id*) echo i-0123456789abcdef0 ;; *) echo token ;; esac
""",
    "sleep": "#!/bin/bash\n/bin/sleep 0.2\n",
}


def wait_step(script: str) -> str:
    """The step's lines, from its STEP= line to the next step's."""
    match = re.search(r"^STEP=wait-in-service$.*?(?=^STEP=)", script, re.MULTILINE | re.DOTALL)
    assert match, "the user data has no wait-in-service step"
    return match.group(0)


def run_step(tmp_path: Path, states: list[str], *, timeout: int | None = None, denied=False):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "states.txt").write_text("\n".join(states) + "\n")
    if denied:
        (tmp_path / "denied").write_text("")
    step = wait_step(_user_data("single"))
    if timeout is not None:
        step = step.replace("IN_SERVICE_TIMEOUT=540", f"IN_SERVICE_TIMEOUT={timeout}")
    script = tmp_path / "step.sh"
    script.write_text(f"set -euo pipefail\nREGION=us-east-1\n{step}\necho READY\n")
    return subprocess.run(
        ["bash", str(script)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_step_waits_through_pending_wait_until_in_service(tmp_path: Path) -> None:
    done = run_step(tmp_path, ["Pending", "Pending:Wait", "Pending:Wait", "InService"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "READY"
    calls = (tmp_path / "aws.log").read_text().splitlines()
    assert len(calls) == 4
    assert calls[0].split()[:2] == ["autoscaling", "describe-auto-scaling-instances"]
    assert "--instance-ids i-0123456789abcdef0" in calls[0]


def test_first_creation_with_no_hook_goes_on_at_once(tmp_path: Path) -> None:
    done = run_step(tmp_path, ["InService"])
    assert done.returncode == 0 and done.stdout.strip() == "READY"
    assert len((tmp_path / "aws.log").read_text().splitlines()) == 1


@pytest.mark.parametrize("states", [["Pending:Wait"], ["None"]], ids=["pending", "gone"])
def test_no_in_service_within_the_bound_fails_the_step(tmp_path: Path, states) -> None:
    done = run_step(tmp_path, states, timeout=1)
    assert done.returncode != 0
    assert "READY" not in done.stdout


def test_a_refused_call_fails_the_step(tmp_path: Path) -> None:
    done = run_step(tmp_path, ["InService"], denied=True)
    assert done.returncode != 0 and "READY" not in done.stdout


def test_the_bound_is_inside_pause_time_and_the_creation_policy() -> None:
    asg = rendered("ec2", "single")["Resources"]["AutoScalingGroup"]
    assert asg["UpdatePolicy"]["AutoScalingRollingUpdate"]["PauseTime"] == "PT15M"
    assert asg["CreationPolicy"]["ResourceSignal"]["Timeout"] == "PT15M"
    bound = int(re.search(r"^IN_SERVICE_TIMEOUT=(\d+)$", _user_data("single"), re.M).group(1))
    # boot before the step takes a few minutes (packages, agent install): keep 5 of the 15
    assert bound <= 15 * 60 - 5 * 60
