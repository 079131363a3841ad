"""Named queries the pipelines run on the staged source tables and the plan table (issue 13: no raw
``conn.execute`` in ``pipelines/``). Reads return plain values or rows; writes take plain rows.

The general record operations (upserts, links, plans one by one, quarantine, cursors) are in
``repository``; what is here serves one or two pipelines' planning and deletion checks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, delete, func, or_, select

from hq_sync.staging.repository import links
from hq_sync.staging.schema import (
    awork_projects,
    awork_task_lists,
    awork_tasks,
    awork_time_entries,
    awork_types_of_work,
    awork_users,
    hq_links,
    personio_absence_periods,
    personio_absence_types,
    personio_persons,
    planned_hq_state,
)
from hq_sync.staging.states import LinkState

CHUNK = 500  # ids per IN (...) list
Rows = Sequence[Any]  # SQLAlchemy rows (attributes by column name)


# -- any staged source table -------------------------------------------------------------------------
def live_ids(conn: Connection, table: Table, tenant: str, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` are staged in ``table`` and not marked deleted."""
    wanted, found = sorted(ids), set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        query = select(table.c.source_id).where(
            table.c.tenant == tenant, table.c.source_id.in_(chunk), table.c.deleted_at.is_(None)
        )
        found |= {str(r.source_id) for r in conn.execute(query)}
    return found


def ids_seen_since(
    conn: Connection, table: Table, tenant: str, since: datetime, *, project_ids: Collection[str] | None = None
) -> set[str]:
    """Ids of ``table`` a read since ``since`` (staging's clock) saw (of ``project_ids`` when given)."""
    query = select(table.c.source_id).where(table.c.tenant == tenant, table.c.last_seen_at >= since)
    if project_ids is not None:
        query = query.where(table.c.project_id.in_(list(project_ids)))
    return {str(r.source_id) for r in conn.execute(query)}


def unknown_refs(
    conn: Connection, table: Table, tenant: str, column: str, refs: Table, where: ColumnElement[bool] | None = None
) -> set[str]:
    """Values of ``table.column`` (live rows of the tenant) with no staged row in ``refs``."""
    known = select(refs.c.source_id).where(refs.c.tenant == tenant)
    col = table.c[column]
    query = (
        select(col)
        .distinct()
        .where(table.c.tenant == tenant, table.c.deleted_at.is_(None), col.is_not(None), col != "", col.not_in(known))
    )
    if where is not None:
        query = query.where(where)
    return {str(r[0]) for r in conn.execute(query)}


def source_update_stamps(conn: Connection, table: Table, tenant: str) -> dict[str, datetime | None]:
    """Source id → the source's ``updated`` time stamp of every staged row of the tenant."""
    query = select(table.c.source_id, table.c.source_updated_at).where(table.c.tenant == tenant)
    return {str(r.source_id): r.source_updated_at for r in conn.execute(query)}


# -- awork -------------------------------------------------------------------------------------------
AWORK_PLAN_INPUTS = (
    awork_users,
    awork_types_of_work,
    awork_projects,
    awork_task_lists,
    awork_tasks,
    awork_time_entries,
)


def awork_staged_state(conn: Connection, tenant: str) -> list[list[Any]]:
    """Per staged awork table that transform plans from: how many rows, how many deleted, the
    newest source time stamp, the newest deletion and the newest first sighting. Any record
    added, changed (awork stamps it), deleted or restored changes it: "has anything changed since"."""
    out: list[list[Any]] = []
    for t in AWORK_PLAN_INPUTS:
        row = conn.execute(
            select(
                func.count(),
                func.count(t.c.deleted_at),
                func.max(t.c.source_updated_at),
                func.max(t.c.deleted_at),
                func.max(t.c.first_seen_at),
            ).where(t.c.tenant == tenant)
        ).one()
        out.append([t.name, *(v.isoformat() if isinstance(v, datetime) else v for v in row)])
    return out


def awork_linked_projects(conn: Connection, tenant: str) -> dict[str, int]:
    """awork project id → HQ project id of the projects linked in the last extract (``hq_links``)."""
    found = links(conn, tenant, "awork", "project", state=LinkState.SYNCED)
    return {link.source_id: int(link.hq_id) for link in found if link.hq_id}


def awork_project_stamps(conn: Connection, tenant: str) -> dict[str, datetime | None]:
    return source_update_stamps(conn, awork_projects, tenant)


def live_task_ids(conn: Connection, tenant: str, project_id: str) -> set[str]:
    """The staged, not deleted tasks of one awork project."""
    t = awork_tasks
    query = select(t.c.source_id).where(t.c.tenant == tenant, t.c.project_id == project_id, t.c.deleted_at.is_(None))
    return {str(r.source_id) for r in conn.execute(query)}


def newest_structure_change(conn: Connection, tenant: str, project_id: str) -> datetime | None:
    """The newest ``updatedOn`` of a project's live task lists and tasks (None without any)."""
    newest = [
        conn.execute(
            select(func.max(t.c.source_updated_at)).where(
                t.c.tenant == tenant, t.c.project_id == project_id, t.c.deleted_at.is_(None)
            )
        ).scalar()
        for t in (awork_task_lists, awork_tasks)
    ]
    return max((n for n in newest if n is not None), default=None)


def entry_counts_by_project(
    conn: Connection, tenant: str, projects: Collection[str], window: tuple[date, date]
) -> dict[str, int]:
    """Live time entries per awork project dated in ``window``."""
    t = awork_time_entries
    query = (
        select(t.c.project_id, func.count().label("n"))
        .where(
            t.c.tenant == tenant,
            t.c.project_id.in_(list(projects)),
            t.c.deleted_at.is_(None),
            t.c.start_date >= window[0],
            t.c.start_date <= window[1],
        )
        .group_by(t.c.project_id)
    )
    return {str(r.project_id): int(r.n) for r in conn.execute(query)}


def live_entry_ids(conn: Connection, tenant: str, projects: Collection[str], first: date, last: date) -> set[str]:
    """Live time entries of ``projects`` dated from ``first`` to ``last``."""
    t = awork_time_entries
    query = select(t.c.source_id).where(
        t.c.tenant == tenant,
        t.c.project_id.in_(list(projects)),
        t.c.deleted_at.is_(None),
        t.c.start_date >= first,
        t.c.start_date <= last,
    )
    return {str(r.source_id) for r in conn.execute(query)}


def projects_of_entries_with_tasks(conn: Connection, tenant: str, task_ids: Collection[str]) -> set[str]:
    """The awork projects of the staged time entries booked on ``task_ids``."""
    t = awork_time_entries
    query = select(t.c.project_id).distinct().where(t.c.tenant == tenant, t.c.task_id.in_(sorted(task_ids)))
    return {str(r.project_id) for r in conn.execute(query) if r.project_id}


def awork_user_emails(conn: Connection, tenant: str) -> dict[str, str | None]:
    t = awork_users
    return {
        str(r.source_id): r.email for r in conn.execute(select(t.c.source_id, t.c.email).where(t.c.tenant == tenant))
    }


def awork_type_names(conn: Connection, tenant: str) -> dict[str, str]:
    t = awork_types_of_work
    return {str(r.source_id): r.name for r in conn.execute(select(t.c.source_id, t.c.name).where(t.c.tenant == tenant))}


def live_task_lists(conn: Connection, tenant: str) -> dict[str, dict[str, Any]]:
    """List id → ``{id, name, order, isArchived, project_id}`` of the live task lists."""
    t = awork_task_lists
    return {
        str(r.source_id): {
            "id": r.source_id,
            "name": r.name,
            "order": r.list_order,
            "isArchived": bool((r.payload or {}).get("isArchived")),
            "project_id": r.project_id,
        }
        for r in conn.execute(select(t).where(t.c.tenant == tenant, t.c.deleted_at.is_(None)))
    }


def live_tasks(conn: Connection, tenant: str, projects: Collection[str]) -> Rows:
    """The live tasks of ``projects``, by id."""
    t = awork_tasks
    query = (
        select(t)
        .where(t.c.tenant == tenant, t.c.deleted_at.is_(None), t.c.project_id.in_(list(projects)))
        .order_by(t.c.source_id)
    )
    return list(conn.execute(query))


def time_entry_chunks(
    conn: Connection, tenant: str, source: str, projects: Collection[str], size: int
) -> Iterator[Rows]:
    """Every staged time entry of ``projects`` and every one booked before (``hq_links``), with its
    link (``link_id``, ``written``), in chunks of ``size`` by id (keyset): each chunk is read in
    full before it is yielded, so no cursor stays open while the caller writes."""
    t, lk = awork_time_entries, hq_links
    booked = select(lk.c.source_id).where(lk.c.tenant == tenant, lk.c.source == source, lk.c.entity == "time_entry")
    joined = t.outerjoin(
        lk,
        and_(
            lk.c.tenant == t.c.tenant,
            lk.c.source == source,
            lk.c.entity == "time_entry",
            lk.c.source_id == t.c.source_id,
        ),
    )
    query = (
        select(
            t.c.source_id,
            t.c.payload,
            t.c.project_id,
            t.c.task_id,
            t.c.user_id,
            t.c.deleted_at,
            lk.c.source_id.label("link_id"),
            lk.c.written,
        )
        .select_from(joined)
        .where(t.c.tenant == tenant, or_(t.c.project_id.in_(list(projects)), t.c.source_id.in_(booked)))
        .order_by(t.c.source_id)
        .limit(size)
    )
    after = None
    while True:
        chunk = conn.execute(query if after is None else query.where(t.c.source_id > after)).all()
        if not chunk:
            return
        after = chunk[-1].source_id
        yield chunk


# -- Personio ----------------------------------------------------------------------------------------
def personio_person_emails(conn: Connection, tenant: str) -> dict[str, str | None]:
    t = personio_persons
    return {
        str(r.source_id): r.email for r in conn.execute(select(t.c.source_id, t.c.email).where(t.c.tenant == tenant))
    }


def personio_absence_type_info(conn: Connection, tenant: str) -> dict[str, dict[str, Any]]:
    """Absence type id → ``{name, category, unit}``."""
    t = personio_absence_types
    return {
        str(r.source_id): {"name": r.name, "category": r.category, "unit": r.unit}
        for r in conn.execute(select(t).where(t.c.tenant == tenant))
    }


def period_ids_overlapping(conn: Connection, tenant: str, first_day: str, last_day: str) -> set[str]:
    """Staged, not deleted periods that overlap [first_day, last_day] (ISO strings compare as dates)."""
    t = personio_absence_periods
    query = select(t.c.source_id).where(
        t.c.tenant == tenant,
        t.c.deleted_at.is_(None),
        t.c.starts_at <= f"{last_day}T00:00:00",
        (t.c.ends_at.is_(None)) | (t.c.ends_at >= f"{first_day}T23:59:59"),
    )
    return {str(row.source_id) for row in conn.execute(query)}


def period_chunks(conn: Connection, tenant: str, size: int) -> Iterator[Rows]:
    """Every staged period (id, payload, updated, deleted) in chunks of ``size`` by id (keyset),
    each read in full before it is yielded: on SQLite, writing while a read is still open fails with
    "database is locked" when another connection committed meanwhile (e.g. the webhook receiver)."""
    t = personio_absence_periods
    query = (
        select(t.c.source_id, t.c.payload, t.c.source_updated_at, t.c.deleted_at)
        .where(t.c.tenant == tenant)
        .order_by(t.c.source_id)
        .limit(size)
    )
    rows: Rows = []
    while True:
        rows = conn.execute(query.where(t.c.source_id > rows[-1].source_id) if rows else query).all()
        if not rows:
            return
        yield rows


def day_unit_period_ends(conn: Connection, tenant: str, limit: int) -> Rows:
    """(source_id, starts_at, ends_at) of live, finite day-unit periods, recently changed first."""
    p, t = personio_absence_periods, personio_absence_types
    query = (
        select(p.c.source_id, p.c.starts_at, p.c.ends_at)
        .select_from(p.join(t, (t.c.tenant == p.c.tenant) & (t.c.source_id == p.c.absence_type_id)))
        .where(p.c.tenant == tenant, p.c.deleted_at.is_(None), p.c.ends_at.is_not(None), t.c.unit == "DAY")
        .order_by(p.c.source_updated_at.desc(), p.c.source_id)
        .limit(limit)
    )
    return list(conn.execute(query).all())


# -- plans -------------------------------------------------------------------------------------------
def clear_plans(conn: Connection, tenant: str, source: str) -> None:
    """Drop every plan of one source (a transform that plans everything anew)."""
    t = planned_hq_state
    conn.execute(delete(t).where(t.c.tenant == tenant, t.c.source == source))


def insert_plans(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert plan rows (full ``planned_hq_state`` rows) after ``clear_plans``."""
    if rows:
        conn.execute(planned_hq_state.insert(), list(rows))
