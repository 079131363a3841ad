"""Timesheet files → HQ reportings (product.md C1): the steps of ``timesheet_import__<tenant>``.

One run imports one file (``params["file"]``: a path inside the tenant's timesheet folder, set by
the ``timesheets_inbox__<tenant>`` dispatcher or by hand). Rules: docs/timesheets.md.

- ``read``: refuse what is not a timesheet (``TimesheetRefused``: the run fails at once, nothing is
  written, the reason is stored and put next to the file); else stage its rows.
- ``transform``: match rows to HQ users, projects and tasks; plan one reporting per row (keyed so
  that a re-import or an overlapping file books nothing twice), hold back what cannot be matched
  (quarantine, with the line number), and plan the deletion of rows a corrected file no longer has.
- ``load``: the awork loader (``hq_sync.load.reportings``): pending/synced links, lost answers,
  billed reportings never touched.
- ``report``: counts into ``run_summaries`` and onto the file's record.
"""

from __future__ import annotations

import dataclasses
import logging
import time as time_module
from datetime import time
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from hq_sync.config import TimesheetsSource
from hq_sync.errors import NotRetryable
from hq_sync.load.reportings import load_reportings
from hq_sync.pipelines.steps import record_report
from hq_sync.progress import summary_line
from hq_sync.run import RunContext
from hq_sync.staging import ensure_schema
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.staging import timesheet_queries as files_db
from hq_sync.staging.schema import utcnow
from hq_sync.staging.states import COUNT_FIELDS, LinkState, Outcome, Plan
from hq_sync.timesheets.files import (
    archive,
    claim,
    folder_of,
    original_name,
    queued_files,
    resolve_in_folder,
    sha256_of,
    waiting_files,
    write_refusal,
)
from hq_sync.timesheets.matching import Matcher, key_day
from hq_sync.timesheets.reader import TimesheetRefused, TimesheetRow, read_timesheet

log = logging.getLogger(__name__)

SOURCE = "timesheets"
ENTITY = "timesheet_row"
STEPS = ("read", "transform", "load", "report")
UNTOUCHED_REASON = "removed_from_timesheet"


class FileStatus(StrEnum):
    """``timesheet_files.status``."""

    READING = "reading"
    REFUSED = "refused"
    IMPORTED = "imported"


def _cfg(ctx: RunContext) -> TimesheetsSource:
    cfg = ctx.tenant.sources.timesheets
    if cfg is None:
        raise NotRetryable(f"tenant {ctx.tenant.id} has no sources.timesheets")
    return cfg


def _file_row(conn: Connection, ctx: RunContext) -> Any:
    return files_db.file_of_run(conn, ctx.tenant.id, ctx.run_id)


def quarantine_id(name: str, line: int) -> str:
    """The quarantine key of a held row: file name (as dropped) and line."""
    return f"{name[:100]}#{line}"


# -- dispatch (timesheets_inbox__<tenant>) ------------------------------------------------------
def dispatch(ctx: RunContext, **_: Any) -> list[dict[str, Any]]:
    """Archive every queued file and return one import run per file (``TriggerDagRunOperator``
    kwargs: run id and conf). With ``params["include_waiting"]`` (a manual run, e.g. when no
    triggerer runs) it also claims the files lying in the drop folder that stopped growing."""
    folder = folder_of(ctx.tenant)
    if ctx.params.get("include_waiting"):
        before = waiting_files(folder)
        time_module.sleep(1.0)
        for name, stat in sorted(waiting_files(folder).items()):
            if before.get(name) == stat:
                claim(folder, name)
    runs = []
    for queued in queued_files(folder):
        done = archive(folder, queued)
        log.info("timesheet %s → import run %s", done.name, done.run_id)
        runs.append(
            {"trigger_run_id": done.run_id, "conf": {"file": str(done.path), "name": done.name, "sha256": done.sha256}}
        )
    if not runs:
        log.info("no timesheet waiting in %s", folder)
    return runs


# -- read -----------------------------------------------------------------------------------------
def read(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Read the run's file: refuse it (nothing written, the run fails) or stage its rows."""
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    given = str(ctx.params.get("file") or "").strip()
    if not given:
        raise NotRetryable('no file to import: trigger with {"file": "<path inside the tenant\'s timesheet folder>"}')
    folder = folder_of(ctx.tenant)
    try:
        path = resolve_in_folder(folder, given)
    except ValueError as exc:
        raise NotRetryable(str(exc)) from exc
    name = str(ctx.params.get("name") or original_name(path))
    if not path.is_file():
        raise NotRetryable(f"{given}: no such file in {folder}")
    now = utcnow()
    values = {
        "tenant": ctx.tenant.id,
        "run_id": ctx.run_id,
        "name": name,
        "path": str(path),
        "sha256": sha256_of(path),
        "size_bytes": path.stat().st_size,
        "status": FileStatus.READING.value,
        "error": None,
        "rows": None,
        "held": None,
        "summary": None,
        "received_at": now,
        "finished_at": None,
    }
    with ctx.staging.begin() as conn:  # a re-run of this import starts over
        file_id = files_db.start_file(conn, ctx.tenant.id, ctx.run_id, values)
    try:
        sheet = read_timesheet(path, cfg, name=name)
    except TimesheetRefused as exc:
        with ctx.staging.begin() as conn:
            files_db.update_file(conn, file_id, status=FileStatus.REFUSED.value, error=str(exc), finished_at=utcnow())
        write_refusal(path, str(exc))
        log.error("timesheet %s refused: %s", name, exc)
        raise
    staged = [
        {
            "file_id": file_id,
            "line": r.line,
            "tenant": ctx.tenant.id,
            "cells": r.cells,
            "problem": r.problem,
            "detail": r.detail,
            "work_date": r.work_date,
            "start_time": r.start_time.isoformat() if r.start_time else None,
            "duration_s": r.duration_s,
            "email": r.email,
            "person": r.person,
            "project": r.project,
            "project_number": r.project_number,
            "task": r.task,
            "comment": r.comment,
        }
        for r in sheet.rows
    ]
    with ctx.staging.begin() as conn:
        files_db.stage_rows(conn, file_id, staged)
    result = {
        "file": name,
        "kind": sheet.kind,
        "header_line": sheet.header_line,
        "columns": sheet.columns,
        "rows": len(sheet.rows),
        "unreadable_rows": sum(1 for r in sheet.rows if r.problem),
        "ignored_lines": sheet.ignored_lines,
        "person_from_file_name": sheet.person_from_file_name,
    }
    log.info("read %s: %s", ctx.tenant.id, summary_line(result))
    return result


def _staged_rows(conn: Connection, file_id: int) -> list[TimesheetRow]:
    rows = []
    for r in files_db.staged_rows(conn, file_id):
        values = {f.name: getattr(r, f.name) for f in dataclasses.fields(TimesheetRow)}
        values["cells"] = dict(r.cells or {})
        values["start_time"] = time.fromisoformat(r.start_time) if r.start_time else None
        rows.append(TimesheetRow(**values))
    return rows


# -- transform ------------------------------------------------------------------------------------
def transform(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Match the file's rows, plan their reportings (and removals), hold back the rest."""
    ensure_schema(ctx.staging)
    cfg = _cfg(ctx)
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        file = _file_row(conn, ctx)
        if file is None or file.status == FileStatus.REFUSED:
            raise NotRetryable("the file of this run was not read (see the read task)")
        rows = _staged_rows(conn, file.id)
        links = repo.links(conn, tenant, SOURCE, ENTITY)
    hq = ctx.require_clients().hq()
    matcher = Matcher(
        users=hq.users(), projects=hq.projects(), default_task=cfg.default_task, timezone=ctx.tenant.timezone
    )
    project_ids = {p for r in rows if not r.problem and isinstance(p := matcher.project(r), int)}
    matcher.tasks_by_project = {pid: hq.project_tasks(pid) for pid in sorted(project_ids)}
    bookings, held = matcher.match(rows)

    keys = {b.key for b in bookings}
    held_days = {h.day for h in held if h.day is not None}
    covered = {(b.hq_user_id, b.work_date) for b in bookings} - held_days
    removals = [
        link
        for link in links
        if link.state in (LinkState.SYNCED, LinkState.PENDING)
        and link.source_id not in keys
        and key_day(link.source_id) in covered
    ]
    kept = sorted(
        {
            f"{d[0]}|{d[1].isoformat()}"
            for d in held_days
            if any(key_day(link.source_id) == d for link in links if link.state == LinkState.SYNCED)
        }
    )
    now = utcnow()
    plans = [
        {
            "tenant": tenant,
            "source": SOURCE,
            "entity": ENTITY,
            "source_id": b.key,
            "plan": Plan.WANTED,
            "reason": None,
            "hq_parent_id": str(b.hq_user_id),
            "body": b.body,
            "version": f"{file.name}:{b.line}",
            "notes": {"file": file.name, "line": b.line, "run_id": ctx.run_id},
            "planned_at": now,
        }
        for b in bookings
    ]
    plans += [
        {
            "tenant": tenant,
            "source": SOURCE,
            "entity": ENTITY,
            "source_id": link.source_id,
            "plan": Plan.NOT_WANTED,
            "reason": UNTOUCHED_REASON,
            "hq_parent_id": None,
            "body": None,
            "version": None,
            "notes": None,
            "planned_at": now,
        }
        for link in removals
    ]
    counts = repo.EntityCounts()
    current = {quarantine_id(file.name, h.line) for h in held}
    with ctx.staging.begin() as conn:
        queries.clear_plans(conn, tenant, SOURCE)
        queries.insert_plans(conn, plans)
        for h in held:
            counts.count(Outcome.QUARANTINED, h.reason)
            repo.quarantine_record(
                conn,
                tenant=tenant,
                source=SOURCE,
                entity=ENTITY,
                source_id=quarantine_id(file.name, h.line),
                reason=h.reason,
                detail=f"{file.name}, {h.detail}",
                context={"file": file.name, "line": h.line, **{k: v for k, v in h.context.items() if v}},
                run_id=ctx.run_id,
            )
        _resolve_other_items(conn, tenant, file.name, current)
        files_db.update_file(conn, file.id, held=len(held))
    for b in bookings:
        for _note in b.notes:
            bucket = counts.details.setdefault("reported", {})
            bucket["task_fallback_default"] = bucket.get("task_fallback_default", 0) + 1
    if kept:
        counts.details.setdefault("reported", {})["days_kept_with_held_rows"] = len(kept)
    result = {
        "planned": counts.as_dict(),
        "bookings": len(bookings),
        "held": len(held),
        "removals": len(removals),
        "projects": len(project_ids),
        "notes": [f"line {b.line}: {n}" for b in bookings for n in b.notes][:50],
    }
    log.info("transform %s: %s", tenant, summary_line(result))
    return result


def _resolve_other_items(conn: Connection, tenant: str, name: str, current: set[str]) -> None:
    """Items of an earlier import of a file with this name that this import no longer holds back."""
    prefix = f"{name[:100]}#"
    for source_id in sorted(repo.open_quarantine_ids(conn, tenant, SOURCE, ENTITY)):
        if source_id.startswith(prefix) and source_id not in current:
            repo.resolve_quarantine(conn, tenant=tenant, source=SOURCE, entity=ENTITY, source_id=source_id)


# -- load -----------------------------------------------------------------------------------------
def load(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Write the planned reportings (and removals) through the reporting loader."""
    ensure_schema(ctx.staging)
    hq = ctx.require_clients().hq()
    counts = load_reportings(ctx, hq, {}, source=SOURCE, entity=ENTITY, label="timesheet row", origin="the timesheet")
    result = {"reporting": counts.as_dict(), "requests": hq.requests_sent}
    log.info("load %s: %s", ctx.tenant.id, result)
    return result


# -- report ---------------------------------------------------------------------------------------
def report(ctx: RunContext, *, step_results: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """Counts of the import (written + held back) into run_summaries and the file's record."""
    results = step_results or {}
    done = (results.get("load") or {}).get("reporting") or {}
    counts = repo.EntityCounts(**{k: done.get(k, 0) for k in COUNT_FIELDS})
    counts.details = {k: dict(v) for k, v in (done.get("details") or {}).items()}
    planned = (results.get("transform") or {}).get("planned") or {}
    for outcome, reasons in (planned.get("details") or {}).items():
        for reason, n in reasons.items():
            if outcome == "reported":
                counts.details.setdefault("reported", {})[reason] = n
            else:
                counts.count(outcome, reason, n)
    ignored = len((results.get("read") or {}).get("ignored_lines") or [])
    if ignored:
        counts.details.setdefault("reported", {})["total_or_note_lines"] = ignored
    summary = record_report(ctx, {"reporting": counts})
    summary["file"] = (results.get("read") or {}).get("file")
    with ctx.staging.begin() as conn:
        done_summary = summary["entities"]["reporting"]
        files_db.finish_run_file(
            conn, ctx.tenant.id, ctx.run_id, status=FileStatus.IMPORTED.value, summary=done_summary
        )
    return summary


def import_file(ctx: RunContext) -> dict[str, Any]:
    """All steps of one import in this process (the DAG runs them as tasks); returns the report."""
    results: dict[str, Any] = {}
    for name, step in (("read", read), ("transform", transform), ("load", load)):
        results[name] = step(ctx)
    return report(ctx, step_results=results)


def held_rows(conn: Connection, tenant: str, name: str | None = None) -> list[dict[str, Any]]:
    """Open held-back rows of the tenant's timesheets (optionally of one file name), by line."""
    return files_db.held_rows(conn, tenant, SOURCE, name)
