"""The status page tests run against a real API server with the plugin (tests/ops/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ops.harness import World, shared_world, stop_shared_world


@pytest.fixture(scope="session")
def airflow_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from shared_world(tmp_path_factory)
    stop_shared_world()


@pytest.fixture(scope="session")
def seeded_world(airflow_world: World) -> World:
    """The shared Airflow with known staging content (tests/plugins/seed.py)."""
    from tests.plugins.seed import seed

    if not getattr(airflow_world, "_seeded", False):
        seed(airflow_world.staging_url)
        airflow_world._seeded = True  # type: ignore[attr-defined]
    return airflow_world
