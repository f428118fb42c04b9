"""Edits the end-to-end test and the benchmark make to a checkout of this repository.

Each edits the sample app only, keeps its unit tests passing, and returns the paths it changed
(relative to repo_dir) so the caller can `git add` exactly those. The paths are the same in an
unpacked build bundle (its root holds `appspec.yml`, `scripts/` and `app/sample_app/`), so
they edit a bundle as well.
"""

from __future__ import annotations

from pathlib import Path

MARKER_PATH = Path("app/sample_app/marker.txt")
WSGI_PATH = Path("app/sample_app/wsgi.py")
STOP_PATH = Path("scripts/application_stop.sh")
BREAK_LINE = (
    'raise RuntimeError("sample-app deliberately broken at runtime (pipekit.samplechanges)")'
)
# Appended to the entry module: every answer on `/` gets status 500, its body still the page
# (which names the commit), while /health and /version answer as before.
FAIL_ROOT_MARK = "# pipekit.samplechanges: / deliberately answers 500"
FAIL_ROOT_LINES = f"""
{FAIL_ROOT_MARK}
from flask import request as _request  # noqa: E402


@app.after_request
def _deliberate_5xx(response):
    if _request.path == "/":
        response.status_code = 500
    return response
"""


def set_marker(repo_dir: Path, text: str) -> list[Path]:
    """Set the line the `/` page shows above the version (one line, HTML-escaped by the app)."""
    line = " ".join(text.split())
    if not line:
        raise ValueError("marker text must not be empty")
    (repo_dir / MARKER_PATH).write_text(line + "\n")
    return [MARKER_PATH]


def break_at_runtime(repo_dir: Path) -> list[Path]:
    """Make the gunicorn entry module raise on import.

    The build and the unit tests still pass (they use create_app(), never sample_app.wsgi), so
    only the deployment notices: the service never answers and ValidateService fails.
    """
    path = repo_dir / WSGI_PATH
    text = path.read_text()
    if BREAK_LINE not in text:
        path.write_text(text.rstrip("\n") + "\n\n" + BREAK_LINE + "\n")
    return [WSGI_PATH]


def fail_root_under_traffic(repo_dir: Path) -> list[Path]:
    """Make `/` answer 500 in the running service only (gunicorn's entry module).

    /health and /version stay fine, so ValidateService (scripts/validate_service.sh checks
    /health and /version) and the load balancer's health checks (/health) pass: only users'
    requests see it, as the target group's 5xx count that the deployment group's alarm watches.
    The unit tests still pass (they use create_app(), never sample_app.wsgi)."""
    path = repo_dir / WSGI_PATH
    text = path.read_text()
    if FAIL_ROOT_MARK not in text:
        path.write_text(text.rstrip("\n") + "\n\n" + FAIL_ROOT_LINES.lstrip("\n"))
    return [WSGI_PATH]


def is_broken(repo_dir: Path) -> bool:
    return BREAK_LINE in (repo_dir / WSGI_PATH).read_text()


def break_application_stop(repo_dir: Path) -> list[Path]:
    """Make the ApplicationStop hook fail (exit 1). The revision still deploys: CodeDeploy runs
    a revision's ApplicationStop script only in the NEXT deployment, after this revision's
    Install succeeded (the agent's last successful install)."""
    path = repo_dir / STOP_PATH
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + 'echo "ApplicationStop deliberately broken" >&2\nexit 1\n')
    return [STOP_PATH]
