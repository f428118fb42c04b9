"""The README's "How long a release takes" tables are the model's output
(pipekit/harness/modeltables.py); only the "measured locally" column, filled from `make bench`
reports, may differ."""

from __future__ import annotations

import re
from pathlib import Path

from pipekit.harness import model, modeltables

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- release-time tables: python -m pipekit.harness.modeltables -->"
END = "<!-- end of release-time tables -->"


def without_measured(text: str) -> list[str]:
    """The lines, each table row's last cell (the measured column) emptied."""
    return [re.sub(r"\|[^|]*\|$", "| |", line.strip()) for line in text.strip().splitlines()]


def test_the_readme_release_time_tables_are_the_models() -> None:
    readme = (ROOT / "README.md").read_text()
    assert BEGIN in readme and END in readme, "README.md lost the generated section's markers"
    section = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    expected = modeltables.readme_tables(
        model.BEFORE, model.root_defaults(ROOT / "templates" / "root.yaml")
    )
    assert without_measured(section) == without_measured(expected), (
        "regenerate: .venv/bin/python -m pipekit.harness.modeltables (see the README section)"
    )
