"""The status page tests run against a real API server with the plugin (tests/ops/harness.py)."""

from __future__ import annotations

import pytest

from tests.ops.harness import World, shared_world


@pytest.fixture
def airflow_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The shared Airflow (started on first use, stopped after its last test: tests/conftest.py)."""
    return shared_world(tmp_path_factory)


@pytest.fixture
def seeded_world(airflow_world: World) -> World:
    """The shared Airflow with known staging content (tests/plugins/seed.py)."""
    from tests.plugins.seed import seed

    if not getattr(airflow_world, "_seeded", False):
        seed(airflow_world.staging_url)
        airflow_world._seeded = True  # type: ignore[attr-defined]
    return airflow_world
