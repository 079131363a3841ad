"""Named queries of the timesheet import (``timesheet_files``, ``timesheet_rows``): one record per
imported file (keyed by the import run) and its staged rows. ``pipelines/timesheets.py`` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from hq_sync.staging.schema import quarantine, timesheet_files, timesheet_rows, utcnow

ROWS_PER_INSERT = 500


def file_of_run(conn: Connection, tenant: str, run_id: str) -> Any:
    """The file record of an import run (None before its ``read``)."""
    t = timesheet_files
    return conn.execute(select(t).where(t.c.tenant == tenant, t.c.run_id == run_id)).one_or_none()


def start_file(conn: Connection, tenant: str, run_id: str, values: Mapping[str, Any]) -> int:
    """Record the run's file (a re-run of the import starts over: same record, no rows); returns its id."""
    existing = file_of_run(conn, tenant, run_id)
    if existing is None:
        inserted = conn.execute(timesheet_files.insert().values(**values)).inserted_primary_key
        assert inserted is not None
        file_id = int(inserted[0])
    else:
        file_id = int(existing.id)
        again = {k: v for k, v in values.items() if k != "received_at"}
        conn.execute(update(timesheet_files).where(timesheet_files.c.id == file_id).values(**again))
    conn.execute(delete(timesheet_rows).where(timesheet_rows.c.file_id == file_id))
    return file_id


def update_file(conn: Connection, file_id: int, **values: Any) -> None:
    """Set columns of a file record (status, error, rows, held, finished_at …)."""
    conn.execute(update(timesheet_files).where(timesheet_files.c.id == file_id).values(**values))


def finish_run_file(conn: Connection, tenant: str, run_id: str, **values: Any) -> None:
    """Set columns of the file record of an import run, stamping ``finished_at``."""
    t = timesheet_files
    conn.execute(update(t).where(t.c.tenant == tenant, t.c.run_id == run_id).values(**values, finished_at=utcnow()))


def stage_rows(conn: Connection, file_id: int, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert a file's rows (full ``timesheet_rows`` rows) and count them on its record."""
    for start in range(0, len(rows), ROWS_PER_INSERT):
        conn.execute(timesheet_rows.insert(), list(rows[start : start + ROWS_PER_INSERT]))
    update_file(conn, file_id, rows=len(rows))


def staged_rows(conn: Connection, file_id: int) -> list[Any]:
    """A file's staged rows, by line."""
    t = timesheet_rows
    return list(conn.execute(select(t).where(t.c.file_id == file_id).order_by(t.c.line)))


def held_rows(conn: Connection, tenant: str, source: str, name: str | None = None) -> list[dict[str, Any]]:
    """Open held-back rows of the tenant's timesheets (optionally of one file name), by file and line
    (quarantine ids are ``<name>#<line>``)."""
    q = quarantine
    query = select(q).where(q.c.tenant == tenant, q.c.source == source, q.c.resolved_at.is_(None))
    if name:
        query = query.where(q.c.source_id.startswith(f"{name[:100]}#", autoescape=True))
    items = [dict(r._mapping) for r in conn.execute(query)]
    return sorted(
        items, key=lambda i: (str(i["source_id"]).rsplit("#", 1)[0], int(str(i["source_id"]).rsplit("#", 1)[1]))
    )
