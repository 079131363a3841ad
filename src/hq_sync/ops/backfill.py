"""Guided backfill of one tenant and source (product.md D2).

    python -m hq_sync.ops.backfill --tenant acme --source personio [--from 2026-01-01] [--to 2026-11-27]
        [--max-active-runs 1] [--reprocess-behavior none|failed|completed] [--dry-run] [--no-wait] [--api]

1. Reads the tenant file: the DAG id and, unless ``--from`` is given, the source's
   ``sync_start_date``; ``--to`` defaults to today in the tenant's time zone. ``--source`` is one
   of ``BACKFILL_KINDS`` (the sources read by date); other DAG kinds are refused with the reason.
2. Checks the DAG over Airflow's REST API and **unpauses** it if it is paused (a paused DAG leaves
   backfill runs queued forever); ``--dry-run`` only says so.
3. Creates the backfill with ``airflow backfill create`` (the Airflow CLI of this machine, which
   needs the deployment's Airflow configuration), or with ``POST /api/v2/backfills`` (``--api``,
   from anywhere the REST API is reachable). ``--max-active-runs`` defaults to 1: the vendors'
   rate limits are per tenant, and the source pools share them with the scheduled runs.
4. Shows progress until every run of the backfill is done (polling the REST API), then exits 0 if
   all succeeded, 1 if any failed (re-run those with ``python -m hq_sync.ops.rerun_failed`` or the
   Grid), 2 on a usage or API error.

Backfills are idempotent (docs/runbook.md): a second backfill of the same range writes nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time as clock
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hq_sync.config import BACKFILL_KINDS, DAG_ID_PREFIX, TenantConfig, load_tenants
from hq_sync.config.tenants import SourceBase
from hq_sync.ops.airflow_api import AirflowApi, AirflowApiError, RunState, TaskState
from hq_sync.staging.run_control import NoteKind
from hq_sync.timeutil import parse_timestamp

FINISHED = {RunState.SUCCESS, RunState.FAILED}
LOCKED_RETRIES = 4


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def _kind(value: str) -> str:
    """A ``--source`` a backfill can replay (``BACKFILL_KINDS``); else a usage error that says why."""
    if value in BACKFILL_KINDS:
        return value
    choices = ", ".join(BACKFILL_KINDS)
    if value in DAG_ID_PREFIX:
        raise argparse.ArgumentTypeError(
            f"{value!r} DAGs cannot be backfilled: they have no date range to replay (they read the current state, "
            f"or run once per offer or file). Backfillable, from their sync_start_date: {choices}"
        )
    raise argparse.ArgumentTypeError(f"{value!r} is not a source; backfillable: {choices}")


def resolve_range(tenant: TenantConfig, source: str, start: date | None, end: date | None) -> tuple[date, date]:
    cfg = tenant.source(source)
    if cfg is None:
        raise SystemExit(f"tenant {tenant.id} has no {source} source (include/tenants/{tenant.id}.yaml)")
    if not isinstance(cfg, SourceBase):
        raise SystemExit(f"{source!r} DAGs cannot be backfilled: they have no date range to replay")
    if source not in tenant.enabled_sources():
        raise SystemExit(
            f"tenant {tenant.id}: its {source} source (or the tenant) is disabled, so it has no DAG to "
            f"backfill (include/tenants/{tenant.id}.yaml)"
        )
    start = start or cfg.sync_start_date
    end = end or datetime.now(ZoneInfo(tenant.timezone)).date()
    if start < cfg.sync_start_date:
        print(f"note: {start} is before the sync start date {cfg.sync_start_date}; the runs read nothing before it")
    if end < start:
        raise SystemExit(f"--to {end} is before --from {start}")
    return start, end


def window(tenant: TenantConfig, start: date, end: date) -> tuple[datetime, datetime]:
    """The logical dates a backfill of the days ``start`` … ``end`` (both inclusive, in the
    tenant's time zone) covers: from ``start`` 00:00 to ``end`` 23:59:59 local time. Airflow
    includes both bounds; a run whose data interval has not ended yet is left to the schedule."""
    tz = ZoneInfo(tenant.timezone)
    first = datetime.combine(start, time.min, tz)
    last = datetime.combine(end + timedelta(days=1), time.min, tz) - timedelta(seconds=1)
    return first, last


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def airflow_cli() -> str:
    """The ``airflow`` next to this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "airflow"
    return str(beside) if beside.exists() else (shutil.which("airflow") or "airflow")


def create_with_cli(
    dag_id: str, start: datetime, end: datetime, max_active_runs: int, reprocess: str, dry_run: bool
) -> int:
    cmd = [
        airflow_cli(),
        "backfill",
        "create",
        "--dag-id",
        dag_id,
        "--from-date",
        _iso(start),
        "--to-date",
        _iso(end),
        "--max-active-runs",
        str(max_active_runs),
        "--reprocess-behavior",
        reprocess,
    ]
    if dry_run:
        cmd.append("--dry-run")
    print("$ airflow " + " ".join(cmd[1:]), flush=True)
    for attempt in range(1, LOCKED_RETRIES + 1):
        result = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
        output = (result.stdout + result.stderr).strip()
        # SQLite metadata databases (laptop, demo) refuse a writer while the scheduler writes: the
        # CLI's transaction was rolled back, so trying again is safe.
        if result.returncode == 0 or "database is locked" not in output or attempt == LOCKED_RETRIES:
            break
        print(f"Airflow's metadata database was locked; trying again ({attempt}/{LOCKED_RETRIES - 1})", flush=True)
        clock.sleep(2 * attempt)
    if dry_run or result.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip() and "DeprecationWarning" not in line]
        print("\n".join(lines[-40:]))
    return result.returncode


def _moment(value: str) -> datetime:
    moment = parse_timestamp(value)
    if moment is None:
        raise ValueError(f"no time stamp: {value!r}")
    return moment


def backfill_runs(api: AirflowApi, dag_id: str, backfill: dict[str, Any]) -> list[dict[str, Any]]:
    """The backfill runs of the DAG whose logical dates fall in the backfill's range (both ends in)."""
    start, end = _moment(backfill["from_date"]), _moment(backfill["to_date"])
    return [
        r
        for r in api.iter_backfill_runs(dag_id, backfill["id"])
        if r.get("logical_date") and start <= _moment(r["logical_date"]) <= end
    ]


def running_backfill(api: AirflowApi, dag_id: str) -> dict[str, Any] | None:
    """The DAG's backfill that is not completed yet, if any (Airflow allows one at a time)."""
    return next((b for b in api.backfills(dag_id) if not b.get("completed_at")), None)


def waiting_reasons(api: AirflowApi, dag_id: str, runs: list[dict[str, Any]], notes: Any = None) -> dict[str, str]:
    """Why each running run of the backfill does not move, by run id: a task up for retry (and
    why it failed), or waiting for the run lock (and which run holds it). ``notes(dag_id, run_id)``
    gives the run's note from the staging database when it is reachable (the reason), else None."""
    reasons: dict[str, str] = {}
    for run in runs:
        if run["state"] not in (RunState.RUNNING, RunState.QUEUED):
            continue
        if run["state"] == RunState.QUEUED:
            reasons[run["dag_run_id"]] = "queued: waits for a free run slot of the backfill (--max-active-runs)"
            continue
        tis = {ti["task_id"]: ti for ti in api.task_instances(dag_id, run["dag_run_id"])}
        note = notes(dag_id, run["dag_run_id"]) if notes else None
        retrying = [t for t, ti in tis.items() if ti.get("state") == TaskState.UP_FOR_RETRY]
        if retrying:
            ti = tis[retrying[0]]
            why = f": {note.reason}" if note is not None and note.kind == NoteKind.RETRY else ""
            when = (
                f", next try not before {note.retry_at:%H:%M:%S} UTC"
                if note is not None and note.kind == NoteKind.RETRY and note.retry_at
                else ""
            )
            reasons[run["dag_run_id"]] = f"{retrying[0]} is up for retry (try {ti.get('try_number')} failed{why}){when}"
        elif (tis.get("acquire_run_lock") or {}).get("state") == TaskState.UP_FOR_RESCHEDULE:
            why = (
                note.reason
                if note is not None and note.kind == NoteKind.LOCK
                else ("waits for the run lock: another run of this tenant and source is running")
            )
            reasons[run["dag_run_id"]] = why
    return reasons


def staging_notes() -> Any:
    """``notes(dag_id, run_id)`` reading run notes from the staging database, or None when it is
    not reachable from here (the reasons then come from Airflow's task states only)."""
    try:
        from sqlalchemy.engine import make_url

        from hq_sync.staging import create_staging_engine, resolve_staging_url
        from hq_sync.staging.run_control import run_note

        url = resolve_staging_url()
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).exists()):
            return None  # no staging database here: do not create one
        engine = create_staging_engine(url)
        with engine.connect() as conn:
            run_note(conn, "", "")
    except Exception:  # noqa: BLE001 - optional: e.g. run from a laptop against a remote Airflow
        return None

    def notes(dag_id: str, run_id: str) -> Any:
        try:
            with engine.connect() as conn:
                return run_note(conn, dag_id, run_id)
        except Exception:  # noqa: BLE001
            return None

    return notes


def progress_line(runs: list[dict[str, Any]]) -> str:
    states = Counter(r["state"] for r in runs)
    done = states[RunState.SUCCESS] + states[RunState.FAILED]
    detail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    return f"{done}/{len(runs)} runs finished ({detail or 'no runs yet'})"


def wait_for(api: AirflowApi, dag_id: str, backfill_id: int, *, poll: float, timeout: float | None) -> int:
    started = clock.monotonic()
    last = ""
    said: dict[str, str] = {}
    notes = staging_notes()
    while True:
        backfill = api.backfill(backfill_id)
        runs = backfill_runs(api, dag_id, backfill)
        line = progress_line(runs)
        if line != last:
            print(f"[{datetime.now().strftime('%H:%M:%S')}] {line}", flush=True)
            last = line
        for run_id, reason in waiting_reasons(api, dag_id, runs, notes).items():
            if said.get(run_id) != reason:
                print(f"[{datetime.now().strftime('%H:%M:%S')}]   {run_id} waits: {reason}", flush=True)
                said[run_id] = reason
        finished = runs and all(r["state"] in FINISHED for r in runs)
        if backfill.get("completed_at") and (finished or not runs):
            failed = [r for r in runs if r["state"] == RunState.FAILED]
            for run in failed:
                print(f"failed: {run['dag_run_id']} (logical date {run['logical_date']})")
            if failed:
                print(
                    "re-run the failed runs: python -m hq_sync.ops.rerun_failed (latest run only) or Grid → "
                    "the run → Clear → 'Only failed tasks'"
                )
                return 1
            print(f"backfill {backfill_id} of {dag_id} done: {len(runs)} run(s) succeeded")
            return 0
        if timeout is not None and clock.monotonic() - started > timeout:
            print(
                f"still running after {timeout:.0f}s; follow it in the UI (DAG → Backfills) or run this "
                f"command again with --attach {backfill_id}"
            )
            return 3
        clock.sleep(poll)


class _Stop(Exception):
    """Ends the command early with this exit code (what went wrong is printed before)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hq_sync.ops.backfill",
        description="Backfill one tenant and source from its sync start date (or a range), then show progress.",
    )
    parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
    parser.add_argument(
        "--source",
        required=True,
        type=_kind,
        metavar="{" + ",".join(BACKFILL_KINDS) + "}",
        help="the source whose DAG to backfill (the DAG kinds read by date from a sync start date)",
    )
    parser.add_argument(
        "--from", dest="start", type=_date, help="first day, in the tenant's time zone (default: the sync start date)"
    )
    parser.add_argument(
        "--to", dest="end", type=_date, help="last day, inclusive, in the tenant's time zone (default: today there)"
    )
    parser.add_argument(
        "--max-active-runs", type=int, default=1, help="runs at once (default 1: respects the vendor's rate limit)"
    )
    parser.add_argument(
        "--reprocess-behavior",
        choices=("none", "failed", "completed"),
        default="none",
        help="dates that already have a run: none (skip them, default), failed, completed",
    )
    parser.add_argument("--dry-run", action="store_true", help="show the runs it would create; change nothing")
    parser.add_argument(
        "--api", action="store_true", help="create via POST /api/v2/backfills instead of the airflow CLI"
    )
    parser.add_argument("--no-wait", action="store_true", help="return once the backfill is created")
    parser.add_argument("--attach", type=int, metavar="BACKFILL_ID", help="only follow an existing backfill")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between progress checks (default 5)")
    parser.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds")
    parser.add_argument(
        "--tenants-dir", type=Path, default=None, help="default: $HQ_SYNC_TENANTS_DIR or include/tenants"
    )
    AirflowApi.add_arguments(parser)
    return parser


def _tenant(args: argparse.Namespace) -> TenantConfig:
    """The tenant of ``--tenant`` from its file; a broken or missing file stops the command (2)."""
    loaded = load_tenants(args.tenants_dir, only=args.tenant)
    if loaded.errors:
        print(loaded.errors[0].message(), file=sys.stderr)
        raise _Stop(2)
    if not loaded.tenants:
        print(f"no tenant file for {args.tenant!r} in {args.tenants_dir or 'the tenants directory'}", file=sys.stderr)
        raise _Stop(2)
    return loaded.tenants[0]


def _dag(api: AirflowApi, dag_id: str) -> dict[str, Any]:
    """The DAG from the REST API; a DAG Airflow does not know stops the command (2)."""
    try:
        return api.dag(dag_id)
    except AirflowApiError as exc:
        if exc.status == 404:
            print(
                f"Airflow has no DAG {dag_id} (yet): is the tenant file deployed and parsed? "
                "(airflow dags reserialize)",
                file=sys.stderr,
            )
            raise _Stop(2) from exc
        raise


def _refuse_overlap(api: AirflowApi, dag_id: str) -> None:
    """Stop (2) while another backfill of the DAG is running: two would overlap."""
    running = running_backfill(api, dag_id)
    if running is not None:
        print(
            f"a backfill of {dag_id} is still running (id {running['id']}, {running['from_date']} … "
            f"{running['to_date']}); two would overlap. Follow it with --attach {running['id']}, or wait "
            "until it is done (DAG → Backfills)",
            file=sys.stderr,
        )
        raise _Stop(2)


def _unpause(api: AirflowApi, dag_id: str, dag: dict[str, Any], dry_run: bool) -> None:
    if dag.get("is_paused"):
        if dry_run:
            print(f"would unpause {dag_id} (paused DAGs leave backfill runs queued)")
        else:
            api.set_paused(dag_id, False)
            print(f"unpaused {dag_id} (paused DAGs leave backfill runs queued)")


def _create_via_api(api: AirflowApi, args: argparse.Namespace, dag_id: str, first: datetime, last: datetime) -> int:
    """``POST /backfills`` (``--dry-run``: list the runs and stop with 0); the new backfill's id."""
    body = {
        "dag_id": dag_id,
        "from_date": _iso(first),
        "to_date": _iso(last),
        "max_active_runs": args.max_active_runs,
        "reprocess_behavior": args.reprocess_behavior,
    }
    if args.dry_run:
        result = api.post("/backfills/dry_run", body)
        for info in result.get("backfills", []):
            print(f"  would run logical date {info.get('logical_date')}")
        raise _Stop(0)
    try:
        return int(api.post("/backfills", body)["id"])
    except AirflowApiError as exc:
        print(f"could not create the backfill: {exc}", file=sys.stderr)
        raise _Stop(2) from exc


def _create_via_cli(api: AirflowApi, args: argparse.Namespace, dag_id: str, first: datetime, last: datetime) -> int:
    """``airflow backfill create`` (``--dry-run``: stop with its exit code); the new backfill's id."""
    before = {b["id"] for b in api.backfills(dag_id)}
    code = create_with_cli(dag_id, first, last, args.max_active_runs, args.reprocess_behavior, args.dry_run)
    if args.dry_run:
        raise _Stop(code)
    created = [b for b in api.backfills(dag_id) if b["id"] not in before]
    if code != 0 and created:  # e.g. "database is locked" after the CLI had committed it
        print(f"(the airflow CLI failed after creating backfill {max(b['id'] for b in created)}; following it)")
    if not created:
        print(
            "the backfill was not created (see the output above; 'No runs to create' means every date "
            "in the range already has a run: use --reprocess-behavior failed or completed)",
            file=sys.stderr,
        )
        raise _Stop(2)
    return int(max(b["id"] for b in created))


def _start(api: AirflowApi, args: argparse.Namespace, tenant: TenantConfig, dag_id: str) -> int:
    """Check the range and the DAG, unpause it, create the backfill; its id."""
    start, end = resolve_range(tenant, args.source, args.start, args.end)
    dag = _dag(api, dag_id)
    first, last = window(tenant, start, end)
    print(
        f"backfill {dag_id} from {start} to {end}, both inclusive, in the tenant's time zone {tenant.timezone} "
        f"(logical dates {_iso(first)} … {_iso(last)}; max {args.max_active_runs} run(s) at once, "
        f"reprocess: {args.reprocess_behavior})"
    )
    _refuse_overlap(api, dag_id)
    _unpause(api, dag_id, dag, args.dry_run)
    create = _create_via_api if args.api else _create_via_cli
    return create(api, args, dag_id, first, last)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.max_active_runs < 1:
        parser.error("--max-active-runs must be at least 1")
    try:
        tenant = _tenant(args)
        dag_id = tenant.dag_id(args.source)
        api = AirflowApi.from_args(args)
        if args.attach is not None:
            return wait_for(api, dag_id, args.attach, poll=args.poll, timeout=args.timeout)
        backfill_id = _start(api, args, tenant, dag_id)
        print(f"backfill {backfill_id} created; UI: DAG {dag_id} → Backfills")
        if args.no_wait:
            return 0
        return wait_for(api, dag_id, backfill_id, poll=args.poll, timeout=args.timeout)
    except _Stop as stop:
        return stop.code
    except AirflowApiError as exc:
        print(f"Airflow REST API error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
