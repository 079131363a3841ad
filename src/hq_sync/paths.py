"""Where hq-sync finds its configuration files and keeps local data.

The repository layout is ``<root>/src/hq_sync`` (this package), ``<root>/include`` (tenant files and
mappings) and ``<root>/.data`` (local data such as the SQLite staging database). The same layout is
mounted into the containers of docker-compose.yaml, so the defaults hold there too; the environment
variables override them.
"""

from __future__ import annotations

from pathlib import Path

from hq_sync.settings import settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def include_dir() -> Path:
    """``$HQ_SYNC_INCLUDE_DIR``, else ``<project root>/include``."""
    return settings().include_dir or PROJECT_ROOT / "include"


def tenants_dir() -> Path:
    """``$HQ_SYNC_TENANTS_DIR``, else ``<include>/tenants``: one YAML file per tenant."""
    return settings().tenants_dir or include_dir() / "tenants"


def mappings_dir() -> Path:
    """``<include>/mappings``: the HQ absence type catalogue and the default Personio mapping."""
    return include_dir() / "mappings"


def data_dir() -> Path:
    """``$HQ_SYNC_DATA_DIR``, else ``<project root>/.data`` (git-ignored)."""
    return settings().data_dir or PROJECT_ROOT / ".data"
