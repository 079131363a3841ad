"""The read-only queries behind the Sync status page and its charts (``hq_sync.ops``).

What the last runs reported (``run_summaries``), what is open in quarantine (``quarantine``) and
which timesheet files arrived (``timesheet_files``), as typed rows. Nothing here writes; the
presentation (grouping by cause, ages, HTML) stays in ``hq_sync.ops``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, select

from hq_sync.staging.schema import quarantine, run_summaries, timesheet_files
from hq_sync.staging.states import Outcome


@dataclass(frozen=True)
class EntityReport:
    """One row of ``run_summaries``: what one run did to one entity of a tenant source."""

    tenant: str
    source: str
    dag_id: str
    run_id: str
    entity: str
    recorded_at: datetime
    counts: dict[Outcome, int]  # every ``Outcome``, 0 when not stored
    details: dict[str, Any]  # per outcome, per reason: e.g. {"quarantined": {"unknown_email": 3}}


def _entity_report(row: Row[Any]) -> EntityReport:
    return EntityReport(
        tenant=row.tenant,
        source=row.source,
        dag_id=row.dag_id,
        run_id=row.run_id,
        entity=row.entity,
        recorded_at=row.recorded_at,
        counts={outcome: int(getattr(row, outcome) or 0) for outcome in Outcome},
        details=row.details or {},
    )


def last_reports(conn: Connection) -> dict[tuple[str, str], list[EntityReport]]:
    """Per (tenant, source): the entity rows of the run that reported last (the newest
    ``recorded_at``). Two runs that reported in the same instant (only in tests): the one with the
    greater run id, so the answer does not depend on the database's row order."""
    newest = (
        select(run_summaries.c.tenant, run_summaries.c.source, func.max(run_summaries.c.recorded_at).label("m"))
        .group_by(run_summaries.c.tenant, run_summaries.c.source)
        .subquery()
    )
    last_run = (
        select(run_summaries.c.tenant, run_summaries.c.source, run_summaries.c.dag_id, run_summaries.c.run_id)
        .join(
            newest,
            and_(
                run_summaries.c.tenant == newest.c.tenant,
                run_summaries.c.source == newest.c.source,
                run_summaries.c.recorded_at == newest.c.m,
            ),
        )
        .distinct()
        .subquery()
    )
    rows = conn.execute(
        select(run_summaries).join(
            last_run,
            and_(
                run_summaries.c.tenant == last_run.c.tenant,
                run_summaries.c.source == last_run.c.source,
                run_summaries.c.dag_id == last_run.c.dag_id,
                run_summaries.c.run_id == last_run.c.run_id,
            ),
        )
    )
    result: dict[tuple[str, str], list[EntityReport]] = {}
    for row in rows:
        key = (row.tenant, row.source)
        reports = result.get(key)
        if reports and reports[0].run_id != row.run_id:
            if row.run_id < reports[0].run_id:
                continue
            reports = None
        if not reports:
            reports = result[key] = []
        reports.append(_entity_report(row))
    return result


@dataclass(frozen=True)
class ReportedRun:
    """One reported run of a tenant source, summed over its entities."""

    run_id: str
    recorded_at: datetime  # the newest report of its entities
    written: int  # created + updated + deleted
    held_back: int  # quarantined


def reported_runs(conn: Connection, tenant: str, source: str, runs: int, since: datetime | None) -> list[ReportedRun]:
    """The last ``runs`` reported runs of a tenant source (reported at ``since`` or later when
    given), oldest first."""
    query = (
        select(
            run_summaries.c.run_id,
            run_summaries.c.recorded_at,
            run_summaries.c.created,
            run_summaries.c.updated,
            run_summaries.c.deleted,
            run_summaries.c.quarantined,
        )
        .where(run_summaries.c.tenant == tenant, run_summaries.c.source == source)
        .order_by(run_summaries.c.recorded_at.desc())
        .limit(runs * 8)
    )
    if since is not None:
        query = query.where(run_summaries.c.recorded_at >= since)
    found: dict[str, ReportedRun] = {}
    for row in conn.execute(query):
        run = found.get(row.run_id)
        if run is None:
            if len(found) >= runs:
                continue
            run = ReportedRun(row.run_id, row.recorded_at, 0, 0)
        found[row.run_id] = ReportedRun(
            run.run_id,
            max(run.recorded_at, row.recorded_at),
            run.written + int(row.created or 0) + int(row.updated or 0) + int(row.deleted or 0),
            run.held_back + int(row.quarantined or 0),
        )
    return sorted(found.values(), key=lambda r: r.recorded_at)


def reported_sources(conn: Connection, tenant: str) -> set[str]:
    """The sources of a tenant that have reported a run."""
    rows = conn.execute(select(run_summaries.c.source).where(run_summaries.c.tenant == tenant).distinct())
    return {row.source for row in rows}


@dataclass(frozen=True)
class OpenReason:
    """The open quarantine items of one tenant source and reason."""

    tenant: str
    source: str
    reason: str
    count: int
    oldest: datetime  # first seen, of the oldest item
    newest: datetime  # first seen, of the newest item


def open_quarantine_by_reason(conn: Connection) -> list[OpenReason]:
    """Every tenant's open quarantine, counted per (tenant, source, reason)."""
    rows = conn.execute(
        select(
            quarantine.c.tenant,
            quarantine.c.source,
            quarantine.c.reason,
            func.count().label("n"),
            func.min(quarantine.c.first_seen_at).label("oldest"),
            func.max(quarantine.c.first_seen_at).label("newest"),
        )
        .where(quarantine.c.resolved_at.is_(None))
        .group_by(quarantine.c.tenant, quarantine.c.source, quarantine.c.reason)
    )
    return [OpenReason(row.tenant, row.source, row.reason, int(row.n), row.oldest, row.newest) for row in rows]


@dataclass(frozen=True)
class QuarantineItem:
    """One open quarantine record: who, what, why, since when."""

    id: int
    tenant: str
    source: str
    entity: str
    source_id: str
    reason: str
    detail: str
    context: dict[str, Any]  # e.g. {"email": ..., "hours": ...}; {} when none was stored
    first_seen_at: datetime
    last_seen_at: datetime
    last_run_id: str | None


def open_quarantine_items(
    conn: Connection, tenant: str, source: str | None = None, reason: str | None = None, limit: int = 1000
) -> list[QuarantineItem]:
    """The open quarantine items of a tenant (of one source and reason when given), oldest first,
    at most ``limit``."""
    query = select(quarantine).where(quarantine.c.tenant == tenant, quarantine.c.resolved_at.is_(None))
    if source:
        query = query.where(quarantine.c.source == source)
    if reason:
        query = query.where(quarantine.c.reason == reason)
    rows = conn.execute(query.order_by(quarantine.c.first_seen_at, quarantine.c.id).limit(limit))
    return [
        QuarantineItem(
            id=row.id,
            tenant=row.tenant,
            source=row.source,
            entity=row.entity,
            source_id=row.source_id,
            reason=row.reason,
            detail=row.detail,
            context=dict(row.context or {}),
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            last_run_id=row.last_run_id,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class QuarantineSpan:
    """When one quarantine item of a tenant source was open: from ``first_seen_at`` (its last
    re-opening) until ``resolved_at`` (None: still open)."""

    reason: str
    first_seen_at: datetime
    resolved_at: datetime | None


def quarantine_spans(conn: Connection, tenant: str, source: str) -> list[QuarantineSpan]:
    """Every quarantine item of a tenant source, open or resolved (the backlog's history)."""
    rows = conn.execute(
        select(quarantine.c.reason, quarantine.c.first_seen_at, quarantine.c.resolved_at).where(
            quarantine.c.tenant == tenant, quarantine.c.source == source
        )
    )
    return [QuarantineSpan(row.reason, row.first_seen_at, row.resolved_at) for row in rows]


@dataclass(frozen=True)
class TimesheetFile:
    """One row of ``timesheet_files``: a file dropped or uploaded for import, and what became of it.
    The fields are the table's columns, in its order."""

    id: int
    tenant: str
    run_id: str
    name: str
    path: str
    sha256: str | None
    size_bytes: int | None
    status: str  # reading | refused | imported
    error: str | None
    rows: int | None
    held: int | None
    summary: Any  # the import's counts (JSON)
    received_at: datetime
    finished_at: datetime | None


def recent_timesheet_files(conn: Connection, tenant: str, limit: int) -> list[TimesheetFile]:
    """A tenant's newest ``limit`` timesheet files, newest first."""
    rows = conn.execute(
        select(timesheet_files)
        .where(timesheet_files.c.tenant == tenant)
        .order_by(timesheet_files.c.received_at.desc(), timesheet_files.c.id.desc())
        .limit(limit)
    )
    return [TimesheetFile(**row._mapping) for row in rows]
