"""Fixtures shared by the test modules, registered once so pytest can rewrite their asserts:
`emulator` (one extended-moto server per session), `aws` (a clean emulator per test) and
`local_stack` (one running local mode per session)."""

pytest_plugins = ["tests.support.emulator_fixtures", "tests.support.local_fixtures"]
