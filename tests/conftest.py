"""Fixtures shared by the test modules, registered once so pytest can rewrite their asserts:
`emulator` (one extended-moto server per session), `aws` (a clean emulator per test) and
`local_stack` (one running local mode per session; with `make test`'s workers, one per worker).

`make test` runs the tests on pytest-xdist workers, a module at a time (`--dist loadscope`), so
a module's fixtures start once. The modules that boot local hosts go first: they are the long
ones, and the many short modules then fill the workers' last minutes."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support.emulator_fixtures", "tests.support.local_fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("host") is None)  # stable: modules stay
