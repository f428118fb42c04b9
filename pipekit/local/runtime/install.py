"""The agent's Install event: remove what the previous install copied (the cleanup file), then
copy the appspec's `files` section honouring `file_exists_behavior` and apply `permissions`;
owners and groups resolve against the host's own /etc/passwd and /etc/group."""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import PurePosixPath
from typing import Any

from pipekit.local.runtime.agent import (
    EventFailure,
    HostLike,
    host_file,
    read_instruction,
    write_instruction,
)


def install(host: HostLike, archive: PurePosixPath, spec: dict[str, Any], dg_id: str) -> list[str]:
    """The agent's Install event: cleanup of the previous install, copy, permissions."""
    cleanup_name = f"{dg_id}-cleanup"
    previous = read_instruction(host, cleanup_name)
    for line in reversed((previous or "").splitlines()):
        path = host_file(host, line)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    behavior = spec["file_exists_behavior"]
    installed: list[str] = []
    for mapping in spec.get("files") or []:
        source = host_file(host, archive / str(mapping["source"]).lstrip("/"))
        destination = PurePosixPath(str(mapping["destination"]))
        if source.is_dir():
            pairs = [
                (p, destination / p.relative_to(source).as_posix())
                for p in sorted(source.rglob("*"))
            ]
        elif source.is_file():
            pairs = [(source, destination / source.name)]
        else:
            raise EventFailure(
                "INVALID_REVISION", "UnknownError", f"files: source {mapping['source']} missing"
            )
        host_file(host, destination).mkdir(parents=True, exist_ok=True)
        for src, dest in pairs:
            target = host_file(host, dest)
            if src.is_dir():
                if not target.is_dir():
                    target.mkdir(parents=True)
                    installed.append(str(dest))
                continue
            if target.exists():
                if behavior == "DISALLOW":
                    raise EventFailure(
                        "INVALID_REVISION",
                        "UnknownError",
                        f"The deployment failed because a specified file already exists at "
                        f"this location: {dest}",
                    )
                if behavior == "RETAIN":
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            installed.append(str(dest))
    _apply_permissions(host, spec.get("permissions") or [], installed)
    write_instruction(host, cleanup_name, "\n".join(installed))
    return installed


def _apply_permissions(host: HostLike, rules: list[dict[str, Any]], installed: list[str]) -> None:
    for rule in rules:
        obj = PurePosixPath(str(rule["object"]))
        pattern = str(rule.get("pattern", "**"))
        excepts = [str(e) for e in rule.get("except") or []]
        types = set(rule.get("type") or ["file", "directory"])
        uid, gid = _passwd_ids(host, rule.get("owner"), rule.get("group"))
        mode = int(str(rule["mode"]), 8) if "mode" in rule else None
        for item in installed:
            path = PurePosixPath(item)
            if path != obj and obj not in path.parents:
                continue
            rel = path.name if path == obj else path.relative_to(obj).as_posix()
            if pattern != "**" and not fnmatch.fnmatch(rel, pattern):
                continue
            if any(fnmatch.fnmatch(rel, e) for e in excepts):
                continue
            on_disk = host_file(host, path)
            kind = "directory" if on_disk.is_dir() else "file"
            if kind not in types:
                continue
            if uid >= 0 or gid >= 0:
                os.chown(on_disk, uid, gid, follow_symlinks=False)
            if mode is not None:
                on_disk.chmod(mode)


def _passwd_ids(host: HostLike, owner: str | None, group: str | None) -> tuple[int, int]:
    """Names resolve against the host's own /etc/passwd and /etc/group, not this machine's."""

    def lookup(file: str, name: str | None) -> int:
        if name is None:
            return -1
        if str(name).isdigit():
            return int(name)
        for line in host_file(host, f"/etc/{file}").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name:
                return int(fields[2])
        raise EventFailure("INVALID_REVISION", "UnknownError", f"no {file} entry named {name}")

    return lookup("passwd", owner), lookup("group", group)
