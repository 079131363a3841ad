"""Shared fixtures: the sandbox servers (real HTTP) and the staging databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandboxes.testing import SandboxServers

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServers]:
    """The three sandbox APIs in a subprocess, shared by the session; reset them per test."""
    with SandboxServers(tmp_path_factory.mktemp("sandboxes")) as servers:
        yield servers


@pytest.fixture
def fresh_sandboxes(sandboxes: SandboxServers) -> SandboxServers:
    """The shared sandboxes, emptied (data, request log, faults, rate limits) for this test."""
    sandboxes.reset()
    return sandboxes
