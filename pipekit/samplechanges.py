"""Edits the end-to-end test and the benchmark make to a checkout of this repository.

Both edit the sample app only, keep its unit tests passing, and return the paths they changed
(relative to repo_dir) so the caller can `git add` exactly those.
"""

from __future__ import annotations

from pathlib import Path

MARKER_PATH = Path("app/sample_app/marker.txt")
WSGI_PATH = Path("app/sample_app/wsgi.py")
BREAK_LINE = (
    'raise RuntimeError("sample-app deliberately broken at runtime (pipekit.samplechanges)")'
)


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


def is_broken(repo_dir: Path) -> bool:
    return BREAK_LINE in (repo_dir / WSGI_PATH).read_text()
