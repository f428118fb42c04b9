"""The hook runner's agent rules without a systemd host: a stand-in host whose root is a
directory and whose commands run on this machine (enough for small bash hooks). What the real
aws-codedeploy-agent does is cited next to each behaviour in pipekit/local/runtime/."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from pipekit.local.runtime.agent import AGENT_ROOT, EventFailure, S3Error, S3Object
from pipekit.local.runtime.appspec import find_appspec, parse_appspec
from pipekit.local.runtime.download import download_bundle
from pipekit.local.runtime.hookrunner import deploy_to_host

DG = "11111111-2222-3333-4444-555555555555"
NAMES = {
    "application_name": "app",
    "deployment_group_name": "dg",
    "deployment_group_id": DG,
}


class DirHost:
    """A HostLike whose root is a directory: paths inside it map to `root / path`, and a
    command's first word (an absolute in-host path) runs from there on this machine."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def root(self) -> Path:
        return self._root

    def run(self, argv, *, env=None, timeout=None, check=True, input=None):
        local = [str(self._root / argv[0].lstrip("/")), *argv[1:]]
        full_env = {"PATH": os.environ["PATH"], **(env or {})}
        return subprocess.run(
            local, env=full_env, timeout=timeout, check=check, capture_output=True, text=True
        )


class Bucket:
    """S3 GetObject over a dict, with S3's errors."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: list[tuple[str, str, str | None]] = []

    def get_object(self, bucket: str, key: str, version_id: str | None) -> S3Object:
        self.reads.append((bucket, key, version_id))
        if key not in self.objects:
            raise S3Error("NoSuchKey", "The specified key does not exist.")
        body = self.objects[key]
        return S3Object(body, f'"{hashlib.md5(body).hexdigest()}"', version_id)

    def put(self, key: str, body: bytes) -> dict:
        self.objects[key] = body
        return {
            "revisionType": "S3",
            "s3Location": {"bucket": "b", "key": key, "bundleType": "zip"},
        }


APPSPEC = """\
version: 0.0
os: linux
hooks:
  ApplicationStop:
    - location: stop.sh
      timeout: 10
  ValidateService:
    - location: validate.sh
      timeout: 10
"""


def bundle(stop: str = "echo stopping", validate: str = "exit 0", appspec: str = APPSPEC) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        if appspec:
            zf.writestr("appspec.yml", appspec)
        for name, body in (("stop.sh", stop), ("validate.sh", validate)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            zf.writestr(info, f"#!/bin/bash\n{body}\n")
    return data.getvalue()


@pytest.fixture
def host(tmp_path: Path) -> DirHost:
    (tmp_path / "root").mkdir()
    return DirHost(tmp_path / "root")


@pytest.fixture
def s3() -> Bucket:
    return Bucket()


def deploy(host: DirHost, s3: Bucket, revision: dict, deployment_id: str, **kwargs):
    return deploy_to_host(
        host, revision, get_object=s3.get_object, deployment_id=deployment_id, **NAMES, **kwargs
    )


def last_successful(host: DirHost) -> str:
    path = AGENT_ROOT / "deployment-instructions" / f"{DG}_last_successful_install"
    return (host.root() / str(path).lstrip("/")).read_text().strip()


def test_a_deployment_that_fails_after_install_is_the_last_successful_install(host, s3):
    """aws-codedeploy-agent command_executor.rb: Install calls update_last_successful_install,
    so the next deployment (a rollback included) runs the failed revision's ApplicationStop."""
    good = deploy(host, s3, s3.put("good.zip", bundle("echo stop-good")), "d-GOOD")
    assert good.status == "Succeeded"
    bad = deploy(host, s3, s3.put("bad.zip", bundle("exit 3", validate="exit 1")), "d-BAD")
    assert bad.status == "Failed"
    assert bad.event("ValidateService").status == "Failed"
    assert "[stdout]stop-good" in bad.event("ApplicationStop").log_tail
    assert last_successful(host) == str(AGENT_ROOT / DG / "d-BAD")
    # the "rollback" to the good revision runs d-BAD's broken stop script and fails there
    rollback = deploy(host, s3, s3.put("good.zip", bundle("echo stop-good")), "d-ROLLBACK")
    assert rollback.status == "Failed"
    stop = rollback.event("ApplicationStop")
    assert stop.diagnostics_code == "ScriptFailed"
    assert stop.message == "Script at specified location: stop.sh failed with exit code 3"
    assert [e.status for e in rollback.events[1:]] == ["Skipped"] * 6
    # ignoreApplicationStopFailures goes past it: the event stays failed, the deployment goes on
    ignored = deploy(
        host,
        s3,
        s3.put("good.zip", bundle("echo stop-good")),
        "d-FIX",
        ignore_application_stop_failures=True,
    )
    assert ignored.status == "Succeeded"
    assert ignored.event("ApplicationStop").status == "Failed"
    assert ignored.event("ApplicationStop").diagnostics_code == "ScriptFailed"
    assert ignored.event("ValidateService").status == "Succeeded"
    again = deploy(host, s3, s3.put("good.zip", bundle("echo stop-good")), "d-AGAIN")
    assert again.status == "Succeeded"
    assert again.event("ApplicationStop").status == "Succeeded"


def test_runas_appears_in_the_message_only_when_the_appspec_names_a_user(host, s3):
    spec = APPSPEC.replace("validate.sh\n      timeout: 10", "validate.sh\n      runas: root")
    outcome = deploy(host, s3, s3.put("v.zip", bundle(validate="exit 2", appspec=spec)), "d-RUN")
    assert outcome.event("ValidateService").message == (
        "Script at specified location: validate.sh run as user root failed with exit code 2"
    )


def test_a_script_without_the_run_bit_is_made_executable(host, s3):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("appspec.yml", APPSPEC)
        zf.writestr("stop.sh", "#!/bin/bash\n")
        plain = zipfile.ZipInfo("validate.sh")
        plain.external_attr = 0o100644 << 16
        zf.writestr(plain, "#!/bin/bash\necho validated\n")
    outcome = deploy(host, s3, s3.put("x.zip", data.getvalue()), "d-NOX")
    assert outcome.status == "Succeeded"  # hook_executor.rb: chmod +x, then run
    assert "[stdout]validated" in outcome.event("ValidateService").log_tail


def test_a_missing_appspec_fails_before_install_with_the_agents_message(host, s3):
    outcome = deploy(host, s3, s3.put("n.zip", bundle(appspec="")), "d-NOSPEC")
    assert outcome.event("DownloadBundle").status == "Succeeded"
    event = outcome.event("BeforeInstall")
    archive = host.root() / str(AGENT_ROOT / DG / "d-NOSPEC" / "deployment-archive").lstrip("/")
    assert event.diagnostics_code == "UnknownError"
    assert event.message.startswith(
        "The CodeDeploy agent did not find an AppSpec file within the unpacked revision "
        f'directory at revision-relative path "appspec.yml". The revision was unpacked to '
        f'directory "{archive}"'
    )


def test_a_missing_object_fails_download_bundle_as_the_agent_reports_it(host, s3):
    revision = {"revisionType": "S3", "s3Location": {"bucket": "b", "key": "gone.zip"}}
    outcome = deploy(host, s3, revision, "d-GONE")
    event = outcome.event("DownloadBundle")
    assert (event.status, event.diagnostics_code) == ("Failed", "UnknownError")
    assert event.message == "The specified key does not exist."
    assert outcome.event("BeforeInstall").status == "Skipped"


def test_download_reads_the_version_checks_the_etag_and_strips_a_leading_directory(host, s3):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tf:
        for name, body in (("release/appspec.yml", APPSPEC.encode()), ("release/a.txt", b"a")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    s3.objects["r.tgz"] = data.getvalue()
    where = AGENT_ROOT / DG / "d-TGZ"
    location = {"bucket": "b", "key": "r.tgz", "bundleType": "tgz", "version": "v7"}
    download_bundle(
        host,
        {"revisionType": "S3", "s3Location": location},
        s3.get_object,
        deployment_group_id=DG,
        deployment_dir=where,
    )
    assert s3.reads[-1] == ("b", "r.tgz", "v7")
    archive = host.root() / str(where / "deployment-archive").lstrip("/")
    assert find_appspec(archive) == archive / "appspec.yml"
    assert (archive / "a.txt").read_text() == "a"
    with pytest.raises(EventFailure) as err:
        download_bundle(
            host,
            {"revisionType": "S3", "s3Location": {**location, "eTag": "0123"}},
            s3.get_object,
            deployment_group_id=DG,
            deployment_dir=where,
        )
    assert err.value.message.startswith(
        "Expected deployment artifact bundle etag 0123 but was actually "
    )


@pytest.mark.parametrize(
    "text, start",
    [
        ("", "The deployment failed because the application specification file was empty."),
        ("version: 1.0\nos: linux\n", "The deployment failed because an invalid version value"),
        (
            "version: 0.0\nos: windows2\n",
            "The deployment failed because the application specification file specifies an "
            "unsupported operating system (windows2).",
        ),
        (
            textwrap.dedent(
                """\
                version: 0.0
                os: linux
                hooks:
                  AfterInstall:
                    - timeout: 5
                """
            ),
            "The deployment failed because the application specification file specifies a "
            "script with no location value.",
        ),
    ],
)
def test_appspec_errors_in_the_agents_words(text: str, start: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_appspec(text)
    assert str(err.value).startswith(start)


def test_a_deployment_stopped_between_events_skips_the_rest(host, s3):
    """CodeDeploy polls the group's alarms while an instance's events run (deployer passes
    records.alarms.deployment_stop as `stop`): once it answers, no further event runs."""
    answers = iter([None, None, None])  # ApplicationStop, DownloadBundle, BeforeInstall run

    def stop() -> dict | None:
        return next(answers, {"code": "ALARM_ACTIVE", "message": "Activated alarms: <a>"})

    outcome = deploy(host, s3, s3.put("good.zip", bundle("echo stop")), "d-STOP", stop=stop)
    assert outcome.status == "Failed"
    assert outcome.error_code == "ALARM_ACTIVE"
    assert [(e.name, e.status) for e in outcome.events] == [
        ("ApplicationStop", "Succeeded"),
        ("DownloadBundle", "Succeeded"),
        ("BeforeInstall", "Succeeded"),
        ("Install", "Skipped"),
        ("AfterInstall", "Skipped"),
        ("ApplicationStart", "Skipped"),
        ("ValidateService", "Skipped"),
    ]
    # nothing was installed: the agent never reached Install
    path = AGENT_ROOT / "deployment-instructions" / f"{DG}_last_successful_install"
    assert not (host.root() / str(path).lstrip("/")).exists()
