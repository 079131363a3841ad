"""Benchmark of the status page's data assembly and HTML render with many tenants (issue #7).

    .venv/bin/python tools/bench_status_page.py [--tenants 500] [--runs 30] [--repeat 5]

Seeds a temp dir with N tenant files (Personio + awork each), a staging SQLite with ``--runs``
reported runs per tenant and source (two entities each, so 4·N·runs summary rows) and open plus
resolved quarantine items, then times ``build_status`` (tenant files, staging queries, Airflow
data) and the JSON and HTML rendering. Airflow's REST API is replaced by an in-memory reader with
the same shape (one DAG and one latest run per tenant and source): the REST part is measured in
the real API server by the plugin tests; its request count is printed here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import yaml  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from hq_sync.ops.status import build_status, charts_data  # noqa: E402
from hq_sync.ops.status_html import render_charts, render_status  # noqa: E402
from hq_sync.staging import create_staging_engine, upgrade  # noqa: E402
from hq_sync.staging.schema import quarantine, run_summaries  # noqa: E402

REASONS = {"personio": ["unknown_email", "unmapped_type", "hour_unit_needs_hour_type"],
           "awork": ["unknown_email", "billed_conflict", "unknown_type_of_work"]}
ENTITIES = {"personio": ["absence", "absence_type"], "awork": ["time_entry", "task"]}
DAG = {"personio": "personio_absences", "awork": "awork_times"}


class FakeAirflow:
    def __init__(self, tenants: list[str], now: datetime) -> None:
        self.requests = 0
        self._dags = [{"dag_id": f"{DAG[s]}__{t}", "is_paused": False,
                       "next_dagrun_run_after": (now + timedelta(hours=1)).isoformat()} for t in tenants for s in DAG]
        rnd = random.Random(7)
        self._runs = {d["dag_id"]: {"dag_id": d["dag_id"], "dag_run_id": f"scheduled__{now:%Y-%m-%dT%H}",
                                    "state": rnd.choices(["success", "failed", "running"], [94, 4, 2])[0],
                                    "run_type": "scheduled", "run_after": now.isoformat(), "start_date": now.isoformat(),
                                    "end_date": now.isoformat(), "duration": rnd.uniform(20, 400)} for d in self._dags}

    def dags(self) -> list[dict[str, Any]]:
        self.requests += -(-len(self._dags) // 100)  # pages of 100
        return self._dags

    def dag_runs(self, dag_id: str, **params: Any) -> list[dict[str, Any]]:  # the charts page: one DAG's runs
        self.requests += 1
        return [self._runs[dag_id]]

    def latest_runs(self, dag_ids: list[str]) -> dict[str, dict[str, Any]]:
        self.requests += -(-len(dag_ids) // 100) + 1  # one batch request per page of DAGs found, plus the last
        return {d: self._runs[d] for d in dag_ids}


def seed(tmp: Path, n_tenants: int, n_runs: int, now: datetime) -> tuple[Path, str, list[str]]:
    tenants_dir = tmp / "tenants"
    tenants_dir.mkdir()
    tenants = [f"tenant-{i:04d}" for i in range(n_tenants)]
    for t in tenants:
        (tenants_dir / f"{t}.yaml").write_text(yaml.safe_dump({
            "id": t, "display_name": f"Agency {t}",
            "sources": {"personio": {"sync_start_date": "2025-01-01"}, "awork": {"sync_start_date": "2025-01-01"}},
        }))
    (tenants_dir / "broken.yaml").write_text("id: broken\nsources: {personio: {schedule: nope}}\n")
    url = f"sqlite:///{tmp / 'staging.sqlite'}"
    engine = create_staging_engine(url)
    upgrade(engine)
    rnd = random.Random(1)
    naive = now.replace(tzinfo=None)
    summaries, items = [], []
    for t in tenants:
        for source in DAG:
            for r in range(n_runs):
                at = naive - timedelta(hours=3 * r)
                for entity in ENTITIES[source]:
                    summaries.append({"tenant": t, "source": source, "dag_id": f"{DAG[source]}__{t}",
                                      "run_id": f"scheduled__{at:%Y-%m-%dT%H}", "entity": entity,
                                      "created": rnd.randint(0, 20), "updated": rnd.randint(0, 20), "deleted": rnd.randint(0, 3),
                                      "skipped": rnd.randint(0, 200), "quarantined": rnd.randint(0, 15),
                                      "conflicts": rnd.randint(0, 1), "details": {}, "recorded_at": at})
            for k in range(rnd.randint(0, 25)):  # open and resolved quarantine items
                first = naive - timedelta(hours=rnd.randint(1, 24 * 60))
                items.append({"tenant": t, "source": source, "entity": ENTITIES[source][0], "source_id": f"{source}-{k}",
                              "reason": rnd.choice(REASONS[source]), "detail": f"item {k} of {t}",
                              "context": {"email": f"p{k}@{t}.de"}, "first_seen_at": first, "last_seen_at": naive,
                              "last_run_id": None, "resolved_at": naive if k % 4 == 0 else None})
    with engine.begin() as conn:
        # Core inserts with naive UTC values (what UtcDateTime stores), in chunks.
        for table, rows in ((run_summaries, summaries), (quarantine, items)):
            for i in range(0, len(rows), 5000):
                conn.execute(insert(table), [
                    {k: (v.replace(tzinfo=UTC) if isinstance(v, datetime) else v) for k, v in row.items()} for row in rows[i:i + 5000]
                ])
    engine.dispose()
    return tenants_dir, url, tenants, len(summaries), len(items)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("HQ_SYNC_LAST_VALID_DIR", str(Path(tmp) / "last-valid"))  # copies of valid tenant files
        t0 = time.perf_counter()
        tenants_dir, url, tenants, n_summaries, n_items = seed(Path(tmp), args.tenants, args.runs, now)  # type: ignore[misc]
        print(f"seeded {len(tenants)} tenants (+1 broken file), {n_summaries} run_summaries rows, "
              f"{n_items} quarantine rows in {time.perf_counter() - t0:.1f}s")
        engine = create_staging_engine(url)
        rows: dict[str, list[float]] = {}
        for i in range(args.repeat):
            airflow = FakeAirflow(tenants, now)
            t = time.perf_counter()
            report = build_status(engine, airflow, tenants_dir=tenants_dir, now=now)
            t_build = time.perf_counter() - t
            t = time.perf_counter()
            body = json.dumps(report.as_dict())
            t_json = time.perf_counter() - t
            t = time.perf_counter()
            html = render_status(report, base="/hq-sync")
            t_html = time.perf_counter() - t
            t = time.perf_counter()  # issue 15: one tenant's charts page (both sources, last --runs runs)
            middle = tenants[len(tenants) // 2]
            data = charts_data(engine, airflow, middle, runs=args.runs, now=now, tenants_dir=tenants_dir)
            charts_html = render_charts(data["histories"], tenant=middle, display_name=data["display_name"],
                                        runs=args.runs, days=None, base="/hq-sync")
            t_charts = time.perf_counter() - t
            for key, value in {**{f"  {k}": v / 1000 for k, v in report.timings_ms.items()},
                               "build_status (total)": t_build, "JSON encode": t_json, "HTML render": t_html,
                               "assembly + HTML": t_build + t_html, "charts page (1 tenant)": t_charts}.items():
                rows.setdefault(key, []).append(value * 1000)
        print(f"{len(report.sources())} tenant DAGs, {report.totals()['open_quarantine']} open quarantine items; "
              f"HTML {len(html) / 1024:.0f} KiB, JSON {len(body) / 1024:.0f} KiB, charts page {len(charts_html) / 1024:.0f} KiB; "
              f"Airflow REST requests for this size: ~{airflow.requests}")
        print(f"{'step':<24}{'median ms':>12}{'min ms':>10}{'max ms':>10}   ({args.repeat} runs; first run includes cold caches)")
        for key, values in rows.items():
            print(f"{key:<24}{statistics.median(values):>12.1f}{min(values):>10.1f}{max(values):>10.1f}")
        engine.dispose()


if __name__ == "__main__":
    main()
