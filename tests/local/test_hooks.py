"""The CodeDeploy hook runner and the project's appspec + scripts, on a real systemd host.

The scenario tests (test_scenario_*) run in file order on one host and build on each other:
install, upgrade, broken release + redeploy of the last good bundle, deploy after a kill.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipekit.local.runtime.agent import AGENT_ROOT
from pipekit.local.runtime.buildrunner import copy_source, run_build, write_zip
from pipekit.local.runtime.hookrunner import DeploymentOutcome, parse_appspec
from pipekit.local.runtime.host import Host, boot_host, cleanup_stale
from pipekit.local.runtime.rootfs import ensure_rootfs
from pipekit.samplechanges import break_at_runtime, set_marker
from tests.support.bundles import deploy_zip

REPO = Path(__file__).resolve().parents[2]
BUILD_PATH = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
APP = {
    "application_name": "sample-app",
    "deployment_group_name": "sample-app-dg",
    "deployment_group_id": "11111111-2222-3333-4444-555555555555",
}
SCENARIO_PORT = 21100
ALL_EVENTS = [
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
]


# --- appspec parsing (no host) ---------------------------------------------------------------


def test_project_appspec_has_all_five_hooks_with_timeouts() -> None:
    spec = parse_appspec((REPO / "appspec.yml").read_text())
    hooks = spec["hooks"]
    assert set(hooks) == {
        "ApplicationStop",
        "BeforeInstall",
        "AfterInstall",
        "ApplicationStart",
        "ValidateService",
    }
    for entries in hooks.values():
        for entry in entries:
            assert 0 < int(entry["timeout"]) <= 3600
            script = REPO / entry["location"]
            assert script.is_file()
            assert script.stat().st_mode & 0o111, f"{script} is not executable"
            text = script.read_text()
            assert text.startswith("#!/usr/bin/env bash\n")
            assert "set -euo pipefail" in text


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": 1.0}, "version"),
        ({"os": "windows"}, "os"),
        ({"file_exists_behavior": "MERGE"}, "file_exists_behavior"),
        ({"hooks": {"Install": [{"location": "x.sh"}]}}, "Install"),
        ({"hooks": {"ValidateService": [{"location": "x.sh", "timeout": 3601}]}}, "timeout"),
    ],
)
def test_parse_appspec_rejects(change: dict, message: str) -> None:
    spec = {"version": 0.0, "os": "linux", **change}
    with pytest.raises(ValueError, match=message):
        parse_appspec(yaml.safe_dump(spec))


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rootfs() -> Path:
    return ensure_rootfs()


@pytest.fixture
def host(rootfs: Path, tmp_path: Path) -> Iterator[Host]:
    h = boot_host("pk-b-hooks", app_port=21090, state_dir=tmp_path / "hosts")
    try:
        yield h
    finally:
        h.stop()


def make_bundle(tmp_path: Path, appspec: str, scripts: dict[str, str]) -> Path:
    files: list[tuple[str, Path]] = []
    spec_path = tmp_path / "appspec.yml"
    spec_path.write_text(textwrap.dedent(appspec))
    files.append(("appspec.yml", spec_path))
    for name, body in scripts.items():
        path = tmp_path / name.replace("/", "_")
        path.write_text("#!/bin/bash\n" + textwrap.dedent(body))
        path.chmod(0o755)
        files.append((name, path))
    return write_zip(files, tmp_path / "bundle.zip")


def statuses(outcome: DeploymentOutcome) -> dict[str, str]:
    return {e.name: e.status for e in outcome.events}


# --- agent behaviour on small bundles (host) ---------------------------------------------------


@pytest.mark.host
def test_hook_environment_runas_files_and_permissions(host: Host, tmp_path: Path) -> None:
    bundle = make_bundle(
        tmp_path,
        """
        version: 0.0
        os: linux
        files:
          - source: /
            destination: /srv/pk
        permissions:
          - object: /srv/pk
            pattern: "*.sh"
            owner: nobody
            mode: 750
            type: [file]
        hooks:
          BeforeInstall:
            - location: hooks/env.sh
              timeout: 30
          AfterInstall:
            - location: hooks/whoami.sh
              timeout: 30
              runas: nobody
        """,
        {
            "hooks/env.sh": "env | grep -E '^(LIFECYCLE_EVENT|DEPLOYMENT_|APPLICATION_)' | sort\n",
            "hooks/whoami.sh": 'echo "user=$(id -un)"\n',
        },
    )
    outcome = deploy_zip(host, bundle, deployment_id="d-ENV1", **APP)
    assert outcome.status == "Succeeded", outcome.message
    env_lines = outcome.event("BeforeInstall").log_tail.replace("[stdout]", "").splitlines()
    assert env_lines == [
        f"APPLICATION_NAME={APP['application_name']}",
        f"DEPLOYMENT_GROUP_ID={APP['deployment_group_id']}",
        f"DEPLOYMENT_GROUP_NAME={APP['deployment_group_name']}",
        "DEPLOYMENT_ID=d-ENV1",
        "LIFECYCLE_EVENT=BeforeInstall",
    ]
    assert "[stdout]user=nobody" in outcome.event("AfterInstall").log_tail
    listing = host.run(["stat", "-c", "%U %a %n", "/srv/pk/hooks/env.sh", "/srv/pk/appspec.yml"])
    assert listing.stdout.splitlines() == [
        "nobody 750 /srv/pk/hooks/env.sh",
        "root 644 /srv/pk/appspec.yml",
    ]
    archive = AGENT_ROOT / APP["deployment_group_id"] / "d-ENV1" / "deployment-archive"
    assert host.run(["test", "-f", f"{archive}/appspec.yml"], check=False).returncode == 0
    last = host.run(
        [
            "cat",
            f"{AGENT_ROOT}/deployment-instructions/{APP['deployment_group_id']}"
            "_last_successful_install",
        ]
    )
    assert last.stdout.strip() == str(archive.parent)


@pytest.mark.host
def test_file_exists_behavior(host: Host, tmp_path: Path) -> None:
    host.put_file("/srv/pk2/keep.txt", b"pre-existing\n")
    spec = """
        version: 0.0
        os: linux
        files:
          - source: keep.txt
            destination: /srv/pk2
        {behavior}
        """
    for behavior, status, content in [
        ("", "Failed", "pre-existing"),  # DISALLOW is the default
        ("file_exists_behavior: RETAIN", "Succeeded", "pre-existing"),
        ("file_exists_behavior: OVERWRITE", "Succeeded", "from bundle"),
    ]:
        work = tmp_path / (behavior.split(":")[-1].strip() or "DISALLOW")
        work.mkdir()
        bundle = make_bundle(work, spec.format(behavior=behavior), {})
        with zipfile.ZipFile(bundle, "a") as zf:
            zf.writestr("keep.txt", "from bundle\n")
        outcome = deploy_zip(host, bundle, deployment_id=f"d-FE-{work.name}", **APP)
        assert outcome.status == status, (behavior, outcome.message)
        assert host.run(["cat", "/srv/pk2/keep.txt"]).stdout.strip() == content
        if status == "Failed":
            assert statuses(outcome)["Install"] == "Failed"
            assert "already exists" in (outcome.message or "")
        # The next deployment removes what the previous one installed (the agent's cleanup):
        # put the pre-existing file back so each case starts from the same state.
        host.put_file("/srv/pk2/keep.txt", b"pre-existing\n")


@pytest.mark.host
def test_failing_and_timed_out_hooks(host: Host, tmp_path: Path) -> None:
    appspec = """
        version: 0.0
        os: linux
        hooks:
          AfterInstall:
            - location: s/{script}
              timeout: 2
        """
    cases = {
        "fail.sh": ("echo about to fail\nexit 4\n", "ScriptFailed"),
        "slow.sh": ("sleep 20\n", "ScriptTimedOut"),
        # A background child holding stdout keeps the hook running, as with the real agent.
        "holds.sh": ("sleep 20 &\necho started\n", "ScriptTimedOut"),
    }
    for script, (body, code) in cases.items():
        work = tmp_path / script
        work.mkdir()
        bundle = make_bundle(work, appspec.format(script=script), {f"s/{script}": body})
        started = time.monotonic()
        outcome = deploy_zip(host, bundle, deployment_id=f"d-{script[:-3]}", **APP)
        assert time.monotonic() - started < 15, "a timed-out hook must be cut off"
        assert outcome.status == "Failed"
        assert outcome.error_code == "HOOK_EXECUTION_FAILURE"
        event = outcome.event("AfterInstall")
        assert event.diagnostics_code == code
        assert event.script_name == f"s/{script}"
        assert statuses(outcome)["ApplicationStart"] == "Skipped"
        assert statuses(outcome)["ValidateService"] == "Skipped"
        if code == "ScriptFailed":
            assert "[stdout]about to fail" in event.log_tail
            assert "exit code 4" in (outcome.message or "")


@pytest.mark.host
def test_script_not_executable_and_missing(host: Host, tmp_path: Path) -> None:
    bundle = make_bundle(
        tmp_path,
        """
        version: 0.0
        os: linux
        hooks:
          BeforeInstall:
            - location: s/plain.sh
          AfterInstall:
            - location: s/absent.sh
        """,
        {"s/plain.sh": "echo hi\n"},
    )
    with zipfile.ZipFile(bundle) as zf:
        entries = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(bundle, "w") as zf:
        for info, data in entries:
            if info.filename == "s/plain.sh":
                info.external_attr = 0o100644 << 16
            zf.writestr(info, data)
    outcome = deploy_zip(host, bundle, deployment_id="d-NOX", **APP)
    # The agent makes a script without the run bit executable and runs it (hook_executor.rb).
    assert outcome.event("BeforeInstall").status == "Succeeded"
    assert "[stdout]hi" in outcome.event("BeforeInstall").log_tail
    assert outcome.event("AfterInstall").diagnostics_code == "ScriptMissing"

    (tmp_path / "b2").mkdir()
    bundle2 = make_bundle(
        tmp_path / "b2",
        "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: s/absent.sh\n",
        {},
    )
    outcome = deploy_zip(host, bundle2, deployment_id="d-MISSING", **APP)
    assert outcome.event("AfterInstall").diagnostics_code == "ScriptMissing"
    archive = AGENT_ROOT / APP["deployment_group_id"] / "d-MISSING" / "deployment-archive"
    assert outcome.event("AfterInstall").message == (
        f"Script does not exist at specified location: {archive}/s/absent.sh"
    )


@pytest.mark.host
def test_application_stop_runs_the_last_successful_revision(host: Host, tmp_path: Path) -> None:
    def bundle(name: str, stop_body: str) -> Path:
        work = tmp_path / name
        work.mkdir()
        return make_bundle(
            work,
            """
            version: 0.0
            os: linux
            hooks:
              ApplicationStop:
                - location: stop.sh
                  timeout: 10
            """,
            {"stop.sh": stop_body},
        )

    first = deploy_zip(host, bundle("one", "echo stop-from-one\n"), deployment_id="d-1", **APP)
    assert first.status == "Succeeded"
    assert first.event("ApplicationStop").log_tail == ""  # first deployment: nothing to run
    # A revision with a broken stop script deploys fine (its stop script has not run yet)...
    bad = deploy_zip(host, bundle("two", "exit 1\n"), deployment_id="d-2", **APP)
    assert bad.status == "Succeeded"
    assert "[stdout]stop-from-one" in bad.event("ApplicationStop").log_tail
    # ...and then blocks the next deployment, exactly the trap the real agent has.
    blocked = deploy_zip(host, bundle("three", "echo three\n"), deployment_id="d-3", **APP)
    assert blocked.status == "Failed"
    assert blocked.event("ApplicationStop").diagnostics_code == "ScriptFailed"
    ignored = deploy_zip(
        host,
        bundle("four", "echo four\n"),
        deployment_id="d-4",
        ignore_application_stop_failures=True,
        **APP,
    )
    assert ignored.status == "Succeeded"
    assert ignored.event("ApplicationStop").status == "Failed"  # as the agent reported it


# --- the project's bundle on a host: the proof -----------------------------------------


def get(h: Host, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{h.address}:{SCENARIO_PORT}{path}", timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def build_revision(tmp_path: Path, name: str, commit: str, marker: str, broken: bool = False):
    checkout = tmp_path / f"checkout-{name}"
    copy_source(REPO, checkout)
    set_marker(checkout, marker)
    if broken:
        break_at_runtime(checkout)
    env = {"PATH": BUILD_PATH, "COMMIT_ID": commit, "PIPELINE_EXECUTION_ID": f"exec-{name}"}
    result = run_build(checkout, tmp_path / f"build-{name}", env)
    assert result.status == "SUCCEEDED", result.log[-3000:]
    assert result.artifact is not None
    return result


@pytest.fixture(scope="module")
def scenario(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("scenario")
    h = boot_host("pk-b-scenario", app_port=SCENARIO_PORT, state_dir=tmp / "hosts")
    state: dict = {"host": h, "tmp": tmp}
    try:
        yield state
    finally:
        h.stop()
        cleanup_stale(tmp / "hosts")


def service_pids(h: Host) -> set[int]:
    out = h.run(["pgrep", "-u", "sample-app"], check=False).stdout
    return {int(p) for p in out.split()}


@pytest.mark.host
def test_scenario_1_first_install_serves_the_bundle_commit(scenario: dict) -> None:
    h: Host = scenario["host"]
    good = build_revision(scenario["tmp"], "good1", "a" * 40, "release alpha")
    scenario["good1"] = good
    # ApplicationStop must succeed when nothing was ever installed.
    with zipfile.ZipFile(good.artifact) as zf:
        for name in ("scripts/application_stop.sh", "scripts/common.sh"):
            h.put_file(f"/root/pre/{name}", zf.read(name), 0o755)
    pre = h.run(["/root/pre/scripts/application_stop.sh"], check=False)
    assert pre.returncode == 0, pre.stderr

    outcome = deploy_zip(h, good.artifact, deployment_id="d-GOOD1", **APP)
    assert outcome.status == "Succeeded", outcome.log_tail
    assert list(statuses(outcome)) == ALL_EVENTS
    assert set(statuses(outcome).values()) == {"Succeeded"}
    status, body = get(h, "/version")
    assert status == 200
    assert json.loads(body) == json.loads(
        zipfile.ZipFile(good.artifact).read("version.json").decode()
    )
    status, page = get(h, "/")
    assert status == 200 and "release alpha" in page and "a" * 40 in page
    assert get(h, "/health")[0] == 200
    link = h.run(["readlink", "/opt/sample-app/current"]).stdout.strip()
    assert link == "/opt/sample-app/releases/d-GOOD1"
    # Runs as the unprivileged user, with only the bind capability, under systemd.
    assert h.run(["systemctl", "is-active", "sample-app.service"]).stdout.strip() == "active"
    assert service_pids(h)
    uid = h.run(["id", "-u", "sample-app"]).stdout.strip()
    assert uid != "0"
    props = h.run(
        ["systemctl", "show", "sample-app.service", "-p", "User,Restart,AmbientCapabilities"]
    ).stdout
    assert "User=sample-app" in props
    assert "Restart=on-failure" in props
    assert "cap_net_bind_service" in props
    # The release venv was built from the bundled wheels with no index: pip is not in it.
    venv = h.run(["ls", "/opt/sample-app/current/venv/bin"]).stdout.split()
    assert "gunicorn" in venv
    assert "pip" not in venv


@pytest.mark.host
def test_scenario_2_upgrade_stops_the_old_and_serves_the_new(scenario: dict) -> None:
    h: Host = scenario["host"]
    old_pids = service_pids(h)
    assert old_pids, "scenario 1 must have left the service running"
    good2 = build_revision(scenario["tmp"], "good2", "b" * 40, "release beta")
    scenario["good2"] = good2
    outcome = deploy_zip(h, good2.artifact, deployment_id="d-GOOD2", **APP)
    assert outcome.status == "Succeeded", outcome.log_tail
    assert "stopping sample-app.service" in outcome.event("ApplicationStop").log_tail
    assert json.loads(get(h, "/version")[1])["commit"] == "b" * 40
    assert "release beta" in get(h, "/")[1]
    new_pids = service_pids(h)
    assert new_pids and not (old_pids & new_pids)
    releases = h.run(["ls", "/opt/sample-app/releases"]).stdout.split()
    assert releases == ["d-GOOD1", "d-GOOD2"]


@pytest.mark.host
def test_scenario_3_broken_release_fails_validation_and_redeploy_restores(scenario: dict) -> None:
    h: Host = scenario["host"]
    broken = build_revision(scenario["tmp"], "broken", "c" * 40, "release broken", broken=True)
    # It passed its unit tests and built: only the deployment can catch it.
    assert broken.status == "SUCCEEDED"
    outcome = deploy_zip(h, broken.artifact, deployment_id="d-BROKEN", **APP)
    assert outcome.status == "Failed"
    assert outcome.error_code == "HOOK_EXECUTION_FAILURE"
    assert statuses(outcome)["ValidateService"] == "Failed"
    assert outcome.event("ValidateService").diagnostics_code == "ScriptFailed"
    # It failed at the release's first crash, not after systemd's StartLimitBurst (5) starts.
    unit = ["systemctl", "show", "-p", "NRestarts", "--value", "sample-app.service"]
    assert int(h.run(unit).stdout) < 3
    assert health_status(h) != 200
    # What CodeDeploy's rollback does: a new deployment of the last good revision.
    restore = deploy_zip(h, scenario["good2"].artifact, deployment_id="d-RESTORE", **APP)
    assert restore.status == "Succeeded", restore.log_tail
    assert json.loads(get(h, "/version")[1])["commit"] == "b" * 40
    # ApplicationStop of the restore ran the script of the last successful INSTALL: d-BROKEN,
    # whose Install succeeded before its ValidateService failed (the agent's rule).
    last = h.run(
        [
            "cat",
            f"{AGENT_ROOT}/deployment-instructions/{APP['deployment_group_id']}"
            "_last_successful_install",
        ]
    ).stdout.strip()
    assert last.endswith("/d-RESTORE")
    assert "/d-BROKEN" in (restore.event("ApplicationStop").message or "")
    assert h.run(["readlink", "/opt/sample-app/current"]).stdout.strip().endswith("/d-RESTORE")


def health_status(h: Host) -> int | None:
    try:
        return get(h, "/health")[0]
    except (urllib.error.URLError, ConnectionError):
        return None


@pytest.mark.host
def test_scenario_4_deploy_after_the_service_was_killed(scenario: dict) -> None:
    h: Host = scenario["host"]
    main_pid = h.run(["systemctl", "show", "-p", "MainPID", "--value", "sample-app"]).stdout
    h.run(["kill", "-9", main_pid.strip()])
    h.run(["pkill", "-9", "-u", "sample-app"], check=False)
    good3 = build_revision(scenario["tmp"], "good3", "d" * 40, "release delta")
    outcome = deploy_zip(h, good3.artifact, deployment_id="d-AFTERKILL", **APP)
    assert outcome.event("ApplicationStop").status == "Succeeded"
    assert outcome.status == "Succeeded", outcome.log_tail
    assert json.loads(get(h, "/version")[1])["commit"] == "d" * 40
    # Old releases are pruned to the last three.
    releases = h.run(["ls", "/opt/sample-app/releases"]).stdout.split()
    assert len(releases) == 3
    assert "d-AFTERKILL" in releases and "d-GOOD1" not in releases


@pytest.mark.host
def test_scenario_5_a_release_that_never_serves_fails_after_the_budget_in_the_env_file(
    scenario: dict,
) -> None:
    """ValidateService's budget is VALIDATE_SECONDS from /etc/sample-app/env (the stack's
    ValidateServiceSeconds, written by the user data): a release whose app never starts and
    never crashes fails after that many seconds, with the reason."""
    h: Host = scenario["host"]
    checkout = scenario["tmp"] / "checkout-silent"
    copy_source(REPO, checkout)
    # ApplicationStart starts nothing: no answer, and no crash for the script to notice
    (checkout / "scripts/application_start.sh").write_text("#!/usr/bin/env bash\nexit 0\n")
    env = {"PATH": BUILD_PATH, "COMMIT_ID": "e" * 40, "PIPELINE_EXECUTION_ID": "exec-silent"}
    silent = run_build(checkout, scenario["tmp"] / "build-silent", env)
    assert silent.status == "SUCCEEDED", silent.log[-3000:]
    env_file = h.run(["cat", "/etc/sample-app/env"]).stdout
    h.put_file("/etc/sample-app/env", (env_file + "VALIDATE_SECONDS=3\n").encode())
    try:
        outcome = deploy_zip(h, silent.artifact, deployment_id="d-SILENT", **APP)
    finally:
        h.put_file("/etc/sample-app/env", env_file.encode())
    assert outcome.status == "Failed"
    validate = outcome.event("ValidateService")
    assert validate.status == "Failed"
    assert "gave up after 3 s (VALIDATE_SECONDS in /etc/sample-app/env)" in validate.log_tail
    # bash SECONDS counts whole seconds: the budget ends within its last second
    assert 2 <= validate.duration_s < 20, validate.duration_s
