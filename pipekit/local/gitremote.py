"""The bare git repository that stands in for the GitHub repository a connection names.

Layout: `<state>/git/<owner>/<repo>.git`. Its post-receive hook posts each pushed ref to the
service's control endpoint over loopback; the engine decides what the push starts."""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipekit.gitcmd import GitError, git

ZERO = "0" * 40

HOOK = """#!{python}
# Installed by pipekit local mode: tell the local pipeline service about this push.
import json, sys, urllib.request
lines = [l.split() for l in sys.stdin.read().splitlines() if l.strip()]
body = json.dumps({{"repository": {repo_id!r},
                   "updates": [{{"old": o, "new": n, "ref": r}} for o, n, r in lines]}}).encode()
req = urllib.request.Request({url!r}, data=body, headers={{"Content-Type": "application/json"}})
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        print("pipekit local:", resp.read().decode().strip())
except Exception as exc:  # a push must not fail because the service is down
    print("pipekit local: could not notify the pipeline service:", exc)
"""


@dataclass
class GitRemote:
    root: Path  # <state>/git

    def path(self, repo_id: str) -> Path:
        owner, _, name = repo_id.partition("/")
        return self.root / owner / f"{name}.git"

    def repo_id(self, path: Path) -> str:
        rel = path.resolve().relative_to(self.root.resolve())
        return str(rel)[: -len(".git")] if str(rel).endswith(".git") else str(rel)

    def create(self, repo_id: str, notify_url: str) -> Path:
        path = self.path(repo_id)
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
        hook = path / "hooks" / "post-receive"
        hook.write_text(HOOK.format(python=sys.executable, repo_id=repo_id, url=notify_url))
        hook.chmod(0o755)
        return path

    def seed(self, repo_id: str, checkout: Path, branch: str) -> str:
        """Push the checkout's HEAD to `branch` unless the branch already exists; returns the
        branch's commit. Uses a plain fetch into the bare repo so no hook fires: the run for
        the first commit is the pipeline's CreatePipeline run."""
        path = self.path(repo_id)
        existing = self.head(repo_id, branch)
        if existing:
            return existing
        git("fetch", "--quiet", str(checkout), f"HEAD:refs/heads/{branch}", cwd=path)
        git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=path)
        return self.head(repo_id, branch) or ""

    def head(self, repo_id: str, branch: str) -> str | None:
        path = self.path(repo_id)
        if not path.exists():
            return None
        try:
            return git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", cwd=path).strip()
        except GitError:
            return None

    def resolve(self, repo_id: str, revision: str) -> str:
        return git(
            "rev-parse", "--verify", f"{revision}^{{commit}}", cwd=self.path(repo_id)
        ).strip()

    def commit_info(self, repo_id: str, sha: str) -> dict[str, str]:
        fmt = "%H%x00%aI%x00%B"
        out = git("show", "-s", f"--format={fmt}", sha, cwd=self.path(repo_id))
        commit, author_date, message = out.split("\x00", 2)
        return {"CommitId": commit, "AuthorDate": author_date, "CommitMessage": message.strip()}

    def changed_files(self, repo_id: str, old: str, new: str) -> list[str]:
        path = self.path(repo_id)
        if old == ZERO:
            out = git("ls-tree", "-r", "--name-only", new, cwd=path)
        else:
            out = git("diff", "--name-only", old, new, cwd=path)
        return [line for line in out.splitlines() if line]

    def archive_zip(self, repo_id: str, sha: str, dest: Path) -> Path:
        """The commit's tree as a CODE_ZIP artifact, keeping the executable bits."""
        git("archive", "--format=zip", "-o", str(dest), sha, cwd=self.path(repo_id))
        with zipfile.ZipFile(dest) as zf:
            zf.testzip()
        return dest
