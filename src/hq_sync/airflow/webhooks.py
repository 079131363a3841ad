"""What the webhook receiver needs from Airflow (used by ``plugins/hq_sync_webhooks_plugin.py``).

- ``connection_secrets``: a tenant's webhook secret from its vendor connection (extra
  ``webhook_secret``), located through the tenant file (which names the connection);
- ``emit_asset_event``: register a change of the tenant's webhook asset in Airflow's metadata
  database, as ``POST /api/v2/assets/events`` does; Airflow queues the DAGs scheduled on it;
- ``staging_engine``: the staging database, resolved like the tasks resolve it.

Only the API server calls these; nothing here runs at DAG-parse time.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from hq_sync.config import TenantConfig, parse_tenant_file
from hq_sync.paths import tenants_dir
from hq_sync.webhooks.assets import asset_name, asset_uri
from hq_sync.webhooks.auth import StoredSecrets

log = logging.getLogger(__name__)

_lock = threading.Lock()
_tenants: dict[str, tuple[float, TenantConfig | None]] = {}


def tenant_config(tenant_id: str) -> TenantConfig | None:
    """The tenant's validated file (re-read when it changes), or None when absent or broken."""
    directory = tenants_dir()
    path = next((p for p in (directory / f"{tenant_id}.yaml", directory / f"{tenant_id}.yml") if p.is_file()), None)
    if path is None:
        return None
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        return None
    with _lock:
        cached = _tenants.get(tenant_id)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    parsed = parse_tenant_file(path)
    config = parsed if isinstance(parsed, TenantConfig) else None
    with _lock:
        _tenants[tenant_id] = (mtime, config)
    return config


def connection_secrets(tenant_id: str, source: str) -> StoredSecrets | None:
    """The webhook secrets in the tenant's ``source`` connection; None when the tenant, its source
    or the connection is unknown (the receiver then answers 401)."""
    from airflow.models.connection import Connection

    tenant = tenant_config(tenant_id)
    if tenant is None or tenant.source(source) is None:
        return None
    conn_id = tenant.connection_id(source)
    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException and friends: no secret, no entry
        log.warning("webhooks: connection %r of tenant %r is not defined", conn_id, tenant_id)
        return None
    return StoredSecrets.from_extra(conn.extra_dejson)


def emit_asset_event(tenant_id: str, source: str, extra: dict[str, Any]) -> bool:
    """Mark the tenant's webhook asset as changed; returns False when no such asset is known (no
    DAG is scheduled on it)."""
    from airflow.assets.manager import asset_manager
    from airflow.serialization.definitions.assets import SerializedAssetUniqueKey
    from airflow.utils.session import create_session

    key = SerializedAssetUniqueKey(name=asset_name(tenant_id, source), uri=asset_uri(tenant_id, source))
    with create_session() as session:
        event = asset_manager.register_asset_change(
            asset=key, extra=extra, source_is_api=True, api_user_teams=set(), session=session
        )
    return event is not None


def staging_engine() -> Engine:
    """The migrated staging engine ($HQ_SYNC_STAGING_URL, connection ``hq_sync_staging``, SQLite),
    shared with the status page (``hq_sync.airflow.hooks.shared_staging_engine``)."""
    from hq_sync.airflow.hooks import shared_staging_engine

    return shared_staging_engine()
