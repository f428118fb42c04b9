"""pipekit.samplechanges: the edits e2e and bench make still build, and do what they claim."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipekit.e2e import decisions
from pipekit.local.runtime.buildrunner import copy_source, run_build
from pipekit.local.runtime.host import boot_host, cleanup_stale
from pipekit.local.runtime.rootfs import ensure_rootfs
from pipekit.samplechanges import (
    break_at_runtime,
    fail_root_under_traffic,
    is_broken,
    set_marker,
)
from tests.support.bundles import deploy_zip

REPO = Path(__file__).resolve().parents[2]
BUILD_PATH = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
HOST_PORT = 21130


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    dest = tmp_path / "repo"
    copy_source(REPO, dest)
    return dest


def run_py(checkout: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=checkout / "app",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_set_marker_is_shown_on_the_page(checkout: Path, tmp_path: Path) -> None:
    changed = set_marker(checkout, "  canary\n42  ")
    assert changed == [Path("app/sample_app/marker.txt")]
    assert (checkout / changed[0]).read_text() == "canary 42\n"
    version = tmp_path / "version.json"
    version.write_text(json.dumps({"commit": "abc"}))
    page = run_py(
        checkout,
        "from pathlib import Path; from sample_app import create_app;"
        f"print(create_app(Path({str(version)!r})).test_client().get('/').get_data(as_text=True))",
    )
    assert page.returncode == 0, page.stderr
    assert "canary 42" in page.stdout


def test_set_marker_rejects_empty_text(checkout: Path) -> None:
    with pytest.raises(ValueError):
        set_marker(checkout, " \n ")


def test_break_at_runtime_breaks_the_entry_module_only(checkout: Path) -> None:
    assert not is_broken(checkout)
    assert run_py(checkout, "import sample_app.wsgi").returncode == 0
    changed = break_at_runtime(checkout)
    assert changed == [Path("app/sample_app/wsgi.py")]
    assert is_broken(checkout)
    once = (checkout / changed[0]).read_text()
    break_at_runtime(checkout)
    assert (checkout / changed[0]).read_text() == once  # idempotent
    failed = run_py(checkout, "import sample_app.wsgi")
    assert failed.returncode != 0
    assert "deliberately broken" in failed.stderr
    # The unit tests the build runs still pass.
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "app/tests"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout[-2000:]


def run_app_tests(checkout: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "app/tests"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fail_root_under_traffic_fails_only_the_page_in_the_service(
    checkout: Path, tmp_path: Path
) -> None:
    version = tmp_path / "version.json"
    version.write_text(json.dumps({"commit": "c0ffee" * 6 + "abcd"}))
    serve = (
        f"import json, os; os.environ['SAMPLE_APP_VERSION_FILE'] = {str(version)!r};"
        "from sample_app.wsgi import app; c = app.test_client();"
        "print(json.dumps({p: [r.status_code, r.get_data(as_text=True)] for p in"
        "('/', '/health', '/version') for r in [c.get(p)]}))"
    )
    before = json.loads(run_py(checkout, serve).stdout)
    assert before["/"][0] == 200
    changed = fail_root_under_traffic(checkout)
    assert changed == [Path("app/sample_app/wsgi.py")]
    once = (checkout / changed[0]).read_text()
    fail_root_under_traffic(checkout)
    assert (checkout / changed[0]).read_text() == once  # idempotent
    answered = run_py(checkout, serve)
    assert answered.returncode == 0, answered.stderr
    after = json.loads(answered.stdout)
    assert after["/"][0] == 500
    # The failing page still names its commit: the probe counts whose 5xx it was.
    assert decisions.answer_commit(after["/"][1]) == "c0ffee" * 6 + "abcd"
    assert after["/health"][0] == 200 and after["/version"][0] == 200
    tests = run_app_tests(checkout)  # what the build runs still passes
    assert tests.returncode == 0, tests.stdout[-2000:]


def _get(address: str, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{address}:{HOST_PORT}{path}", timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.host
def test_fail_root_under_traffic_builds_and_passes_validate_service(
    checkout: Path, tmp_path: Path
) -> None:
    """The alarm scenario's release: the build succeeds, CodeDeploy's hooks (ValidateService
    included) succeed on a real host, and only then `/` answers 500."""
    ensure_rootfs()
    fail_root_under_traffic(checkout)
    commit = "f" * 40
    env = {"PATH": BUILD_PATH, "COMMIT_ID": commit, "PIPELINE_EXECUTION_ID": "exec-alarm"}
    result = run_build(checkout, tmp_path / "build", env)
    assert result.status == "SUCCEEDED", result.log[-3000:]
    assert result.artifact is not None
    host = boot_host("pk-b-alarmchg", app_port=HOST_PORT, state_dir=tmp_path / "hosts")
    try:
        outcome = deploy_zip(
            host,
            result.artifact,
            deployment_id="d-ALARM",
            application_name="sample-app",
            deployment_group_name="sample-app-dg",
            deployment_group_id="11111111-2222-3333-4444-666666666666",
        )
        assert outcome.status == "Succeeded", outcome.log_tail
        assert outcome.event("ValidateService").status == "Succeeded"
        assert _get(host.address, "/health") == 200
        assert _get(host.address, "/") == 500
    finally:
        host.stop()
        cleanup_stale(tmp_path / "hosts")
