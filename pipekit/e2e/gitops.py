"""`git` (through `pipekit.gitcmd`): a temporary clone of the pipeline's repository, commits that
the e2e makes, pushes and reverts. Never a force-push: every undo is a new commit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipekit.gitcmd import GitError, git

__all__ = ["Checkout", "GitError", "remote_head"]

_IDENTITY = {"user.name": "pipekit e2e", "user.email": "pipekit-e2e@example.invalid"}


def remote_head(remote: str, branch: str) -> str | None:
    """The commit `branch` points at on `remote` (None if the branch does not exist). Also the
    preflight's reachability check: it uses the user's own credentials and helpers."""
    out = git("ls-remote", "--heads", remote, f"refs/heads/{branch}", timeout=60)
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


@dataclass
class Checkout:
    """A working clone of one branch of the remote."""

    path: Path
    remote: str
    branch: str

    @classmethod
    def clone(cls, remote: str, branch: str, dest: Path) -> Checkout:
        git("clone", "--quiet", "--branch", branch, "--single-branch", remote, str(dest))
        checkout = cls(dest, remote, branch)
        # Commit as the user if git knows who that is; a throwaway identity otherwise.
        for key, value in _IDENTITY.items():
            if not checkout.config_get(key):
                git("config", key, value, cwd=dest)
        return checkout

    def git(self, *args: str, timeout: float = 120) -> str:
        return git(*args, cwd=self.path, timeout=timeout)

    def config_get(self, key: str) -> str:
        try:
            return self.git("config", "--get", key).strip()
        except GitError:
            return ""

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def commit_paths(self, paths: list[str | Path], message: str) -> str:
        rel = [
            str(Path(p).relative_to(self.path)) if Path(p).is_absolute() else str(p) for p in paths
        ]
        self.git("add", "--", *rel)
        self.git("commit", "--quiet", "-m", message)
        return self.head()

    def push(self) -> None:
        # A plain fast-forward push; if someone else pushed meanwhile it fails and says so.
        self.git("push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}", timeout=180)

    def sync(self) -> None:
        """Make the clone exactly the remote branch. Safe: the clone is the e2e's own temporary
        one, and this drops only a local commit whose push was rejected."""
        self.git("fetch", "--quiet", "origin", self.branch)
        self.git("reset", "--quiet", "--hard", "FETCH_HEAD")

    def revert(self, commit: str, message: str | None = None) -> str:
        self.git("revert", "--no-edit", commit)
        if message:
            self.git("commit", "--quiet", "--amend", "-m", message)
        return self.head()

    def revert_all(self, commits: list[str], message: str) -> str | None:
        """One new commit undoing `commits` (newest first), keeping anything others pushed in
        between; None if there is nothing left to undo."""
        for commit in reversed(commits):
            self.git("revert", "--no-commit", commit)
        if not self.git("status", "--porcelain").strip():
            return None
        self.git("commit", "--quiet", "-m", message)
        return self.head()

    def tree_of(self, commit: str) -> str:
        return self.git("rev-parse", f"{commit}^{{tree}}").strip()
