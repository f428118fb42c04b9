"""The agent's DownloadBundle event: drop old deployment archives, fetch the revision from S3 by
its location (version and ETag when given), unpack it into `deployment-archive`, record the
most recent install. As aws-codedeploy-agent `lib/instance_agent/plugins/codedeploy/
command_executor.rb` (the DownloadBundle command, download_from_s3, unpack_bundle,
cleanup_old_archives, update_most_recent_install) does; any error fails the event with
UnknownError and the error's own message (command_poller.rb, gather_diagnostics_from_error)."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from pipekit.local.runtime.agent import (
    AGENT_ROOT,
    EventFailure,
    GetObject,
    HostLike,
    S3Error,
    host_file,
    read_instruction,
    write_instruction,
)

# The agent keeps this many deployment archives per group (ARCHIVES_TO_RETAIN, max_revisions).
ARCHIVES_TO_RETAIN = 5


def download_bundle(
    host: HostLike,
    revision: dict[str, Any],
    get_object: GetObject,
    *,
    deployment_group_id: str,
    deployment_dir: PurePosixPath,
) -> None:
    """DownloadBundle; raises EventFailure(UnknownError) as the agent reports its errors."""
    _cleanup_old_archives(host, deployment_group_id, deployment_dir)
    location = revision.get("s3Location") or {}
    try:
        if revision.get("revisionType", "S3") != "S3":
            raise ValueError(f"Unknown revision type '{revision.get('revisionType')}'")
        bucket, key = location["bucket"], location["key"]
        bundle_type = location.get("bundleType") or "tar"  # the agent's fallback: extract_tar
        obj = get_object(bucket, key, location.get("version"))
        etag = location.get("eTag")
        if etag and etag.replace('"', "") != obj.etag.replace('"', ""):
            raise ValueError(
                f"Expected deployment artifact bundle etag {etag} but was actually {obj.etag}"
            )
        bundle = host_file(host, deployment_dir / "bundle.tar")
        bundle.parent.mkdir(parents=True, exist_ok=True)
        bundle.write_bytes(obj.body)
        archive = host_file(host, deployment_dir / "deployment-archive")
        shutil.rmtree(archive, ignore_errors=True)
        _unpack(obj.body, bundle_type, archive)
        _strip_leading_directory(archive)
    except S3Error as exc:
        raise EventFailure("INVALID_REVISION", "UnknownError", exc.message) from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise EventFailure("INVALID_REVISION", "UnknownError", str(exc)) from None
    write_instruction(host, f"{deployment_group_id}_most_recent_install", str(deployment_dir))


def _unpack(data: bytes, bundle_type: str, dest: Path) -> None:
    dest.mkdir(parents=True)
    if bundle_type == "zip":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                target = _inside(dest, info.filename)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))
                mode = (info.external_attr >> 16) & 0o7777
                target.chmod(mode or 0o644)
        return
    with tarfile.open(
        fileobj=io.BytesIO(data), mode="r:gz" if bundle_type == "tgz" else "r:"
    ) as tf:
        for member in tf.getmembers():
            _inside(dest, member.name)
        tf.extractall(dest, filter="tar")


def _inside(dest: Path, name: str) -> Path:
    target = dest / name
    if not target.resolve().is_relative_to(dest.resolve()):
        raise ValueError(f"bundle entry escapes the archive: {name}")
    return target


def _strip_leading_directory(archive: Path) -> None:
    """One top-level directory holding the appspec becomes the archive root (unpack_bundle)."""
    entries = list(archive.iterdir())
    if len(entries) != 1 or not entries[0].is_dir():
        return
    if not any("appspec" in p.name.lower() for p in entries[0].iterdir()):
        return
    temp = archive.with_name("deployment-archive-temp")
    shutil.rmtree(temp, ignore_errors=True)
    archive.rename(temp)
    (temp / entries[0].name).rename(archive)
    temp.rmdir()


def _cleanup_old_archives(host: HostLike, dg_id: str, current: PurePosixPath) -> None:
    """Keep ARCHIVES_TO_RETAIN archives, this one included; never the last successful one."""
    group_dir = host_file(host, AGENT_ROOT / dg_id)
    if not group_dir.is_dir():
        return
    others = [d for d in group_dir.iterdir() if str(AGENT_ROOT / dg_id / d.name) != str(current)]
    extra = len(others) - ARCHIVES_TO_RETAIN + 1
    if extra <= 0:
        return
    last = read_instruction(host, f"{dg_id}_last_successful_install")
    others = [d for d in others if str(AGENT_ROOT / dg_id / d.name) != last]
    for old in sorted(others, key=lambda d: d.stat().st_mtime)[:extra]:
        shutil.rmtree(old, ignore_errors=True)
