"""awork time entries → HQ reportings, tasks and phases (product.md A3, A5–A9): the five steps of
``awork_times__<tenant>``. Rules and choices: ``docs/awork.md``.

- ``extract``: the HQ projects linked by their "awork Link" custom field; awork users, types of
  work, and per linked project the project, its task lists and tasks; time entries incrementally
  by ``updatedOn`` (with an overlap), and in full for a project linked since the last run. Every
  page is staged before the next is fetched (``awork_reads``: what a run reads).
- ``reconcile_deletions``: count the linked projects' entries of the recent window at awork; only
  when the count differs from staging's, re-read the window and mark the missing ones deleted
  after a 404 on each (once a day: everything since the sync start date, always read).
- ``transform``: plan phases, tasks and reportings (``hq_sync.transform.structure``,
  ``.reportings``), quarantine and report what cannot be decided.
- ``load``: phases and tasks (by ``SyncId``; a project whose phases and tasks are all as we wrote
  them is not read from HQ), then reportings (``hq_sync.load``).
- ``report``: counts per entity (reporting, task, phase, project) into ``run_summaries``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from hq_sync.clients.awork import AworkClient
from hq_sync.clients.awork.query import QueryIgnoredError
from hq_sync.config import AworkSource, PhaseMode
from hq_sync.load.hq_tasks import StructureLoader
from hq_sync.load.reportings import load_reportings, plans_of
from hq_sync.pipelines.awork_reads import Structure, TimeEntryQuery, WindowCount, stage_project_structure
from hq_sync.pipelines.cursors import FULL_READ, ServerClock, full_read_marker, full_read_started
from hq_sync.pipelines.staged_reads import recheck, stage_pages
from hq_sync.pipelines.steps import record_report
from hq_sync.progress import Progress, summary_line
from hq_sync.run import RunContext, RunMode
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.staging.reasons import WARNING_REASONS
from hq_sync.staging.schema import awork_time_entries, awork_types_of_work, awork_users, utcnow
from hq_sync.staging.states import COUNT_FIELDS, LinkState, Outcome, Plan
from hq_sync.timeutil import parse_timestamp
from hq_sync.transform.plans import Decision, NotWanted, Quarantined, hq_users_by_email, plan_values
from hq_sync.transform.reportings import StagedEntry, plan_project_links, plan_time_entry
from hq_sync.transform.source_rows import awork_entry_row, awork_type_row, awork_user_row
from hq_sync.transform.structure import Issues, StagedTask, StructurePlan, TaskTypes, plan_structure

log = logging.getLogger(__name__)

SOURCE = "awork"
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
SKIPPED = ("before_sync_start", "timer_running", "project_unlinked")  # counted as skipped by transform
DIRECTORY = "hq_directory"  # HQ's users and task types, kept between runs (staging reference_data)
DIRECTORY_MAX_AGE = timedelta(hours=24)  # read them again after this even when awork did not change


def _cfg(ctx: RunContext) -> AworkSource:
    cfg = ctx.tenant.sources.awork
    assert cfg is not None
    return cfg


def _quarantine_set(conn: Connection, ctx: RunContext, entity: str, items: Issues) -> None:
    """Open (or refresh) the transform-owned items of one entity; resolve the ones no longer true."""
    for (source_id, reason), (detail, context) in items.items():
        repo.quarantine_record(
            conn,
            tenant=ctx.tenant.id,
            source=SOURCE,
            entity=entity,
            source_id=source_id,
            reason=reason,
            detail=detail,
            context=context,
            run_id=ctx.run_id,
        )
    for reason in TRANSFORM_REASONS[entity]:
        current = [sid for (sid, r) in items if r == reason]
        repo.resolve_quarantine(
            conn,
            tenant=ctx.tenant.id,
            source=SOURCE,
            entity=entity,
            source_id=None,
            reasons=(reason,),
            except_ids=current,
        )


def linked_projects(conn: Connection, tenant: str) -> dict[str, int]:
    """awork project id → HQ project id of the projects linked in the last extract."""
    return queries.awork_linked_projects(conn, tenant)


# -- extract ----------------------------------------------------------------------------------
@dataclass
class LinkedRead:
    """The linked projects an extract found in awork, and what it staged of their structure."""

    linked: dict[str, int] = field(default_factory=dict)  # awork project id → HQ project id
    names: dict[str, Any] = field(default_factory=dict)  # awork project id → its awork name
    lists: repo.UpsertResult = field(default_factory=repo.UpsertResult)
    tasks: repo.UpsertResult = field(default_factory=repo.UpsertResult)
    workspace_projects: int = 0  # projects in the workspace's listing


@dataclass
class EntriesRead:
    """The time entries an extract staged."""

    counts: repo.UpsertResult
    listed: set[str]  # the ids seen
    query: TimeEntryQuery  # what awork does with the query (found out, or confirmed, while reading)
    read_started: datetime  # staging's clock before the full reads: what they saw has last_seen_at >= it


def extract(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Stage users, types of work, the linked projects with lists and tasks, and time entries (an
    events run: what changed and what the webhook events name, ``webhook_runs``)."""
    from hq_sync.pipelines import webhook_runs

    if ctx.mode is RunMode.EVENTS:
        return webhook_runs.awork_events_extract(ctx)
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    client: AworkClient = ctx.require_clients().awork()
    hints = webhook_runs.pending_hints(ctx, SOURCE)
    hq = ctx.require_clients().hq()

    as_of = ServerClock(client)  # awork's clock when the extract began: the next run's cursor
    users = stage_pages(ctx, awork_users, as_of.watch(client.users(show_archived=True)), awork_user_row)
    types = stage_pages(ctx, awork_types_of_work, client.types_of_work(show_archived=True), awork_type_row)

    # Which HQ projects are linked, and to which awork project (A2/A3).
    links = plan_project_links(hq.projects_with_custom_field(cfg.link_field), cfg.link_field)
    with ctx.staging.connect() as conn:
        before = linked_projects(conn, ctx.tenant.id)
    structure = Structure(ctx)
    read = _read_linked_projects(ctx, client, structure, links.wanted, before, links.problems)
    cursor = _save_project_links(ctx, read, before, links.problems)

    # Time entries: what changed since the last run (whole workspace), and everything of newly linked projects.
    new = sorted(set(read.linked) - set(before)) if cursor is not None else sorted(read.linked)
    entries = _read_time_entries(ctx, client, cursor, new, read.workspace_projects)
    settled = webhook_runs.awork_settle(ctx, client, hints, entries.listed, users_read=True) if hints else {}
    with ctx.staging.begin() as conn:
        # The cursor is awork's clock when this extract began (not ours, not the data's): nothing
        # changed during the run is skipped, a skewed local clock cannot skip changes, and a bulk
        # change is read once; the next run asks from it minus the overlap (docs/awork.md).
        repo.set_cursor(conn, ctx.tenant.id, SOURCE, "time_entry", as_of.value().isoformat())
        if new and set(new) == set(read.linked):  # every project read in full: the run's full deletion check
            marker = full_read_marker(ctx.run_id, entries.read_started)
            repo.set_cursor(conn, ctx.tenant.id, SOURCE, FULL_READ, marker)
    overlap = timedelta(seconds=cfg.cursor_overlap_seconds)
    summary: dict[str, Any] = {
        "users": vars(users.counts),
        "types_of_work": vars(types.counts),
        "task_lists": vars(read.lists),
        "tasks": vars(read.tasks),
        "time_entries": vars(entries.counts),
        "linked_projects": len(read.linked),
        "newly_linked": len(new),
        "project_problems": _reason_counts(links.problems),
        "mode": "initial" if cursor is None else f"incremental since {(cursor - overlap).isoformat()}",
        "structure": structure.as_dict(),
        **({"webhook_events": settled} if settled else {}),
        "time_entries_query": entries.query.as_dict(),
        "requests": client.requests_sent,
    }
    log.info("extract %s: %s", ctx.tenant.id, summary_line(summary))
    return summary


def _read_linked_projects(
    ctx: RunContext,
    client: AworkClient,
    structure: Structure,
    wanted: Mapping[str, int],
    before: Mapping[str, int],
    problems: Issues,
) -> LinkedRead:
    """The linked projects from one listing of the workspace's projects (a project missing from it
    is looked up by id); their lists and tasks only where something changed (``Structure``)."""
    read = LinkedRead()
    listed: dict[str, dict[str, Any]] = {}
    for page in client.projects():
        for item in page:
            awork_id = str(item["id"]).lower()
            read.workspace_projects += 1
            if awork_id in wanted:
                listed[awork_id] = item
    for awork_id, hq_id in wanted.items():
        project = listed.get(awork_id) or client.project(awork_id)
        if project is None:
            problems[(str(hq_id), "awork_project_not_found")] = (
                f"HQ project {hq_id}: its awork Link names awork project {awork_id}, which does not exist (or is "
                "not visible to the sync's API key); its times are not synced",
                {"awork_project_id": awork_id},
            )
            continue
        read.linked[awork_id] = hq_id
        read.names[awork_id] = project.get("name")
        if not structure.must_read(awork_id, project, newly_linked=awork_id not in before):
            continue
        lists, tasks = stage_project_structure(ctx, client, awork_id, project)
        structure.observe(awork_id, project)
        read.lists += lists
        read.tasks += tasks
    structure.store()
    return read


def _save_project_links(
    ctx: RunContext, read: LinkedRead, before: Mapping[str, int], problems: Issues
) -> datetime | None:
    """Record the project links (synced, or deleted when gone) and their problems; returns the
    time entry cursor (None before the first run)."""
    tenant = ctx.tenant.id
    key = {"tenant": tenant, "source": SOURCE, "entity": "project", "hq_entity": "Project"}
    with ctx.staging.begin() as conn:
        for awork_id, hq_id in read.linked.items():
            written = {"awork_project_id": awork_id, "name": read.names.get(awork_id)}
            repo.save_link(conn, **key, source_id=awork_id, state=LinkState.SYNCED, hq_id=str(hq_id), written=written)
        for awork_id, hq_id in before.items():
            if awork_id not in read.linked:
                repo.save_link(conn, **key, source_id=awork_id, state=LinkState.DELETED, hq_id=str(hq_id), written=None)
        _quarantine_set(conn, ctx, "project", problems)
        return parse_timestamp(repo.get_cursor(conn, tenant, SOURCE, "time_entry"))


def _read_time_entries(
    ctx: RunContext, client: AworkClient, cursor: datetime | None, new: list[str], workspace_projects: int
) -> EntriesRead:
    """Stage the entries changed since ``cursor`` (minus the overlap) and every entry of the ``new``
    projects."""
    cfg = _cfg(ctx)
    query = TimeEntryQuery(ctx, client)
    entries = repo.UpsertResult()
    listed: set[str] = set()
    if cursor is not None:
        since = cursor - timedelta(seconds=cfg.cursor_overlap_seconds)
        try:
            changed = stage_pages(
                ctx,
                awork_time_entries,
                client.time_entries_updated_since(since, support=query.support),
                awork_entry_row,
            )
        except QueryIgnoredError as exc:  # found out while reading: read again the safe way
            query.found(exc.support, str(exc))
            changed = stage_pages(
                ctx,
                awork_time_entries,
                client.time_entries_updated_since(since, support=query.support),
                awork_entry_row,
            )
        entries += changed.counts
        listed = changed.seen
    window = (cfg.sync_start_date, ctx.today + timedelta(days=FUTURE_DAYS))
    read_started = utcnow()  # staging's clock: entries seen by the full reads have last_seen_at >= it
    full = stage_pages(
        ctx, awork_time_entries, query.window(new, window, workspace_projects=workspace_projects), awork_entry_row
    )
    entries += full.counts
    return EntriesRead(entries, listed | full.seen, query, read_started)


def _reason_counts(items: Mapping[tuple[str, str], Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, reason in items:
        counts[reason] = counts.get(reason, 0) + 1
    return counts


# -- deletions --------------------------------------------------------------------------------
def reconcile_deletions(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Find entries deleted in awork: the recent window is counted and re-read only when awork's
    count differs from staging's; once a day everything since the sync start date is re-read. A
    missing entry is deleted after its own 404. Skipped by events runs."""
    if ctx.mode is RunMode.EVENTS:
        return {
            "skipped": "events run: deletions come from timetracking_deleted events and 404s; "
            "the polling runs reconcile the window (docs/webhooks.md)"
        }
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    client: AworkClient = ctx.require_clients().awork()
    with ctx.staging.connect() as conn:
        last_full = parse_timestamp(repo.get_cursor(conn, tenant, SOURCE, "full_reconcile"))
        projects = sorted(linked_projects(conn, tenant))
        read_by_extract = full_read_started(repo.get_cursor(conn, tenant, SOURCE, FULL_READ), ctx.run_id)
    full = last_full is None or ctx.now - last_full >= FULL_RECONCILE_EVERY
    recent = ctx.today - timedelta(days=cfg.recent_window_days)
    first = cfg.sync_start_date if full else max(cfg.sync_start_date, recent)
    last = ctx.today + timedelta(days=FUTURE_DAYS)
    if read_by_extract is not None:
        # This run's extract read every linked project in full (a first run): that read is the
        # full deletion check; what it did not see has last_seen_at before it.
        full, first = True, cfg.sync_start_date
        listed: set[str] | None
        with ctx.staging.connect() as conn:
            listed = queries.ids_seen_since(conn, awork_time_entries, tenant, read_by_extract, project_ids=projects)
        counted = None
    else:
        listed, counted = _list_window(ctx, client, projects, (first, last), count_first=not full)
    missing: set[str] = set()
    if projects and listed is not None:
        with ctx.staging.connect() as conn:
            missing = queries.live_entry_ids(conn, tenant, projects, first, last) - listed
    checked = recheck(ctx, awork_time_entries, missing, client.time_entry, awork_entry_row)
    if full:
        with ctx.staging.begin() as conn:
            repo.set_cursor(conn, tenant, SOURCE, "full_reconcile", ctx.now.isoformat())
    result = {
        "window": [first.isoformat(), last.isoformat()],
        "full": full,
        "projects": len(projects),
        "listed": "not needed (counts equal)" if listed is None else len(listed),
        **(counted.as_dict() if counted is not None else {}),
        **({"read_by": "extract (first run)"} if read_by_extract is not None else {}),
        "deleted": len(checked.gone),
        "moved": checked.still_there,
        "requests": client.requests_sent,
    }
    log.info("reconcile_deletions %s: %s", tenant, summary_line(result))
    return result


def _list_window(
    ctx: RunContext, client: AworkClient, projects: list[str], window: tuple[date, date], *, count_first: bool
) -> tuple[set[str] | None, WindowCount | None]:
    """(ids of the entries of ``projects`` in ``window``, the count that made listing them
    unnecessary). With ``count_first`` (the recent window; the daily full check always lists) the
    window is counted first: as many entries at awork as staged live means none was deleted (one
    request, issue #12), and the ids are None; only a difference lists the window."""
    query = TimeEntryQuery(ctx, client)
    counted = query.count(projects, window) if count_first and projects else None
    if counted is not None and counted.nothing_deleted:
        return None, counted
    return stage_pages(ctx, awork_time_entries, query.window(projects, window), awork_entry_row).seen, counted


# -- transform --------------------------------------------------------------------------------
def transform(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Plan phases, tasks and reportings of the linked projects; quarantine and report the rest."""
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    hq_users, task_types, directory_read = _hq_directory(ctx)
    counts = {e: repo.EntityCounts() for e in ("reporting", "task", "phase")}
    now = utcnow()
    with ctx.staging.begin() as conn:
        linked = linked_projects(conn, tenant)
        structure = plan_structure(
            (_staged_task(r) for r in queries.live_tasks(conn, tenant, list(linked))),
            linked=linked,
            lists=queries.live_task_lists(conn, tenant),
            type_names=queries.awork_type_names(conn, tenant),
            task_types=task_types,
            by_list=cfg.phase_mode is PhaseMode.BY_LIST,
            default_phase_name=cfg.default_phase_name,
        )
        # Reportings: every entry of a linked project, and every entry we booked before. Streamed
        # in chunks of TRANSFORM_CHUNK entries (keyset by id: no cursor stays open while the chunk's
        # plans are written), so memory stays flat whatever the number of entries (issue #12).
        # The old plans go first (a project unlinked since the last run leaves no stale plan).
        queries.clear_plans(conn, tenant, SOURCE)
        entry_issues: Issues = {}
        n_entries = _plan_entries(conn, ctx, structure, hq_users, now, counts["reporting"], entry_issues)
        queries.insert_plans(
            conn,
            [_wanted_row(tenant, "phase", sync_id, body, now) for sync_id, body in structure.phases.items()]
            + [_wanted_row(tenant, "task", task_id, body, now) for task_id, body in structure.tasks.items()],
        )
        issues = {**structure.issues, "time_entry": entry_issues}
        for entity, items in issues.items():
            _quarantine_set(conn, ctx, entity, items)
            _count_reported(counts["reporting" if entity == "time_entry" else entity], items)
    result = {
        "planned": {e: c.as_dict() for e, c in counts.items()},
        "phases": len(structure.phases),
        "tasks": len(structure.tasks),
        "entries": n_entries,
        "hq_users": len(hq_users),
        "hq_directory": "read" if directory_read else "kept",
    }
    log.info("transform %s: %s", tenant, summary_line(result))
    return result


def _hq_directory(ctx: RunContext) -> tuple[dict[str, str], TaskTypes, bool]:
    """HQ's users (case-folded e-mail → id) and task types for planning, and whether they were read
    now. Read from HQ when the staged awork data changed since they were last read (a new e-mail,
    type of work, task or entry may need them), while records wait in quarantine for an HQ user or
    task type (A8: booked as soon as the user exists), when they are older than
    ``DIRECTORY_MAX_AGE``, or never read; else the ones kept in staging (``reference_data``): a
    no-change run without such items asks HQ nothing here (issue #12). Another change made only in
    HQ (a task type renamed) is seen by the next run with an awork change, at the latest after
    ``DIRECTORY_MAX_AGE``."""
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        state = repo.written_fingerprint(queries.awork_staged_state(conn, tenant))
        kept = repo.kept_reference_data(conn, tenant, SOURCE, DIRECTORY)
        waiting = repo.open_quarantine_ids(conn, tenant, SOURCE, "time_entry", ("unknown_email",)) or (
            repo.open_quarantine_ids(conn, tenant, SOURCE, "task", ("type_of_work_unmatched",))
        )
    now = utcnow()
    if kept is not None and not waiting and kept.version == state and now - kept.read_at < DIRECTORY_MAX_AGE:
        return dict(kept.body["by_email"]), TaskTypes.of(list(kept.body["task_types"])), False
    hq = ctx.require_clients().hq()
    users = hq_users_by_email(hq.users())
    task_types = [dict(tt) for tt in hq.task_types()]
    with ctx.staging.begin() as conn:
        body = {"by_email": users, "task_types": task_types}
        repo.keep_reference_data(conn, tenant, SOURCE, DIRECTORY, body, state, now)
    return users, TaskTypes.of(task_types), True


def _staged_task(row: Any) -> StagedTask:
    return StagedTask(
        row.source_id, str(row.project_id), row.name, row.type_of_work_id, row.planned_duration_s, row.payload or {}
    )


def _staged_entry(row: Any) -> StagedEntry:
    booked_from = (row.written or {}).get("awork_project") if row.link_id is not None and row.written else None
    return StagedEntry(
        id=row.source_id,
        payload=row.payload,
        project_id=str(row.project_id) if row.project_id else None,
        task_id=str(row.task_id) if row.task_id else None,
        user_id=row.user_id,
        deleted=row.deleted_at is not None,
        booked_from=booked_from,
    )


def _plan_entries(
    conn: Connection,
    ctx: RunContext,
    structure: StructurePlan,
    hq_users: dict[str, str],
    now: datetime,
    counts: repo.EntityCounts,
    issues: Issues,
) -> int:
    """Plan (and save) the reporting of every entry of a linked project or booked before; returns
    how many. The reporting counts and the entries' quarantine items go to ``counts`` and ``issues``."""
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    emails = queries.awork_user_emails(conn, tenant)
    n_entries = 0
    progress = Progress(f"transform {tenant}: time entries planned", logger=log)
    for chunk in queries.time_entry_chunks(conn, tenant, SOURCE, list(structure.linked), TRANSFORM_CHUNK):
        rows = []
        for row in chunk:
            entry = _staged_entry(row)
            decision = plan_time_entry(
                entry,
                linked=structure.linked,
                task_sync_id=structure.task_sync_id,
                emails=emails,
                hq_users=hq_users,
                sync_start=cfg.sync_start_date,
                timezone=ctx.tenant.timezone,
            )
            _count_decision(counts, issues, entry.id, decision)
            rows.append(_entry_row(tenant, entry.id, decision, now))
        queries.insert_plans(conn, rows)
        n_entries += len(chunk)
        progress.advance(len(chunk))
    progress.finish()
    return n_entries


def _count_decision(counts: repo.EntityCounts, issues: Issues, entry_id: str, decision: Decision) -> None:
    if isinstance(decision, Quarantined):
        counts.count(Outcome.QUARANTINED, decision.reason)
        issues[(entry_id, decision.reason)] = (decision.detail, decision.context)
    elif isinstance(decision, NotWanted) and decision.reason in SKIPPED:
        counts.count(Outcome.SKIPPED, decision.reason)


def _count_reported(counts: repo.EntityCounts, items: Issues) -> None:
    """The items written with a warning (notes, not errors) count as ``reported``."""
    for _, reason in items:
        if reason in REPORTED:
            bucket = counts.details.setdefault("reported", {})
            bucket[reason] = bucket.get(reason, 0) + 1


def _entry_row(tenant: str, entry_id: str, decision: Decision, now: datetime) -> dict[str, Any]:
    """The plan row of a time entry (a reporting's parent is its HQ user; no version unless wanted)."""
    return _plan_row(tenant, "time_entry", entry_id, now, **plan_values(decision))


def _wanted_row(tenant: str, entity: str, sync_id: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The plan row of a phase or task (its parent is its HQ project)."""
    return _plan_row(
        tenant, entity, sync_id, now, plan=Plan.WANTED, reason=None, hq_parent_id=str(body["ProjectId"]), body=body
    )


def _plan_row(
    tenant: str,
    entity: str,
    source_id: str,
    now: datetime,
    *,
    plan: Plan,
    reason: str | None,
    hq_parent_id: str | None,
    body: Any,
    version: str | None = None,
) -> dict[str, Any]:
    return repo.plan_row(tenant, SOURCE, entity, source_id, plan, reason, hq_parent_id, body, version, planned_at=now)


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
        project_phases = [p for p in phases if int(p.hq_parent_id) == project_id]
        project_tasks = sorted((t for t in tasks if int(t.hq_parent_id) == project_id), key=lambda t: t.source_id)
        # A polling run reads only the projects whose phases or tasks differ from what we wrote
        # (hq_links); an events run checks the projects its scope names, as before (webhook_runs).
        if ctx.mode is not RunMode.EVENTS and structure.unchanged(project_id, project_phases, project_tasks):
            continue
        structure.load_project(project_id, project_phases, project_tasks)
    stats: dict[str, Any] = {}
    reportings = load_reportings(ctx, hq, structure.sync_map, stats=stats)
    result = {
        "reporting": reportings.as_dict(),
        "phase": structure.counts["phase"].as_dict(),
        "task": structure.counts["task"].as_dict(),
        "requests": hq.requests_sent,
        "reporting_load": stats,
    }
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
        counts = repo.EntityCounts(**{k: done.get(k, 0) for k in COUNT_FIELDS})
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
    summary["extracted"] = {
        k: (results.get("extract") or {}).get(k) for k in ("time_entries", "linked_projects", "newly_linked", "mode")
    }
    if query.get("newly_found"):
        summary["time_entries_query"] = query["newly_found"]
    summary["deletions_found"] = (results.get("reconcile_deletions") or {}).get("deleted", 0)
    return summary
