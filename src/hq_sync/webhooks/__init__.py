"""Near-real-time sync (issue #14, product.md E1): vendor webhooks start the tenant's run.

- ``events``: the vendors' envelopes validated into ``InboxEvent`` (identity key, entity hint);
- ``auth``: webhook secrets (generation, constant-time comparison);
- ``inbox``: the staging inbox (recorded before the receiver answers 2xx; keyed against redelivery);
- ``receiver``: the FastAPI app that the Airflow plugin mounts (one URL per tenant and vendor);
- ``forwarder``: recorded events → one Airflow asset event per tenant and source (coalesced);
- ``catchup``: Personio's event history (``GET /v2/webhooks/{id}/events``) into the inbox;
- ``hints``: what a run reads because of the pending events.

Events are hints, never data: a run always reads the records they name from the source.
Set-up, security and failure modes: docs/webhooks.md.
"""

from hq_sync.webhooks.assets import RECEIVER_PREFIX, WEBHOOK_SOURCES, asset_name, asset_uri, receiver_path

__all__ = ["RECEIVER_PREFIX", "WEBHOOK_SOURCES", "asset_name", "asset_uri", "receiver_path"]
