"""Pipeline artifacts in the emulated S3 artifact store, and the scratch directories actions
unpack them into. Artifacts live in moto's S3 backend itself, where CodeDeploy (and anyone
with `aws s3`) finds them, under the key CodePipeline would give them."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from moto.s3.models import s3_backends

from pipekit.local import definition as defn
from pipekit.local.wire import ActionFailed, Execution


def location(execution: Execution, store: dict, name: str) -> dict[str, str]:
    """Where the output artifact `name` of this execution goes: the store's bucket, a new key."""
    bucket = store.get("location")
    if not bucket:
        raise ActionFailed("JobFailed", "The pipeline has no S3 artifact store")
    return {"bucket": bucket, "key": defn.artifact_key(execution.pipeline_name, name)}


def put(
    execution: Execution, store: dict, name: str, path: Path, key: str | None = None
) -> dict[str, str]:
    """Upload `path` as the output artifact `name` (under `key`, else a new one); returns its
    location."""
    where = location(execution, store, name)
    bucket, key = where["bucket"], key or where["key"]
    s3 = s3_backends[execution.account_id]["aws"]
    s3.put_object(bucket, key, path.read_bytes())
    return {"bucket": bucket, "key": key}


def get(execution: Execution, location: dict, dest: Path) -> Path:
    s3 = s3_backends[execution.account_id]["aws"]
    obj = s3.get_object(location["bucket"], location["key"])
    if obj is None:
        raise ActionFailed(
            "JobFailed", f"Artifact s3://{location['bucket']}/{location['key']} is gone"
        )
    dest.write_bytes(obj.value)
    return dest


def scratch(work_dir: Path, execution: Execution, name: str) -> Path:
    """An empty directory of this execution's own under the engine's work directory."""
    path = work_dir / execution.id / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def extract_zip(zip_path: Path, dest: Path) -> None:
    """Unzip keeping Unix modes (zipfile drops them, and hook scripts need the run bit)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                Path(target).chmod(mode)
