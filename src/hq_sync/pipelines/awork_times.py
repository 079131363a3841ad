"""awork time entries → HQ reportings, tasks and phases (product.md A3, A5–A9): the five steps of
``awork_times__<tenant>``. Rules and choices: ``docs/awork.md``.

- ``extract``: the HQ projects linked by their "awork Link" custom field; awork users, types of
  work, and per linked project the project, its task lists and tasks; time entries incrementally
  by ``updatedOn`` (with an overlap), and in full for a project linked since the last run. Every
  page is staged before the next is fetched.
- ``reconcile_deletions``: per linked project, re-read the entries of the recent window and mark
  the missing ones deleted after a 404 on each.
- ``transform``: plan phases, tasks and reportings (staging + HQ master data), quarantine and
  report what cannot be decided.
- ``load``: phases and tasks (by ``SyncId``), then reportings (``hq_sync.load``).
- ``report``: counts per entity (reporting, task, phase, project) into ``run_summaries``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select

from hq_sync.clients.awork import MAX_PAGE_SIZE as MAX_PAGE
from hq_sync.clients.awork import AworkClient, all_of, datetime_literal, user_email
from hq_sync.clients.awork_query import QueryIgnoredError, QuerySupport
from hq_sync.clients.hq import same_name
from hq_sync.config import AworkSource, PhaseMode
from hq_sync.load.reportings import load_reportings, plans_of
from hq_sync.load.hq_tasks import StructureLoader
from hq_sync.run import RunContext, RunMode
from hq_sync.pipelines.cursors import FULL_READ, ServerClock, full_read_marker, full_read_started
from hq_sync.timeutil import parse_timestamp
from hq_sync.pipelines.steps import record_report
from hq_sync.progress import Progress, summary_line
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging.reasons import WARNING_REASONS
from hq_sync.staging.schema import (
    awork_projects,
    awork_task_lists,
    awork_tasks,
    awork_time_entries,
    awork_types_of_work,
    awork_users,
    hq_links,
    planned_hq_state,
    utcnow,
)
from hq_sync.transform.phases import choose_list, parse_list_name
from hq_sync.transform.reportings import InvalidLink, NotWanted, Quarantined, Wanted, parse_awork_link, plan_reporting

log = logging.getLogger(__name__)

SOURCE = "awork"
UPDATED_OVERLAP = timedelta(minutes=15)  # re-read this much before the cursor (clock skew, late commits)
FUTURE_DAYS = 366  # time entries planned ahead are read up to a year from today
# Reasons transform owns (it opens and resolves them); load owns hq_rejected and billed_conflict.
TRANSFORM_REASONS = {
    "project": ("invalid_awork_link", "awork_project_not_found", "duplicate_awork_link"),
    "phase": ("malformed_bracket",),
    "task": ("type_of_work_unmatched", "task_in_several_lists"),
    "time_entry": ("unknown_email", "duration_over_24h"),
}
FULL_RECONCILE_EVERY = timedelta(hours=24)  # deletions older than the recent window: within a day
REPORTED = WARNING_REASONS  # written with a warning: notes, not errors (hq_sync.staging.reasons)
TRANSFORM_CHUNK = 1000  # time entries planned and written per chunk (transform streams them)


def _cfg(ctx: RunContext) -> AworkSource:
    cfg = ctx.tenant.sources.awork
    assert cfg is not None
    return cfg


_ts = parse_timestamp


# -- staging rows -----------------------------------------------------------------------------
def user_row(item: dict[str, Any]) -> dict[str, Any]:
    return {"source_id": str(item["id"]), "source_updated_at": _ts(item.get("updatedOn")), "payload": item, "email": user_email(item)}


def type_row(item: dict[str, Any]) -> dict[str, Any]:
    return {"source_id": str(item["id"]), "source_updated_at": _ts(item.get("updatedOn")), "payload": item, "name": str(item.get("name") or "")}


def project_row(item: dict[str, Any]) -> dict[str, Any]:
    return {"source_id": str(item["id"]), "source_updated_at": _ts(item.get("updatedOn")), "payload": item, "name": str(item.get("name") or "")}


def list_row(item: dict[str, Any], project_id: str) -> dict[str, Any]:
    order = item.get("order")
    return {"source_id": str(item["id"]), "source_updated_at": _ts(item.get("updatedOn")), "payload": item,
            "project_id": project_id, "name": str(item.get("name") or ""),
            "list_order": int(order) if isinstance(order, int | float) else None}


def task_row(item: dict[str, Any]) -> dict[str, Any]:
    return {"source_id": str(item["id"]), "source_updated_at": _ts(item.get("updatedOn")), "payload": item,
            "project_id": item.get("projectId") or item.get("entityId"), "name": str(item.get("name") or ""),
            "type_of_work_id": item.get("typeOfWorkId"), "planned_duration_s": item.get("plannedDuration")}


def entry_row(item: dict[str, Any]) -> dict[str, Any]:
    start = str(item.get("startDateUtc") or item.get("startDateLocal") or "1970-01-01")[:10]
    return {"source_id": str(item["id"]), "source_updated_at": _ts(item.get("updatedOn")), "payload": item,
            "user_id": str(item.get("userId") or ""), "project_id": item.get("projectId"), "task_id": item.get("taskId"),
            "start_date": date.fromisoformat(start), "duration_s": int(item.get("duration") or 0),
            "is_billed": bool(item.get("isBilled"))}


def _stage(ctx: RunContext, table: Any, pages: Iterator[list[dict[str, Any]]], to_row: Any) -> tuple[repo.UpsertResult, set[str]]:
    total, seen = repo.UpsertResult(), set()
    progress = Progress(f"extract {ctx.tenant.id}: {table.name} read", logger=log)  # issue 15: long reads log
    for page in pages:
        rows = [to_row(item) for item in page]
        with ctx.staging.begin() as conn:
            total += repo.upsert_source_records(conn, table, ctx.tenant.id, rows)
        seen.update(r["source_id"] for r in rows)
        progress.advance(len(rows))
    progress.finish()
    return total, seen


def _quarantine_set(conn: Connection, ctx: RunContext, entity: str, items: dict[tuple[str, str], tuple[str, dict[str, Any]]]) -> None:
    """Open (or refresh) the transform-owned items of one entity; resolve the ones no longer true."""
    for (source_id, reason), (detail, context) in items.items():
        repo.quarantine_record(conn, tenant=ctx.tenant.id, source=SOURCE, entity=entity, source_id=source_id,
                               reason=reason, detail=detail, context=context, run_id=ctx.run_id)
    for reason in TRANSFORM_REASONS[entity]:
        current = [sid for (sid, r) in items if r == reason]
        repo.resolve_quarantine(conn, tenant=ctx.tenant.id, source=SOURCE, entity=entity, source_id=None, reasons=(reason,), except_ids=current)


def linked_projects(conn: Connection, tenant: str) -> dict[str, int]:
    """awork project id → HQ project id of the projects linked in the last extract."""
    return {l.source_id: int(l.hq_id) for l in repo.links(conn, tenant, SOURCE, "project", state="synced") if l.hq_id}


# -- extract ----------------------------------------------------------------------------------
def stage_project_structure(ctx: RunContext, client: AworkClient, awork_id: str,
                            project: dict[str, Any]) -> tuple[repo.UpsertResult, repo.UpsertResult]:
    """Stage awork project ``awork_id`` (as read) with its task lists and tasks; tasks missing from
    the (complete) listing are marked deleted. Returns the list and task upsert counts."""
    tenant = ctx.tenant.id
    with ctx.staging.begin() as conn:
        repo.upsert_source_records(conn, awork_projects, tenant, [project_row(project)])
    lists, _ = _stage(ctx, awork_task_lists, client.task_lists(awork_id, show_archived=True), lambda i, p=awork_id: list_row(i, p))
    tasks, seen = _stage(ctx, awork_tasks, client.project_tasks(awork_id), task_row)
    with ctx.staging.begin() as conn:  # the listing is complete: tasks missing from it are gone
        gone = [r.source_id for r in conn.execute(select(awork_tasks.c.source_id).where(
            awork_tasks.c.tenant == tenant, awork_tasks.c.project_id == awork_id, awork_tasks.c.deleted_at.is_(None)))
            if r.source_id not in seen]
        repo.mark_source_deleted(conn, awork_tasks, tenant, gone)
    return lists, tasks


def extract(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Stage users, types of work, the linked projects with lists and tasks, and time entries (an
    events run: what changed and what the webhook events name, ``webhook_runs``)."""
    from hq_sync.pipelines import webhook_runs

    if ctx.mode is RunMode.EVENTS:
        return webhook_runs.awork_events_extract(ctx)
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    client: AworkClient = ctx.require_clients().awork()
    hints = webhook_runs._pending(ctx, SOURCE)
    hq = ctx.require_clients().hq()

    as_of = ServerClock(client)  # awork's clock when the extract began: the next run's cursor
    users, _ = _stage(ctx, awork_users, as_of.watch(client.users(show_archived=True)), user_row)
    types, _ = _stage(ctx, awork_types_of_work, client.types_of_work(show_archived=True), type_row)

    # Which HQ projects are linked, and to which awork project (A2/A3).
    problems: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    wanted: dict[str, int] = {}
    for project in sorted(hq.projects_with_custom_field(cfg.link_field), key=lambda p: int(p["Id"])):
        hq_id = int(project["Id"])
        value = next((f.get("Value") for f in project.get("CustomFields") or [] if same_name(f.get("Name"), cfg.link_field)), None)
        where = f"HQ project {project.get('Number') or ''} {project.get('Name')!r} (Id {hq_id})".replace("  ", " ")
        try:
            awork_id = parse_awork_link(value)
        except InvalidLink as exc:
            problems[(str(hq_id), "invalid_awork_link")] = (f"{where}: {exc}; its times are not synced", {"value": value})
            continue
        if awork_id in wanted:
            problems[(str(hq_id), "duplicate_awork_link")] = (
                f"{where}: awork project {awork_id} is already linked to HQ project {wanted[awork_id]}; only that one gets its times",
                {"value": value, "awork_project_id": awork_id, "linked_to": wanted[awork_id]})
            continue
        wanted[awork_id] = hq_id
    hq_names = {}
    lists, tasks = repo.UpsertResult(), repo.UpsertResult()
    linked: dict[str, int] = {}
    with ctx.staging.connect() as conn:
        before = linked_projects(conn, tenant)
    # The linked projects from one listing of the workspace's projects (a project missing from it
    # is looked up by id); their lists and tasks only where something changed (Structure).
    listed_projects_all: set[str] = set()
    listed_projects = {}
    for page in client.projects():
        for item in page:
            listed_projects_all.add(str(item["id"]).lower())
            if str(item["id"]).lower() in wanted:
                listed_projects[str(item["id"]).lower()] = item
    structure = Structure(ctx)
    for awork_id, hq_id in wanted.items():
        project = listed_projects.get(awork_id) or client.project(awork_id)
        if project is None:
            problems[(str(hq_id), "awork_project_not_found")] = (
                f"HQ project {hq_id}: its awork Link names awork project {awork_id}, which does not exist (or is "
                "not visible to the sync's API key); its times are not synced", {"awork_project_id": awork_id})
            continue
        linked[awork_id] = hq_id
        hq_names[awork_id] = project.get("name")
        if not structure.must_read(awork_id, project, newly_linked=awork_id not in before):
            continue
        result_lists, result_tasks = stage_project_structure(ctx, client, awork_id, project)
        structure.observe(awork_id, project)
        lists += result_lists
        tasks += result_tasks
    structure.store()

    with ctx.staging.begin() as conn:
        for awork_id, hq_id in linked.items():
            repo.save_link(conn, tenant=tenant, source=SOURCE, entity="project", source_id=awork_id, hq_entity="Project",
                           state="synced", hq_id=str(hq_id), written={"awork_project_id": awork_id, "name": hq_names.get(awork_id)})
        for awork_id, hq_id in before.items():
            if awork_id not in linked:
                repo.save_link(conn, tenant=tenant, source=SOURCE, entity="project", source_id=awork_id, hq_entity="Project",
                               state="deleted", hq_id=str(hq_id), written=None)
        _quarantine_set(conn, ctx, "project", problems)
        cursor = _ts(repo.get_cursor(conn, tenant, SOURCE, "time_entry"))

    # Time entries: what changed since the last run (whole workspace), and everything of newly linked projects.
    query = TimeEntryQuery(ctx, client)
    entries = repo.UpsertResult()
    listed: set[str] = set()
    overlap = timedelta(seconds=cfg.cursor_overlap_seconds)
    if cursor is not None:
        since = cursor - overlap
        try:
            result, listed = _stage(ctx, awork_time_entries, client.time_entries_updated_since(since, support=query.support), entry_row)
        except QueryIgnoredError as exc:  # found out while reading: read again the safe way
            query.found(exc.support, str(exc))
            result, listed = _stage(ctx, awork_time_entries, client.time_entries_updated_since(since, support=query.support), entry_row)
        entries += result
    new = sorted(set(linked) - set(before)) if cursor is not None else sorted(linked)
    window = (cfg.sync_start_date, ctx.today + timedelta(days=FUTURE_DAYS))
    read_started = utcnow()  # staging's clock: entries seen by the full reads have last_seen_at >= it
    result, seen = _stage(ctx, awork_time_entries, query.window(new, window, workspace_projects=len(listed_projects_all)), entry_row)
    entries += result
    listed |= seen
    settled = webhook_runs.awork_settle(ctx, client, hints, listed, users_read=True) if hints else {}
    with ctx.staging.begin() as conn:
        # The cursor is awork's clock when this extract began (not ours, not the data's): nothing
        # changed during the run is skipped, a skewed local clock cannot skip changes, and a bulk
        # change is read once; the next run asks from it minus the overlap (docs/awork.md).
        repo.set_cursor(conn, tenant, SOURCE, "time_entry", as_of.value().isoformat())
        if new and set(new) == set(linked):  # every project read in full: the run's full deletion check
            repo.set_cursor(conn, tenant, SOURCE, FULL_READ, full_read_marker(ctx.run_id, read_started))
    summary: dict[str, Any] = {
        "users": vars(users), "types_of_work": vars(types), "task_lists": vars(lists), "tasks": vars(tasks),
        "time_entries": vars(entries), "linked_projects": len(linked), "newly_linked": len(new),
        "project_problems": _reason_counts(problems),
        "mode": "initial" if cursor is None else f"incremental since {(cursor - overlap).isoformat()}",
        "structure": structure.as_dict(),
        **({"webhook_events": settled} if settled else {}),
        "time_entries_query": query.as_dict(),
        "requests": client.requests_sent,
    }
    log.info("extract %s: %s", tenant, summary_line(summary))
    return summary


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
            self.staged = {r.source_id: r.source_updated_at for r in conn.execute(
                select(awork_projects.c.source_id, awork_projects.c.source_updated_at).where(awork_projects.c.tenant == tenant))}
        self.daily = checked is None or ctx.now - checked >= FULL_RECONCILE_EVERY
        self.read_all = self.previous != self.FOLLOWS or self.daily
        self.read: list[str] = []
        self.skipped = 0
        self.disproved: list[str] = []
        self.evidence = 0

    def must_read(self, awork_id: str, project: dict[str, Any], *, newly_linked: bool) -> bool:
        changed = newly_linked or awork_id not in self.staged or self.staged[awork_id] != _ts(project.get("updatedOn"))
        if self.read_all or changed:
            return True
        self.skipped += 1
        return False

    def observe(self, awork_id: str, project: dict[str, Any]) -> None:
        """After staging a project's lists and tasks: is any of them newer than the project?"""
        self.read.append(awork_id)
        project_updated = _ts(project.get("updatedOn"))
        tenant = self.ctx.tenant.id
        with self.ctx.staging.connect() as conn:
            newest = [conn.execute(select(func.max(t.c.source_updated_at)).where(
                t.c.tenant == tenant, t.c.project_id == awork_id, t.c.deleted_at.is_(None))).scalar() for t in (awork_task_lists, awork_tasks)]
        newest_child = max((n for n in newest if n is not None), default=None)
        if newest_child is None or project_updated is None:
            return
        # Strictly newer disproves it: a project stamped a moment before its child's change errs
        # towards reading more, never towards missing a change.
        if newest_child > project_updated:
            self.disproved.append(awork_id)
        else:
            self.evidence += 1

    def store(self) -> None:
        if self.disproved:
            finding = self.INDEPENDENT
        elif self.evidence and (self.previous != self.INDEPENDENT or self.daily):
            finding = self.FOLLOWS
        else:
            finding = self.previous
        if finding != self.previous and finding is not None:
            log.info("awork %s: a task or list change %s its project's updatedOn", self.ctx.tenant.id,
                     "bumps" if finding == self.FOLLOWS else "does not bump")
        with self.ctx.staging.begin() as conn:
            if finding is not None:
                repo.set_cursor(conn, self.ctx.tenant.id, SOURCE, self.FINDING, finding)
            if self.daily and self.read_all:
                repo.set_cursor(conn, self.ctx.tenant.id, SOURCE, self.CHECKED, self.ctx.now.isoformat())
        self.finding = finding

    def as_dict(self) -> dict[str, Any]:
        return {"finding": getattr(self, "finding", self.previous), "read": len(self.read), "unchanged_skipped": self.skipped}


class TimeEntryQuery:
    """What this tenant's awork does with filterby/orderby on /timeentries (issue #10,
    ``hq_sync.clients.awork_query``): checked once a day (3 requests), remembered in
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
        if self.previous is None or checked is None or ctx.now - checked >= FULL_RECONCILE_EVERY:
            self._store(client.time_entry_query_support(), checked=True)

    def found(self, support: QuerySupport, detail: str) -> None:
        """A read proved a part ignored: use the safe reads from now on (and remember it)."""
        self._store(self.support.worse(support), checked=False, detail=detail)

    def _store(self, support: QuerySupport, *, checked: bool, detail: str | None = None) -> None:
        tenant = self.ctx.tenant.id
        before_ok = self.previous in (None, QuerySupport.HONOURED) and self.support is QuerySupport.HONOURED
        self.support = support
        if support is not QuerySupport.HONOURED and before_ok and self.newly_found is None:
            self.newly_found = (f"{support.describe()}{f' ({detail})' if detail else ''}; the sync reads time entries "
                                "page by page and filters them itself from now on (more requests, same result)")
            log.warning("awork %s: %s", tenant, self.newly_found)
        with self.ctx.staging.begin() as conn:
            repo.set_cursor(conn, tenant, SOURCE, self.FINDING, support.value)
            if checked:
                repo.set_cursor(conn, tenant, SOURCE, self.CHECKED, self.ctx.now.isoformat())

    def per_project(self, projects: list[str], window: tuple[date, date]) -> Iterator[tuple[str, Iterator[list[dict[str, Any]]]]]:
        """(project, pages of its entries in ``window``): one filtered request series per project,
        or, where awork ignores filterby, one read of everything split here (only when needed)."""
        if not projects:
            return
        if self.support.filter_honoured:
            for awork_id in projects:
                yield awork_id, self.client.time_entries(between=window, project_id=awork_id)
            return
        wanted = set(projects)
        everything = [item for page in self.client.time_entries(between=window) for item in page
                      if str(item.get("projectId") or "") in wanted]
        for awork_id in projects:
            mine = [item for item in everything if str(item.get("projectId") or "") == awork_id]
            yield awork_id, iter([mine] if mine else [])

    def window(self, projects: list[str], window: tuple[date, date], *,
               workspace_projects: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of the entries of ``projects`` dated in ``window`` (a first read, the deletion
        check): one read of the workspace's window, kept here by project and date, when that
        costs fewer requests than one read per project (its first page's ``aw-totalitems`` tells;
        the cost per project is estimated from staging, or on a first read from the share of the
        workspace's ``workspace_projects`` they are), else a read per project."""
        if not projects:
            return
        wanted = set(projects)
        if len(projects) > 1 and self.support.filter_honoured:
            with self.ctx.staging.connect() as conn:
                t = awork_time_entries
                per_project = {r.project_id: r.n for r in conn.execute(
                    select(t.c.project_id, func.count().label("n")).where(
                        t.c.tenant == self.ctx.tenant.id, t.c.project_id.in_(projects), t.c.deleted_at.is_(None),
                        t.c.start_date >= window[0], t.c.start_date <= window[1]).group_by(t.c.project_id))}
            separate = sum(max(1, -(-per_project.get(p, 0) // MAX_PAGE)) for p in projects)
            pages = self.client.pages("/timeentries", filterby=all_of(
                f"startDateUtc ge {datetime_literal(window[0])}",
                f"startDateUtc lt {datetime_literal(window[1] + timedelta(days=1))}"), orderby="createdOn asc,id asc")
            first = next(pages, None)
            total = self.client.last_total_items
            if total is not None and not per_project and workspace_projects:
                # nothing staged yet: half a page per project plus their share of the entries
                separate = max(separate, math.ceil(len(projects) / 2 + total * len(projects) / workspace_projects / MAX_PAGE))
            if total is None or -(-total // MAX_PAGE) <= separate:
                for page in ([first] if first else []):
                    yield [i for i in page if str(i.get("projectId") or "").lower() in wanted and _in_window(i, window)]
                for page in pages:
                    yield [i for i in page if str(i.get("projectId") or "").lower() in wanted and _in_window(i, window)]
                return
            getattr(pages, "close", lambda: None)()  # the workspace's other projects make one read dearer: per project
        if not self.support.filter_honoured:
            for page in self.client.time_entries(between=window):
                yield [i for i in page if str(i.get("projectId") or "").lower() in wanted]
            return
        for awork_id in projects:
            yield from self.client.time_entries(between=window, project_id=awork_id)

    def as_dict(self) -> dict[str, Any]:
        return {"support": self.support.value, "newly_found": self.newly_found}


def _in_window(item: dict[str, Any], window: tuple[date, date]) -> bool:
    day = str(item.get("startDateUtc") or "")[:10]
    return window[0].isoformat() <= day <= window[1].isoformat()


def _reason_counts(items: dict[tuple[str, str], Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, reason in items:
        counts[reason] = counts.get(reason, 0) + 1
    return counts


# -- deletions --------------------------------------------------------------------------------
def reconcile_deletions(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Per linked project, re-read the recent window (and once a day everything since the sync
    start date); a missing entry is deleted after its own 404. Skipped by events runs."""
    if ctx.mode is RunMode.EVENTS:
        return {"skipped": "events run: deletions come from timetracking_deleted events and 404s; "
                           "the polling runs reconcile the window (docs/webhooks.md)"}
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    client: AworkClient = ctx.require_clients().awork()
    with ctx.staging.connect() as conn:
        last_full = parse_timestamp(repo.get_cursor(conn, tenant, SOURCE, "full_reconcile"))
    full = last_full is None or ctx.now - last_full >= FULL_RECONCILE_EVERY
    first = cfg.sync_start_date if full else max(cfg.sync_start_date, ctx.today - timedelta(days=cfg.recent_window_days))
    last = ctx.today + timedelta(days=FUTURE_DAYS)
    with ctx.staging.connect() as conn:
        projects = sorted(linked_projects(conn, tenant))
        read_by_extract = full_read_started(repo.get_cursor(conn, tenant, SOURCE, FULL_READ), ctx.run_id)
    t = awork_time_entries
    listed_total, confirmed, still_there = 0, [], []
    if read_by_extract is not None:
        # This run's extract read every linked project in full (a first run): that read is the
        # full deletion check; what it did not see has last_seen_at before it.
        full, first = True, cfg.sync_start_date
        with ctx.staging.connect() as conn:
            listed = {r.source_id for r in conn.execute(select(t.c.source_id).where(
                t.c.tenant == tenant, t.c.project_id.in_(projects), t.c.last_seen_at >= read_by_extract))}
    else:
        _, listed = _stage(ctx, t, TimeEntryQuery(ctx, client).window(projects, (first, last)), entry_row)
    listed_total = len(listed)
    if projects:
        with ctx.staging.connect() as conn:
            staged = {r.source_id for r in conn.execute(select(t.c.source_id).where(
                t.c.tenant == tenant, t.c.project_id.in_(projects), t.c.deleted_at.is_(None),
                t.c.start_date >= first, t.c.start_date <= last))}
        for entry_id in sorted(staged - listed):
            current = client.time_entry(entry_id)
            if current is None:
                confirmed.append(entry_id)
            else:
                still_there.append(entry_row(current))
    with ctx.staging.begin() as conn:
        repo.mark_source_deleted(conn, t, tenant, confirmed)
        if still_there:  # moved to another project or out of the window: keep it fresh
            repo.upsert_source_records(conn, t, tenant, still_there)
        if full:
            repo.set_cursor(conn, tenant, SOURCE, "full_reconcile", ctx.now.isoformat())
    result = {"window": [first.isoformat(), last.isoformat()], "full": full, "projects": len(projects), "listed": listed_total,
              **({"read_by": "extract (first run)"} if read_by_extract is not None else {}),
              "deleted": len(confirmed), "moved": len(still_there), "requests": client.requests_sent}
    log.info("reconcile_deletions %s: %s", tenant, summary_line(result))
    return result


# -- transform --------------------------------------------------------------------------------
def _phase_sync_id(kind: str, ident: str) -> str:
    return f"awork-{kind}:{ident}"


def transform(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Plan phases, tasks and reportings of the linked projects; quarantine and report the rest."""
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    hq = ctx.require_clients().hq()
    hq_users = {str(u["EMailWork"]).strip().casefold(): str(u["Id"]) for u in hq.users() if u.get("EMailWork")}
    task_types = hq.task_types()
    types_by_name = {str(tt["Name"]).strip().casefold(): int(tt["Id"]) for tt in task_types}
    default_type = next((tt for tt in task_types if tt.get("IsDefault")), None)
    counts = {e: repo.EntityCounts() for e in ("reporting", "task", "phase")}
    issues: dict[str, dict[tuple[str, str], tuple[str, dict[str, Any]]]] = {e: {} for e in ("phase", "task", "time_entry")}
    now = utcnow()

    with ctx.staging.begin() as conn:
        linked = linked_projects(conn, tenant)
        emails = {r.source_id: r.email for r in conn.execute(select(awork_users.c.source_id, awork_users.c.email).where(awork_users.c.tenant == tenant))}
        type_names = {r.source_id: r.name for r in conn.execute(select(awork_types_of_work.c.source_id, awork_types_of_work.c.name).where(awork_types_of_work.c.tenant == tenant))}
        lists = {r.source_id: {"id": r.source_id, "name": r.name, "order": r.list_order, "isArchived": bool((r.payload or {}).get("isArchived")), "project_id": r.project_id}
                 for r in conn.execute(select(awork_task_lists).where(awork_task_lists.c.tenant == tenant, awork_task_lists.c.deleted_at.is_(None)))}
        tasks = [r for r in conn.execute(select(awork_tasks).where(awork_tasks.c.tenant == tenant, awork_tasks.c.deleted_at.is_(None),
                                                                    awork_tasks.c.project_id.in_(list(linked))).order_by(awork_tasks.c.source_id))]

        phases: dict[str, dict[str, Any]] = {}  # SyncId -> plan body

        def default_phase(awork_pid: str) -> str:
            sync_id = _phase_sync_id("times", awork_pid)
            phases.setdefault(sync_id, {"ProjectId": linked[awork_pid], "Name": cfg.default_phase_name, "SyncId": sync_id, "PlannedEffort": None})
            return sync_id

        task_plans: dict[str, dict[str, Any]] = {}
        task_project: dict[str, str] = {}
        for task in tasks:
            pid = str(task.project_id)
            payload = task.payload or {}
            parent = default_phase(pid)
            if cfg.phase_mode is PhaseMode.BY_LIST:
                choice = choose_list(payload.get("lists") or [], lists)
                if choice.list_id is not None:
                    listed = lists.get(choice.list_id) or next(m for m in payload["lists"] if str(m.get("id")) == choice.list_id)
                    phase = parse_list_name(str(listed.get("name") or ""))
                    parent = _phase_sync_id("list", choice.list_id)
                    phases[parent] = {"ProjectId": linked[pid], "Name": phase.name, "SyncId": parent, "PlannedEffort": phase.planned_hours}
                    if phase.problem:
                        issues["phase"][(parent, "malformed_bracket")] = (phase.problem, {"list_id": choice.list_id, "list_name": listed.get("name")})
                    if choice.ambiguous:
                        names = [str((lists.get(c) or {}).get("name") or c) for c in choice.candidates]
                        issues["task"][(task.source_id, "task_in_several_lists")] = (
                            f"awork task {task.name!r} is in {len(names)} lists ({', '.join(names)}); it goes under "
                            f"{phase.name!r} (lowest list order, then name, then id)", {"lists": names, "chosen": choice.list_id})
            type_name = type_names.get(str(task.type_of_work_id or ""))
            type_id = types_by_name.get(type_name.strip().casefold()) if type_name else None
            if type_id is None:
                type_id = int(default_type["Id"]) if default_type else None
                issues["task"][(task.source_id, "type_of_work_unmatched")] = (
                    f"awork task {task.name!r}: type of work {type_name!r} has no HQ task type of that name; the task "
                    f"gets HQ's default task type {default_type.get('Name') if default_type else None!r}",
                    {"type_of_work": type_name, "default_task_type": default_type.get("Name") if default_type else None})
            planned = task.planned_duration_s
            task_plans[task.source_id] = {
                "ProjectId": linked[pid], "Name": task.name.strip() or "(ohne Namen)", "TaskTypeId": type_id,
                "PlannedEffort": round(planned / 3600, 4) if planned else 0.0, "SyncId": task.source_id, "ParentSyncId": parent,
            }
            task_project[task.source_id] = pid

        # Reportings: every entry of a linked project, and every entry we booked before. Streamed
        # in chunks of TRANSFORM_CHUNK entries (keyset by id: no cursor stays open while the chunk's
        # plans are written), so memory stays flat whatever the number of entries (issue #12).
        # The old plans go first (a project unlinked since the last run leaves no stale plan).
        conn.execute(delete(planned_hq_state).where(planned_hq_state.c.tenant == tenant, planned_hq_state.c.source == SOURCE))
        t, lk = awork_time_entries, hq_links
        booked = select(lk.c.source_id).where(lk.c.tenant == tenant, lk.c.source == SOURCE, lk.c.entity == "time_entry")
        query = (select(t.c.source_id, t.c.payload, t.c.project_id, t.c.task_id, t.c.user_id, t.c.deleted_at,
                        lk.c.source_id.label("link_id"), lk.c.written)
                 .select_from(t.outerjoin(lk, and_(lk.c.tenant == t.c.tenant, lk.c.source == SOURCE,
                                                   lk.c.entity == "time_entry", lk.c.source_id == t.c.source_id)))
                 .where(t.c.tenant == tenant, or_(t.c.project_id.in_(list(linked)), t.c.source_id.in_(booked)))
                 .order_by(t.c.source_id).limit(TRANSFORM_CHUNK))
        after, n_entries = None, 0
        progress = Progress(f"transform {tenant}: time entries planned", logger=log)
        while True:
            chunk = conn.execute(query if after is None else query.where(t.c.source_id > after)).all()
            if not chunk:
                break
            after = chunk[-1].source_id
            rows = []
            for row in chunk:
                pid = str(row.project_id) if row.project_id else None
                if row.deleted_at is not None:
                    plan: Wanted | NotWanted | Quarantined = NotWanted("deleted_in_source")
                elif pid not in linked:
                    booked_from = (row.written or {}).get("awork_project") if row.link_id is not None and row.written else None
                    plan = NotWanted("project_unlinked" if booked_from == pid else "moved_out_of_linked_projects")
                else:
                    task_id = str(row.task_id) if row.task_id else None
                    sync = task_id if task_id in task_plans and task_project.get(task_id) == pid else default_phase(pid)
                    plan = plan_reporting(
                        entry_id=row.source_id, payload=row.payload, version=str((row.payload or {}).get("updatedOn")),
                        email=emails.get(row.user_id), hq_users=hq_users, hq_project_id=str(linked[pid]),
                        task_sync_id=sync, sync_start=cfg.sync_start_date, timezone=ctx.tenant.timezone,
                    )
                if isinstance(plan, Quarantined):
                    counts["reporting"].count("quarantined", plan.reason)
                    issues["time_entry"][(row.source_id, plan.reason)] = (plan.detail, plan.context)
                elif isinstance(plan, NotWanted) and plan.reason in ("before_sync_start", "timer_running", "project_unlinked"):
                    counts["reporting"].count("skipped", plan.reason)
                if isinstance(plan, Wanted):
                    rows.append(_plan_row(tenant, "time_entry", row.source_id, "wanted", None, plan.hq_user_id, plan.body, plan.version, now))
                else:
                    rows.append(_plan_row(tenant, "time_entry", row.source_id, "not_wanted" if isinstance(plan, NotWanted) else "quarantined",
                                          plan.reason, None, None, None, now))
            conn.execute(planned_hq_state.insert(), rows)
            n_entries += len(chunk)
            progress.advance(len(chunk))
            del chunk, rows
        progress.finish()

        rows = []
        for sync_id, body in phases.items():
            rows.append(_plan_row(tenant, "phase", sync_id, "wanted", None, str(body["ProjectId"]), body, None, now))
        for task_id, body in task_plans.items():
            rows.append(_plan_row(tenant, "task", task_id, "wanted", None, str(body["ProjectId"]), body, None, now))
        if rows:
            conn.execute(planned_hq_state.insert(), rows)
        for entity, items in issues.items():
            _quarantine_set(conn, ctx, entity, items)
            for (_, reason) in items:
                target = counts["reporting" if entity == "time_entry" else entity]
                if reason in REPORTED:
                    bucket = target.details.setdefault("reported", {})
                    bucket[reason] = bucket.get(reason, 0) + 1

    result = {
        "planned": {e: c.as_dict() for e, c in counts.items()},
        "phases": len(phases), "tasks": len(task_plans), "entries": n_entries, "hq_users": len(hq_users),
    }
    log.info("transform %s: %s", tenant, summary_line(result))
    return result


def _plan_row(tenant: str, entity: str, source_id: str, plan: str, reason: str | None, parent: str | None,
              body: Any, version: str | None, now: datetime) -> dict[str, Any]:
    return {"tenant": tenant, "source": SOURCE, "entity": entity, "source_id": source_id, "plan": plan, "reason": reason,
            "hq_parent_id": parent, "body": body, "version": version, "notes": None, "planned_at": now}


# -- load -------------------------------------------------------------------------------------
def load(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Phases and tasks first (by SyncId), then reportings."""
    ensure_schema(ctx.staging)
    hq = ctx.require_clients().hq()
    structure = StructureLoader(ctx, hq)
    with ctx.staging.connect() as conn:
        phases = list(plans_of(conn, ctx.tenant.id, "phase"))
        tasks = list(plans_of(conn, ctx.tenant.id, "task"))
    projects = sorted({int(p.hq_parent_id) for p in phases + tasks})
    if ctx.mode is RunMode.EVENTS:  # only the projects this run's changes touch (webhook_runs)
        from hq_sync.pipelines.webhook_runs import awork_structure_scope

        projects, known = awork_structure_scope(ctx, projects)
        structure.sync_map.update(known)
    for project_id in projects:
        structure.load_project(
            project_id,
            [p for p in phases if int(p.hq_parent_id) == project_id],
            sorted((t for t in tasks if int(t.hq_parent_id) == project_id), key=lambda t: t.source_id),
        )
    stats: dict[str, Any] = {}
    reportings = load_reportings(ctx, hq, structure.sync_map, stats=stats)
    result = {"reporting": reportings.as_dict(), "phase": structure.counts["phase"].as_dict(),
              "task": structure.counts["task"].as_dict(), "requests": hq.requests_sent, "reporting_load": stats}
    log.info("load %s: %s", ctx.tenant.id, summary_line({k: v for k, v in result.items() if k != "reporting_load"}))
    return result


# -- report -----------------------------------------------------------------------------------
def report(ctx: RunContext, *, step_results: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Store and show the run's counts per entity: what load wrote plus what transform decided."""
    results = step_results or {}
    loaded = results.get("load") or {}
    planned = (results.get("transform") or {}).get("planned") or {}
    out: dict[str, repo.EntityCounts] = {}
    for entity in ("reporting", "task", "phase"):
        done = loaded.get(entity) or {}
        counts = repo.EntityCounts(**{k: done.get(k, 0) for k in ("created", "updated", "deleted", "skipped", "quarantined", "conflicts")})
        counts.details = {k: dict(v) for k, v in (done.get("details") or {}).items()}
        for outcome, reasons in ((planned.get(entity) or {}).get("details") or {}).items():
            for reason, n in reasons.items():
                if outcome == "reported":
                    bucket = counts.details.setdefault("reported", {})
                    bucket[reason] = bucket.get(reason, 0) + n
                else:
                    counts.count(outcome, reason, n)
        out[entity] = counts
    project = repo.EntityCounts()
    for reason, n in ((results.get("extract") or {}).get("project_problems") or {}).items():
        project.count("quarantined", reason, n)
    out["project"] = project
    query = (results.get("extract") or {}).get("time_entries_query") or {}
    if query.get("newly_found"):  # reported once per tenant: the run that found it out
        out["reporting"].details.setdefault("reported", {})["time_entries_query_ignored"] = 1
    summary = record_report(ctx, out)
    summary["extracted"] = {k: (results.get("extract") or {}).get(k) for k in ("time_entries", "linked_projects", "newly_linked", "mode")}
    if query.get("newly_found"):
        summary["time_entries_query"] = query["newly_found"]
    summary["deletions_found"] = (results.get("reconcile_deletions") or {}).get("deleted", 0)
    return summary
