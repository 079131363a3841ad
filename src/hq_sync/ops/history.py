"""Per tenant and source, the recent runs as numbers for the charts (issue 15), and freshness.

- records written (created + updated + deleted) and held back (quarantined) per reported run, from
  ``run_summaries``;
- run duration and state per run, from Airflow's REST API (one request per DAG), when reachable;
- data freshness: the gaps between successful runs and the time since the last one, against the
  schedule's interval (``schedule_interval``);
- the quarantine backlog (held-back items open at each run) and the age of its oldest item,
  replayed from ``quarantine.first_seen_at`` / ``resolved_at`` (an item re-opened after being
  resolved counts from its re-opening).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import Connection

from hq_sync.ops.airflow_api import RunState
from hq_sync.staging import status_queries
from hq_sync.staging.reasons import QuarantineOutcome, outcome_of
from hq_sync.timeutil import parse_timestamp

DEFAULT_RUNS = 30
LATE_FACTOR = 2.0  # data is late when the last success is older than this many schedule intervals


@lru_cache(maxsize=256)
def _interval(cron: str, timezone: str, hour: datetime) -> float:
    base = hour.astimezone(ZoneInfo(timezone))
    nxt = croniter(cron, base).get_next(datetime)
    prev = croniter(cron, nxt).get_prev(datetime)
    prev = croniter(cron, prev).get_prev(datetime)
    return (nxt - prev).total_seconds() / 2 if nxt > prev else 0.0


def schedule_interval(cron: str | None, timezone: str, now: datetime) -> float | None:
    """The schedule's current interval in seconds (mean of the last two gaps around ``now``)."""
    if not cron:
        return None
    try:
        return _interval(cron, timezone, now.replace(minute=0, second=0, microsecond=0)) or None
    except (ValueError, KeyError):
        return None


class FreshnessState(StrEnum):
    """How current a tenant source's data is."""

    FRESH = "fresh"  # the last success is within LATE_FACTOR schedule intervals
    LATE = "late"
    NEVER = "never"  # no successful run yet
    UNSCHEDULED = "unscheduled"  # not on a schedule (e.g. timesheets): never late


@dataclass
class Freshness:
    last_success_at: datetime | None
    age_s: float | None  # now - last_success_at
    interval_s: float | None  # the schedule's interval; None: not on a schedule
    state: FreshnessState

    def as_dict(self) -> dict[str, Any]:
        at = self.last_success_at
        return {
            "last_success_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at else None,
            "age_s": self.age_s,
            "interval_s": self.interval_s,
            "state": self.state.value,
        }


def freshness(last_success_at: datetime | None, interval_s: float | None, now: datetime) -> Freshness:
    if last_success_at is None:
        return Freshness(None, None, interval_s, FreshnessState.NEVER)
    age = max((now - last_success_at).total_seconds(), 0.0)
    if interval_s is None:
        return Freshness(last_success_at, age, None, FreshnessState.UNSCHEDULED)
    late = age > LATE_FACTOR * interval_s + 300
    return Freshness(last_success_at, age, interval_s, FreshnessState.LATE if late else FreshnessState.FRESH)


@dataclass
class RunPoint:
    run_id: str
    at: datetime  # when it reported (or, without a report, when Airflow ran it)
    written: int | None = None  # created + updated + deleted; None: the run did not report
    held_back: int | None = None
    state: str | None = None  # from Airflow
    duration_s: float | None = None
    gap_s: float | None = None  # since the previous successful run (freshness)
    backlog: int | None = None  # held-back items open at that time
    backlog_age_days: float | None = None  # age of the oldest of them


@dataclass
class SourceHistory:
    tenant: str
    source: str
    dag_id: str
    runs: list[RunPoint] = field(default_factory=list)
    freshness: Freshness | None = None
    backlog_now: int = 0
    backlog_age_days: float | None = None
    airflow_error: str | None = None


def reported_runs(conn: Connection, tenant: str, source: str, runs: int, since: datetime | None) -> list[RunPoint]:
    """The last ``runs`` reported runs (oldest first), summed over their entities."""
    return [
        RunPoint(r.run_id, r.recorded_at, r.written, r.held_back)
        for r in status_queries.reported_runs(conn, tenant, source, runs, since)
    ]


def backlog(
    conn: Connection, tenant: str, source: str, times: list[datetime], now: datetime
) -> tuple[list[tuple[int, float | None]], int, float | None]:
    """Held-back items open at each of ``times`` and the age (days) of the oldest; and now."""
    spans = status_queries.quarantine_spans(conn, tenant, source)
    held = [(s.first_seen_at, s.resolved_at) for s in spans if outcome_of(s.reason) is QuarantineOutcome.HELD_BACK]

    def at(t: datetime) -> tuple[int, float | None]:
        open_since = [first for first, resolved in held if first <= t and (resolved is None or resolved > t)]
        oldest = min(open_since, default=None)
        return len(open_since), (round((t - oldest).total_seconds() / 86400, 2) if oldest else None)

    count, age = at(now)
    return [at(t) for t in times], count, age


def _parse(value: Any) -> datetime | None:
    moment = parse_timestamp(value)
    return moment.astimezone(UTC) if moment is not None else None


def source_history(
    conn: Connection,
    tenant: str,
    source: str,
    dag_id: str,
    *,
    cron: str | None,
    timezone: str,
    airflow_runs: list[dict[str, Any]] | None,
    runs: int = DEFAULT_RUNS,
    days: float | None = None,
    now: datetime | None = None,
) -> SourceHistory:
    """The chart data of one tenant source. ``airflow_runs``: the DAG's runs from the REST API,
    newest first (None: not available); runs that did not report still show their duration."""
    now = now or datetime.now(UTC)
    since = now - timedelta(days=days) if days else None
    points = {p.run_id: p for p in reported_runs(conn, tenant, source, runs, since)}
    for run in airflow_runs or []:
        at = _parse(run.get("end_date")) or _parse(run.get("start_date")) or _parse(run.get("run_after"))
        point = points.get(run["dag_run_id"])
        if point is None:
            if at is None or (since is not None and at < since):
                continue
            point = points[run["dag_run_id"]] = RunPoint(run["dag_run_id"], at)
        point.state = run.get("state")
        point.duration_s = run.get("duration")
    ordered = sorted(points.values(), key=lambda p: p.at)[-runs:]
    # A reported run succeeded (the report is its last step); Airflow's state wins when known.
    last_success: datetime | None = None
    for point in ordered:
        if point.state in (None, RunState.SUCCESS) and (point.written is not None or point.state == RunState.SUCCESS):
            point.gap_s = (point.at - last_success).total_seconds() if last_success else None
            last_success = point.at
    series, count, age = backlog(conn, tenant, source, [p.at for p in ordered], now)
    for point, (n, a) in zip(ordered, series, strict=True):
        point.backlog, point.backlog_age_days = n, a
    return SourceHistory(
        tenant,
        source,
        dag_id,
        ordered,
        freshness(last_success, schedule_interval(cron, timezone, now), now),
        count,
        age,
    )
