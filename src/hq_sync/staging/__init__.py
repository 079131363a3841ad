"""The staging database: source records, links to HQ, quarantine, run summaries, cursors."""

from hq_sync.staging.engine import create_staging_engine, resolve_staging_url
from hq_sync.staging.migrate import ensure_schema, upgrade

__all__ = ["create_staging_engine", "ensure_schema", "resolve_staging_url", "upgrade"]
