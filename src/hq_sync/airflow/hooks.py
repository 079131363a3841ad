"""Hooks: turn Airflow Connections into what the library needs (engines, authenticated clients)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from hq_sync.staging import create_staging_engine, ensure_schema, resolve_staging_url

log = logging.getLogger(__name__)

STAGING_CONN_ID = "hq_sync_staging"


def _connection_uri(conn_id: str) -> str | None:
    """The URI of an Airflow connection, or None when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id).get_uri()
    except AirflowNotFoundException:
        return None


class StagingHook:
    """The staging database: ``$HQ_SYNC_STAGING_URL``, else connection ``hq_sync_staging``, else SQLite."""

    def __init__(self, conn_id: str = STAGING_CONN_ID) -> None:
        self.conn_id = conn_id

    def get_engine(self) -> Engine:
        """A migrated engine for the staging database."""
        engine = create_staging_engine(resolve_staging_url(_connection_uri(self.conn_id)))
        log.info("staging database: %s", engine.url.render_as_string(hide_password=True))
        ensure_schema(engine)
        return engine
