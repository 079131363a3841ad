"""Reads and writes of the staging database, identical on SQLite and PostgreSQL.

Every function takes an open SQLAlchemy ``Connection``; the caller owns the transaction, so a page
of source records is staged atomically (``with engine.begin() as conn: ...``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hq_sync.staging.schema import (
    hq_links,
    planned_hq_state,
    quarantine,
    reference_data,
    run_summaries,
    sync_cursors,
    utcnow,
)
from hq_sync.staging.states import COUNT_FIELDS, LinkState, Outcome, Plan

KEY_COLUMNS = ("tenant", "source_id")
BOOKKEEPING = ("first_seen_at", "last_seen_at", "deleted_at")


def dialect_insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (both SQLite and PostgreSQL do)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"staging supports SQLite and PostgreSQL, not {dialect}")


def written_fingerprint(content: Any) -> str:
    """A stable hash of what a link wrote (``hq_links.written``: JSON-able content), for change
    detection (not the OAuth token fingerprint of ``seeded_from``)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# -- Source records -------------------------------------------------------------------------------
@dataclass
class UpsertResult:
    """How a batch of source records changed the staging table."""

    inserted: int = 0
    updated: int = 0  # newer (or equally new but different) version stored
    unchanged: int = 0  # same version seen again
    stale: int = 0  # older than what is staged: ignored

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.stale += other.stale
        return self


def upsert_source_records(
    conn: Connection, table: Table, tenant: str, rows: Sequence[Mapping[str, Any]]
) -> UpsertResult:
    """Stage one batch of source records; an older ``source_updated_at`` never overwrites a newer.

    Each row has ``source_id``, ``source_updated_at`` (aware datetime or None), ``payload`` and the
    table's typed columns. A record seen again is marked as not deleted. Returns the counts.
    """
    result = UpsertResult()
    if not rows:
        return result
    now = utcnow()
    by_id = {str(row["source_id"]): row for row in rows}  # last one wins within a batch
    existing = {
        r.source_id: (r.source_updated_at, r.payload, r.deleted_at)
        for r in conn.execute(
            select(table.c.source_id, table.c.source_updated_at, table.c.payload, table.c.deleted_at).where(
                table.c.tenant == tenant, table.c.source_id.in_(list(by_id))
            )
        )
    }
    to_write: list[dict[str, Any]] = []
    seen_only: list[str] = []
    for source_id, row in by_id.items():
        values = {**row, "tenant": tenant, "source_id": source_id}
        values.update(first_seen_at=now, last_seen_at=now, deleted_at=None)
        if source_id not in existing:
            result.inserted += 1
            to_write.append(values)
            continue
        old_updated, old_payload, old_deleted = existing[source_id]
        new_updated = row.get("source_updated_at")
        if old_updated is not None and new_updated is not None and new_updated < old_updated:
            result.stale += 1
            seen_only.append(source_id)
        elif new_updated == old_updated and row["payload"] == old_payload and old_deleted is None:
            result.unchanged += 1
            seen_only.append(source_id)
        else:
            result.updated += 1
            to_write.append(values)

    if to_write:
        stmt = dialect_insert(conn, table)
        replace = {
            c.name: stmt.excluded[c.name]
            for c in table.columns
            if c.name not in KEY_COLUMNS and c.name != "first_seen_at"
        }
        # The WHERE makes the guard hold even against a concurrent writer of a newer version.
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS),
            set_=replace,
            where=or_(
                table.c.source_updated_at.is_(None),
                stmt.excluded.source_updated_at.is_(None),
                stmt.excluded.source_updated_at >= table.c.source_updated_at,
            ),
        )
        columns = [c.name for c in table.columns]
        conn.execute(stmt, [{name: values.get(name) for name in columns} for values in to_write])
    if seen_only:
        conn.execute(
            update(table).where(table.c.tenant == tenant, table.c.source_id.in_(seen_only)).values(last_seen_at=now)
        )
    return result


def mark_source_deleted(conn: Connection, table: Table, tenant: str, source_ids: Iterable[str]) -> int:
    """Mark records as gone from the source (after a 404 confirmed it); returns how many."""
    ids = list(source_ids)
    if not ids:
        return 0
    return conn.execute(
        update(table)
        .where(table.c.tenant == tenant, table.c.source_id.in_(ids), table.c.deleted_at.is_(None))
        .values(deleted_at=utcnow())
    ).rowcount


# -- Links to what we wrote in HQ -----------------------------------------------------------------
@dataclass(frozen=True)
class Link:
    tenant: str
    source: str
    entity: str
    source_id: str
    hq_entity: str
    hq_id: str | None
    hq_parent_id: str | None
    state: LinkState
    fingerprint: str | None
    written: Any
    synced_at: datetime | None


def _link_of(row: Any) -> Link:
    values = {f: getattr(row, f) for f in Link.__dataclass_fields__}
    return Link(**{**values, "state": LinkState(values["state"])})


def _link_state(state: str) -> LinkState:
    try:
        return LinkState(state)
    except ValueError:
        raise ValueError(f"unknown link state {state!r}") from None


def get_link(conn: Connection, tenant: str, source: str, entity: str, source_id: str) -> Link | None:
    row = conn.execute(
        select(hq_links).where(
            hq_links.c.tenant == tenant,
            hq_links.c.source == source,
            hq_links.c.entity == entity,
            hq_links.c.source_id == source_id,
        )
    ).one_or_none()
    if row is None:
        return None
    return _link_of(row)


def save_link(
    conn: Connection,
    *,
    tenant: str,
    source: str,
    entity: str,
    source_id: str,
    hq_entity: str,
    state: LinkState | str,
    hq_id: str | None = None,
    hq_parent_id: str | None = None,
    written: Any = None,
) -> None:
    """Insert or replace the link of one source record.

    Record ``state='pending'`` with the intended content *before* the HQ write is sent, and
    ``'synced'`` with the HQ id after HQ confirmed it: a pending link found later means the
    answer may have been lost, so the writer must look in HQ before writing again.
    """
    state = _link_state(state)
    now = utcnow()
    values = {
        "tenant": tenant,
        "source": source,
        "entity": entity,
        "source_id": source_id,
        "hq_entity": hq_entity,
        "hq_id": hq_id,
        "hq_parent_id": hq_parent_id,
        "state": state,
        "written": written,
        "fingerprint": written_fingerprint(written) if written is not None else None,
        "synced_at": now if state is LinkState.SYNCED else None,
        "updated_at": now,
    }
    stmt = dialect_insert(conn, hq_links).values(**values)
    keys = ["tenant", "source", "entity", "source_id"]
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={k: v for k, v in values.items() if k not in keys})
    conn.execute(stmt)


def save_links(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """``save_link`` for many links in one statement (a loader's chunk): each row has the keyword
    arguments of ``save_link``."""
    if not rows:
        return
    now = utcnow()
    values = []
    for row in rows:
        state, written = _link_state(row["state"]), row.get("written")
        values.append(
            {
                "tenant": row["tenant"],
                "source": row["source"],
                "entity": row["entity"],
                "source_id": row["source_id"],
                "hq_entity": row["hq_entity"],
                "hq_id": row.get("hq_id"),
                "hq_parent_id": row.get("hq_parent_id"),
                "state": state,
                "written": written,
                "fingerprint": written_fingerprint(written) if written is not None else None,
                "synced_at": now if state is LinkState.SYNCED else None,
                "updated_at": now,
            }
        )
    keys = ["tenant", "source", "entity", "source_id"]
    stmt = dialect_insert(conn, hq_links)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: stmt.excluded[k] for k in values[0] if k not in keys}
    )
    conn.execute(stmt, values)


def owned_hq_ids(conn: Connection, tenant: str, hq_entity: str) -> set[str]:
    """Ids of the objects of one kind that a link of the tenant owns (pending ones with an id too):
    a lost-answer lookup may adopt only objects outside this set."""
    return {
        str(row.hq_id)
        for row in conn.execute(
            select(hq_links.c.hq_id).where(
                hq_links.c.tenant == tenant, hq_links.c.hq_entity == hq_entity, hq_links.c.hq_id.is_not(None)
            )
        )
    }


def links(conn: Connection, tenant: str, source: str, entity: str, state: LinkState | str | None = None) -> list[Link]:
    """All links of one entity of a tenant (optionally of one state)."""
    query = select(hq_links).where(
        hq_links.c.tenant == tenant, hq_links.c.source == source, hq_links.c.entity == entity
    )
    if state is not None:
        query = query.where(hq_links.c.state == state)
    return [_link_of(row) for row in conn.execute(query.order_by(hq_links.c.id))]


def links_of(conn: Connection, tenant: str, source: str, entity: str, source_ids: Collection[str]) -> dict[str, Link]:
    """The links of these source records (a load chunk's), by source id."""
    if not source_ids:
        return {}
    query = select(hq_links).where(
        hq_links.c.tenant == tenant,
        hq_links.c.source == source,
        hq_links.c.entity == entity,
        hq_links.c.source_id.in_(list(source_ids)),
    )
    return {row.source_id: _link_of(row) for row in conn.execute(query)}


# -- Planned HQ state (transform → load) ----------------------------------------------------------
@dataclass(frozen=True)
class PlannedRecord:
    """What transform decided one source record should be in HQ (a ``planned_hq_state`` row)."""

    tenant: str
    source: str
    entity: str
    source_id: str
    plan: Plan
    reason: str | None  # why not wanted / the quarantine code
    hq_parent_id: str | None  # e.g. the HQ user of an absence, the HQ project of a task
    body: dict[str, Any] | None  # the HQ body we want (wanted plans)
    version: str | None  # the source version the body derives from
    notes: list[str] | None
    planned_at: datetime

    def wanted_body(self) -> dict[str, Any]:
        """The body of a wanted plan (a copy: loaders complete it)."""
        if self.body is None:
            raise ValueError(f"the plan of {self.entity} {self.source_id} has no body")
        return dict(self.body)


def planned_records(conn: Connection, tenant: str, source: str, entity: str) -> list[PlannedRecord]:
    """The planned HQ state of one source's entity, by source id."""
    t = planned_hq_state
    query = select(t).where(t.c.tenant == tenant, t.c.source == source, t.c.entity == entity)
    fields = PlannedRecord.__dataclass_fields__
    return [
        PlannedRecord(**{**{f: getattr(row, f) for f in fields}, "plan": Plan(row.plan)})
        for row in conn.execute(query.order_by(t.c.source_id))
    ]


def count_plans(conn: Connection, tenant: str, source: str, entity: str) -> int:
    """How many planned HQ records one source's entity has."""
    t = planned_hq_state
    query = select(func.count()).select_from(t).where(t.c.tenant == tenant, t.c.source == source, t.c.entity == entity)
    return int(conn.execute(query).scalar() or 0)


def plan_chunks(
    engine: Engine, tenant: str, source: str, entity: str, size: int
) -> Iterator[tuple[list[PlannedRecord], dict[str, Link]]]:
    """The planned HQ state of one source's entity in chunks of ``size`` records by source id (keyset),
    each with the links of its records, read in a short transaction of its own per chunk: a load
    holds one chunk in memory, not the whole plan (issue #12: flat memory at 10x), and sees the links
    as the chunks before it left them."""
    t = planned_hq_state
    fields = PlannedRecord.__dataclass_fields__
    after: str | None = None
    while True:
        query = select(t).where(t.c.tenant == tenant, t.c.source == source, t.c.entity == entity)
        if after is not None:
            query = query.where(t.c.source_id > after)
        with engine.connect() as conn:
            rows = list(conn.execute(query.order_by(t.c.source_id).limit(size)).all())
            if not rows:
                return
            chunk_links = links_of(conn, tenant, source, entity, [r.source_id for r in rows])
        yield [PlannedRecord(**{**{f: getattr(r, f) for f in fields}, "plan": Plan(r.plan)}) for r in rows], chunk_links
        after = rows[-1].source_id


def plan_row(
    tenant: str,
    source: str,
    entity: str,
    source_id: str,
    plan: Plan | str,
    reason: str | None = None,
    hq_parent_id: str | None = None,
    body: Any = None,
    version: str | None = None,
    notes: list[str] | None = None,
    planned_at: datetime | None = None,
) -> dict[str, Any]:
    """One ``planned_hq_state`` row's values (``save_plan`` writes one; bulk writers many); an
    unknown ``plan`` raises ``ValueError``."""
    if plan not in tuple(Plan):
        raise ValueError(f"unknown plan {plan!r}")
    return {
        "tenant": tenant,
        "source": source,
        "entity": entity,
        "source_id": source_id,
        "plan": plan,
        "reason": reason,
        "hq_parent_id": hq_parent_id,
        "body": body,
        "version": version,
        "notes": notes or None,
        "planned_at": planned_at or utcnow(),
    }


def save_plan(
    conn: Connection,
    *,
    tenant: str,
    source: str,
    entity: str,
    source_id: str,
    plan: Plan | str,
    reason: str | None = None,
    hq_parent_id: str | None = None,
    body: Any = None,
    version: str | None = None,
    notes: list[str] | None = None,
) -> None:
    """Record what one source record should be in HQ: ``wanted`` (with body), ``not_wanted`` or
    ``quarantined`` (with the reason); replaces the previous plan of that record."""
    values = plan_row(tenant, source, entity, source_id, plan, reason, hq_parent_id, body, version, notes)
    keys = ["tenant", "source", "entity", "source_id"]
    stmt = dialect_insert(conn, planned_hq_state).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=keys, set_={k: v for k, v in values.items() if k not in keys})
    )


# -- Reference data (read from a vendor, kept for the next runs) ----------------------------------
@dataclass(frozen=True)
class ReferenceData:
    """What a run read from a vendor and kept (``reference_data``): ``version`` says what it was read
    for (e.g. a fingerprint of the staged source data), ``read_at`` when."""

    body: dict[str, Any]
    version: str | None
    read_at: datetime


def kept_reference_data(conn: Connection, tenant: str, source: str, name: str) -> ReferenceData | None:
    """The reference data kept under ``name`` for one tenant's source, or None."""
    t = reference_data
    row = conn.execute(
        select(t.c.body, t.c.version, t.c.read_at).where(t.c.tenant == tenant, t.c.source == source, t.c.name == name)
    ).first()
    return None if row is None else ReferenceData(dict(row.body), row.version, row.read_at)


def keep_reference_data(
    conn: Connection, tenant: str, source: str, name: str, body: dict[str, Any], version: str | None, read_at: datetime
) -> None:
    """Keep (replace) the reference data under ``name`` for one tenant's source."""
    keys = {"tenant": tenant, "source": source, "name": name}
    values = {"body": body, "version": version, "read_at": read_at}
    stmt = dialect_insert(conn, reference_data).values(**keys, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=values))


# -- Quarantine -----------------------------------------------------------------------------------
def quarantine_record(
    conn: Connection,
    *,
    tenant: str,
    source: str,
    entity: str,
    source_id: str,
    reason: str,
    detail: str,
    context: Mapping[str, Any] | None = None,
    run_id: str | None = None,
) -> None:
    """Put a record into quarantine, or refresh it there (re-opening it if it had been resolved)."""
    now = utcnow()
    stmt = dialect_insert(conn, quarantine).values(
        tenant=tenant,
        source=source,
        entity=entity,
        source_id=source_id,
        reason=reason,
        detail=detail,
        context=dict(context) if context is not None else None,
        first_seen_at=now,
        last_seen_at=now,
        last_run_id=run_id,
        resolved_at=None,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant", "source", "entity", "source_id", "reason"],
        set_={
            "detail": stmt.excluded.detail,
            "context": stmt.excluded.context,
            "last_seen_at": stmt.excluded.last_seen_at,
            "last_run_id": stmt.excluded.last_run_id,
            "resolved_at": None,
            # An item that stays open keeps its age; a re-opened one starts a new episode.
            "first_seen_at": func.coalesce(
                case((quarantine.c.resolved_at.is_(None), quarantine.c.first_seen_at), else_=None),
                stmt.excluded.first_seen_at,
            ),
        },
    )
    conn.execute(stmt)


def resolve_quarantine(
    conn: Connection,
    *,
    tenant: str,
    source: str,
    entity: str,
    source_id: str | None,
    keep_reason: str | None = None,
    reasons: Iterable[str] | None = None,
    except_ids: Iterable[str] = (),
) -> int:
    """Mark open quarantine items resolved; returns how many.

    Of one record (``source_id``), or of every record of the entity but ``except_ids``
    (``source_id=None``: the items a transform no longer finds true). Only items of ``reasons``
    when given, and all but ``keep_reason``."""
    conditions = [
        quarantine.c.tenant == tenant,
        quarantine.c.source == source,
        quarantine.c.entity == entity,
        quarantine.c.resolved_at.is_(None),
    ]
    if source_id is not None:
        conditions.append(quarantine.c.source_id == source_id)
    if keep_reason is not None:
        conditions.append(quarantine.c.reason != keep_reason)
    if reasons is not None:
        conditions.append(quarantine.c.reason.in_(list(reasons)))
    keep = list(except_ids)
    if keep:
        conditions.append(quarantine.c.source_id.not_in(keep))
    return conn.execute(update(quarantine).where(and_(*conditions)).values(resolved_at=utcnow())).rowcount


def open_quarantine_ids(
    conn: Connection, tenant: str, source: str, entity: str, reasons: Iterable[str] | None = None
) -> set[str]:
    """Source ids of one entity with open quarantine items (of ``reasons`` when given): a loader
    resolves items only for these, so a run without problems writes nothing per record."""
    query = select(quarantine.c.source_id).where(
        quarantine.c.tenant == tenant,
        quarantine.c.source == source,
        quarantine.c.entity == entity,
        quarantine.c.resolved_at.is_(None),
    )
    if reasons is not None:
        query = query.where(quarantine.c.reason.in_(list(reasons)))
    return {str(row.source_id) for row in conn.execute(query)}


def open_quarantine(conn: Connection, tenant: str, source: str | None = None) -> list[dict[str, Any]]:
    """Open quarantine items of a tenant, oldest first, as dicts."""
    query = select(quarantine).where(quarantine.c.tenant == tenant, quarantine.c.resolved_at.is_(None))
    if source is not None:
        query = query.where(quarantine.c.source == source)
    return [dict(row._mapping) for row in conn.execute(query.order_by(quarantine.c.first_seen_at, quarantine.c.id))]


# -- Run summaries --------------------------------------------------------------------------------
@dataclass
class EntityCounts:
    """What one run did to one entity (product.md D4)."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    quarantined: int = 0
    conflicts: int = 0
    details: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, outcome: Outcome | str, reason: str | None = None, n: int = 1) -> None:
        """Add ``n`` to an outcome (``created`` ...), and to its per-reason detail if given."""
        name = str(outcome)  # the plain string: details go to XCom and JSON as they are
        setattr(self, name, getattr(self, name) + n)
        if reason is not None:
            bucket = self.details.setdefault(name, {})
            bucket[reason] = bucket.get(reason, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {**{outcome.value: getattr(self, outcome) for outcome in Outcome}, "details": self.details}


def record_run_summary(
    conn: Connection,
    *,
    tenant: str,
    source: str,
    dag_id: str,
    run_id: str,
    entity: str,
    counts: EntityCounts,
) -> None:
    """Store (or replace, when a run is re-run) one entity's counts for one DAG run."""
    values = {
        "tenant": tenant,
        "source": source,
        "dag_id": dag_id,
        "run_id": run_id,
        "entity": entity,
        **{k: v for k, v in counts.as_dict().items()},
        "recorded_at": utcnow(),
    }
    stmt = dialect_insert(conn, run_summaries).values(**values)
    keys = ["dag_id", "run_id", "entity"]
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={k: v for k, v in values.items() if k not in keys})
    conn.execute(stmt)


def run_summary(conn: Connection, dag_id: str, run_id: str) -> dict[str, EntityCounts]:
    """The counts stored for one DAG run, per entity."""
    result: dict[str, EntityCounts] = {}
    for row in conn.execute(
        select(run_summaries).where(run_summaries.c.dag_id == dag_id, run_summaries.c.run_id == run_id)
    ):
        result[row.entity] = EntityCounts(**{f: getattr(row, f) for f in COUNT_FIELDS}, details=row.details or {})
    return result


# -- Incremental cursors --------------------------------------------------------------------------
def get_cursor(conn: Connection, tenant: str, source: str, entity: str) -> str | None:
    return conn.execute(
        select(sync_cursors.c.cursor).where(
            sync_cursors.c.tenant == tenant,
            sync_cursors.c.source == source,
            sync_cursors.c.entity == entity,
        )
    ).scalar_one_or_none()


def set_cursor(conn: Connection, tenant: str, source: str, entity: str, cursor: str | None) -> None:
    stmt = dialect_insert(conn, sync_cursors).values(
        tenant=tenant, source=source, entity=entity, cursor=cursor, updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant", "source", "entity"],
        set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
    )
    conn.execute(stmt)
