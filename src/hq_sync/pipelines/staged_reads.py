"""Reading a source into staging, shared by the source pipelines and their webhook runs.

- ``stage_pages``: stage pages of a listing one transaction per page (nothing waits for the whole
  listing), and tell what was seen.
- ``recheck``: ask the source for records one by one (by id); the ones it no longer has (404) are
  marked deleted, the others are staged fresh (moved out of a window, changed without a new stamp).
- ``unknown_refs``: what staged records refer to that is not staged (master data to read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table

from hq_sync.progress import Progress
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries

log = logging.getLogger(__name__)

Item = dict[str, Any]
ToRow = Callable[[Item], dict[str, Any]]


@dataclass
class Staged:
    """What ``stage_pages`` staged: the counts, the ids seen and the newest source time stamp."""

    counts: repo.UpsertResult = field(default_factory=repo.UpsertResult)
    seen: set[str] = field(default_factory=set)
    newest: datetime | None = None


def stage_pages(
    ctx: RunContext,
    table: Table,
    pages: Iterable[list[Item]],
    to_row: ToRow,
    keep: Callable[[Item], bool] | None = None,
) -> Staged:
    """Stage page by page (only the items ``keep`` accepts, when given)."""
    staged = Staged()
    progress = Progress(f"extract {ctx.tenant.id}: {table.name} read", logger=log)  # issue 15: long reads log
    for page in pages:
        rows = [to_row(item) for item in page if keep is None or keep(item)]
        with ctx.staging.begin() as conn:
            staged.counts += repo.upsert_source_records(conn, table, ctx.tenant.id, rows)
        progress.advance(len(page))
        for row in rows:
            staged.seen.add(row["source_id"])
            ts = row["source_updated_at"]
            if ts is not None and (staged.newest is None or ts > staged.newest):
                staged.newest = ts
    progress.finish()
    return staged


@dataclass
class Rechecked:
    gone: list[str]  # the source answered 404: marked deleted
    still_there: int  # staged fresh
    deleted: int  # rows newly marked deleted


def recheck(
    ctx: RunContext, table: Table, ids: Collection[str], fetch: Callable[[str], Item | None], to_row: ToRow
) -> Rechecked:
    """Read ``ids`` one by one (in id order): a 404 marks the staged row deleted, the rest is staged."""
    gone, still = [], []
    for source_id in sorted(ids):
        current = fetch(source_id)
        if current is None:
            gone.append(source_id)
        else:
            still.append(to_row(current))
    with ctx.staging.begin() as conn:
        deleted = repo.mark_source_deleted(conn, table, ctx.tenant.id, gone)
        if still:
            repo.upsert_source_records(conn, table, ctx.tenant.id, still)
    return Rechecked(gone, len(still), deleted)


def unknown_refs(
    ctx: RunContext, table: Table, column: str, refs_table: Table, where: ColumnElement[bool] | None = None
) -> set[str]:
    """Values of ``table.column`` (live rows of the tenant, those matching ``where`` when given) with
    no staged row in ``refs_table``."""
    with ctx.staging.connect() as conn:
        return queries.unknown_refs(conn, table, ctx.tenant.id, column, refs_table, where)
