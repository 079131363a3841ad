"""The vendors' webhook management APIs (``shared/api/webhooks.md``), on top of their clients.

- Personio v2: ``GET/POST /v2/webhooks``, ``GET/PATCH/DELETE /v2/webhooks/{id}`` and the event
  history ``GET /v2/webhooks/{id}/events`` (30 days; cursor pages like every v2 list).
- awork v1: ``GET/POST /webhooks``, ``GET/PUT/DELETE /webhooks/{id}`` (admin).

Used by the registration command (``hq_sync.connect.webhooks``) and the Personio catch-up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from hq_sync.clients.awork import AworkClient
from hq_sync.clients.personio import Page, PersonioClient, format_datetime

PERSONIO_PAGE = 200
EVENTS_PAGE = 100

Webhook = dict[str, Any]  # a vendor's webhook configuration, as it answers it
Webhooks = list[Webhook]  # named here: inside the classes, ``list`` is their method


class PersonioWebhooks:
    """Personio v2 webhooks of the client's company."""

    def __init__(self, client: PersonioClient) -> None:
        self.client = client

    def list(self) -> Webhooks:
        """Every webhook of the company (``{id, url, description, status, enabled_events, ...}``)."""
        return [w for page in self.client.pages("/v2/webhooks", {"limit": PERSONIO_PAGE}) for w in page]

    def create(self, body: Mapping[str, Any]) -> Webhook:
        """``POST /v2/webhooks``; returns the created webhook."""
        return dict(self.client.request("POST", "/v2/webhooks", json=dict(body)).json())

    def update(self, webhook_id: str, body: Mapping[str, Any]) -> Webhook:
        """``PATCH /v2/webhooks/{id}`` (a patch: idempotent); returns the webhook."""
        return dict(self.client.request("PATCH", f"/v2/webhooks/{webhook_id}", json=dict(body), idempotent=True).json())

    def delete(self, webhook_id: str) -> bool:
        """``DELETE /v2/webhooks/{id}``; False when it was already gone."""
        return self.client.request_if_found("DELETE", f"/v2/webhooks/{webhook_id}")

    def events(self, webhook_id: str, *, occurred_since: datetime | None = None) -> Iterator[Page]:
        """Pages of the events Personio sent (or tried to send) for a webhook, oldest first."""
        params: dict[str, Any] = {"limit": EVENTS_PAGE}
        if occurred_since is not None:
            params["occurred_at.gte"] = format_datetime(occurred_since)
        return self.client.pages(f"/v2/webhooks/{webhook_id}/events", params)


class AworkWebhooks:
    """awork v1 workspace webhooks."""

    def __init__(self, client: AworkClient) -> None:
        self.client = client

    def list(self) -> Webhooks:
        """Every webhook of the workspace (``WebhookConfig``: id, name, uri, events, isActive, ...)."""
        return [w for page in self.client.pages("/webhooks", orderby=None) for w in page]

    def create(self, body: Mapping[str, Any]) -> Webhook:
        return dict(self.client.request("POST", "/webhooks", json=dict(body)).json())

    def update(self, webhook_id: str, body: Mapping[str, Any]) -> Webhook:
        """``PUT /webhooks/{id}`` (replaces the configuration); returns it."""
        return dict(self.client.request("PUT", f"/webhooks/{webhook_id}", json=dict(body)).json())

    def delete(self, webhook_id: str) -> bool:
        """``DELETE /webhooks/{id}``; False when it was already gone."""
        return self.client.request_if_found("DELETE", f"/webhooks/{webhook_id}")
