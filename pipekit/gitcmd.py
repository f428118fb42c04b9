"""The one way the package runs `git`: a subprocess with a timeout, no terminal prompt and C
messages, whose failure is a `GitError` naming the command and carrying git's own stderr.

Local mode's git remote (`pipekit.local.gitremote`), its benchmark and the end-to-end test's
clones (`pipekit.e2e.gitops`) all go through `git()`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from pipekit.errors import UserError

DEFAULT_TIMEOUT_S = 120.0


class GitError(UserError):
    """A git command failed or timed out; the message names the command and git's own words."""


def git(
    *args: str,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Run `git args...` and return its stdout; `env` is added to this process's environment."""
    # No prompt for credentials (a push must fail, not hang), and messages in one language.
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    command = f"git {' '.join(args)}"
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"{command} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise GitError(f"{command} failed: {detail}")
    return proc.stdout
