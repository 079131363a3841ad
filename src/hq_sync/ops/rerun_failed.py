"""Re-run the failed tenants without touching the healthy ones (product.md D3).

    python -m hq_sync.ops.rerun_failed [--dry-run] [--since 2d|2026-11-27] [--tenant T ...] [--source S]

Finds the tenant DAGs (``personio_absences__<t>``, ``awork_times__<t>``) whose **latest** run
failed (``GET /api/v2/dags?tags=hq-sync&last_dag_run_state=failed``), and clears that run's failed
and upstream-failed tasks (``POST /api/v2/dags/{dag}/clearTaskInstances`` with ``only_failed``),
so the run continues from where it broke, exactly like Grid → Clear → "Only failed tasks". A DAG
whose latest run succeeded, or is still running, is left alone, even if an older run failed.

``--since`` skips failed runs older than that (by ``run_after``): a duration (``30m``, ``12h``,
``2d``) or a date/time (``2026-11-27``, ISO 8601, UTC when no zone). ``tenant_config_error__*``
DAGs are never cleared (a broken file fails again): they are listed with the advice to fix the file.

Exit code: 0 when nothing failed or everything found was cleared, 1 when a clear failed.
Auth and URL: see ``hq_sync.ops.airflow_api`` (``--airflow-url``, ``--token`` or
``--username``/``--password``, or the ``HQ_SYNC_AIRFLOW_*`` environment).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hq_sync.config import DAG_ID_PREFIX
from hq_sync.ops.airflow_api import AirflowApi, AirflowApiError, RunState
from hq_sync.timeutil import parse_timestamp

CONFIG_ERROR_PREFIX = "tenant_config_error__"


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``30m`` / ``12h`` / ``2d`` / ``1w`` ago, or an ISO date/time (UTC when naive)."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        return (
            now
            - {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[
                unit
            ]
        )
    try:
        parsed = parse_timestamp(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise argparse.ArgumentTypeError(f"--since {value!r}: use e.g. 12h, 2d or 2026-11-27")
    return parsed


def tenant_source(dag_id: str) -> tuple[str, str] | None:
    for source, prefix in DAG_ID_PREFIX.items():
        if dag_id.startswith(prefix + "__"):
            return dag_id.removeprefix(prefix + "__"), source
    return None


@dataclass
class Plan:
    to_clear: list[dict[str, Any]] = field(default_factory=list)  # {dag_id, run_id, run_after, tasks}
    too_old: list[dict[str, Any]] = field(default_factory=list)
    config_errors: list[str] = field(default_factory=list)


def find_failed(
    api: AirflowApi, *, since: datetime | None = None, tenants: list[str] | None = None, source: str | None = None
) -> Plan:
    """The tenant DAGs whose latest run failed, with that run and the tasks that would be cleared."""
    plan = Plan()
    failed_dags = api.dags(last_dag_run_state=RunState.FAILED.value)
    wanted: list[str] = []
    for dag in failed_dags:
        dag_id = dag["dag_id"]
        if dag_id.startswith(CONFIG_ERROR_PREFIX):
            plan.config_errors.append(dag_id)
            continue
        owner = tenant_source(dag_id)
        if owner is None:
            continue
        if tenants and owner[0] not in tenants:
            continue
        if source and owner[1] != source:
            continue
        wanted.append(dag_id)
    latest = api.latest_runs(wanted)
    for dag_id in wanted:
        run = latest.get(dag_id)
        if run is None or run["state"] != RunState.FAILED:  # changed since the DAG list was read
            continue
        entry = {"dag_id": dag_id, "run_id": run["dag_run_id"], "run_after": run.get("run_after")}
        run_after = parse_timestamp(run.get("run_after"))
        if since is not None and run_after is not None and run_after < since:
            plan.too_old.append(entry)
            continue
        plan.to_clear.append(entry)
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hq_sync.ops.rerun_failed",
        description="Clear the failed tasks of every tenant DAG whose latest run failed (D3); healthy "
        "tenants are left alone.",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be cleared, change nothing")
    parser.add_argument(
        "--since",
        type=parse_since,
        default=None,
        help="only runs since then: 12h, 2d, 1w or a date/time such as 2026-11-27",
    )
    parser.add_argument("--tenant", action="append", help="only this tenant (repeatable)")
    parser.add_argument("--source", choices=sorted(DAG_ID_PREFIX), help="only this source")
    AirflowApi.add_arguments(parser)
    args = parser.parse_args(argv)
    api = AirflowApi.from_args(args)

    plan = find_failed(api, since=args.since, tenants=args.tenant, source=args.source)
    for dag_id in plan.config_errors:
        print(
            f"skip  {dag_id}: a tenant file is broken; "
            f"fix include/tenants/{dag_id.removeprefix(CONFIG_ERROR_PREFIX)}.* "
            "(the DAG's description names field and reason), not a re-run"
        )
    for entry in plan.too_old:
        print(f"skip  {entry['dag_id']} run {entry['run_id']} (run_after {entry['run_after']}): older than --since")
    if not plan.to_clear:
        print("no tenant DAG has a failed latest run" + (" in that window" if args.since else "") + ": nothing to do")
        return 0

    errors = 0
    verb = "would clear" if args.dry_run else "cleared"
    for entry in plan.to_clear:
        try:
            tis = api.clear_failed(entry["dag_id"], entry["run_id"], dry_run=args.dry_run)
        except AirflowApiError as exc:
            errors += 1
            print(f"ERROR {entry['dag_id']} run {entry['run_id']}: {exc}", file=sys.stderr)
            continue
        tasks = ", ".join(sorted({ti["task_id"] for ti in tis})) or "no task (already cleared?)"
        print(f"{verb} {entry['dag_id']} run {entry['run_id']}: {tasks}")
    done = len(plan.to_clear) - errors
    print(
        f"{'dry run: ' if args.dry_run else ''}{done} tenant DAG run(s) {verb}"
        + (f", {errors} failed" if errors else "")
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
