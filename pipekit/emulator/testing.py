"""pytest fixtures for anyone who needs the emulated AWS endpoint.

Load them as a plugin from the root conftest.py (tests/conftest.py does):

    pytest_plugins = ["pipekit.emulator.testing"]

`emulator` is one server per test session; `aws` resets every emulated service before the test
and hands back the Emulator, whose `.client(name)` makes boto3 clients pointed at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipekit.emulator.inventory import inventory  # noqa: F401 (also importable from here)
from pipekit.emulator.server import Emulator, start


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    server = start()
    yield server
    server.stop()


@pytest.fixture
def aws(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A clean emulator, with AWS_* variables pointing code under test (and subprocesses) at it."""
    emulator.reset()
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield emulator
    # moto's backends are process-wide: what a test leaves would be seen by later modules that
    # start their own server (a leftover pipeline watching the same branch, for one)
    emulator.reset()
