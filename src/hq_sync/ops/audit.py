"""Run the drift audit of one tenant now, outside Airflow (product.md F2, docs/audit.md).

    python -m hq_sync.ops.audit --tenant muster-agentur [--month 2026-03] [--csv out.csv] [--xlsx out.xlsx]

Same comparison as the daily ``audit__<tenant>`` DAG: reads the tenant file, the tenant's Airflow
connections (or ``AIRFLOW_CONN_*`` variables) and the staging database, stores the result (it
shows on the Sync status page), prints the totals and the unexplained differences.
Exit code: 0 no unexplained difference, 1 drift found, 2 the audit could not run.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hq_sync.audit.model import Explanation


def cli_connection(conn_id: str) -> Any:
    """An Airflow connection for a command run outside a task: environment variables and secrets
    backends (the Task SDK's lookup), else Airflow's metadata database (where ``airflow
    connections add`` and the UI keep them). None when it is defined nowhere."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        pass
    from airflow.models.connection import Connection

    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:  # airflow.exceptions re-exports the SDK's class
        return None


def _uri(conn: Any) -> str | None:
    return conn.get_uri() if conn is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hq_sync.ops.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="tenant id (include/tenants/<id>.yaml)")
    parser.add_argument("--month", help="audit only this month (YYYY-MM); default: the whole audit window")
    parser.add_argument("--csv", type=Path, help="also write the differences as CSV (';', decimal comma) to this file")
    parser.add_argument("--xlsx", type=Path, help="also write the whole result as an Excel workbook to this file")
    parser.add_argument("--show", type=int, default=20, help="how many unexplained differences to print (default 20)")
    args = parser.parse_args(argv)

    from hq_sync.airflow.hooks import STAGING_CONN_ID, ConnectionClients
    from hq_sync.airflow.tasks import TenantConfigInvalid, load_tenant
    from hq_sync.audit.report import DIFF_HEADERS, audit_run, frames, to_csv, to_xlsx
    from hq_sync.errors import NotRetryable
    from hq_sync.pipelines import RunContext
    from hq_sync.pipelines.audit import run_audit
    from hq_sync.staging import create_staging_engine, ensure_schema, resolve_staging_url

    try:
        tenant = load_tenant(args.tenant)
    except TenantConfigInvalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    staging = create_staging_engine(resolve_staging_url(_uri(cli_connection(STAGING_CONN_ID))))
    ensure_schema(staging)
    run_id = f"cli__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}"
    ctx = RunContext(
        tenant=tenant,
        source="audit",
        dag_id=tenant.dag_id("audit"),
        run_id=run_id,
        data_interval_start=None,
        data_interval_end=None,
        staging=staging,
        clients=ConnectionClients(tenant, staging, get_connection=cli_connection),
    )
    try:
        audit_id, result, reads, window = run_audit(ctx, args.month)
    except NotRetryable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"audit of {tenant.id} ({window.start} … {window.end}), run {run_id}: {result.status.value}")
    for read in reads:
        print(f"  {read.source}: read from {read.mode} ({read.why}); {read.records} records, {read.requests} requests")
    for kind, total in result.totals.items():
        print(
            f"  {kind}: source {total['source']:g} {total['unit']}, HQ {total['hq']:g} {total['unit']}; "
            f"{total['explained']} explained, {total['unexplained']} unexplained difference(s) "
            f"{total['by_explanation']}"
        )
    unexplained = result.differences[result.differences["explanation"] == Explanation.UNEXPLAINED.value]
    for detail in list(dict.fromkeys(unexplained["detail"]))[: args.show]:
        print(f"  ! {detail}")
    with staging.connect() as conn:
        run = audit_run(conn, tenant.id, audit_id)
        cells, diffs = frames(conn, audit_id)
    if args.csv:
        args.csv.write_bytes(to_csv(diffs, DIFF_HEADERS))
        print(f"differences written to {args.csv}")
    if args.xlsx and run is not None:
        args.xlsx.write_bytes(to_xlsx(run, cells, diffs))
        print(f"workbook written to {args.xlsx}")
    return 1 if result.unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
