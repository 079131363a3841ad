"""Test support for issue #14: the receiver app served over real HTTP, secrets kept in a dict.

``ReceiverServer`` runs ``hq_sync.webhooks.receiver.create_receiver_app`` in uvicorn on a free
loopback port (a thread of the test process), against a real staging database. In Airflow the
secrets come from the tenants' connections (``hq_sync.airflow.webhooks``; covered by
tests/webhooks/test_airflow_receiver.py); here a dict stands in for them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import uvicorn
from sqlalchemy import Engine, text

from hq_sync.webhooks.assets import receiver_path
from hq_sync.webhooks.auth import StoredSecrets
from hq_sync.webhooks.forwarder import AssetForwarder
from hq_sync.webhooks.receiver import CachedSecrets, create_receiver_app
from sandboxes.testing import free_port


@dataclass
class ReceiverServer:
    engine: Engine
    secrets: dict[tuple[str, str], str] = field(default_factory=dict)
    forwarder: AssetForwarder | None = None
    lookup: Any = None  # (tenant, source) -> StoredSecrets | None; default: the ``secrets`` dict
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, tenant: str, source: str) -> str:
        """The receiver URL as the connect command builds it (prefix included, as mounted)."""
        return self.base_url + receiver_path(tenant, source)

    def _lookup(self, tenant: str, source: str) -> StoredSecrets | None:
        secret = self.secrets.get((tenant, source))
        return StoredSecrets(secret) if secret else None

    def start(self) -> ReceiverServer:
        from fastapi import FastAPI

        app = create_receiver_app(
            engine=lambda: self.engine,
            secrets=CachedSecrets(self.lookup or self._lookup, ttl=0.0, min_refresh=0.0),
            on_recorded=self.forwarder.nudge if self.forwarder else None,
        )
        root = FastAPI()
        root.mount("/hq-sync-webhooks", app)  # as Airflow mounts the plugin app
        config = uvicorn.Config(root, host="127.0.0.1", port=self.port, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base_url + "/hq-sync-webhooks/health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise TimeoutError("the receiver did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self.forwarder is not None:
            self.forwarder.stop()

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- what was recorded ---------------------------------------------------------------------
    def inbox(self, tenant: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM webhook_inbox ORDER BY id")).mappings().all()
        return [dict(r) for r in rows if tenant is None or r["tenant"] == tenant]


def personio_envelope(period_id: str, event: str = "absence-period.updated.timerange", *,
                      occurred_at: str = "2026-11-27T10:15:00.000Z", company: str = "acme") -> dict[str, Any]:
    return {"company_id": company, "event_name": event, "occurred_at": occurred_at, "payload": {"id": period_id}}


def awork_envelope(entry_id: str, event: str = "timetracking_updated", *, trace: str = "trace-1",
                   project_id: str | None = None) -> dict[str, Any]:
    return {"timestamp": "2026-11-27T10:15:00.1234567+00:00", "eventType": event, "entityId": entry_id,
            "entityType": "timetracking", "entity": {"id": entry_id, "projectId": project_id}, "traceId": trace}
