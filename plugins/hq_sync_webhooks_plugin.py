"""Airflow 3 plugin: the hq-sync webhook receiver (issue #14, product.md E1; docs/webhooks.md).

A FastAPI app mounted in the API server under ``/hq-sync-webhooks`` (``fastapi_apps``):

- ``POST /hq-sync-webhooks/<tenant>/personio``  Personio deliveries (token in ``Authorization``)
- ``POST /hq-sync-webhooks/<tenant>/awork``     awork deliveries (header ``X-Hq-Sync-Secret``)
- ``GET  /hq-sync-webhooks/health``

Vendors cannot log in to Airflow, so this app does not use Airflow's authentication: each
delivery is authenticated with the tenant's own webhook secret (its vendor connection, extra
``webhook_secret``; ``python -m hq_sync.connect.webhooks`` sets it). Recorded events become
asset events of the tenant's webhook asset in a background thread that lives as long as the API
server (the app's lifespan, which Airflow enters for mounted plugin apps).

All logic lives in the library (``hq_sync.webhooks``, ``hq_sync.airflow.webhooks``); this file
only wires it into Airflow. Settings (environment): ``HQ_SYNC_WEBHOOK_COOLDOWN`` (seconds between
two asset events of one tenant and source, default 10).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

URL_PREFIX = "/hq-sync-webhooks"


def create_app() -> Any:
    from hq_sync.airflow import webhooks as glue
    from hq_sync.webhooks.forwarder import DEFAULT_COOLDOWN, AssetForwarder
    from hq_sync.webhooks.receiver import CachedSecrets, create_receiver_app

    state: dict[str, AssetForwarder] = {}

    def forwarder() -> AssetForwarder:
        if "forwarder" not in state:
            from hq_sync.settings import settings

            configured = settings().webhook_cooldown  # $HQ_SYNC_WEBHOOK_COOLDOWN
            cooldown = DEFAULT_COOLDOWN if configured is None else configured
            state["forwarder"] = AssetForwarder(glue.staging_engine(), glue.emit_asset_event, cooldown=cooldown)
        return state["forwarder"]

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        try:
            forwarder().start()
            log.info("hq-sync webhooks: receiver at %s/<tenant>/<personio|awork>, forwarder started", URL_PREFIX)
        except Exception:  # noqa: BLE001 - never keep the API server from starting
            log.exception("hq-sync webhooks: forwarder not started; events stay in the inbox for polling runs")
        yield
        if "forwarder" in state:
            state["forwarder"].stop()

    def nudge() -> None:
        forwarder().start().nudge()

    return create_receiver_app(
        engine=glue.staging_engine,
        secrets=CachedSecrets(glue.connection_secrets),
        on_recorded=nudge,
        lifespan=lifespan,
    )


class HqSyncWebhooksPlugin(AirflowPlugin):
    name = "hq_sync_webhooks"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "hq-sync webhook receiver"}]


__all__ = ["HqSyncWebhooksPlugin", "create_app"]
