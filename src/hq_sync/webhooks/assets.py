"""Names shared by the receiver, the DAG factory and the connect command (cheap to import: the DAG
file imports it at parse time)."""

from __future__ import annotations

WEBHOOK_SOURCES = ("personio", "awork")
RECEIVER_PREFIX = "/hq-sync-webhooks"  # where the plugin mounts the receiver in Airflow's API server


def asset_name(tenant_id: str, source: str) -> str:
    """The Airflow asset a tenant's webhook events of ``source`` mark (its DAG is scheduled on it)."""
    return f"hq_sync_webhooks__{tenant_id}__{source}"


def asset_uri(tenant_id: str, source: str) -> str:
    """The asset's URI (``hq-sync://webhooks/<tenant>/<source>``)."""
    return f"hq-sync://webhooks/{tenant_id}/{source}"


def receiver_path(tenant_id: str, source: str) -> str:
    """The receiver's path for one tenant and vendor, below the API server's base URL."""
    return f"{RECEIVER_PREFIX}/{tenant_id}/{source}"
