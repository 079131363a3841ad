"""Shared fixtures: the sandbox servers (real HTTP) and the staging databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Airflow reads its home at import time: give the test session its own, never the developer's.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="hq-sync-airflow-home-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# dag.test() syncs the DAG bundle of the dags folder, which Airflow fixes when it is first imported.
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")

import pytest  # noqa: E402

from sandboxes.testing import SandboxServers  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def _uses_airflow_world(item: pytest.Item | None) -> bool:
    return item is not None and "airflow_world" in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The shared Airflow (tests/ops/harness.py) stops after the last test that uses it, instead of
    idling on the cores until the session ends (a later test that needs it starts it again)."""
    if _uses_airflow_world(item) and not _uses_airflow_world(nextitem):
        harness = sys.modules.get("tests.ops.harness")
        if harness is not None:
            harness.stop_shared_world()


def pytest_sessionfinish(session: pytest.Session) -> None:
    harness = sys.modules.get("tests.ops.harness")
    if harness is not None:
        harness.stop_shared_world()


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServers]:
    """The three sandbox APIs in a subprocess, shared by the session; reset them per test."""
    with SandboxServers(tmp_path_factory.mktemp("sandboxes")) as servers:
        yield servers


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database (SQLite in the session's AIRFLOW_HOME): dag.test(), connections."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def fresh_sandboxes(sandboxes: SandboxServers) -> SandboxServers:
    """The shared sandboxes, emptied (data, request log, faults, rate limits) for this test."""
    sandboxes.reset()
    return sandboxes


# -- Staging databases ------------------------------------------------------------------------------
POSTGRES_URL = os.environ.get(
    "HQ_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def _postgres_unavailable_reason() -> str | None:
    """None when the test PostgreSQL answers, else why the PostgreSQL tests are skipped."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL at {POSTGRES_URL} does not answer ({first_line}); set HQ_SYNC_TEST_POSTGRES_URL"
    return None


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the session."""
    import uuid

    import sqlalchemy as sa

    reason = _postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    schema = f"hq_sync_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def staging_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """A migrated staging database: SQLite in a temp dir, and PostgreSQL when it answers.

    The PostgreSQL variant truncates every staging table before the test, so tests never see each
    other's rows.
    """
    import sqlalchemy as sa

    from hq_sync.staging import create_staging_engine, upgrade
    from hq_sync.staging.schema import metadata

    if request.param == "sqlite":
        engine = create_staging_engine(f"sqlite:///{tmp_path / 'staging.sqlite'}")
        upgrade(engine)
    else:
        engine = create_staging_engine(request.getfixturevalue("postgres_schema_url"))
        upgrade(engine)
        with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY"))
    try:
        yield engine
    finally:
        engine.dispose()
