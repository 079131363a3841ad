"""Personio's day-unit ``ends_at``: the exclusive midnight after the last day, or the last day itself?

One peer observed "exclusive" live, others look inclusive (personio.md §4.2, [L-M]); read the
wrong way, every multi-day absence arrives one day short (or long) and no test would notice. So
the sync does not trust either reading: it asks Personio's ``/breakdowns`` of a few periods, which
list the absent days themselves, and learns the tenant's convention from them (issue #10).

- **Calibrated once per tenant, re-checked once a day**: up to three recently changed day-unit
  periods whose end date E and E − 1 are weekdays (so that a schedule which leaves weekends out
  of the breakdown cannot mislead) until two agree: E among the broken-down days → inclusive;
  only E − 1 → exclusive. 2 requests a day per tenant (a breakdown per changed period would cost
  one request per changed period: 675 on a demo tenant's first run).
- The finding is kept in ``sync_cursors`` (entity ``day_end``, and ``day_end_checked`` with the
  time); ``transform`` uses it. Until a tenant has a suitable period, the tenant file's
  ``day_end`` applies.
- **Disagreements are reported**: periods whose breakdowns disagree, a finding that differs from
  the previous one, or from the tenant file (``reported`` in the run summary, and the log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from hq_sync.clients.personio import PersonioClient
from hq_sync.run import RunContext
from hq_sync.staging import repository as repo
from hq_sync.staging import source_queries as queries
from hq_sync.timeutil import parse_day, parse_personio_local, parse_timestamp

log = logging.getLogger(__name__)

SOURCE = "personio"
FINDING = "day_end"
CHECKED = "day_end_checked"
RECHECK_EVERY = timedelta(hours=24)
MAX_CANDIDATES = 3
CANDIDATE_POOL = 50  # most recently changed periods considered


class DayEnd(StrEnum):
    """How Personio renders a day-unit period's ``ends_at``."""

    EXCLUSIVE = "exclusive"  # local midnight after the last absent day
    INCLUSIVE = "inclusive"  # local midnight of the last absent day


@dataclass
class Calibration:
    """What one calibration found (for the extract step's XCom and the run report)."""

    convention: DayEnd | None = None
    previous: DayEnd | None = None
    checked: bool = False
    evidence: list[dict[str, Any]] = field(default_factory=list)  # {period, ends_at, verdict}
    disagreement: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "convention": self.convention.value if self.convention else None,
            "checked": self.checked,
            "evidence": self.evidence,
            "disagreement": self.disagreement,
        }


def verdict(ends_at: date, days: set[date]) -> DayEnd | None:
    """The convention a period's ``ends_at`` date and its broken-down days prove, or None."""
    if ends_at in days:
        return DayEnd.INCLUSIVE
    if ends_at - timedelta(days=1) in days:
        return DayEnd.EXCLUSIVE
    return None


def stored(conn: Connection, tenant: str) -> tuple[DayEnd | None, datetime | None]:
    """The tenant's learnt convention (None when not learnt yet) and when it was last checked."""
    value = repo.get_cursor(conn, tenant, SOURCE, FINDING)
    checked = parse_timestamp(repo.get_cursor(conn, tenant, SOURCE, CHECKED))
    return (DayEnd(value) if value in {d.value for d in DayEnd} else None), checked


def candidates(conn: Connection, tenant: str) -> list[tuple[str, date]]:
    """(period id, ``ends_at`` date) of staged day-unit periods fit to calibrate with: finite,
    ending at midnight on a Tuesday–Friday, recently changed first, short ones first."""
    rows = queries.day_unit_period_ends(conn, tenant, CANDIDATE_POOL)
    found: list[tuple[int, str, date]] = []
    for row in rows:
        try:
            start = parse_personio_local(row.starts_at)
            end = parse_personio_local(row.ends_at)
        except ValueError:
            continue
        if end.time() != datetime.min.time() or end.weekday() not in (1, 2, 3, 4):
            continue
        found.append(((end - start).days, row.source_id, end.date()))
    return [(pid, end) for _, pid, end in sorted(found, key=lambda f: f[0])]


def calibrate(ctx: RunContext, client: PersonioClient, configured: str) -> Calibration:
    """Learn (or re-check, once a day) the tenant's convention from ``/breakdowns``; store it."""
    tenant = ctx.tenant.id
    with ctx.staging.connect() as conn:
        previous, checked_at = stored(conn, tenant)
        pool = candidates(conn, tenant)
    result = Calibration(convention=previous, previous=previous)
    if previous is not None and checked_at is not None and ctx.now - checked_at < RECHECK_EVERY:
        return result
    verdicts = _ask_breakdowns(client, pool, result)
    if not verdicts:
        if result.evidence:  # suitable periods, but no conclusive breakdown: try again tomorrow
            with ctx.staging.begin() as conn:
                repo.set_cursor(conn, tenant, SOURCE, CHECKED, ctx.now.isoformat())
        return result  # (nothing suitable staged yet: try again next run)
    convention = max(set(verdicts), key=verdicts.count)
    result.convention, result.checked = convention, True
    problems = _problems(verdicts, convention, previous, configured)
    if problems:
        result.disagreement = (
            f"Personio's breakdowns show day-unit ends_at as {convention.value} "
            f"({'; '.join(problems)}); the sync follows the breakdowns"
        )
        log.warning("personio day end of %s: %s", tenant, result.disagreement)
    with ctx.staging.begin() as conn:
        repo.set_cursor(conn, tenant, SOURCE, FINDING, convention.value)
        repo.set_cursor(conn, tenant, SOURCE, CHECKED, ctx.now.isoformat())
    return result


def _ask_breakdowns(client: PersonioClient, pool: list[tuple[str, date]], result: Calibration) -> list[DayEnd]:
    """The verdicts of the pool's breakdowns, until two agree (each one's evidence into ``result``)."""
    verdicts: list[DayEnd] = []
    for period_id, ends_at in pool:
        if len(result.evidence) >= MAX_CANDIDATES or _settled(verdicts):
            break
        entries = client.absence_period_breakdown(period_id)
        if entries is None:  # deleted meanwhile
            continue
        days = {parse_day(e["date"]) for e in entries if e.get("date")}
        found = verdict(ends_at, days)
        result.evidence.append(
            {"period": period_id, "ends_at": ends_at.isoformat(), "verdict": found.value if found else None}
        )
        if found is not None:
            verdicts.append(found)
    return verdicts


def _problems(verdicts: list[DayEnd], convention: DayEnd, previous: DayEnd | None, configured: str) -> list[str]:
    """What contradicts the finding: the breakdowns themselves, the previous finding, the tenant file."""
    problems = []
    if len(set(verdicts)) > 1:
        problems.append(f"breakdowns of {len(verdicts)} periods disagree ({', '.join(v.value for v in verdicts)})")
    if previous is not None and convention != previous:
        problems.append(f"Personio's day end changed from {previous.value} to {convention.value}")
    if convention.value != configured:
        problems.append(f"the tenant file says day_end: {configured}")
    return problems


def _settled(verdicts: list[DayEnd]) -> bool:
    return any(verdicts.count(v) >= 2 for v in verdicts)
