"""The drift audit (product.md F2): the steps of ``audit__<tenant>`` and ``run_audit`` for the CLI.

- ``compare``: per audited source (awork → hours, Personio → absence days), pair every source
  record with its HQ record, explain every difference (``hq_sync.audit``), store the result.
- ``verdict``: fail (at once, no retries) when anything is unexplained, so that drift alerts
  like a failed run; the message lists the first differences.
"""

from __future__ import annotations

import calendar
import logging
from datetime import date, timedelta
from typing import Any

from hq_sync.audit.model import Pair, SourceRead, Window
from hq_sync.audit.report import AuditResult, audit_of_run, build_result, first_unexplained, store
from hq_sync.config import TenantConfig
from hq_sync.errors import NotRetryable
from hq_sync.run import RunContext
from hq_sync.staging import ensure_schema
from hq_sync.staging.schema import utcnow

log = logging.getLogger(__name__)

FUTURE_DAYS = 366  # entries and absences planned ahead: as far as the awork sync reads


class AuditDrift(NotRetryable):
    """The audit found unexplained differences between a source and HQ."""


class BadMonth(NotRetryable, ValueError):
    """A month that is not YYYY-MM."""


def audit_window(tenant: TenantConfig, today: date, month: str | None = None) -> Window:
    """The days the audit compares: one month, or from the earliest sync start date (or
    ``audit.lookback_months`` back) to ``FUTURE_DAYS`` ahead."""
    starts = [tenant.source(s).sync_start_date for s in tenant.audited_sources()]  # type: ignore[union-attr]
    if month:
        try:
            year, mon = (int(x) for x in month.split("-"))
            first = date(year, mon, 1)
        except ValueError:
            raise BadMonth(f"month {month!r} is not YYYY-MM") from None
        return Window(first, date(year, mon, calendar.monthrange(year, mon)[1]), month)
    start = min(starts) if starts else today
    if tenant.audit.lookback_months is not None:
        y, m = today.year, today.month - tenant.audit.lookback_months
        while m < 1:
            y, m = y - 1, m + 12
        start = max(start, date(y, m, 1))
    return Window(start, today + timedelta(days=FUTURE_DAYS))


def _source_window(window: Window, tenant: TenantConfig, source: str) -> Window:
    cfg = tenant.source(source)
    assert cfg is not None
    return Window(max(window.start, cfg.sync_start_date), window.end, window.month)  # type: ignore[union-attr]


def run_audit(ctx: RunContext, month: str | None = None) -> tuple[int, AuditResult, list[SourceRead], Window]:
    """Compare, explain and store; returns (audit id, result, how each source was read, window)."""
    ensure_schema(ctx.staging)
    tenant = ctx.tenant
    started = utcnow()
    window = audit_window(tenant, ctx.today, month)
    hq = ctx.require_clients().hq()
    users = hq.users()
    max_age = timedelta(hours=tenant.audit.staging_max_age_hours)
    pairs: list[Pair] = []
    reads: list[SourceRead] = []
    sources = tenant.audited_sources()
    if not sources:
        raise NotRetryable(
            f"tenant {tenant.id}: nothing to audit (no enabled awork or Personio source, or audit.enabled is false)"
        )
    if "awork" in sources:
        from hq_sync.audit.hours import compare_hours

        found, read = compare_hours(ctx, _source_window(window, tenant, "awork"), hq, users, max_age)
        pairs += found
        reads.append(read)
    if "personio" in sources:
        from hq_sync.audit.absences import compare_absences

        found, read = compare_absences(ctx, _source_window(window, tenant, "personio"), hq, users, max_age)
        pairs += found
        reads.append(read)
    result = build_result(pairs, window)
    with ctx.staging.begin() as conn:
        audit_id = store(
            conn, tenant=tenant.id, run_id=ctx.run_id, started_at=started, window=window, reads=reads, result=result
        )
    log.info(
        "audit %s (%s … %s): %s, %d explained, %d unexplained differences; sources: %s; HQ requests: %d",
        tenant.id,
        window.start,
        window.end,
        result.status.value,
        result.explained,
        result.unexplained,
        {r.source: f"{r.mode} ({r.why})" for r in reads},
        hq.requests_sent,
    )
    return audit_id, result, reads, window


def compare(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Run the audit for the DAG run's window (param ``month``: one month); returns its totals."""
    audit_id, result, reads, window = run_audit(ctx, str(ctx.params.get("month") or "") or None)
    return {
        "audit_id": audit_id,
        "status": result.status.value,
        "window": [window.start.isoformat(), window.end.isoformat()],
        "explained": result.explained,
        "unexplained": result.unexplained,
        "totals": result.totals,
        "sources": {r.source: r.as_dict() for r in reads},
    }


def verdict(ctx: RunContext, **_: Any) -> dict[str, Any]:
    """Fail when the run's audit found unexplained differences (drift alerts like a failed run)."""
    ensure_schema(ctx.staging)
    with ctx.staging.connect() as conn:
        run = audit_of_run(conn, ctx.tenant.id, ctx.run_id)
        if run is None:
            raise NotRetryable("this run has no stored audit (the compare task did not finish)")
        if not run.unexplained:
            return {"status": run.status, "explained": run.explained, "unexplained": 0}
        first = first_unexplained(conn, run.id)
    lines = "\n".join(f"  - {d}" for d in dict.fromkeys(first))
    raise AuditDrift(
        f"tenant {ctx.tenant.id}: {run.unexplained} unexplained difference(s) between the sources and HQ "
        f"({run.explained} explained). First ones:\n{lines}\nDrill-down and export: Sync status page → Drift "
        f"audit; or python -m hq_sync.ops.audit --tenant {ctx.tenant.id}"
    )
