"""Alembic environment for the staging database (run through hq_sync.staging.migrate)."""

from __future__ import annotations

from alembic import context

from hq_sync.staging.schema import metadata

VERSION_TABLE = "hq_sync_alembic_version"

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic entry point is supported
    raise RuntimeError("run migrations through hq_sync.staging.migrate.upgrade(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite needs batch mode for ALTER TABLE
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
