"""What an ``awork_times`` run reads from awork, and how it keeps the reads few (issue #10, #12):

- ``stage_project_structure``: a linked project with its task lists and tasks.
- ``Structure``: whose lists and tasks a run reads (the finding "a change bumps the project").
- ``TimeEntryQuery``: whether awork honours filterby/orderby on /timeentries, the cheapest read
  of a window's entries, and the count that tells a deletion check it need not read them.

The findings are remembered in ``sync_cursors`` (``docs/awork.md``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from hq_sync.clients.awork import MAX_PAGE_SIZE as MAX_PAGE
from hq_sync.clients.awork import AworkClient, all_of, datetime_literal
from hq_sync.clients.awork.query import QuerySupport
from hq_sync.clients.http import ClientError
from hq_sync.pipelines.staged_reads import stage_pages
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.staging.schema import awork_projects, awork_task_lists, awork_tasks
from hq_sync.timeutil import parse_timestamp
from hq_sync.transform.source_rows import awork_list_row, awork_project_row, awork_task_row

log = logging.getLogger(__name__)

SOURCE = "awork"
DAILY = timedelta(hours=24)  # findings are checked again once a day

Page = list[dict[str, Any]]


def stage_project_structure(
    ctx: RunContext, client: AworkClient, awork_id: str, project: dict[str, Any]
) -> tuple[repo.UpsertResult, repo.UpsertResult]:
    """Stage awork project ``awork_id`` (as read) with its task lists and tasks; tasks missing from
    the (complete) listing are marked deleted. Returns the list and task upsert counts."""
    tenant = ctx.tenant.id
    with ctx.staging.begin() as conn:
        repo.upsert_source_records(conn, awork_projects, tenant, [awork_project_row(project)])
    lists = stage_pages(
        ctx, awork_task_lists, client.task_lists(awork_id, show_archived=True), lambda i: awork_list_row(i, awork_id)
    )
    tasks = stage_pages(ctx, awork_tasks, client.project_tasks(awork_id), awork_task_row)
    with ctx.staging.begin() as conn:  # the listing is complete: tasks missing from it are gone
        gone = sorted(queries.live_task_ids(conn, tenant, awork_id) - tasks.seen)
        repo.mark_source_deleted(conn, awork_tasks, tenant, gone)
    return lists.counts, tasks.counts


class Structure:
    """Whose lists and tasks a run reads (issue #12). awork has no workspace-wide task listing, so
    "what changed" comes from the one project listing: a project whose ``updatedOn`` moved since
    it was staged (or newly linked) gets its lists and tasks read. That is only complete if a
    task or list change bumps its project's ``updatedOn``, which awork does not document. So the
    sync checks: every project whose structure it reads shows whether a child is newer than its
    project (disproves it) or not (evidence for it). Until the finding is "follows", and once a
    day, every linked project's structure is read; where awork proves it does not bump projects,
    every run reads every project's lists and tasks (2 requests per project, as before)."""

    FINDING, CHECKED = "structure_follows_project", "structure_checked"
    FOLLOWS, INDEPENDENT = "follows", "independent"

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        tenant = ctx.tenant.id
        with ctx.staging.connect() as conn:
            self.previous = repo.get_cursor(conn, tenant, SOURCE, self.FINDING)
            checked = parse_timestamp(repo.get_cursor(conn, tenant, SOURCE, self.CHECKED))
            self.staged = queries.awork_project_stamps(conn, tenant)
        self.daily = checked is None or ctx.now - checked >= DAILY
        self.read_all = self.previous != self.FOLLOWS or self.daily
        self.read: list[str] = []
        self.skipped = 0
        self.disproved: list[str] = []
        self.evidence = 0
        self.finding: str | None = self.previous

    def must_read(self, awork_id: str, project: dict[str, Any], *, newly_linked: bool) -> bool:
        stamp = parse_timestamp(project.get("updatedOn"))
        changed = newly_linked or awork_id not in self.staged or self.staged[awork_id] != stamp
        if self.read_all or changed:
            return True
        self.skipped += 1
        return False

    def observe(self, awork_id: str, project: dict[str, Any]) -> None:
        """After staging a project's lists and tasks: is any of them newer than the project?"""
        self.read.append(awork_id)
        project_updated = parse_timestamp(project.get("updatedOn"))
        with self.ctx.staging.connect() as conn:
            newest_child = queries.newest_structure_change(conn, self.ctx.tenant.id, awork_id)
        if newest_child is None or project_updated is None:
            return
        # Strictly newer disproves it: a project stamped a moment before its child's change errs
        # towards reading more, never towards missing a change.
        if newest_child > project_updated:
            self.disproved.append(awork_id)
        else:
            self.evidence += 1

    def store(self) -> None:
        finding: str | None
        if self.disproved:
            finding = self.INDEPENDENT
        elif self.evidence and (self.previous != self.INDEPENDENT or self.daily):
            finding = self.FOLLOWS
        else:
            finding = self.previous
        if finding != self.previous and finding is not None:
            log.info(
                "awork %s: a task or list change %s its project's updatedOn",
                self.ctx.tenant.id,
                "bumps" if finding == self.FOLLOWS else "does not bump",
            )
        with self.ctx.staging.begin() as conn:
            if finding is not None:
                repo.set_cursor(conn, self.ctx.tenant.id, SOURCE, self.FINDING, finding)
            if self.daily and self.read_all:
                repo.set_cursor(conn, self.ctx.tenant.id, SOURCE, self.CHECKED, self.ctx.now.isoformat())
        self.finding = finding

    def as_dict(self) -> dict[str, Any]:
        return {"finding": self.finding, "read": len(self.read), "unchanged_skipped": self.skipped}


class TimeEntryQuery:
    """What this tenant's awork does with filterby/orderby on /timeentries (issue #10,
    ``hq_sync.clients.awork.query``): checked once a day (3 requests), remembered in
    ``sync_cursors``, and corrected whenever a read proves it wrong. Where awork ignores the
    filter, one read of all entries (filtered here) replaces the reads per project."""

    FINDING, CHECKED = "time_entry_query", "time_entry_query_checked"

    def __init__(self, ctx: RunContext, client: AworkClient) -> None:
        self.ctx, self.client = ctx, client
        with ctx.staging.connect() as conn:
            stored = repo.get_cursor(conn, ctx.tenant.id, SOURCE, self.FINDING)
            checked = parse_timestamp(repo.get_cursor(conn, ctx.tenant.id, SOURCE, self.CHECKED))
        self.previous = QuerySupport(stored) if stored in {q.value for q in QuerySupport} else None
        self.support = self.previous or QuerySupport.HONOURED
        self.newly_found: str | None = None  # the sentence, when this run found awork ignoring a part
        if self.previous is None or checked is None or ctx.now - checked >= DAILY:
            self._store(client.time_entry_query_support(), checked=True)

    def found(self, support: QuerySupport, detail: str) -> None:
        """A read proved a part ignored: use the safe reads from now on (and remember it)."""
        self._store(self.support.worse(support), checked=False, detail=detail)

    def _store(self, support: QuerySupport, *, checked: bool, detail: str | None = None) -> None:
        tenant = self.ctx.tenant.id
        before_ok = self.previous in (None, QuerySupport.HONOURED) and self.support is QuerySupport.HONOURED
        self.support = support
        if support is not QuerySupport.HONOURED and before_ok and self.newly_found is None:
            self.newly_found = (
                f"{support.describe()}{f' ({detail})' if detail else ''}; the sync reads time entries "
                "page by page and filters them itself from now on (more requests, same result)"
            )
            log.warning("awork %s: %s", tenant, self.newly_found)
        with self.ctx.staging.begin() as conn:
            repo.set_cursor(conn, tenant, SOURCE, self.FINDING, support.value)
            if checked:
                repo.set_cursor(conn, tenant, SOURCE, self.CHECKED, self.ctx.now.isoformat())

    def per_project(self, projects: list[str], window: tuple[date, date]) -> Iterator[tuple[str, Iterator[Page]]]:
        """(project, pages of its entries in ``window``): one filtered request series per project,
        or, where awork ignores filterby, one read of everything split here (only when needed)."""
        if not projects:
            return
        if self.support.filter_honoured:
            for awork_id in projects:
                yield awork_id, self.client.time_entries(between=window, project_id=awork_id)
            return
        wanted = set(projects)
        everything = [
            item
            for page in self.client.time_entries(between=window)
            for item in page
            if str(item.get("projectId") or "") in wanted
        ]
        for awork_id in projects:
            mine = [item for item in everything if str(item.get("projectId") or "") == awork_id]
            yield awork_id, iter([mine] if mine else [])

    def window(
        self, projects: list[str], window: tuple[date, date], *, workspace_projects: int | None = None
    ) -> Iterator[Page]:
        """Pages of the entries of ``projects`` dated in ``window`` (a first read, the deletion
        check): one read of the workspace's window, kept here by project and date, when that
        costs fewer requests than one read per project (its first page's ``aw-totalitems`` tells;
        the cost per project is estimated from staging, or on a first read from the share of the
        workspace's ``workspace_projects`` they are), else a read per project."""
        if not projects:
            return
        wanted = set(projects)
        if len(projects) > 1 and self.support.filter_honoured:
            read = self._workspace_window(projects, window, workspace_projects)
            if read is not None:
                for page in read:
                    yield [i for i in page if str(i.get("projectId") or "").lower() in wanted and _in_window(i, window)]
                return
        if not self.support.filter_honoured:
            for page in self.client.time_entries(between=window):
                yield [i for i in page if str(i.get("projectId") or "").lower() in wanted]
            return
        for awork_id in projects:
            yield from self.client.time_entries(between=window, project_id=awork_id)

    def _workspace_window(
        self, projects: list[str], window: tuple[date, date], workspace_projects: int | None
    ) -> Iterator[Page] | None:
        """The pages of the workspace's whole window when that read is the cheaper one, else None."""
        with self.ctx.staging.connect() as conn:
            per_project = queries.entry_counts_by_project(conn, self.ctx.tenant.id, projects, window)
        separate = sum(max(1, -(-per_project.get(p, 0) // MAX_PAGE)) for p in projects)
        pages = self.client.pages(
            "/timeentries",
            filterby=all_of(
                f"startDateUtc ge {datetime_literal(window[0])}",
                f"startDateUtc lt {datetime_literal(window[1] + timedelta(days=1))}",
            ),
            orderby="createdOn asc,id asc",
        )
        first = next(pages, None)
        total = self.client.last_total_items
        if total is not None and not per_project and workspace_projects:
            # nothing staged yet: half a page per project plus their share of the entries
            share = total * len(projects) / workspace_projects / MAX_PAGE
            separate = max(separate, math.ceil(len(projects) / 2 + share))
        if total is None or -(-total // MAX_PAGE) <= separate:
            return _prepend(first, pages)
        getattr(pages, "close", lambda: None)()  # the workspace's other projects make one read dearer: per project
        return None

    def count(self, projects: list[str], window: tuple[date, date]) -> WindowCount:
        """awork's and staging's number of entries of ``projects`` dated in ``window``.

        Staging holds every entry awork has, changed ones as they are now (the incremental read
        stages every creation and change), plus the deleted ones nobody has marked yet: equal
        counts mean nothing was deleted there, so a deletion check need not list the window (one
        one-item request instead of a page per 1,000 entries, issue #12). An entry created after
        the incremental read can hide a deletion for one run: the next run stages it and the
        counts differ. ``awork`` is None (list the window) where awork ignores filterby, sends no
        ``aw-totalitems`` or refuses the filter."""
        if not self.support.filter_honoured:
            return WindowCount(None, None, "awork ignores filterby on /timeentries")
        try:
            found = self.client.time_entry_count(between=window, project_ids=projects)
        except ClientError as exc:  # a filter this awork does not take: list the window instead
            log.warning("awork %s: the count of the window was refused (%s); listing it", self.ctx.tenant.id, exc)
            return WindowCount(None, None, f"count refused: {exc}")
        if found is None:
            return WindowCount(None, None, "no aw-totalitems header")
        with self.ctx.staging.connect() as conn:
            staged = sum(queries.entry_counts_by_project(conn, self.ctx.tenant.id, projects, window).values())
        return WindowCount(found, staged)

    def as_dict(self) -> dict[str, Any]:
        return {"support": self.support.value, "newly_found": self.newly_found}


@dataclass(frozen=True)
class WindowCount:
    """A window's entries counted by awork and by staging (live rows); both None where awork's
    count is not known (``unknown_because``)."""

    awork: int | None
    staged: int | None
    unknown_because: str | None = None

    @property
    def nothing_deleted(self) -> bool:
        return self.awork is not None and self.awork == self.staged

    def as_dict(self) -> dict[str, Any]:
        if self.awork is None:
            return {"count": f"unknown ({self.unknown_because})"}
        return {"count": {"awork": self.awork, "staged": self.staged}}


def _prepend(first: Page | None, rest: Iterator[Page]) -> Iterator[Page]:
    if first:
        yield first
    yield from rest


def _in_window(item: dict[str, Any], window: tuple[date, date]) -> bool:
    day = str(item.get("startDateUtc") or "")[:10]
    return window[0].isoformat() <= day <= window[1].isoformat()
