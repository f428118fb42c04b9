"""The Prune stage's program as the template holds it (pipeline.yaml PruneProject's inline
buildspec), loaded as a module so tests call its decision directly or run it whole."""

from __future__ import annotations

import types
from pathlib import Path

import yaml

from pipekit.cfn.template import load_template

ROOT = Path(__file__).resolve().parents[2]
HEREDOC = "PRUNER"


def source() -> str:
    """The python program inside the buildspec's one command (`python3 - <<'PRUNER' ...`)."""
    project = load_template(ROOT / "templates" / "pipeline.yaml")["Resources"]["PruneProject"]
    buildspec = yaml.safe_load(project["Properties"]["Source"]["BuildSpec"])
    (command,) = buildspec["phases"]["build"]["commands"]
    first, rest = command.split("\n", 1)
    assert first == f"python3 - <<'{HEREDOC}'", first
    program, end = rest.rstrip("\n").rsplit("\n", 1)
    assert end == HEREDOC, end
    return program + "\n"


def module() -> types.ModuleType:
    mod = types.ModuleType("pruner")
    exec(compile(source(), "pipeline.yaml:PruneProject", "exec"), mod.__dict__)
    return mod
