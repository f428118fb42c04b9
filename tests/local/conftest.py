"""The engine tests' world (tests/support/engine_world.py): a plain moto server per module
(`moto_endpoint`) and `world_factory`."""

from tests.support.engine_world import moto_endpoint, world_factory  # noqa: F401 (fixtures)
