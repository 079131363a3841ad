"""The sync status of every tenant and source (product.md D4, issue #7).

Assembled from three places, none of them Airflow's metadata database:

- the tenant files (``load_tenants``): which tenant has which source, and which files are broken;
- the staging database: the last reported run's counts (``run_summaries``), the open quarantine
  grouped by reason (``quarantine``), conflicts (``run_summaries.conflicts`` and quarantine reason
  ``billed_conflict``);
- Airflow's REST API: each DAG's last run (state, time, duration), next run, paused flag.

``build_status`` returns a ``StatusReport`` (``as_dict()`` is the JSON endpoint's body);
``hq_sync.ops.status_html`` renders it. Both are used by ``plugins/hq_sync_status_plugin.py``.
A failing Airflow API does not hide the staging data: the report carries the error instead.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from hq_sync.config import SOURCES, TenantFileError, dag_id_for, load_tenants
from hq_sync.ops.airflow_api import RunState
from hq_sync.ops.history import FreshnessState
from hq_sync.staging.reasons import QuarantineOutcome, outcome_of, reason_info
from hq_sync.staging.run_control import NoteKind
from hq_sync.staging.states import COUNT_FIELDS, Outcome
from hq_sync.staging.status_queries import (
    last_reports,
    open_quarantine_by_reason,
    open_quarantine_items,
    reported_sources,
)
from hq_sync.timeutil import parse_timestamp

log = logging.getLogger(__name__)

CONFLICT_REASONS = ("billed_conflict",)
CONFIG_ERROR_PREFIX = "tenant_config_error"  # as hq_sync.airflow.dag_factory (not imported: no Airflow SDK here)


class AirflowReader(Protocol):
    """What the status needs from Airflow (``hq_sync.ops.airflow_api.AirflowApi`` provides it)."""

    def dags(self) -> list[dict[str, Any]]: ...

    def latest_runs(self, dag_ids: list[str]) -> dict[str, dict[str, Any]]: ...


@dataclass
class QuarantineGroup:
    reason: str
    count: int
    oldest: datetime
    newest: datetime
    age_days: float  # of the oldest open item
    # held_back (not in HQ) or written_with_warning (in HQ, a note): hq_sync.staging.reasons
    outcome: str = QuarantineOutcome.HELD_BACK.value


@dataclass
class LastRun:
    run_id: str
    state: str
    run_type: str | None
    run_after: str | None
    start_date: str | None
    end_date: str | None
    duration_s: float | None
    grid_url: str


NOTE_LABELS: dict[str, str] = {
    NoteKind.RETRY: "up for retry",
    NoteKind.FAILED: "failed",
    NoteKind.LOCK: "waiting for the run lock",
}


@dataclass
class RunNoteInfo:
    """Why the last run does not move or failed (issue 15; ``hq_sync.staging.run_control``)."""

    kind: str  # a NoteKind
    task_id: str
    reason: str
    since: datetime
    try_number: int | None = None
    max_tries: int | None = None
    retry_at: datetime | None = None  # retry: the earliest next try

    @property
    def label(self) -> str:
        return NOTE_LABELS.get(self.kind, self.kind)


# A note belongs to the run while the run is in one of these states (else it is history).
NOTE_RUN_STATES = {
    NoteKind.RETRY: (RunState.RUNNING,),
    NoteKind.LOCK: (RunState.RUNNING, RunState.QUEUED),
    NoteKind.FAILED: (RunState.FAILED,),
}


@dataclass
class SourceStatus:
    tenant: str
    source: str
    dag_id: str
    in_airflow: bool = False
    paused: bool | None = None
    last_run: LastRun | None = None
    next_run: str | None = None
    # Counts of the last run that reported (the report step); a failed run has none of its own.
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_FIELDS, 0))
    counts_run_id: str | None = None
    counts_recorded_at: datetime | None = None
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    quarantine: list[QuarantineGroup] = field(default_factory=list)
    open_quarantine: int = 0  # every open item: held_back + written_with_warning
    open_conflicts: int = 0  # open quarantine items with a conflict reason (billed_conflict)
    run_note: RunNoteInfo | None = None  # the last run's: up for retry and why, waiting for the lock, failed why
    held_back: int = 0  # open items whose record is not in HQ (released once the cause is fixed)
    written_with_warning: int = 0  # open items whose record was written to HQ, with a warning
    # Time since the last successful run against the schedule (hq_sync.ops.history.Freshness.as_dict).
    freshness: dict[str, Any] | None = None

    @property
    def counts_are_of_last_run(self) -> bool:
        return self.last_run is None or self.counts_run_id == self.last_run.run_id

    @property
    def needs_attention(self) -> bool:
        failed = self.last_run is not None and self.last_run.state == RunState.FAILED
        retrying = self.run_note is not None and self.run_note.kind == NoteKind.RETRY
        late = self.freshness is not None and self.freshness["state"] == FreshnessState.LATE
        return failed or retrying or late or self.held_back > 0 or self.counts[Outcome.CONFLICTS] > 0


@dataclass
class ConfigError:
    file: str
    tenant_hint: str
    dag_id: str
    problems: list[dict[str, str]]
    # The tenant still syncs on its last valid configuration, stored at this time (None: it does not).
    last_valid_from: datetime | None = None


@dataclass
class TenantStatus:
    id: str
    display_name: str
    sources: list[SourceStatus]
    config_error: ConfigError | None = None  # its file is broken (the rows keep its last data)


@dataclass
class StatusReport:
    generated_at: datetime
    tenants: list[TenantStatus]
    config_errors: list[ConfigError]
    airflow_error: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    def sources(self) -> list[SourceStatus]:
        return [s for t in self.tenants for s in t.sources]

    def totals(self) -> dict[str, int]:
        sources = self.sources()
        return {
            "tenants": len(self.tenants),
            "dags": len(sources),
            "failed_last_run": sum(1 for s in sources if s.last_run and s.last_run.state == RunState.FAILED),
            "running": sum(
                1 for s in sources if s.last_run and s.last_run.state in (RunState.RUNNING, RunState.QUEUED)
            ),
            "up_for_retry": sum(1 for s in sources if s.run_note and s.run_note.kind == NoteKind.RETRY),
            "open_quarantine": sum(s.open_quarantine for s in sources),
            "held_back": sum(s.held_back for s in sources),
            "late": sum(1 for s in sources if s.freshness and s.freshness["state"] == FreshnessState.LATE),
            "written_with_warning": sum(s.written_with_warning for s in sources),
            "conflicts_last_run": sum(s.counts[Outcome.CONFLICTS] for s in sources),
            "open_conflicts": sum(s.open_conflicts for s in sources),
            "config_errors": len(self.config_errors),
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON endpoint's body (times as ISO 8601 UTC)."""

        def source(s: SourceStatus) -> dict[str, Any]:
            d = asdict(s)
            d["counts_recorded_at"] = _iso(s.counts_recorded_at)
            d["counts_are_of_last_run"] = s.counts_are_of_last_run
            d["quarantine"] = [{**asdict(g), "oldest": _iso(g.oldest), "newest": _iso(g.newest)} for g in s.quarantine]
            if s.run_note is not None:
                d["run_note"] = {
                    **asdict(s.run_note),
                    "label": s.run_note.label,
                    "since": _iso(s.run_note.since),
                    "retry_at": _iso(s.run_note.retry_at),
                }
            return d

        return {
            "generated_at": _iso(self.generated_at),
            "totals": self.totals(),
            "airflow_error": self.airflow_error,
            "config_errors": [_config_error(e) for e in self.config_errors],
            "tenants": [
                {
                    "id": t.id,
                    "display_name": t.display_name,
                    "sources": [source(s) for s in t.sources],
                    "config_error": _config_error(t.config_error) if t.config_error else None,
                }
                for t in self.tenants
            ],
        }


def _config_error(error: ConfigError) -> dict[str, Any]:
    return {**asdict(error), "last_valid_from": _iso(error.last_valid_from)}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


# -- staging --------------------------------------------------------------------------------------
def last_summaries(conn: Connection) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (tenant, source): the run that reported last, with its counts per entity and in total."""
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for key, reports in last_reports(conn).items():
        entry: dict[str, Any] = {
            "run_id": reports[0].run_id,
            "recorded_at": max(r.recorded_at for r in reports),
            "totals": dict.fromkeys(COUNT_FIELDS, 0),
            "entities": {},
        }
        for report in reports:
            counts = {f: report.counts[Outcome(f)] for f in COUNT_FIELDS}
            entry["entities"][report.entity] = {**counts, "details": report.details}
            for f in COUNT_FIELDS:
                entry["totals"][f] += counts[f]
        result[key] = entry
    return result


def quarantine_groups(conn: Connection, now: datetime) -> dict[tuple[str, str], list[QuarantineGroup]]:
    """Open quarantine items per (tenant, source), grouped by reason: count, oldest, newest."""
    result: dict[tuple[str, str], list[QuarantineGroup]] = {}
    for row in open_quarantine_by_reason(conn):
        result.setdefault((row.tenant, row.source), []).append(
            QuarantineGroup(
                row.reason,
                row.count,
                row.oldest,
                row.newest,
                round((now - row.oldest).total_seconds() / 86400, 1),
                outcome_of(row.reason).value,
            )
        )
    for groups in result.values():
        groups.sort(key=lambda g: (g.outcome != QuarantineOutcome.HELD_BACK, -g.count, g.reason))
    return result


def quarantine_items(
    conn: Connection, tenant: str, source: str | None = None, reason: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """The open quarantine records behind a group (oldest first): who, what, why, since when."""
    items = []
    for row in open_quarantine_items(conn, tenant, source, reason, limit):
        context = row.context
        who = context.get("email") or context.get("person_id") or context.get("hq_user_id")
        items.append(
            {
                "id": row.id,
                "tenant": row.tenant,
                "source": row.source,
                "entity": row.entity,
                "source_id": row.source_id,
                "reason": row.reason,
                "outcome": outcome_of(row.reason).value,
                "who": str(who) if who is not None else None,
                "detail": row.detail,
                "context": context,
                "since": _iso(row.first_seen_at),
                "last_seen": _iso(row.last_seen_at),
                "last_run_id": row.last_run_id,
            }
        )
    return items


def last_run_notes(engine: Engine, runs: dict[str, dict[str, Any]]) -> dict[str, RunNoteInfo]:
    """Per DAG id: the note of its last run, while it applies (up for retry / waiting: the run is
    running; failed: the run failed)."""
    from hq_sync.staging.run_control import notes_for_runs

    if not runs:
        return {}
    try:
        with engine.connect() as conn:
            found = notes_for_runs(conn, [(dag_id, run["dag_run_id"]) for dag_id, run in runs.items()])
    except Exception as exc:  # noqa: BLE001 - e.g. a staging schema before migration 0009: no notes
        log.warning("run notes could not be read: %s", exc)
        return {}
    result = {}
    for (dag_id, _run_id), note in found.items():
        if runs[dag_id].get("state") in NOTE_RUN_STATES.get(note.kind, ()):
            result[dag_id] = RunNoteInfo(
                note.kind.value, note.task_id, note.reason, note.since, note.try_number, note.max_tries, note.retry_at
            )
    return result


ENTITY_NOUNS = {
    "time_entry": "entries",
    "reporting": "entries",
    "absence_period": "absences",
    "absence": "absences",
    "task": "tasks",
    "phase": "phases",
    "project": "projects",
    "timesheet_row": "rows",
}


@dataclass
class Cause:
    """Open quarantine items that one fix releases (e.g. one missing HQ user's time entries)."""

    value: str | None  # the cause (an e-mail, an absence type ...); None: the reason as a whole
    count: int
    hours: float  # summed over items that carry hours (time entries, timesheet rows)
    oldest: str | None
    items: list[dict[str, Any]]


@dataclass
class CauseGroup:
    """All open items of one source, entity and reason, grouped by what fixes them."""

    source: str
    entity: str
    reason: str
    outcome: str
    count: int
    hours: float
    sentence: str  # "Create the HQ users a@… and b@… to release 853 entries, 1,240 h"
    causes: list[Cause]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _listing(values: list[str], most: int = 5) -> str:
    if len(values) > most:
        return ", ".join(values[:most]) + f" and {len(values) - most} more"
    return ", ".join(values[:-1]) + (" and " if len(values) > 1 else "") + values[-1] if values else ""


def _amount(n: int, noun: str, hours: float) -> str:
    text = f"{n:,} {noun}"
    return text + (f", {hours:,.0f} h" if hours >= 10 else f", {hours:,.1f} h" if hours else "")


def quarantine_causes(
    conn: Connection, tenant: str, source: str | None = None, reason: str | None = None, limit: int = 20000
) -> list[CauseGroup]:
    """The open quarantine of a tenant grouped by what fixes it (``hq_sync.staging.reasons``):
    per source, entity and reason, the causes (e.g. the e-mails of missing HQ users) with their
    item counts and hours, biggest first, and the sentence a person acts on."""
    items = quarantine_items(conn, tenant, source, reason, limit=limit)
    groups: dict[tuple[str, str, str], dict[str | None, list[dict[str, Any]]]] = {}
    for item in items:
        info = reason_info(item["reason"])
        value = next(
            (str(item["context"][k]) for k in info.cause_keys if item["context"].get(k) not in (None, "")), None
        )
        groups.setdefault((item["source"], item["entity"], item["reason"]), {}).setdefault(value, []).append(item)

    def hours(rows: list[dict[str, Any]]) -> float:
        total = 0.0
        for row in rows:
            try:
                total += float(row["context"].get("hours") or 0)
            except (TypeError, ValueError):
                pass
        return round(total, 2)

    result = []
    for (src, entity, code), by_cause in groups.items():
        info = reason_info(code)
        causes = sorted(
            (Cause(value, len(rows), hours(rows), rows[0]["since"], rows) for value, rows in by_cause.items()),
            key=lambda c: (-c.count, c.value or ""),
        )
        n, h = sum(c.count for c in causes), round(sum(c.hours for c in causes), 2)
        named = [c.value for c in causes if c.value is not None]
        fix = (
            info.fix.format(causes=_listing(named))
            if named or "{causes}" not in info.fix
            else info.fix.replace(" {causes}", "")
        )
        noun = ENTITY_NOUNS.get(entity, "records")
        if info.outcome is QuarantineOutcome.HELD_BACK:
            sentence = f"{fix[:1].upper()}{fix[1:]} to release {_amount(n, noun, h)}"
        else:
            sentence = f"{_amount(n, noun, h)} written to HQ with a warning; to clear it: {fix}"
        result.append(CauseGroup(src, entity, code, info.outcome.value, n, h, sentence, causes))
    result.sort(key=lambda g: (g.outcome != QuarantineOutcome.HELD_BACK, -g.count, g.reason))
    return result


# -- Airflow --------------------------------------------------------------------------------------
def _last_run(run: dict[str, Any], ui_base: str) -> LastRun:
    from urllib.parse import quote

    return LastRun(
        run_id=run["dag_run_id"],
        state=run["state"],
        run_type=run.get("run_type"),
        run_after=run.get("run_after"),
        start_date=run.get("start_date"),
        end_date=run.get("end_date"),
        duration_s=run.get("duration"),
        grid_url=f"{ui_base}/dags/{quote(run['dag_id'], safe='')}/runs/{quote(run['dag_run_id'], safe='')}",
    )


# -- assembly -------------------------------------------------------------------------------------
def _read_airflow(
    airflow: AirflowReader | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], str | None]:
    """The DAGs (by id) and their latest runs from Airflow's REST API, and why they are missing."""
    if airflow is None:
        return {}, {}, "Airflow REST API not queried"
    dags: dict[str, dict[str, Any]] = {}
    try:
        dags = {d["dag_id"]: d for d in airflow.dags()}
        return dags, airflow.latest_runs(sorted(dags)), None
    except Exception as exc:  # noqa: BLE001 - the page shows staging data and the reason
        log.warning("Airflow REST API failed for the status page: %s", exc)
        return dags, {}, f"{type(exc).__name__}: {exc}"


def _config_error_of(error: TenantFileError, last_valid_from: datetime | None = None) -> ConfigError:
    """A broken tenant file as the page shows it (``last_valid_from``: its last valid copy's time)."""
    import re

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", error.path.stem)
    return ConfigError(
        file=error.path.name,
        tenant_hint=error.tenant_hint,
        dag_id=f"{CONFIG_ERROR_PREFIX}__{safe}",
        problems=[{"field": p.field, "reason": p.reason} for p in error.problems],
        last_valid_from=last_valid_from,
    )


def _with_airflow(
    status: SourceStatus, dag: dict[str, Any] | None, run: dict[str, Any] | None, note: RunNoteInfo | None, ui_base: str
) -> None:
    """Fill in what Airflow says of the source's DAG: paused, next run, last run (and its note)."""
    if dag is not None:
        status.in_airflow = True
        status.paused = bool(dag.get("is_paused"))
        status.next_run = None if status.paused else dag.get("next_dagrun_run_after")
    if run is not None:
        status.last_run = _last_run(run, ui_base)
        status.run_note = note


def _with_staging(status: SourceStatus, summary: dict[str, Any] | None, groups: list[QuarantineGroup]) -> None:
    """Fill in what staging says of the source: the last reported counts and the open quarantine."""
    if summary is not None:
        status.counts = summary["totals"]
        status.counts_run_id = summary["run_id"]
        status.counts_recorded_at = summary["recorded_at"]
        status.entities = summary["entities"]
    status.quarantine = groups
    status.open_quarantine = sum(g.count for g in groups)
    status.open_conflicts = sum(g.count for g in groups if g.reason in CONFLICT_REASONS)
    status.held_back = sum(g.count for g in groups if g.outcome == QuarantineOutcome.HELD_BACK)
    status.written_with_warning = status.open_quarantine - status.held_back


def build_status(
    engine: Engine,
    airflow: AirflowReader | None,
    *,
    tenants_dir: Path | None = None,
    ui_base: str = "",
    now: datetime | None = None,
) -> StatusReport:
    """The whole status: tenant files + staging + (when given) Airflow's REST API."""
    import time

    now = now or datetime.now(UTC)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    loaded = load_tenants(tenants_dir, last_valid=True)
    timings["tenant_files"] = (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    with engine.connect() as conn:
        summaries = last_summaries(conn)
        groups = quarantine_groups(conn, now)
    timings["staging"] = (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    dags, runs, airflow_error = _read_airflow(airflow)
    timings["airflow_api"] = (time.perf_counter() - t0) * 1000
    notes = last_run_notes(engine, runs)

    errors = [_config_error_of(e) for e in loaded.errors]
    errors += [_config_error_of(st.error, st.saved_at) for st in loaded.stale.values()]
    errors.sort(key=lambda e: e.file)
    by_tenant = {e.tenant_hint: e for e in errors}
    # A broken file without a last valid copy keeps its tenant in the table: its last data from staging.
    names = {t.id: t.display_name for t in loaded.tenants}
    staged: dict[str, list[str]] = {}
    for tenant_id, source in {*summaries, *groups}:
        if tenant_id in by_tenant and tenant_id not in names and source in SOURCES:
            staged.setdefault(tenant_id, []).append(source)
    configs = {t.id: t for t in loaded.tenants}
    rows = [(t.id, t.display_name, [s for s in SOURCES if s in t.enabled_sources()]) for t in loaded.tenants]
    rows += [(tid, tid, sorted(srcs, key=SOURCES.index)) for tid, srcs in staged.items()]

    tenants = []
    for tenant_id, display_name, enabled in sorted(rows):
        sources = []
        for source in enabled:
            dag_id = dag_id_for(source, tenant_id)
            status = SourceStatus(tenant=tenant_id, source=source, dag_id=dag_id)
            _with_airflow(status, dags.get(dag_id), runs.get(dag_id), notes.get(dag_id), ui_base)
            _with_staging(status, summaries.get((tenant_id, source)), groups.get((tenant_id, source), []))
            status.freshness = _freshness(status, configs.get(tenant_id), now)
            sources.append(status)
        tenants.append(TenantStatus(tenant_id, display_name, sources, by_tenant.get(tenant_id)))
    return StatusReport(now, tenants, errors, airflow_error, timings)


def charts_data(
    engine: Engine,
    airflow: Any,
    tenant_id: str,
    source: str | None = None,
    *,
    runs: int = 30,
    days: float | None = None,
    now: datetime | None = None,
    tenants_dir: Path | None = None,
) -> dict[str, Any]:
    """The charts of one tenant (or one source): ``histories`` (``hq_sync.ops.history.SourceHistory``
    per source), ``display_name`` and ``config_note`` (a broken file: the error and how it syncs)."""
    from hq_sync.ops.history import source_history

    now = now or datetime.now(UTC)
    loaded = load_tenants(tenants_dir, only=tenant_id, last_valid=True)
    config = loaded.tenants[0] if loaded.tenants else None
    note = None
    if tenant_id in loaded.stale:
        stale = loaded.stale[tenant_id]
        note = f"{stale.error.message()} — {stale.note()}"
    elif loaded.errors:
        note = f"{loaded.errors[0].message()} — not syncing: no last valid configuration"
    with engine.connect() as conn:
        if config is not None:
            sources = [s for s in SOURCES if s in config.enabled_sources()]
        else:  # unknown or broken without a copy: the sources staging has data of
            reported = reported_sources(conn, tenant_id)
            sources = [s for s in SOURCES if s in reported]
        histories = []
        for src in sources:
            if source and src != source:
                continue
            dag_id = dag_id_for(src, tenant_id)
            airflow_runs, error = None, None
            if airflow is not None:
                try:
                    airflow_runs = airflow.dag_runs(dag_id, order_by="-run_after", limit=min(runs, 100))
                except Exception as exc:  # noqa: BLE001 - charts without durations, and the reason
                    error = f"{type(exc).__name__}: {exc}"[:300]
            history = source_history(
                conn,
                tenant_id,
                src,
                dag_id,
                cron=source_cron(config, src),
                timezone=config.timezone if config else "UTC",
                airflow_runs=airflow_runs,
                runs=runs,
                days=days,
                now=now,
            )
            history.airflow_error = error
            histories.append(history)
    return {"histories": histories, "display_name": config.display_name if config else tenant_id, "config_note": note}


def source_cron(tenant: Any, source: str) -> str | None:
    """The cron a tenant source's DAG runs on (None: not on a schedule, e.g. timesheets)."""
    cfg = tenant.source(source) if tenant is not None else None
    return getattr(cfg, "effective_schedule", None) or getattr(cfg, "schedule", None)


def _freshness(status: SourceStatus, tenant: Any, now: datetime) -> dict[str, Any]:
    from hq_sync.ops.history import freshness, schedule_interval

    last = status.counts_recorded_at  # a run that reported succeeded (the report is its last step)
    run = status.last_run
    ended = parse_timestamp(run.end_date) if run is not None and run.state == RunState.SUCCESS else None
    if ended is not None:
        last = max(last, ended) if last else ended
    interval = schedule_interval(source_cron(tenant, status.source), tenant.timezone, now) if tenant else None
    return freshness(last, interval, now).as_dict()


def known_sources() -> tuple[str, ...]:
    return SOURCES
