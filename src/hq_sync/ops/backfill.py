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
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hq_sync.config import BACKFILL_KINDS, DAG_ID_PREFIX, TenantConfig, load_tenants
from hq_sync.ops.airflow_api import AirflowApi, AirflowApiError

FINISHED = {"success", "failed"}
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
            f"or run once per offer or file). Backfillable, from their sync_start_date: {choices}")
    raise argparse.ArgumentTypeError(f"{value!r} is not a source; backfillable: {choices}")


def resolve_range(tenant: TenantConfig, source: str, start: date | None, end: date | None) -> tuple[date, date]:
    cfg = tenant.source(source)
    if cfg is None:
        raise SystemExit(f"tenant {tenant.id} has no {source} source (include/tenants/{tenant.id}.yaml)")
    if source not in tenant.enabled_sources():
        raise SystemExit(f"tenant {tenant.id}: its {source} source (or the tenant) is disabled, so it has no DAG to "
                         f"backfill (include/tenants/{tenant.id}.yaml)")
    start = start or cfg.sync_start_date
    end = end or datetime.now(ZoneInfo(tenant.timezone)).date()
    if start < cfg.sync_start_date:
        print(f"note: {start} is before the sync start date {cfg.sync_start_date}; the runs read nothing before it")
    if end < start:
        raise SystemExit(f"--to {end} is before --from {start}")
    return start, end


def airflow_cli() -> str:
    """The ``airflow`` next to this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "airflow"
    return str(beside) if beside.exists() else (shutil.which("airflow") or "airflow")


def create_with_cli(dag_id: str, start: date, end: date, max_active_runs: int, reprocess: str, dry_run: bool) -> int:
    cmd = [airflow_cli(), "backfill", "create", "--dag-id", dag_id, "--from-date", start.isoformat(),
           "--to-date", end.isoformat(), "--max-active-runs", str(max_active_runs), "--reprocess-behavior", reprocess]
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
        time.sleep(2 * attempt)
    if dry_run or result.returncode != 0:
        lines = [line for line in output.splitlines() if line.strip() and "DeprecationWarning" not in line]
        print("\n".join(lines[-40:]))
    return result.returncode


def backfill_runs(api: AirflowApi, dag_id: str, backfill: dict[str, Any]) -> list[dict[str, Any]]:
    """The backfill runs of the DAG whose logical dates fall in the backfill's range."""
    start = backfill["from_date"][:10]
    end = (date.fromisoformat(backfill["to_date"][:10]) + timedelta(days=1)).isoformat()
    return [
        r for r in api.iter_backfill_runs(dag_id, backfill["id"])
        if r.get("logical_date") and start <= r["logical_date"][:10] < end
    ]


def progress_line(runs: list[dict[str, Any]]) -> str:
    states = Counter(r["state"] for r in runs)
    done = states["success"] + states["failed"]
    detail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    return f"{done}/{len(runs)} runs finished ({detail or 'no runs yet'})"


def wait_for(api: AirflowApi, dag_id: str, backfill_id: int, *, poll: float, timeout: float | None) -> int:
    started = time.monotonic()
    last = ""
    while True:
        backfill = api.backfill(backfill_id)
        runs = backfill_runs(api, dag_id, backfill)
        line = progress_line(runs)
        if line != last:
            print(f"[{datetime.now().strftime('%H:%M:%S')}] {line}", flush=True)
            last = line
        finished = runs and all(r["state"] in FINISHED for r in runs)
        if backfill.get("completed_at") and (finished or not runs):
            failed = [r for r in runs if r["state"] == "failed"]
            for run in failed:
                print(f"failed: {run['dag_run_id']} (logical date {run['logical_date']})")
            if failed:
                print("re-run the failed runs: python -m hq_sync.ops.rerun_failed (latest run only) or Grid → "
                      "the run → Clear → 'Only failed tasks'")
                return 1
            print(f"backfill {backfill_id} of {dag_id} done: {len(runs)} run(s) succeeded")
            return 0
        if timeout is not None and time.monotonic() - started > timeout:
            print(f"still running after {timeout:.0f}s; follow it in the UI (DAG → Backfills) or run this "
                  f"command again with --attach {backfill_id}")
            return 3
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hq_sync.ops.backfill",
        description="Backfill one tenant and source from its sync start date (or a range), then show progress.",
    )
    parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
    parser.add_argument("--source", required=True, type=_kind, metavar="{" + ",".join(BACKFILL_KINDS) + "}",
                        help="the source whose DAG to backfill (the DAG kinds read by date from a sync start date)")
    parser.add_argument("--from", dest="start", type=_date, help="first date (default: the sync start date)")
    parser.add_argument("--to", dest="end", type=_date, help="last date, inclusive (default: today in the tenant's zone)")
    parser.add_argument("--max-active-runs", type=int, default=1,
                        help="runs at once (default 1: respects the vendor's rate limit)")
    parser.add_argument("--reprocess-behavior", choices=("none", "failed", "completed"), default="none",
                        help="dates that already have a run: none (skip them, default), failed, completed")
    parser.add_argument("--dry-run", action="store_true", help="show the runs it would create; change nothing")
    parser.add_argument("--api", action="store_true", help="create via POST /api/v2/backfills instead of the airflow CLI")
    parser.add_argument("--no-wait", action="store_true", help="return once the backfill is created")
    parser.add_argument("--attach", type=int, metavar="BACKFILL_ID", help="only follow an existing backfill")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between progress checks (default 5)")
    parser.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds")
    parser.add_argument("--tenants-dir", type=Path, default=None, help="default: $HQ_SYNC_TENANTS_DIR or include/tenants")
    AirflowApi.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.max_active_runs < 1:
        parser.error("--max-active-runs must be at least 1")

    loaded = load_tenants(args.tenants_dir, only=args.tenant)
    if loaded.errors:
        print(loaded.errors[0].message(), file=sys.stderr)
        return 2
    if not loaded.tenants:
        print(f"no tenant file for {args.tenant!r} in {args.tenants_dir or 'the tenants directory'}", file=sys.stderr)
        return 2
    tenant = loaded.tenants[0]
    dag_id = tenant.dag_id(args.source)
    api = AirflowApi.from_args(args)

    try:
        if args.attach is not None:
            return wait_for(api, dag_id, args.attach, poll=args.poll, timeout=args.timeout)
        start, end = resolve_range(tenant, args.source, args.start, args.end)
        try:
            dag = api.dag(dag_id)
        except AirflowApiError as exc:
            if exc.status == 404:
                print(f"Airflow has no DAG {dag_id} (yet): is the tenant file deployed and parsed? "
                      "(airflow dags reserialize)", file=sys.stderr)
                return 2
            raise
        print(f"backfill {dag_id} from {start} to {end} (max {args.max_active_runs} run(s) at once, "
              f"reprocess: {args.reprocess_behavior})")
        if dag.get("is_paused"):
            if args.dry_run:
                print(f"would unpause {dag_id} (paused DAGs leave backfill runs queued)")
            else:
                api.set_paused(dag_id, False)
                print(f"unpaused {dag_id} (paused DAGs leave backfill runs queued)")

        if args.api:
            body = {"dag_id": dag_id, "from_date": f"{start}T00:00:00Z", "to_date": f"{end}T00:00:00Z",
                    "max_active_runs": args.max_active_runs, "reprocess_behavior": args.reprocess_behavior}
            if args.dry_run:
                result = api.post("/backfills/dry_run", body)
                for info in result.get("backfills", []):
                    print(f"  would run logical date {info.get('logical_date')}")
                return 0
            try:
                backfill_id = int(api.post("/backfills", body)["id"])
            except AirflowApiError as exc:
                print(f"could not create the backfill: {exc}", file=sys.stderr)
                return 2
        else:
            before = {b["id"] for b in api.backfills(dag_id)}
            code = create_with_cli(dag_id, start, end, args.max_active_runs, args.reprocess_behavior, args.dry_run)
            if args.dry_run:
                return code
            created = [b for b in api.backfills(dag_id) if b["id"] not in before]
            if code != 0 or not created:
                print("the backfill was not created (see the output above; 'No runs to create' means every date "
                      "in the range already has a run: use --reprocess-behavior failed or completed)", file=sys.stderr)
                return 2
            backfill_id = max(b["id"] for b in created)
        print(f"backfill {backfill_id} created; UI: DAG {dag_id} → Backfills")
        if args.no_wait:
            return 0
        return wait_for(api, dag_id, backfill_id, poll=args.poll, timeout=args.timeout)
    except AirflowApiError as exc:
        print(f"Airflow REST API error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
