"""The ops tests run against a real Airflow (tests/ops/harness.py), shared with tests/plugins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ops.harness import World, shared_world, stop_shared_world


@pytest.fixture(scope="session")
def airflow_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from shared_world(tmp_path_factory)
    stop_shared_world()
