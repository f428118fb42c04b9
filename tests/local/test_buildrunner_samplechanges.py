"""pipekit.samplechanges: the edits e2e and bench make still build, and do what they claim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipekit.local.runtime.buildrunner import copy_source
from pipekit.samplechanges import break_at_runtime, is_broken, set_marker

REPO = Path(__file__).resolve().parents[2]


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
