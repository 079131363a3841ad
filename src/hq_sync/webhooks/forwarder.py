"""Recorded events → Airflow asset events, one per tenant and source at a time (coalesced).

The receiver only records; a background thread of the API server turns what it recorded into
asset events. Per tenant and source it emits at once when nothing was emitted during the last
``cooldown`` seconds (a single change starts a run immediately), and otherwise once when the
cool-down ends, covering everything recorded meanwhile (a burst of hundreds of events becomes one
or two asset events). Airflow coalesces further: asset events that arrive while the tenant's DAG
has a run queued or running (``max_active_runs=1``) lead to one more run, not one each.

Emitting is a callable (``Emit``): the Airflow plugin registers the asset change in Airflow's
metadata database; tests may pass their own. It returns False when no asset of that name exists
(the tenant's DAG does not listen to webhooks): the events are marked so and left to polling.
A failure releases the events; they are tried again with back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from hq_sync.webhooks import inbox

log = logging.getLogger(__name__)

Emit = Callable[[str, str, dict[str, Any]], bool]

DEFAULT_COOLDOWN = 10.0  # seconds between two asset events of one tenant and source
IDLE_POLL = 5.0  # look for unforwarded events this often even without a nudge (other workers, restarts)
MAX_BACKOFF = 60.0


@dataclass
class Emitted:
    tenant: str
    source: str
    events: int
    outcome: str  # emitted | no_listener | failed


@dataclass
class AssetForwarder:
    engine: Engine
    emit: Emit
    cooldown: float = DEFAULT_COOLDOWN
    idle_poll: float = IDLE_POLL
    clock: Callable[[], float] = time.monotonic
    _last: dict[tuple[str, str], float] = field(default_factory=dict)
    _failures: dict[tuple[str, str], int] = field(default_factory=dict)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    history: list[Emitted] = field(default_factory=list)

    # -- one pass --------------------------------------------------------------------------
    def run_once(self) -> float | None:
        """Forward what is due; returns seconds until the next group is due (None: nothing waits)."""
        with self.engine.connect() as conn:
            groups = inbox.unforwarded_groups(conn)
        now = self.clock()
        next_due: float | None = None
        for key in groups:
            due = self._last.get(key, -1e18) + self._delay(key)
            if now < due:
                wait = due - now
                next_due = wait if next_due is None else min(next_due, wait)
                continue
            with self.engine.begin() as conn:
                batch = inbox.claim(conn, *key)
            if batch is None:
                continue
            self._forward(batch)
            self._last[key] = self.clock()
            wait = self._delay(key)
            next_due = wait if next_due is None else min(next_due, wait)
        return next_due

    def _delay(self, key: tuple[str, str]) -> float:
        failures = self._failures.get(key, 0)
        return self.cooldown if failures == 0 else min(MAX_BACKOFF, self.cooldown * 2**failures)

    def _forward(self, batch: inbox.Batch) -> None:
        extra = {
            "source": "hq-sync webhooks",
            "tenant": batch.tenant,
            "vendor": batch.source,
            "events": len(batch.ids),
            "event_names": batch.event_names,
            "inbox_ids": [batch.ids[0], batch.ids[-1]],
        }
        key = (batch.tenant, batch.source)
        try:
            listened = self.emit(batch.tenant, batch.source, extra)
        except Exception:  # noqa: BLE001 - keep the events, try again later
            log.exception("webhooks: asset event for %s/%s failed; %d events stay pending", *key, len(batch.ids))
            with self.engine.begin() as conn:
                inbox.settle(conn, batch.ids, None)
            self._failures[key] = self._failures.get(key, 0) + 1
            self.history.append(Emitted(*key, len(batch.ids), "failed"))
            return
        self._failures.pop(key, None)
        note = "asset event emitted" if listened else "no DAG listens (webhooks not enabled in the tenant file?)"
        with self.engine.begin() as conn:
            inbox.settle(conn, batch.ids, note)
        if listened:
            log.info("webhooks: asset event for %s/%s covering %d events %s", *key, len(batch.ids), batch.event_names)
        else:
            log.warning(
                "webhooks: %d events of %s/%s recorded, but no DAG is scheduled on its asset; polling runs "
                "will read them",
                len(batch.ids),
                *key,
            )
        self.history.append(Emitted(*key, len(batch.ids), "emitted" if listened else "no_listener"))

    # -- the thread ------------------------------------------------------------------------
    def nudge(self) -> None:
        """Something was recorded: forward it now (or when its cool-down ends)."""
        self._wake.set()

    def _loop(self) -> None:
        wait: float | None = 0.0
        while not self._stop.is_set():
            self._wake.wait(timeout=self.idle_poll if wait is None else min(wait, self.idle_poll))
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                wait = self.run_once()
            except Exception:  # noqa: BLE001 - e.g. staging briefly unreachable
                log.exception("webhooks: forwarding pass failed; retrying")
                wait = self.idle_poll

    def start(self) -> AssetForwarder:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="hq-sync-webhook-forwarder", daemon=True)
            self._thread.start()
            self._wake.set()  # forward what was left from before a restart
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
