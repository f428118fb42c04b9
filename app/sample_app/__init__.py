"""The sample application: replace it with yours, keep the three endpoints.

`/` is for people (it shows GREETING, a setting from Parameter Store: make config), `/health`
for ValidateService and load balancers, `/version` ties the running
code to the commit and pipeline execution that produced it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template

VERSION_KEYS = ("commit", "build_id", "pipeline_execution_id", "build_time")
PACKAGE_DIR = Path(__file__).resolve().parent
# The bundle puts version.json at its root, two levels above this package (<root>/app/sample_app).
DEFAULT_VERSION_FILE = PACKAGE_DIR.parent.parent / "version.json"
MARKER_FILE = PACKAGE_DIR / "marker.txt"


def load_version(path: Path) -> dict[str, str] | None:
    """The build's version record, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {key: str(data.get(key, "")) for key in VERSION_KEYS}


def read_marker(path: Path = MARKER_FILE) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def create_app(version_file: Path | None = None) -> Flask:
    version_file = version_file or Path(
        os.environ.get("SAMPLE_APP_VERSION_FILE", DEFAULT_VERSION_FILE)
    )
    app = Flask(__name__)
    # Loaded once: what this process serves does not change when a new release lands beside it.
    version = load_version(version_file)
    started = time.time()

    @app.get("/")
    def index() -> str:
        return render_template(
            "index.html",
            version=version or dict.fromkeys(VERSION_KEYS, "unknown"),
            marker=read_marker(),
            uptime=int(time.time() - started),
            greeting=os.environ.get("GREETING", ""),
        )

    @app.get("/health")
    def health() -> tuple[Any, int]:
        # Ready means: we know which build we are. A process without its version record is a
        # broken install and must not take traffic.
        if version is None or not version["commit"]:
            return jsonify(status="unavailable", reason="version record missing"), 503
        return jsonify(status="ok"), 200

    @app.get("/version")
    def version_info() -> tuple[Any, int]:
        if version is None:
            return jsonify(error="version record missing"), 503
        return jsonify(version), 200

    return app
