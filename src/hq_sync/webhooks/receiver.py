"""The webhook receiver: one URL per tenant and vendor, ``POST {prefix}/<tenant>/<personio|awork>``.

Per delivery, in this order:

1. **Authenticate** the way the vendor sends it (``auth.SECRET_HEADER``) against the secrets of
   *that* tenant's connection, in constant time. Anything else (no header, a wrong secret, another
   tenant's secret, an unknown tenant) → **401** and nothing is recorded.
2. **Validate** the envelope (``events``): not JSON → 400, not the vendor's envelope → 422, larger
   than ``max_body`` → 413. An event the sync does not use → 200 ``ignored``.
3. **Record** it in the staging inbox and commit; only then answer **200** (``recorded`` or
   ``duplicate`` for a redelivery). If staging cannot be written → 503, so the vendor retries.
4. Nudge the forwarder, which turns recorded events into Airflow asset events in the background:
   the answer never waits for Airflow (Personio wants one within 3 s, also during awork's bursts).

The app is plain FastAPI; ``plugins/hq_sync_webhooks_plugin.py`` mounts it in Airflow's API server
with Airflow-backed secrets and asset events.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from hq_sync.config.tenants import TENANT_ID_PATTERN
from hq_sync.webhooks import inbox
from hq_sync.webhooks.assets import WEBHOOK_SOURCES
from hq_sync.webhooks.auth import SECRET_HEADER, StoredSecrets, matches
from hq_sync.webhooks.events import EnvelopeError, InboxEvent, parse_event

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000
_TENANT = re.compile(TENANT_ID_PATTERN)

Lookup = Callable[[str, str], StoredSecrets | None]


@dataclass
class CachedSecrets:
    """Secrets per tenant and vendor, read through ``lookup`` and kept ``ttl`` seconds.

    A delivery whose secret does not match forces a fresh read (at most every ``min_refresh``
    seconds per tenant and vendor), so a rotated secret is accepted at once without letting
    wrong secrets hammer the connection store.
    """

    lookup: Lookup
    ttl: float = 60.0
    min_refresh: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _cache: dict[tuple[str, str], tuple[float, StoredSecrets | None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _read(self, key: tuple[str, str]) -> StoredSecrets | None:
        try:
            value = self.lookup(*key)
        except Exception:  # noqa: BLE001 - an unreadable connection authenticates nobody
            log.exception("webhooks: cannot read the secret of %s/%s", *key)
            value = None
        with self._lock:
            self._cache[key] = (self.clock(), value)
        return value

    def get(self, tenant: str, source: str, *, fresh: bool = False) -> StoredSecrets | None:
        key = (tenant, source)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            age = self.clock() - cached[0]
            if age < self.ttl and not (fresh and age >= self.min_refresh):
                return cached[1]
        return self._read(key)


def _answer(code: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=code)


def create_receiver_app(
    *,
    engine: Callable[[], Engine],
    secrets: CachedSecrets,
    on_recorded: Callable[[], None] | None = None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    max_body: int = MAX_BODY,
) -> FastAPI:
    """The receiver app. ``engine`` returns the (migrated) staging engine; ``on_recorded`` is called
    after each newly recorded event (the forwarder's nudge)."""
    app = FastAPI(title="hq-sync webhook receiver", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/{tenant}/{source}")
    async def receive(tenant: str, source: str, request: Request) -> JSONResponse:
        if source not in WEBHOOK_SOURCES:
            return _answer(404, detail=f"unknown vendor {source!r}; expected one of {list(WEBHOOK_SOURCES)}")
        presented = request.headers.get(SECRET_HEADER[source])
        if not _TENANT.match(tenant) or not await run_in_threadpool(_authentic, secrets, tenant, source, presented):
            log.warning(
                "webhooks: refused a %s delivery for tenant %r (%s)",
                source,
                tenant,
                "no secret header" if not presented else "secret does not match",
            )
            return _answer(401, detail="missing or invalid webhook secret")
        event = _read_event(await request.body(), source, tenant, max_body)
        if isinstance(event, JSONResponse):
            return event
        if not event.relevant:
            return _answer(200, status="ignored", reason=f"{event.event_name} is not used by the sync")
        try:
            recorded = await run_in_threadpool(_record, engine, tenant, event)
        except SQLAlchemyError:
            log.exception(
                "webhooks: could not record a %s event of %r; answering 503 so it is redelivered", source, tenant
            )
            return _answer(503, detail="could not record the event; please retry")
        if not recorded.duplicate and on_recorded is not None:
            on_recorded()
        return _answer(200, status="duplicate" if recorded.duplicate else "recorded", id=recorded.id)

    return app


def _read_event(raw: bytes, source: str, tenant: str, max_body: int) -> InboxEvent | JSONResponse:
    """The delivery's event, or the answer refusing it (too large, not JSON, not the vendor's envelope)."""
    if len(raw) > max_body:
        return _answer(413, detail=f"body larger than {max_body} bytes")
    try:
        body = json.loads(raw)
    except ValueError:
        return _answer(400, detail="the body is not JSON")
    try:
        return parse_event(source, body)
    except EnvelopeError as exc:
        log.warning("webhooks: %s delivery for %r is not a valid envelope: %s", source, tenant, exc)
        return _answer(422, detail=f"not a {source} webhook envelope: {exc}")


_NO_SECRET = "hqsw_" + "0" * 43  # compared against when a tenant has none: same work either way


def _authentic(secrets: CachedSecrets, tenant: str, source: str, presented: str | None) -> bool:
    if not presented:
        return False
    for fresh in (False, True):  # the second read: rotated since we cached it?
        stored = secrets.get(tenant, source, fresh=fresh)
        accepted = stored.accepted() if stored is not None else []
        if matches(presented, accepted or [_NO_SECRET]) and accepted:
            return True
    return False


def _record(engine: Callable[[], Engine], tenant: str, event: Any) -> inbox.Recorded:
    with engine().begin() as conn:
        return inbox.record(conn, tenant, event)
