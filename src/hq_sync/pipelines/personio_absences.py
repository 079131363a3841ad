"""Personio absences → HQ (product.md B1–B7): the five steps of ``personio_absences__<tenant>``.

- ``extract``: persons and absence types (full, they are small), absence periods incrementally by
  ``updated_at`` with an overlap; every page is staged before the next is fetched.
- ``reconcile_deletions``: re-read the recent window (and, once a day, everything since the sync
  start date), and mark staged periods missing from it as deleted after a 404 on each one.
- ``transform``: plan the HQ absence of every staged period (``hq_sync.transform.absences``),
  quarantine what cannot be decided.
- ``load``: make HQ match the plan (``hq_sync.load.absences``).
- ``report``: counts per entity and reason into ``run_summaries``, the log and the XCom.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from hq_sync.clients.personio import PersonioClient
from hq_sync.config import PersonioSource
from hq_sync.load.absences import load_absences
from hq_sync.mappings import build_mapping
from hq_sync.run import RunContext, RunMode
from hq_sync.pipelines.cursors import FULL_READ, ServerClock, full_read_marker, full_read_started
from hq_sync.pipelines.personio_day_end import calibrate as calibrate_day_end
from hq_sync.pipelines.personio_day_end import stored as stored_day_end
from hq_sync.timeutil import parse_timestamp
from hq_sync.pipelines.steps import record_report
from hq_sync.progress import Progress, summary_line
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging.schema import (
    personio_absence_periods,
    personio_absence_types,
    personio_persons,
    utcnow,
)
from hq_sync.transform.absences import AbsenceRules, NotWanted, Quarantined, StagedPeriod, Wanted, plan_absence

log = logging.getLogger(__name__)

SOURCE = "personio"
ENTITY = "absence_period"
UPDATED_OVERLAP = timedelta(minutes=15)  # re-read this much before the cursor (clock skew, late commits)
FULL_RECONCILE_EVERY = timedelta(hours=24)
FAR_FUTURE = timedelta(days=5 * 366)  # 'everything ahead' for window reads
TRANSFORM_CHUNK = 500  # periods planned per chunk (transform streams them)


def _cfg(ctx: RunContext) -> PersonioSource:
    cfg = ctx.tenant.sources.personio
    assert cfg is not None
    return cfg


_parse_ts = parse_timestamp


def _half(marker: dict[str, Any] | None) -> str | None:
    return (marker or {}).get("type")


def period_row(item: dict[str, Any]) -> dict[str, Any]:
    """A Personio v2 absence period as a staging row (raw payload + typed columns)."""
    ends = item.get("ends_at") or None
    return {
        "source_id": str(item["id"]),
        "source_updated_at": _parse_ts(item.get("updated_at")),
        "payload": item,
        "person_id": str((item.get("person") or {}).get("id") or ""),
        "absence_type_id": str((item.get("absence_type") or {}).get("id") or ""),
        "starts_at": str((item.get("starts_from") or {}).get("date_time") or "")[:19],
        "starts_half": _half(item.get("starts_from")),
        "ends_at": str(ends["date_time"])[:19] if ends and ends.get("date_time") else None,
        "ends_half": _half(ends),
        "approval_status": str((item.get("approval") or {}).get("status") or "").upper() or None,
    }


def person_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "source_id": str(item["id"]),
        "source_updated_at": _parse_ts(item.get("updated_at")),
        "payload": item,
        "email": item.get("email"),
        "status": item.get("status"),
    }


def type_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "source_id": str(item["id"]),
        "source_updated_at": _parse_ts(item.get("updated_at")),
        "payload": item,
        "name": str(item.get("name") or ""),
        "category": item.get("category"),
        "unit": item.get("unit"),
    }


def _stage_pages(ctx: RunContext, table: Any, pages: Iterator[list[dict[str, Any]]], to_row: Any,
                 keep: Any = None) -> tuple[repo.UpsertResult, set[str], datetime | None]:
    """Stage page by page (only the items ``keep`` accepts, when given); returns the counts, the
    ids seen and the newest ``updated_at``."""
    total = repo.UpsertResult()
    seen: set[str] = set()
    newest: datetime | None = None
    progress = Progress(f"extract {ctx.tenant.id}: {table.name} read", logger=log)  # issue 15: long reads log
    for page in pages:
        rows = [to_row(item) for item in page if keep is None or keep(item)]
        with ctx.staging.begin() as conn:
            total += repo.upsert_source_records(conn, table, ctx.tenant.id, rows)
        progress.advance(len(page))
        for row in rows:
            seen.add(row["source_id"])
            ts = row["source_updated_at"]
            if ts is not None and (newest is None or ts > newest):
                newest = ts
    progress.finish()
    return total, seen, newest


def extract(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Stage persons, absence types and the absence periods changed since the last run (an events
    run: what changed and what the webhook events name, ``webhook_runs``)."""
    from hq_sync.pipelines import webhook_runs

    if ctx.mode is RunMode.EVENTS:
        return webhook_runs.personio_events_extract(ctx)
    ensure_schema(ctx.staging)
    client: PersonioClient = ctx.require_clients().personio()
    catch = webhook_runs.personio_catch_up(ctx, client, force=True) if _cfg(ctx).webhooks.enabled else {}
    hints = webhook_runs._pending(ctx, SOURCE)
    persons, _, _ = _stage_pages(ctx, personio_persons, client.persons(), person_row)
    types, _, _ = _stage_pages(ctx, personio_absence_types, client.absence_types(), type_row)

    with ctx.staging.connect() as conn:
        cursor = _parse_ts(repo.get_cursor(conn, ctx.tenant.id, SOURCE, ENTITY))
    cfg = _cfg(ctx)
    overlap = timedelta(seconds=cfg.cursor_overlap_seconds)
    keep = None
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
    periods, seen, newest = _stage_pages(ctx, personio_absence_periods, as_of.watch(pages), period_row, keep)
    with ctx.staging.begin() as conn:
        # The cursor moves with Personio's clock, not with the data: a bulk update (a working-time
        # model change touches every absence) is read once, not on every run until something newer
        # changes; the next run asks from this read's start (Personio's clock) minus the overlap.
        repo.set_cursor(conn, ctx.tenant.id, SOURCE, ENTITY, as_of.value().isoformat())
        if cursor is None:
            repo.set_cursor(conn, ctx.tenant.id, SOURCE, FULL_READ, full_read_marker(ctx.run_id, read_started))
    settled = webhook_runs.personio_settle(ctx, client, hints, seen, persons_read=True) if hints else {}
    day_end = calibrate_day_end(ctx, client, cfg.day_end)
    result = {
        "persons": vars(persons),
        "absence_types": vars(types),
        "absence_periods": vars(periods),
        "day_end": day_end.as_dict(),
        "mode": "initial" if cursor is None else f"incremental since {(cursor - overlap).isoformat()}",
        **({"webhook_events": settled} if settled else {}), **catch,
        "requests": client.requests_sent,
    }
    log.info("extract %s: %s", ctx.tenant.id, summary_line(result))
    return result


def _not_ended_before(first_day: Any) -> Any:
    """A filter for periods that are open-ended or end on/after ``first_day`` (either reading
    of a day-unit ``ends_at`` keeps such a period)."""
    bound = f"{first_day.isoformat()}T00:00:00"

    def keep(item: dict[str, Any]) -> bool:
        ends = item.get("ends_at") or None
        return not ends or not ends.get("date_time") or str(ends["date_time"])[:19] >= bound

    return keep


def _staged_ids_overlapping(conn: Connection, tenant: str, first_day: str, last_day: str) -> set[str]:
    """Staged, not deleted periods that overlap [first_day, last_day] (ISO strings compare as dates)."""
    t = personio_absence_periods
    query = select(t.c.source_id).where(
        t.c.tenant == tenant,
        t.c.deleted_at.is_(None),
        t.c.starts_at <= f"{last_day}T00:00:00",
        (t.c.ends_at.is_(None)) | (t.c.ends_at >= f"{first_day}T23:59:59"),
    )
    return {row.source_id for row in conn.execute(query)}


def _full_read_of_this_run(conn: Connection, ctx: RunContext) -> datetime | None:
    """When this run's extract read everything: when that read started (staging's clock)."""
    return full_read_started(repo.get_cursor(conn, ctx.tenant.id, SOURCE, FULL_READ), ctx.run_id)


def reconcile_deletions(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Find periods deleted in Personio (no deletion feed exists) and mark them in staging.

    Re-reads the recent window every run and the whole range since the sync start date once a
    day; a staged period missing from the re-read is deleted only after its own GET answers 404.
    """
    if ctx.mode is RunMode.EVENTS:
        return {"skipped": "events run: deletions come from absence-period.deleted events and 404s; "
                           "the polling runs reconcile the window (docs/webhooks.md)"}
    ensure_schema(ctx.staging)
    client: PersonioClient = ctx.require_clients().personio()
    cfg = _cfg(ctx)
    with ctx.staging.connect() as conn:
        last_full = _parse_ts(repo.get_cursor(conn, ctx.tenant.id, SOURCE, "full_reconcile"))
    full = last_full is None or ctx.now - last_full >= FULL_RECONCILE_EVERY
    if full:
        first = cfg.sync_start_date
        last = ctx.today + FAR_FUTURE
    else:
        first = max(cfg.sync_start_date, ctx.today - timedelta(days=cfg.recent_window_past_days))
        last = ctx.today + timedelta(days=cfg.recent_window_future_days)
    with ctx.staging.connect() as conn:
        read_by_extract = _full_read_of_this_run(conn, ctx)
    if read_by_extract is not None:
        # This run's extract read everything (a first run): that read is the full deletion check.
        # Staged periods it did not see (last_seen_at before it) are the missing ones.
        full, first, last = True, cfg.sync_start_date, ctx.today + FAR_FUTURE
        t = personio_absence_periods
        with ctx.staging.connect() as conn:
            listed = {r.source_id for r in conn.execute(select(t.c.source_id).where(
                t.c.tenant == ctx.tenant.id, t.c.last_seen_at >= read_by_extract))}
    else:
        _, listed, _ = _stage_pages(ctx, personio_absence_periods, client.absence_periods(overlapping=(first, last)), period_row)
    with ctx.staging.connect() as conn:
        missing = _staged_ids_overlapping(conn, ctx.tenant.id, first.isoformat(), last.isoformat()) - listed
    confirmed, still_there = [], []
    for period_id in sorted(missing):
        current = client.absence_period(period_id)
        if current is None:
            confirmed.append(period_id)
        else:
            still_there.append(period_row(current))
    with ctx.staging.begin() as conn:
        repo.mark_source_deleted(conn, personio_absence_periods, ctx.tenant.id, confirmed)
        if still_there:  # moved out of the window (or a listing glitch): keep it fresh
            repo.upsert_source_records(conn, personio_absence_periods, ctx.tenant.id, still_there)
        if full:
            repo.set_cursor(conn, ctx.tenant.id, SOURCE, "full_reconcile", ctx.now.isoformat())
    result = {
        "window": [first.isoformat(), last.isoformat()],
        "full": full,
        **({"read_by": "extract (first run)"} if read_by_extract is not None else {}),
        "listed": len(listed),
        "missing_from_listing": len(missing),
        "deleted": len(confirmed),
    }
    log.info("reconcile_deletions %s: %s", ctx.tenant.id, summary_line(result))
    return result


def transform(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Plan the HQ absence of every staged period; quarantine what cannot be decided."""
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    hq_users = {
        str(u["EMailWork"]).strip().casefold(): str(u["Id"])
        for u in ctx.require_clients().hq().users()
        if u.get("EMailWork")
    }
    with ctx.staging.connect() as conn:
        learnt, _ = stored_day_end(conn, tenant)  # from Personio's breakdowns (extract)
    rules = AbsenceRules(
        mapping=build_mapping(cfg.absence_type_mapping),
        sync_start=cfg.sync_start_date,
        timezone=ctx.tenant.timezone,
        day_end=learnt.value if learnt else cfg.day_end,
        open_ended_months=cfg.open_ended_months,
    )
    counts = repo.EntityCounts()
    with ctx.staging.begin() as conn:
        persons = {
            r.source_id: r.email
            for r in conn.execute(select(personio_persons.c.source_id, personio_persons.c.email).where(personio_persons.c.tenant == tenant))
        }
        types = {
            r.source_id: {"name": r.name, "category": r.category, "unit": r.unit}
            for r in conn.execute(select(personio_absence_types).where(personio_absence_types.c.tenant == tenant))
        }
        t = personio_absence_periods
        # Read a chunk before writing its plans: on SQLite, writing while a read is still open fails
        # with "database is locked" when another connection committed meanwhile (e.g. the webhook
        # receiver). Chunks (keyset by id) keep memory flat whatever the number of periods (issue #12).
        query = (select(t.c.source_id, t.c.payload, t.c.source_updated_at, t.c.deleted_at)
                 .where(t.c.tenant == tenant).order_by(t.c.source_id).limit(TRANSFORM_CHUNK))
        rows: list[Any] = []
        progress = Progress(f"transform {tenant}: absence periods planned", logger=log)
        while True:
            rows = conn.execute(query.where(t.c.source_id > rows[-1].source_id) if rows else query).all()
            if not rows:
                break
            progress.advance(len(rows))
            _plan_chunk(conn, ctx, rows, persons=persons, types=types, hq_users=hq_users, rules=rules, counts=counts)
    progress.finish()
    result = {"planned": counts.as_dict(), "hq_users": len(hq_users),
              "day_end": {"used": rules.day_end, "from": "personio breakdowns" if learnt else "tenant file"}}
    log.info("transform %s: %s", tenant, summary_line(result))
    return result


def _plan_chunk(conn: Connection, ctx: RunContext, rows: list[Any], *, persons: dict[str, Any], types: dict[str, Any],
                hq_users: dict[str, str], rules: AbsenceRules, counts: repo.EntityCounts) -> None:
    """Plan (and save) the HQ absence of each staged period of one chunk; quarantine what cannot be decided."""
    tenant = ctx.tenant.id
    for row in rows:
        if row.deleted_at is not None:
            plan: Wanted | NotWanted | Quarantined = NotWanted("deleted_in_source")
        else:
            plan = plan_absence(
                StagedPeriod(row.source_id, row.payload, row.source_updated_at),
                persons=persons, types=types, hq_users=hq_users, rules=rules, today=ctx.today,
            )
        _save_plan(conn, tenant, row.source_id, plan)
        if isinstance(plan, Quarantined):
            counts.count("quarantined", plan.reason)
            repo.quarantine_record(
                conn, tenant=tenant, source=SOURCE, entity=ENTITY, source_id=row.source_id,
                reason=plan.reason, detail=plan.detail, context=plan.context, run_id=ctx.run_id,
            )
            repo.resolve_quarantine(conn, tenant=tenant, source=SOURCE, entity=ENTITY, source_id=row.source_id, keep_reason=plan.reason)
        else:
            # Fixed data leaves quarantine by itself (write refusals are load's to clear).
            repo.resolve_quarantine(conn, tenant=tenant, source=SOURCE, entity=ENTITY, source_id=row.source_id, keep_reason="hq_rejected")
            if isinstance(plan, NotWanted):
                counts.count("skipped", plan.reason)


def _save_plan(conn: Connection, tenant: str, source_id: str, plan: Wanted | NotWanted | Quarantined) -> None:
    key = {"tenant": tenant, "source": SOURCE, "entity": ENTITY, "source_id": source_id}
    if isinstance(plan, Wanted):
        repo.save_plan(conn, **key, plan="wanted", hq_parent_id=plan.hq_user_id, body=plan.body,
                       version=plan.version, notes=list(plan.notes))
    elif isinstance(plan, NotWanted):
        repo.save_plan(conn, **key, plan="not_wanted", reason=plan.reason)
    else:
        repo.save_plan(conn, **key, plan="quarantined", reason=plan.reason)


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
    counts = repo.EntityCounts(**{k: loaded.get(k, 0) for k in ("created", "updated", "deleted", "skipped", "quarantined", "conflicts")})
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
