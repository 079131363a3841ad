"""The staging database engine: separate from Airflow's metadata database.

Resolution order for the URL (``resolve_staging_url``):

1. ``$HQ_SYNC_STAGING_URL`` (an SQLAlchemy URL),
2. the Airflow connection ``hq_sync_staging`` (passed in by the Airflow hook; see
   ``hq_sync.airflow.hooks``), e.g. ``AIRFLOW_CONN_HQ_SYNC_STAGING=postgresql://...``,
3. an SQLite file ``<data dir>/staging.sqlite`` (the embedded default for a laptop or the demo).
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from hq_sync.paths import data_dir
from hq_sync.settings import settings

STAGING_URL_ENV = "HQ_SYNC_STAGING_URL"


def normalize_url(url: str) -> str:
    """Turn an Airflow-style URI (``postgres://``) into an SQLAlchemy URL with a driver."""
    if url.startswith("postgres://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def default_sqlite_url() -> str:
    path = data_dir() / "staging.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def resolve_staging_url(connection_uri: str | None = None) -> str:
    """The staging URL: env var, else the given Airflow connection URI, else the SQLite default."""
    explicit = settings().staging_url  # $HQ_SYNC_STAGING_URL
    if explicit:
        return normalize_url(explicit)
    if connection_uri:
        return normalize_url(connection_uri)
    return default_sqlite_url()


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets the status page read while a task writes; busy_timeout waits instead of failing
    # when two tasks of different tenants write at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_staging_engine(url: str | None = None) -> Engine:
    """An engine for the staging database (URL resolved as described above when None)."""
    url = normalize_url(url) if url else resolve_staging_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, future=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, future=True, pool_pre_ping=True, pool_size=2, max_overflow=2)
