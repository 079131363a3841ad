"""The webhook inbox in staging (table ``webhook_inbox``): recorded, forwarded, consumed.

1. **Recorded** by the receiver in its own transaction *before* it answers 2xx. The row is keyed by
   ``(tenant, source, event_key)``: a redelivered event finds its row and only counts the delivery.
2. **Forwarded**: the forwarder marks rows once an Airflow asset event for their tenant and source
   has been emitted (one asset event covers many rows).
3. **Consumed**: a run marks the rows whose records it has read from the source and staged.

A row that is never forwarded (a crash in between) or never consumed is harmless: every run
consumes all pending rows, and polling runs find the change anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, select, update

from hq_sync.staging.repository import dialect_insert
from hq_sync.staging.schema import utcnow, webhook_inbox
from hq_sync.webhooks.events import InboxEvent

RETENTION = timedelta(days=30)  # consumed rows are kept this long (for the record), then pruned


class Via:
    DELIVERY = "delivery"
    CATCHUP = "catchup"


@dataclass(frozen=True)
class Recorded:
    """What recording one event did."""

    id: int
    duplicate: bool  # the event was already in the inbox (a redelivery)


@dataclass(frozen=True)
class Hint:
    """A pending event as a run sees it."""

    id: int
    event_name: str
    entity_type: str | None
    entity_id: str | None
    occurred_at: datetime | None
    envelope: dict[str, Any]


def record(
    conn: Connection, tenant: str, event: InboxEvent, *, via: str = Via.DELIVERY, forwarded: bool = False
) -> Recorded:
    """Store one event (once per identity key); returns its row id and whether it was known.

    ``forwarded``: no asset event is needed for it (catch-up rows are consumed by the run that
    reads them).
    """
    now = utcnow()
    values = {
        "tenant": tenant,
        "source": event.source,
        "event_key": event.event_key,
        "event_name": event.event_name,
        "entity_type": event.entity_type.value if event.entity_type else None,
        "entity_id": event.entity_id,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "via": via,
        "deliveries": 1,
        "envelope": event.envelope,
        "forwarded_at": now if forwarded else None,
        "forward_note": "read by the run that caught up" if forwarded else None,
    }
    stmt = dialect_insert(conn, webhook_inbox).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["tenant", "source", "event_key"])
    inserted = conn.execute(stmt).rowcount == 1
    key = and_(
        webhook_inbox.c.tenant == tenant,
        webhook_inbox.c.source == event.source,
        webhook_inbox.c.event_key == event.event_key,
    )
    if not inserted and via == Via.DELIVERY:
        conn.execute(update(webhook_inbox).where(key).values(deliveries=webhook_inbox.c.deliveries + 1))
    row_id = conn.execute(select(webhook_inbox.c.id).where(key)).scalar_one()
    return Recorded(int(row_id), duplicate=not inserted)


def pending(conn: Connection, tenant: str, source: str) -> list[Hint]:
    """The events of a tenant and source no run has consumed yet, oldest first."""
    t = webhook_inbox
    rows = conn.execute(
        select(t.c.id, t.c.event_name, t.c.entity_type, t.c.entity_id, t.c.occurred_at, t.c.envelope)
        .where(t.c.tenant == tenant, t.c.source == source, t.c.consumed_at.is_(None))
        .order_by(t.c.id)
    ).all()
    return [
        Hint(int(r.id), r.event_name, r.entity_type, r.entity_id, r.occurred_at, dict(r.envelope or {})) for r in rows
    ]


def consumed_by(conn: Connection, tenant: str, source: str, run_id: str) -> list[Hint]:
    """The events of a tenant and source that run ``run_id`` consumed (ids and times left out)."""
    t = webhook_inbox
    rows = conn.execute(
        select(t.c.entity_type, t.c.entity_id, t.c.envelope).where(
            t.c.tenant == tenant, t.c.source == source, t.c.consumed_by == run_id[:250]
        )
    ).all()
    return [Hint(0, "", r.entity_type, r.entity_id, None, dict(r.envelope or {})) for r in rows]


def consume(conn: Connection, ids: Iterable[int], run_id: str) -> int:
    """Mark events as read by ``run_id``; returns how many were still pending."""
    wanted = sorted(set(ids))
    done = 0
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        done += conn.execute(
            update(webhook_inbox)
            .where(webhook_inbox.c.id.in_(chunk), webhook_inbox.c.consumed_at.is_(None))
            .values(consumed_at=utcnow(), consumed_by=run_id[:250])
        ).rowcount
    return done


def prune(conn: Connection, tenant: str, source: str, now: datetime | None = None) -> int:
    """Delete consumed events older than ``RETENTION``; returns how many."""
    cutoff = (now or utcnow()) - RETENTION
    t = webhook_inbox
    return conn.execute(
        delete(t).where(
            t.c.tenant == tenant, t.c.source == source, t.c.consumed_at.is_not(None), t.c.consumed_at < cutoff
        )
    ).rowcount


def latest_occurred_at(conn: Connection, tenant: str, source: str) -> datetime | None:
    """When the newest recorded event of a tenant and source happened (catch-up starts there)."""
    t = webhook_inbox
    return conn.execute(select(func.max(t.c.occurred_at)).where(t.c.tenant == tenant, t.c.source == source)).scalar()


# -- forwarding ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batch:
    """Unforwarded events of one tenant and source, claimed by a forwarder."""

    tenant: str
    source: str
    ids: tuple[int, ...]
    event_names: dict[str, int]


def unforwarded_groups(conn: Connection) -> list[tuple[str, str]]:
    """(tenant, source) pairs with events no asset event covers yet."""
    t = webhook_inbox
    return [
        (r.tenant, r.source)
        for r in conn.execute(
            select(t.c.tenant, t.c.source).where(t.c.forwarded_at.is_(None)).group_by(t.c.tenant, t.c.source)
        )
    ]


def claim(conn: Connection, tenant: str, source: str) -> Batch | None:
    """Claim the unforwarded events of a tenant and source (atomic: concurrent forwarders in other
    API server workers never claim the same rows); returns them, or None when there are none."""
    t = webhook_inbox
    ids = [
        int(r.id)
        for r in conn.execute(
            select(t.c.id)
            .where(t.c.tenant == tenant, t.c.source == source, t.c.forwarded_at.is_(None))
            .order_by(t.c.id)
        )
    ]
    if not ids:
        return None
    now = utcnow()
    claimed: list[int] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        result = conn.execute(
            update(t)
            .where(t.c.id.in_(chunk), t.c.forwarded_at.is_(None))
            .values(forwarded_at=now, forward_note="claimed")
        )
        if result.rowcount:
            claimed += chunk
    if not claimed:
        return None
    names: dict[str, int] = {}
    for name, count in conn.execute(
        select(t.c.event_name, func.count())
        .where(t.c.id.in_(claimed[:500]), t.c.forward_note == "claimed")
        .group_by(t.c.event_name)
    ):
        names[str(name)] = int(count)
    return Batch(tenant, source, tuple(claimed), names)


def settle(conn: Connection, ids: Sequence[int], note: str | None) -> None:
    """Mark claimed events as forwarded (``note`` says how), or release them (``note=None``)."""
    t = webhook_inbox
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        if note is None:
            conn.execute(update(t).where(t.c.id.in_(chunk)).values(forwarded_at=None, forward_note=None))
        else:
            conn.execute(update(t).where(t.c.id.in_(chunk)).values(forward_note=note[:200]))
