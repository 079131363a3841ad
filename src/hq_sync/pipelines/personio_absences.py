"""Personio absences → HQ (product.md B1–B7): the five steps of ``personio_absences__<tenant>``.

- ``extract``: absence types (full, they are small), absence periods incrementally by ``updated_at``
  with an overlap, then persons: all of them on a first run, once a day and when a period just read
  names a person staging does not know, otherwise only those changed since the last read (minus
  the overlap); every page is staged before the next is fetched.
- ``reconcile_deletions``: re-read the recent window (and, once a day, everything since the sync
  start date), and mark staged periods missing from it as deleted after a 404 on each one; the
  recent window is not re-read where extract settled every deletion from the webhook's events.
- ``transform``: plan the HQ absence of every staged period (``hq_sync.transform.absences``),
  quarantine what cannot be decided.
- ``load``: make HQ match the plan (``hq_sync.load.absences``).
- ``report``: counts per entity and reason into ``run_summaries``, the log and the XCom.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from hq_sync.clients.http import ClientError
from hq_sync.clients.personio import PersonioClient
from hq_sync.config import PersonioSource
from hq_sync.load.absences import load_absences
from hq_sync.mappings import build_mapping
from hq_sync.pipelines.cursors import FULL_READ, ServerClock, full_read_marker, full_read_started
from hq_sync.pipelines.personio_day_end import calibrate as calibrate_day_end
from hq_sync.pipelines.personio_day_end import stored as stored_day_end
from hq_sync.pipelines.staged_reads import Staged, recheck, stage_pages, unknown_refs
from hq_sync.pipelines.steps import record_report
from hq_sync.progress import Progress, summary_line
from hq_sync.run import RunContext, RunMode
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.staging.schema import personio_absence_periods, personio_absence_types, personio_persons, utcnow
from hq_sync.staging.states import COUNT_FIELDS, Outcome
from hq_sync.timeutil import parse_timestamp
from hq_sync.transform.absences import AbsenceRules, StagedPeriod, plan_absence
from hq_sync.transform.plans import Decision, NotWanted, Quarantined, Wanted, hq_users_by_email, plan_values
from hq_sync.transform.source_rows import personio_period_row, personio_person_row, personio_type_row
from hq_sync.webhooks import inbox
from hq_sync.webhooks.events import EntityType

log = logging.getLogger(__name__)

SOURCE = "personio"
ENTITY = "absence_period"
PERSON_CURSOR = "person"  # sync_cursors entity: Personio's clock when the last persons read began
PERSON_FULL = "person_full"  # when persons were last read in full (ctx.now)
PERSON_FILTER = "person_filter"  # "date_only" once Personio refused a date-time in updated_at.gt
FULL_RECONCILE_EVERY = timedelta(hours=24)
FAR_FUTURE = timedelta(days=5 * 366)  # 'everything ahead' for window reads
TRANSFORM_CHUNK = 500  # periods planned per chunk (transform streams them)


def _cfg(ctx: RunContext) -> PersonioSource:
    cfg = ctx.tenant.sources.personio
    assert cfg is not None
    return cfg


def extract(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Stage persons, absence types and the absence periods changed since the last run (an events
    run: what changed and what the webhook events name, ``webhook_runs``)."""
    from hq_sync.pipelines import webhook_runs

    if ctx.mode is RunMode.EVENTS:
        return webhook_runs.personio_events_extract(ctx)
    ensure_schema(ctx.staging)
    client: PersonioClient = ctx.require_clients().personio()
    catch = webhook_runs.personio_catch_up(ctx, client, force=True) if _cfg(ctx).webhooks.enabled else {}
    hints = webhook_runs.pending_hints(ctx, SOURCE)
    types = stage_pages(ctx, personio_absence_types, client.absence_types(), personio_type_row)

    with ctx.staging.connect() as conn:
        cursor = parse_timestamp(repo.get_cursor(conn, ctx.tenant.id, SOURCE, ENTITY))
    cfg = _cfg(ctx)
    overlap = timedelta(seconds=cfg.cursor_overlap_seconds)
    keep: Callable[[dict[str, Any]], bool] | None = None
    read_started = utcnow()  # staging's clock: rows seen by this read have last_seen_at >= it
    if cursor is None:
        # First run: everything that has not ended before the sync start date. Read by start only
        # (one request per 100 periods of the tenant's history, once): whether Personio's end
        # filter lets open-ended periods through is unknown, and long sick leave must not be
        # missed (issue #10). The end is checked here instead. This read is also the run's full
        # deletion check (reconcile_deletions does not read it again).
        pages = client.absence_periods(starting_until=ctx.today + FAR_FUTURE)
        keep = _not_ended_before(cfg.sync_start_date)
    else:
        pages = client.absence_periods(updated_since=cursor - overlap)
    as_of = ServerClock(client)
    periods = stage_pages(ctx, personio_absence_periods, as_of.watch(pages), personio_period_row, keep)
    with ctx.staging.begin() as conn:
        # The cursor moves with Personio's clock, not with the data: a bulk update (a working-time
        # model change touches every absence) is read once, not on every run until something newer
        # changes; the next run asks from this read's start (Personio's clock) minus the overlap.
        repo.set_cursor(conn, ctx.tenant.id, SOURCE, ENTITY, as_of.value().isoformat())
        if cursor is None:
            repo.set_cursor(conn, ctx.tenant.id, SOURCE, FULL_READ, full_read_marker(ctx.run_id, read_started))
    # Persons after the periods: a person a listed period names was created before this read.
    persons = read_persons(ctx, client, periods_since=read_started)
    settled = (
        webhook_runs.personio_settle(ctx, client, hints, periods.seen, persons_read=persons.covers(hints))
        if hints
        else {}
    )
    day_end = calibrate_day_end(ctx, client, cfg.day_end)
    result = {
        "persons": vars(persons.counts),
        "persons_mode": persons.mode,
        "absence_types": vars(types.counts),
        "absence_periods": vars(periods.counts),
        "day_end": day_end.as_dict(),
        "mode": "initial" if cursor is None else f"incremental since {(cursor - overlap).isoformat()}",
        **({"webhook_events": settled} if settled else {}),
        **catch,
        "requests": client.requests_sent,
    }
    log.info("extract %s: %s", ctx.tenant.id, summary_line(result))
    return result


@dataclass
class PersonsRead:
    """What ``read_persons`` read: the counts of its reads, the ids seen, how it read."""

    counts: repo.UpsertResult
    seen: set[str]
    mode: str  # "full (first run)" | "full (daily)" | "full (unknown person)" | "changed since <iso>"
    full: bool

    def covers(self, hints: Sequence[inbox.Hint]) -> bool:
        """Whether this read brought every person the events name (all of them when it was full)."""
        named = [h.entity_id for h in hints if h.entity_type == EntityType.PERSON]
        return self.full or all(pid is not None and pid in self.seen for pid in named)


def read_persons(ctx: RunContext, client: PersonioClient, *, periods_since: datetime) -> PersonsRead:
    """Stage Personio's persons (issue #12): all of them on a first run and once every
    ``FULL_RECONCILE_EVERY``; otherwise those changed since the last read began (Personio's clock)
    minus ``cursor_overlap_seconds``, and all of them after all when a period staged since
    ``periods_since`` (staging's clock: this run's listing) names a person staging does not know
    (created or changed unseen within the overlap race). A full read heals whatever an incremental
    read missed."""
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        cursor = parse_timestamp(repo.get_cursor(conn, tenant, SOURCE, PERSON_CURSOR))
        last_full = parse_timestamp(repo.get_cursor(conn, tenant, SOURCE, PERSON_FULL))
    counts = repo.UpsertResult()
    if cursor is None or last_full is None:
        mode = "full (first run)"
    elif ctx.now - last_full >= FULL_RECONCILE_EVERY:
        mode = "full (daily)"
    else:
        since = cursor - timedelta(seconds=_cfg(ctx).cursor_overlap_seconds)
        as_of = ServerClock(client)
        changed = _changed_persons(ctx, client, as_of, since)
        listed = personio_absence_periods.c.last_seen_at >= periods_since
        if changed is None:
            mode = "full (Personio refused the persons' updated_at filter)"
        elif not unknown_refs(ctx, personio_absence_periods, "person_id", personio_persons, listed):
            _set_person_cursors(ctx, as_of.value(), full=False)
            return PersonsRead(changed.counts, changed.seen, f"changed since {since.isoformat()}", full=False)
        else:
            mode, counts = "full (unknown person)", changed.counts
    as_of = ServerClock(client)
    everyone = stage_pages(ctx, personio_persons, as_of.watch(client.persons()), personio_person_row)
    counts += everyone.counts
    _set_person_cursors(ctx, as_of.value(), full=True)
    return PersonsRead(counts, everyone.seen, mode, full=True)


def _changed_persons(ctx: RunContext, client: PersonioClient, as_of: ServerClock, since: datetime) -> Staged | None:
    """Stage the persons changed after ``since``; None when Personio refuses the filter (400).

    The filter is sent as a date-time, as documented; whether Personio takes one for persons is
    uncertain (personio.md §4.4: pysonio reports dates only). A 400 is remembered in
    ``sync_cursors`` (``personio/person_filter``) and the filter sent as a date from then on
    (sandbox switch ``person_date_filters``, docs/sandbox.md)."""
    with ctx.staging.connect() as conn:
        date_only = repo.get_cursor(conn, ctx.tenant.id, SOURCE, PERSON_FILTER) == "date_only"
    while True:
        pages = as_of.watch(client.persons(updated_since=since, date_only=date_only))
        try:
            return stage_pages(ctx, personio_persons, pages, personio_person_row)
        except ClientError as exc:
            if exc.status != 400:
                raise
            log.warning("personio %s: GET /v2/persons refused updated_at.gt (%s)", ctx.tenant.id, exc)
            if date_only:
                return None
        date_only = True
        with ctx.staging.begin() as conn:
            repo.set_cursor(conn, ctx.tenant.id, SOURCE, PERSON_FILTER, "date_only")


def _set_person_cursors(ctx: RunContext, read_began: datetime, *, full: bool) -> None:
    with ctx.staging.begin() as conn:
        repo.set_cursor(conn, ctx.tenant.id, SOURCE, PERSON_CURSOR, read_began.isoformat())
        if full:
            repo.set_cursor(conn, ctx.tenant.id, SOURCE, PERSON_FULL, ctx.now.isoformat())


def _not_ended_before(first_day: date) -> Callable[[dict[str, Any]], bool]:
    """A filter for periods that are open-ended or end on/after ``first_day`` (either reading
    of a day-unit ``ends_at`` keeps such a period)."""
    bound = f"{first_day.isoformat()}T00:00:00"

    def keep(item: dict[str, Any]) -> bool:
        ends = item.get("ends_at") or None
        return not ends or not ends.get("date_time") or str(ends["date_time"])[:19] >= bound

    return keep


def _full_read_of_this_run(conn: Connection, ctx: RunContext) -> datetime | None:
    """When this run's extract read everything: when that read started (staging's clock)."""
    return full_read_started(repo.get_cursor(conn, ctx.tenant.id, SOURCE, FULL_READ), ctx.run_id)


def reconcile_deletions(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Find periods deleted in Personio (no deletion feed exists) and mark them in staging.

    Re-reads the recent window every run and the whole range since the sync start date once a
    day; a staged period missing from the re-read is deleted only after its own GET answers 404.
    With a webhook that sends ``absence-period.deleted`` whose event history this run's extract
    read, the recent window is not re-read (``webhook_runs.personio_deletions_by_events``).
    """
    if ctx.mode is RunMode.EVENTS:
        return {
            "skipped": "events run: deletions come from absence-period.deleted events and 404s; "
            "the polling runs reconcile the window (docs/webhooks.md)"
        }
    ensure_schema(ctx.staging)
    client: PersonioClient = ctx.require_clients().personio()
    cfg = _cfg(ctx)
    with ctx.staging.connect() as conn:
        last_full = parse_timestamp(repo.get_cursor(conn, ctx.tenant.id, SOURCE, "full_reconcile"))
        read_by_extract = _full_read_of_this_run(conn, ctx)
    full = last_full is None or ctx.now - last_full >= FULL_RECONCILE_EVERY or read_by_extract is not None
    if full:
        first, last = cfg.sync_start_date, ctx.today + FAR_FUTURE
    else:
        first = max(cfg.sync_start_date, ctx.today - timedelta(days=cfg.recent_window_past_days))
        last = ctx.today + timedelta(days=cfg.recent_window_future_days)
    listed, read_by = _listed(ctx, client, (first, last), full=full, read_by_extract=read_by_extract)
    missing: set[str] = set()
    if listed is not None:
        with ctx.staging.connect() as conn:
            staged = queries.period_ids_overlapping(conn, ctx.tenant.id, first.isoformat(), last.isoformat())
        missing = staged - listed
    checked = recheck(ctx, personio_absence_periods, missing, client.absence_period, personio_period_row)
    if full:
        with ctx.staging.begin() as conn:
            repo.set_cursor(conn, ctx.tenant.id, SOURCE, "full_reconcile", ctx.now.isoformat())
    result = {
        "window": [first.isoformat(), last.isoformat()],
        "full": full,
        **({"read_by": read_by} if read_by else {}),
        "listed": "not needed" if listed is None else len(listed),
        "missing_from_listing": len(missing),
        "deleted": len(checked.gone),
    }
    log.info("reconcile_deletions %s: %s", ctx.tenant.id, summary_line(result))
    return result


def _listed(
    ctx: RunContext, client: PersonioClient, window: tuple[date, date], *, full: bool, read_by_extract: datetime | None
) -> tuple[set[str] | None, str | None]:
    """(ids of the periods Personio lists in ``window``, who read them when not this step). None
    when the window need not be listed: this run's extract settled every deletion the webhook's
    event history holds since the last run (not for the daily full check, which always lists)."""
    from hq_sync.pipelines import webhook_runs

    if read_by_extract is not None:
        # This run's extract read everything (a first run): that read is the full deletion check.
        # Staged periods it did not see (last_seen_at before it) are the missing ones.
        with ctx.staging.connect() as conn:
            return queries.ids_seen_since(conn, personio_absence_periods, ctx.tenant.id, read_by_extract), (
                "extract (first run)"
            )
    if not full and webhook_runs.personio_deletions_by_events(ctx):
        return None, "extract (the webhook's absence-period.deleted events since the last run)"
    pages = client.absence_periods(overlapping=window)
    return stage_pages(ctx, personio_absence_periods, pages, personio_period_row).seen, None


def transform(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Plan the HQ absence of every staged period; quarantine what cannot be decided."""
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    hq_users = hq_users_by_email(ctx.require_clients().hq().users())
    with ctx.staging.connect() as conn:
        learnt, _checked = stored_day_end(conn, tenant)  # from Personio's breakdowns (extract)
    rules = AbsenceRules(
        mapping=build_mapping(cfg.absence_type_mapping),
        sync_start=cfg.sync_start_date,
        timezone=ctx.tenant.timezone,
        day_end=learnt.value if learnt else cfg.day_end,
        open_ended_months=cfg.open_ended_months,
    )
    counts = repo.EntityCounts()
    with ctx.staging.begin() as conn:
        persons = queries.personio_person_emails(conn, tenant)
        types = queries.personio_absence_type_info(conn, tenant)
        # Chunks (keyset by id, each read before its plans are written) keep memory flat whatever
        # the number of periods (issue #12).
        progress = Progress(f"transform {tenant}: absence periods planned", logger=log)
        for rows in queries.period_chunks(conn, tenant, TRANSFORM_CHUNK):
            progress.advance(len(rows))
            _plan_chunk(conn, ctx, rows, persons=persons, types=types, hq_users=hq_users, rules=rules, counts=counts)
    progress.finish()
    result = {
        "planned": counts.as_dict(),
        "hq_users": len(hq_users),
        "day_end": {"used": rules.day_end, "from": "personio breakdowns" if learnt else "tenant file"},
    }
    log.info("transform %s: %s", tenant, summary_line(result))
    return result


def _plan_chunk(
    conn: Connection,
    ctx: RunContext,
    rows: Sequence[Any],
    *,
    persons: dict[str, str | None],
    types: dict[str, dict[str, Any]],
    hq_users: dict[str, str],
    rules: AbsenceRules,
    counts: repo.EntityCounts,
) -> None:
    """Plan (and save) the HQ absence of each staged period of one chunk; quarantine what cannot be decided."""
    tenant = ctx.tenant.id
    for row in rows:
        if row.deleted_at is not None:
            plan: Decision = NotWanted("deleted_in_source")
        else:
            plan = plan_absence(
                StagedPeriod(row.source_id, row.payload, row.source_updated_at),
                persons=persons,
                types=types,
                hq_users=hq_users,
                rules=rules,
                today=ctx.today,
            )
        _save_plan(conn, tenant, row.source_id, plan)
        if isinstance(plan, Quarantined):
            counts.count(Outcome.QUARANTINED, plan.reason)
            repo.quarantine_record(
                conn,
                tenant=tenant,
                source=SOURCE,
                entity=ENTITY,
                source_id=row.source_id,
                reason=plan.reason,
                detail=plan.detail,
                context=plan.context,
                run_id=ctx.run_id,
            )
            repo.resolve_quarantine(
                conn, tenant=tenant, source=SOURCE, entity=ENTITY, source_id=row.source_id, keep_reason=plan.reason
            )
        else:
            # Fixed data leaves quarantine by itself (write refusals are load's to clear).
            repo.resolve_quarantine(
                conn, tenant=tenant, source=SOURCE, entity=ENTITY, source_id=row.source_id, keep_reason="hq_rejected"
            )
            if isinstance(plan, NotWanted):
                counts.count(Outcome.SKIPPED, plan.reason)


def _save_plan(conn: Connection, tenant: str, source_id: str, plan: Decision) -> None:
    notes = list(plan.notes) if isinstance(plan, Wanted) else None
    repo.save_plan(
        conn, tenant=tenant, source=SOURCE, entity=ENTITY, source_id=source_id, notes=notes, **plan_values(plan)
    )


def load(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Make HQ match the plan; returns the absence counts."""
    ensure_schema(ctx.staging)
    raw = ctx.params.get("remap_past", False)  # a run option: configuration JSON {"remap_past": true}
    if raw not in (True, False, "true", "false"):
        raise ValueError(f"remap_past must be true or false, got {raw!r}")
    remap = raw in (True, "true")
    stats: dict[str, Any] = {}
    counts = load_absences(ctx, remap_past=remap, stats=stats)
    return {"absence": counts.as_dict(), "remap_past": remap, **stats}


def report(ctx: RunContext, *, step_results: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Store and show the run's counts: absences written (load) plus quarantine (transform)."""
    results = step_results or {}
    loaded = (results.get("load") or {}).get("absence") or {}
    counts = repo.EntityCounts(**{k: loaded.get(k, 0) for k in COUNT_FIELDS})
    counts.details = dict(loaded.get("details") or {})
    planned = (results.get("transform") or {}).get("planned") or {}
    for reason, n in (planned.get("details") or {}).get("quarantined", {}).items():
        counts.count("quarantined", reason, n)
    for reason, n in (planned.get("details") or {}).get("skipped", {}).items():
        counts.count("skipped", reason, n)
    extracted = (results.get("extract") or {}).get("absence_periods") or {}
    day_end = (results.get("extract") or {}).get("day_end") or {}
    if day_end.get("disagreement"):  # Personio's breakdowns contradict the tenant file or themselves
        counts.details.setdefault("reported", {})["day_end_disagreement"] = 1
    summary = record_report(ctx, {"absence": counts})
    summary["extracted"] = extracted
    summary["deletions_found"] = (results.get("reconcile_deletions") or {}).get("deleted", 0)
    if day_end.get("disagreement"):
        summary["day_end"] = day_end["disagreement"]
    return summary
