"""Starting and stopping the emulated endpoint, in-process and as a CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3

import pipekit.emulator
from pipekit.emulator import start

ROOT = Path(__file__).resolve().parents[2]


def test_start_serves_and_stop_frees_the_port() -> None:
    emulator = start()
    try:
        assert emulator.endpoint_url.startswith("http://localhost:")
        emulator.reset()  # moto's state is per process, shared by every server in it
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket="server-test")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["server-test"]
    finally:
        emulator.stop()
    try:
        urllib.request.urlopen(emulator.endpoint_url, timeout=2)
        reachable = True
    except OSError:
        reachable = False
    assert not reachable


def test_env_points_boto3_at_the_endpoint(monkeypatch) -> None:
    emulator = start()
    try:
        for key, value in emulator.env().items():
            monkeypatch.setenv(key, value)
        sts = boto3.client("sts")
        assert sts.get_caller_identity()["Account"] == "123456789012"
    finally:
        emulator.stop()


def test_cli_prints_the_endpoint_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipekit.emulator", "--port", "22517"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line == "http://localhost:22517"
        with urllib.request.urlopen(f"{line}/moto-api/", timeout=5) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_moto_version_drift_is_refused() -> None:
    code = (
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda name: '5.2.6' if name == 'moto' else real(name)\n"
        "import pipekit.emulator\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode != 0
    assert "needs moto==5.2.5 exactly (found 5.2.6)" in result.stderr
    assert pipekit.emulator.MOTO_VERSION == "5.2.5"
