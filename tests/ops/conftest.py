"""The ops tests run against a real Airflow (tests/ops/harness.py), shared with tests/plugins."""

from __future__ import annotations

import pytest

from tests.ops.harness import World, shared_world


@pytest.fixture
def airflow_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The shared Airflow (started on first use, stopped after its last test: tests/conftest.py)."""
    return shared_world(tmp_path_factory)
