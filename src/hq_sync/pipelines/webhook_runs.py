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

from sqlalchemy import Table

from hq_sync.clients.http import ApiError
from hq_sync.pipelines.cursors import ServerClock, full_read_marker, full_read_started
from hq_sync.pipelines.staged_reads import recheck, stage_pages, unknown_refs
from hq_sync.progress import summary_line
from hq_sync.run import RunContext, RunMode
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.staging.schema import (
    awork_tasks,
    awork_time_entries,
    awork_users,
    personio_absence_periods,
    personio_absence_types,
    personio_persons,
)
from hq_sync.staging.states import LinkState, Plan
from hq_sync.timeutil import parse_timestamp
from hq_sync.transform.source_rows import (
    awork_entry_row,
    awork_user_row,
    personio_period_row,
    personio_person_row,
    personio_type_row,
)
from hq_sync.webhooks import inbox
from hq_sync.webhooks.assets import receiver_path
from hq_sync.webhooks.events import EntityType, EnvelopeError, parse_personio

log = logging.getLogger(__name__)

CATCHUP_CURSOR = "webhook_catchup"
CATCHUP_EVERY = timedelta(hours=1)
CATCHUP_OVERLAP = timedelta(minutes=5)
# Personio keeps a webhook's event history for 30 days (api/personio.md §8.2); a catch-up that
# starts further back may have lost events.
HISTORY_KEPT = timedelta(days=29)
# sync_cursors entity: the run whose catch-up read every absence-period.deleted event since the
# last one (``deletions_by_events``)
DELETIONS_BY_EVENTS = "deletions_by_events"
PERSONIO_DELETED = "absence-period.deleted"
BULK_BY_PROJECT = 10  # more unlisted entries of one project than this: list the project instead


def _overlap(ctx: RunContext, source: str) -> timedelta:
    """The tenant's re-read overlap (``cursor_overlap_seconds``) of ``source``."""
    cfg = getattr(ctx.tenant.sources, source)
    assert cfg is not None
    return timedelta(seconds=cfg.cursor_overlap_seconds)


def pending_hints(ctx: RunContext, source: str) -> list[inbox.Hint]:
    """The events of the tenant's ``source`` no run has consumed yet."""
    with ctx.staging.connect() as conn:
        return inbox.pending(conn, ctx.tenant.id, source)


def _consume(ctx: RunContext, source: str, hints: list[inbox.Hint]) -> int:
    with ctx.staging.begin() as conn:
        done = inbox.consume(conn, [h.id for h in hints], ctx.run_id)
        inbox.prune(conn, ctx.tenant.id, source)
    return done


def _staged_live(ctx: RunContext, table: Table, ids: set[str]) -> set[str]:
    """Which of ``ids`` are staged and not marked deleted."""
    if not ids:
        return set()
    with ctx.staging.connect() as conn:
        return queries.live_ids(conn, table, ctx.tenant.id, ids)


# -- Personio ----------------------------------------------------------------------------------
def personio_catch_up(ctx: RunContext, client: Any, *, force: bool) -> dict[str, Any]:
    """Read Personio's event history of the tenant's webhook into the inbox (as hints).

    Runs when ``force`` (polling runs) or when the last catch-up is older than ``CATCHUP_EVERY``.
    The first time it only notes the moment: nothing before it can have been missed.
    """
    from hq_sync.clients.webhooks import PersonioWebhooks

    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        last = parse_timestamp(repo.get_cursor(conn, tenant, "personio", CATCHUP_CURSOR))
    if last is not None and not force and ctx.now - last < CATCHUP_EVERY:
        return {"catch_up": "not due"}
    result: dict[str, Any] = {"catch_up": "started" if last is None else "read"}
    ours: list[dict[str, Any]] = []
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
    complete = last is not None and ctx.now - last < HISTORY_KEPT and _sends_deletions(ours)
    with ctx.staging.begin() as conn:
        repo.set_cursor(conn, tenant, "personio", CATCHUP_CURSOR, ctx.now.isoformat())
        if complete:  # every deletion since the last catch-up is now a hint of this run
            repo.set_cursor(conn, tenant, "personio", DELETIONS_BY_EVENTS, full_read_marker(ctx.run_id, ctx.now))
    return {**result, "deletions_by_events": complete}


def _sends_deletions(webhooks: list[dict[str, Any]]) -> bool:
    """Whether one of ``webhooks`` is enabled and sends ``absence-period.deleted``."""
    return any(
        str(w.get("status") or "ENABLED").upper() == "ENABLED" and PERSONIO_DELETED in (w.get("enabled_events") or [])
        for w in webhooks
    )


def personio_deletions_by_events(ctx: RunContext) -> bool:
    """Whether this run's extract read the webhook's event history back to the previous catch-up,
    from a webhook that sends ``absence-period.deleted``: every period deleted in Personio since
    then is a hint that extract settled (read by id: 404), so the deletion check of the recent
    window need not list it (issue #12)."""
    with ctx.staging.connect() as conn:
        marker = repo.get_cursor(conn, ctx.tenant.id, "personio", DELETIONS_BY_EVENTS)
    return full_read_started(marker, ctx.run_id) is not None


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
    periods = {h.entity_id for h in hints if h.entity_type == EntityType.ABSENCE_PERIOD and h.entity_id}
    persons_named = any(h.entity_type == EntityType.PERSON for h in hints)
    # Named, staged, not in the listing: changed without a new updated_at, or deleted (404).
    to_check = _staged_live(ctx, personio_absence_periods, periods - listed)
    checked = recheck(ctx, personio_absence_periods, to_check, client.absence_period, personio_period_row)
    persons = None
    if persons_named and not persons_read:
        persons = stage_pages(ctx, personio_persons, client.persons(), personio_person_row).counts
    consumed = _consume(ctx, "personio", hints)
    return {
        "events": len(hints),
        "consumed": consumed,
        "read_by_id": len(to_check),
        "deleted_by_event": checked.deleted,
        **({"persons": vars(persons)} if persons is not None else {}),
    }


def personio_events_extract(ctx: RunContext) -> dict[str, Any]:
    """The ``extract`` of an events run: what changed and what the events name (see module doc)."""
    from hq_sync.pipelines import personio_absences as p

    ensure_schema(ctx.staging)
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        cursor = parse_timestamp(repo.get_cursor(conn, tenant, p.SOURCE, p.ENTITY))
    if cursor is None:  # never synced: only a full read can start
        return {**p.extract(dataclasses.replace(ctx, mode=RunMode.FULL)), "mode_note": "first run: full read"}
    client = ctx.require_clients().personio()
    catch = personio_catch_up(ctx, client, force=False)
    hints = pending_hints(ctx, "personio")
    since = cursor - _overlap(ctx, "personio")
    as_of = ServerClock(client)  # Personio's clock when the read began, as in polling runs (issue #12)
    pages = as_of.watch(client.absence_periods(updated_since=since))
    periods = stage_pages(ctx, personio_absence_periods, pages, personio_period_row)
    settled = personio_settle(ctx, client, hints, periods.seen, persons_read=False)
    # Master data only when a record refers to something we have not staged.
    refreshed = {}
    if "persons" not in settled and unknown_refs(ctx, personio_absence_periods, "person_id", personio_persons):
        persons = stage_pages(ctx, personio_persons, client.persons(), personio_person_row)
        refreshed["persons"] = vars(persons.counts)
    if unknown_refs(ctx, personio_absence_periods, "absence_type_id", personio_absence_types):
        types = stage_pages(ctx, personio_absence_types, client.absence_types(), personio_type_row)
        refreshed["absence_types"] = vars(types.counts)
    if as_of.value() > cursor:
        with ctx.staging.begin() as conn:
            repo.set_cursor(conn, tenant, p.SOURCE, p.ENTITY, as_of.value().isoformat())
    result = {
        "absence_periods": vars(periods.counts),
        **refreshed,
        "webhook_events": settled,
        **catch,
        "mode": f"events (changed since {since.isoformat()} + named by events)",
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
    from hq_sync.pipelines.awork_times import linked_projects

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
            seen = stage_pages(ctx, awork_time_entries, client.time_entries(project_id=project), awork_entry_row).seen
            bulk_listed += 1
            to_check -= seen
    checked = recheck(ctx, awork_time_entries, to_check, client.time_entry, awork_entry_row)
    users = None
    if named.users and not users_read:
        users = stage_pages(ctx, awork_users, client.users(show_archived=True), awork_user_row).counts
    consumed = _consume(ctx, "awork", hints)
    return {
        "events": len(hints),
        "consumed": consumed,
        "read_by_id": len(to_check),
        "projects_listed": bulk_listed,
        "deleted_by_event": checked.deleted,
        **({"users": vars(users)} if users is not None else {}),
    }


def awork_events_extract(ctx: RunContext) -> dict[str, Any]:
    """The ``extract`` of an awork events run (see module doc). Links made in HQ (A3) and new
    projects are found by the polling runs."""
    from hq_sync.pipelines import awork_times as a
    from hq_sync.pipelines.awork_reads import stage_project_structure

    ensure_schema(ctx.staging)
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        cursor = parse_timestamp(repo.get_cursor(conn, tenant, a.SOURCE, "time_entry"))
        linked = a.linked_projects(conn, tenant)
    if cursor is None:
        return {**a.extract(dataclasses.replace(ctx, mode=RunMode.FULL)), "mode_note": "first run: full read"}
    client = ctx.require_clients().awork()
    overlap = _overlap(ctx, "awork")
    as_of = ServerClock(client)  # awork's clock when the read began, as in polling runs (issue #12)
    hints = pending_hints(ctx, "awork")
    named = awork_named(hints)
    structure = set(linked) if named.all_projects else (named.projects & set(linked))
    changed = as_of.watch(client.time_entries_updated_since(cursor - overlap))
    entries = stage_pages(ctx, awork_time_entries, changed, awork_entry_row)
    settled = awork_settle(ctx, client, hints, entries.seen, users_read=False)
    # Records that refer to what we have not staged: their project's tasks, the users.
    in_linked = awork_time_entries.c.project_id.in_(list(linked))
    unknown_tasks = unknown_refs(ctx, awork_time_entries, "task_id", awork_tasks, in_linked)
    if unknown_tasks:
        with ctx.staging.connect() as conn:
            structure |= queries.projects_of_entries_with_tasks(conn, tenant, unknown_tasks) & set(linked)
    for project_id in sorted(structure):
        project = client.project(project_id)
        if project is not None:  # a vanished project is the polling run's to unlink
            stage_project_structure(ctx, client, project_id, project)
    users = None
    if "users" not in settled and unknown_refs(ctx, awork_time_entries, "user_id", awork_users):
        users = stage_pages(ctx, awork_users, client.users(show_archived=True), awork_user_row).counts
    started = as_of.value()
    with ctx.staging.begin() as conn:
        if started > cursor:
            repo.set_cursor(conn, tenant, a.SOURCE, "time_entry", started.isoformat())
    result = {
        "time_entries": vars(entries.counts),
        "projects_reread": len(structure),
        "webhook_events": settled,
        **({"users": vars(users)} if users is not None else {}),
        "mode": f"events (changed since {(cursor - overlap).isoformat()} + named by events)",
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

    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        plans = list(plans_of(conn, tenant, "time_entry"))
        links = {link.source_id: link for link in repo.links(conn, tenant, "awork", "time_entry")}
        hq_of = linked_projects(conn, tenant)
        named = awork_named(inbox.consumed_by(conn, tenant, "awork", ctx.run_id))
    need = set(projects) if named.all_projects else {hq_of[p] for p in named.projects if p in hq_of}
    known: dict[tuple[int, str], int] = {}
    for plan in plans:
        if plan.plan != Plan.WANTED or not plan.body:
            continue
        project, sync = int(plan.body["ProjectId"]), str(plan.body["TaskSyncId"])
        link = links.get(plan.source_id)
        written = (link.written or {}) if link is not None and link.state == LinkState.SYNCED else {}
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
