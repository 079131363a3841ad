"""What webhook events change in the ``extract`` step of both source pipelines (issue #14).

Events are hints, never data: they only say *which* records to read; the records are always read
from the source. Two uses (docs/webhooks.md#what-a-run-reads):

- **Events runs** (started by the tenant's webhook asset, ``RunMode.EVENTS``) read no more than
  needed: what changed since the last run (one incremental request, which also covers events that
  were lost), the records named by pending events that did not show up there (a deletion answers
  404), and master data only when an event names it or a record refers to something unknown. The
  deletion reconciliation window is left to the polling runs.
- **Polling runs** (``RunMode.FULL``) read as before and then settle the pending events the same
  way, so a deletion an event announced is applied without waiting for the reconciliation.

Both mark the pending events they read as consumed. Personio's event history
(``GET /v2/webhooks/{id}/events``) is read into the inbox first by every polling run and by an
events run when the last catch-up is older than ``CATCHUP_EVERY``: after a receiver outage, the
events it missed become hints of the next run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from hq_sync.clients.http import ApiError
from hq_sync.progress import summary_line
from hq_sync.run import RunContext, RunMode
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import (
    awork_tasks,
    awork_time_entries,
    awork_users,
    personio_absence_periods,
    personio_absence_types,
    personio_persons,
)
from hq_sync.webhooks import inbox
from hq_sync.webhooks.assets import receiver_path
from hq_sync.webhooks.events import EntityType, EnvelopeError, parse_personio

log = logging.getLogger(__name__)

CATCHUP_CURSOR = "webhook_catchup"
CATCHUP_EVERY = timedelta(hours=1)
CATCHUP_OVERLAP = timedelta(minutes=5)
BULK_BY_PROJECT = 10  # more unlisted entries of one project than this: list the project instead


def _pending(ctx: RunContext, source: str) -> list[inbox.Hint]:
    with ctx.staging.connect() as conn:
        return inbox.pending(conn, ctx.tenant.id, source)


def _consume(ctx: RunContext, source: str, hints: list[inbox.Hint]) -> int:
    with ctx.staging.begin() as conn:
        done = inbox.consume(conn, [h.id for h in hints], ctx.run_id)
        inbox.prune(conn, ctx.tenant.id, source)
    return done


def _staged_live(ctx: RunContext, table: Any, ids: set[str]) -> set[str]:
    """Which of ``ids`` are staged and not marked deleted."""
    if not ids:
        return set()
    found: set[str] = set()
    wanted = sorted(ids)
    with ctx.staging.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found |= {
                r.source_id
                for r in conn.execute(
                    select(table.c.source_id).where(
                        table.c.tenant == ctx.tenant.id, table.c.source_id.in_(chunk), table.c.deleted_at.is_(None)
                    )
                )
            }
    return found


def _unknown_refs(ctx: RunContext, table: Any, column: str, refs_table: Any, where: Any = None) -> set[str]:
    """Values of ``table.column`` (live rows of the tenant) with no staged row in ``refs_table``."""
    t = table
    known = select(refs_table.c.source_id).where(refs_table.c.tenant == ctx.tenant.id)
    query = (
        select(t.c[column])
        .distinct()
        .where(
            t.c.tenant == ctx.tenant.id,
            t.c.deleted_at.is_(None),
            t.c[column].is_not(None),
            t.c[column] != "",
            t.c[column].not_in(known),
        )
    )
    if where is not None:
        query = query.where(where)
    with ctx.staging.connect() as conn:
        return {str(r[0]) for r in conn.execute(query)}


# -- Personio ----------------------------------------------------------------------------------
def personio_catch_up(ctx: RunContext, client: Any, *, force: bool) -> dict[str, Any]:
    """Read Personio's event history of the tenant's webhook into the inbox (as hints).

    Runs when ``force`` (polling runs) or when the last catch-up is older than ``CATCHUP_EVERY``.
    The first time it only notes the moment: nothing before it can have been missed.
    """
    from hq_sync.clients.webhooks import PersonioWebhooks
    from hq_sync.timeutil import parse_timestamp

    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        last = parse_timestamp(repo.get_cursor(conn, tenant, "personio", CATCHUP_CURSOR))
    if last is not None and not force and ctx.now - last < CATCHUP_EVERY:
        return {"catch_up": "not due"}
    result: dict[str, Any] = {"catch_up": "started" if last is None else "read"}
    if last is not None:
        api = PersonioWebhooks(client)
        path = receiver_path(tenant, "personio")
        try:
            webhooks: list[dict[str, Any]] = api.list()
            ours = [w for w in webhooks if str(w.get("url") or "").rstrip("/").endswith(path)]
            read, new, invalid = _personio_history(ctx, api, ours, since=last - CATCHUP_OVERLAP)
        except ApiError as exc:  # e.g. the credential lacks personio:webhooks:read: say so, sync on
            log.warning("personio catch-up of %s failed: %s", tenant, exc)
            return {"catch_up": f"failed: {exc}"}
        if not ours:
            result = {"catch_up": f"no Personio webhook points at {path} (python -m hq_sync.connect.webhooks)"}
        else:
            result.update(events_read=read, events_missed=new, invalid=invalid)
            if new:
                log.info("personio catch-up of %s: %d events the receiver had not recorded", tenant, new)
    with ctx.staging.begin() as conn:
        repo.set_cursor(conn, tenant, "personio", CATCHUP_CURSOR, ctx.now.isoformat())
    return result


def _personio_history(
    ctx: RunContext, api: Any, webhooks: list[dict[str, Any]], *, since: datetime
) -> tuple[int, int, int]:
    """Record the relevant events of the webhooks' history since ``since`` in the inbox (one
    transaction per page); returns the events read, newly recorded and invalid."""
    read = new = invalid = 0
    for webhook in webhooks:
        for page in api.events(str(webhook["id"]), occurred_since=since):
            with ctx.staging.begin() as conn:
                for item in page:
                    read += 1
                    try:
                        event = parse_personio(item)
                    except EnvelopeError:
                        invalid += 1
                        continue
                    if event.relevant:
                        recorded = inbox.record(conn, ctx.tenant.id, event, via=inbox.Via.CATCHUP, forwarded=True)
                        new += 0 if recorded.duplicate else 1
    return read, new, invalid


def personio_settle(
    ctx: RunContext, client: Any, hints: list[inbox.Hint], listed: set[str], *, persons_read: bool
) -> dict[str, Any]:
    """Read what the events name and the listing did not bring, then consume the events."""
    from hq_sync.pipelines.personio_absences import _stage_pages, period_row, person_row

    periods = {h.entity_id for h in hints if h.entity_type == EntityType.ABSENCE_PERIOD and h.entity_id}
    persons_named = any(h.entity_type == EntityType.PERSON for h in hints)
    # Named, staged, not in the listing: changed without a new updated_at, or deleted (404).
    to_check = _staged_live(ctx, personio_absence_periods, periods - listed)
    gone, still = [], []
    for period_id in sorted(to_check):
        current = client.absence_period(period_id)
        if current is None:
            gone.append(period_id)
        else:
            still.append(period_row(current))
    with ctx.staging.begin() as conn:
        deleted = repo.mark_source_deleted(conn, personio_absence_periods, ctx.tenant.id, gone)
        if still:
            repo.upsert_source_records(conn, personio_absence_periods, ctx.tenant.id, still)
    persons = None
    if persons_named and not persons_read:
        persons, _, _ = _stage_pages(ctx, personio_persons, client.persons(), person_row)
    consumed = _consume(ctx, "personio", hints)
    return {
        "events": len(hints),
        "consumed": consumed,
        "read_by_id": len(to_check),
        "deleted_by_event": deleted,
        **({"persons": vars(persons)} if persons is not None else {}),
    }


def personio_events_extract(ctx: RunContext) -> dict[str, Any]:
    """The ``extract`` of an events run: what changed and what the events name (see module doc)."""
    from hq_sync.pipelines import personio_absences as p

    ensure_schema(ctx.staging)
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        cursor = p._parse_ts(repo.get_cursor(conn, tenant, p.SOURCE, p.ENTITY))
    if cursor is None:  # never synced: only a full read can start
        return {**p.extract(dataclasses.replace(ctx, mode=RunMode.FULL)), "mode_note": "first run: full read"}
    client = ctx.require_clients().personio()
    catch = personio_catch_up(ctx, client, force=False)
    hints = _pending(ctx, "personio")
    pages = client.absence_periods(updated_since=cursor - p.UPDATED_OVERLAP)
    periods, seen, newest = p._stage_pages(ctx, personio_absence_periods, pages, p.period_row)
    settled = personio_settle(ctx, client, hints, seen, persons_read=False)
    # Master data only when a record refers to something we have not staged.
    refreshed = {}
    if "persons" not in settled and _unknown_refs(ctx, personio_absence_periods, "person_id", personio_persons):
        persons, _, _ = p._stage_pages(ctx, personio_persons, client.persons(), p.person_row)
        refreshed["persons"] = vars(persons)
    if _unknown_refs(ctx, personio_absence_periods, "absence_type_id", personio_absence_types):
        types, _, _ = p._stage_pages(ctx, personio_absence_types, client.absence_types(), p.type_row)
        refreshed["absence_types"] = vars(types)
    if newest is not None and newest > cursor:
        with ctx.staging.begin() as conn:
            repo.set_cursor(conn, tenant, p.SOURCE, p.ENTITY, newest.isoformat())
    result = {
        "absence_periods": vars(periods),
        **refreshed,
        "webhook_events": settled,
        **catch,
        "mode": f"events (changed since {(cursor - p.UPDATED_OVERLAP).isoformat()} + named by events)",
        "requests": client.requests_sent,
    }
    log.info("extract %s (events run): %s", tenant, summary_line(result))
    return result


# -- awork -------------------------------------------------------------------------------------
@dataclasses.dataclass
class AworkNamed:
    entries: dict[str, str | None]  # time entry id → its project as the event says (a grouping hint)
    projects: set[str]  # projects whose lists/tasks an event touched
    all_projects: bool  # a structure event without a project: re-read every linked project
    users: bool


def awork_named(hints: list[inbox.Hint]) -> AworkNamed:
    """What the pending awork events name."""
    named = AworkNamed({}, set(), False, False)
    for hint in hints:
        raw = hint.envelope.get("entity")
        entity = raw if isinstance(raw, dict) else {}
        project = str(entity.get("projectId") or "").lower() or None
        if hint.entity_type == EntityType.TIME_ENTRY and hint.entity_id:
            named.entries[hint.entity_id] = project
        elif hint.entity_type == EntityType.PROJECT and hint.entity_id:
            named.projects.add(hint.entity_id)
        elif hint.entity_type in (EntityType.TASK, EntityType.TASK_LIST):
            if project:
                named.projects.add(project)
            else:
                named.all_projects = True
        elif hint.entity_type == EntityType.USER:
            named.users = True
    return named


def awork_settle(
    ctx: RunContext, client: Any, hints: list[inbox.Hint], listed: set[str], *, users_read: bool
) -> dict[str, Any]:
    """Read the time entries the events name that the listing did not bring (by project when many),
    users when an event names one; then consume the events."""
    from hq_sync.pipelines.awork_times import _stage, entry_row, linked_projects, user_row

    named = awork_named(hints)
    to_check = _staged_live(ctx, awork_time_entries, set(named.entries) - listed)
    with ctx.staging.connect() as conn:
        linked = linked_projects(conn, ctx.tenant.id)
    by_project: dict[str | None, set[str]] = defaultdict(set)
    for entry_id in to_check:
        by_project[named.entries.get(entry_id)].add(entry_id)
    bulk_listed = 0
    for project, ids in by_project.items():
        if project in linked and len(ids) > BULK_BY_PROJECT:  # e.g. a project change fired one per entry
            _, seen = _stage(ctx, awork_time_entries, client.time_entries(project_id=project), entry_row)
            bulk_listed += 1
            to_check -= seen
    gone, still = [], []
    for entry_id in sorted(to_check):
        current = client.time_entry(entry_id)
        if current is None:
            gone.append(entry_id)
        else:
            still.append(entry_row(current))
    with ctx.staging.begin() as conn:
        deleted = repo.mark_source_deleted(conn, awork_time_entries, ctx.tenant.id, gone)
        if still:
            repo.upsert_source_records(conn, awork_time_entries, ctx.tenant.id, still)
    users = None
    if named.users and not users_read:
        users, _ = _stage(ctx, awork_users, client.users(show_archived=True), user_row)
    consumed = _consume(ctx, "awork", hints)
    return {
        "events": len(hints),
        "consumed": consumed,
        "read_by_id": len(to_check),
        "projects_listed": bulk_listed,
        "deleted_by_event": deleted,
        **({"users": vars(users)} if users is not None else {}),
    }


def awork_events_extract(ctx: RunContext) -> dict[str, Any]:
    """The ``extract`` of an awork events run (see module doc). Links made in HQ (A3) and new
    projects are found by the polling runs."""
    from datetime import UTC, datetime

    from hq_sync.pipelines import awork_times as a

    ensure_schema(ctx.staging)
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        cursor = a._ts(repo.get_cursor(conn, tenant, a.SOURCE, "time_entry"))
        linked = a.linked_projects(conn, tenant)
    if cursor is None:
        return {**a.extract(dataclasses.replace(ctx, mode=RunMode.FULL)), "mode_note": "first run: full read"}
    client = ctx.require_clients().awork()
    started = datetime.now(UTC)
    hints = _pending(ctx, "awork")
    named = awork_named(hints)
    structure = set(linked) if named.all_projects else (named.projects & set(linked))
    entries, seen = a._stage(
        ctx, awork_time_entries, client.time_entries_updated_since(cursor - a.UPDATED_OVERLAP), a.entry_row
    )
    settled = awork_settle(ctx, client, hints, seen, users_read=False)
    # Records that refer to what we have not staged: their project's tasks, the users.
    unknown_tasks = _unknown_refs(
        ctx, awork_time_entries, "task_id", awork_tasks, awork_time_entries.c.project_id.in_(list(linked))
    )
    if unknown_tasks:
        with ctx.staging.connect() as conn:
            structure |= {
                r.project_id
                for r in conn.execute(
                    select(awork_time_entries.c.project_id)
                    .distinct()
                    .where(
                        awork_time_entries.c.tenant == tenant, awork_time_entries.c.task_id.in_(sorted(unknown_tasks))
                    )
                )
                if r.project_id in linked
            }
    for project_id in sorted(structure):
        project = client.project(project_id)
        if project is not None:  # a vanished project is the polling run's to unlink
            a.stage_project_structure(ctx, client, project_id, project)
    users = None
    if "users" not in settled and _unknown_refs(ctx, awork_time_entries, "user_id", awork_users):
        users, _ = a._stage(ctx, awork_users, client.users(show_archived=True), a.user_row)
    with ctx.staging.begin() as conn:
        if started > cursor:
            repo.set_cursor(conn, tenant, a.SOURCE, "time_entry", started.isoformat())
    result = {
        "time_entries": vars(entries),
        "projects_reread": len(structure),
        "webhook_events": settled,
        **({"users": vars(users)} if users is not None else {}),
        "mode": f"events (changed since {(cursor - a.UPDATED_OVERLAP).isoformat()} + named by events)",
        "requests": client.requests_sent,
    }
    log.info("extract %s (events run): %s", tenant, summary_line(result))
    return result


def awork_structure_scope(ctx: RunContext, projects: list[int]) -> tuple[list[int], dict[tuple[int, str], int]]:
    """Which HQ projects an events run checks phases and tasks of, and the task ids of the others.

    ``load`` reads every linked project's tasks from HQ to keep phases and tasks right. An events
    run needs that only for projects with a time entry to (re)write or whose lists or tasks an
    event of this run named; for every other project the HQ task ids come from what we wrote
    (``hq_links``), so an unchanged reporting is recognised as unchanged. Returns (projects to
    check, (HQ project id, task SyncId) → HQ task id of the unchecked ones). Polling runs check all.
    """
    from hq_sync.load.reportings import plans_of
    from hq_sync.pipelines.awork_times import linked_projects
    from hq_sync.staging.schema import webhook_inbox

    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        plans = list(plans_of(conn, tenant, "time_entry"))
        links = {link.source_id: link for link in repo.links(conn, tenant, "awork", "time_entry")}
        hq_of = linked_projects(conn, tenant)
        consumed = conn.execute(
            select(webhook_inbox.c.entity_type, webhook_inbox.c.entity_id, webhook_inbox.c.envelope).where(
                webhook_inbox.c.tenant == tenant,
                webhook_inbox.c.source == "awork",
                webhook_inbox.c.consumed_by == ctx.run_id[:250],
            )
        ).all()
    hints = [inbox.Hint(0, "", r.entity_type, r.entity_id, None, dict(r.envelope or {})) for r in consumed]
    named = awork_named(hints)
    need = set(projects) if named.all_projects else {hq_of[p] for p in named.projects if p in hq_of}
    known: dict[tuple[int, str], int] = {}
    for plan in plans:
        if plan.plan != "wanted" or not plan.body:
            continue
        project, sync = int(plan.body["ProjectId"]), str(plan.body["TaskSyncId"])
        link = links.get(plan.source_id)
        written = (link.written or {}) if link is not None and link.state == "synced" else {}
        task = (written.get("body") or {}).get("TaskId")
        if (
            written.get("version") != plan.version
            or task is None
            or (written.get("body") or {}).get("ProjectId") != project
        ):
            need.add(project)
        elif known.setdefault((project, sync), int(task)) != int(task):
            need.add(project)  # our links disagree about that task: ask HQ
    return sorted(p for p in projects if p in need), {k: v for k, v in known.items() if k[0] not in need}
