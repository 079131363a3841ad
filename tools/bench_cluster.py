"""Measure the production shape natively (issue #11): what a task costs on CeleryExecutor.

    .venv/bin/python tools/bench_cluster.py [--concurrency 2] [--persons 8] [--entry-days 10]

Starts the cluster of ``tools/hq_sync_cluster.py`` (CeleryExecutor, Redis, PostgreSQL, api-server,
scheduler, dag-processor, triggerer, two Celery workers) on free ports with databases and a Redis db
of its own, loads a demo scenario of the given size into the sandboxes, unpauses every scheduled
demo tenant DAG at once and prints: the wall time until all runs finished, per step the task
instances' run time and their wait between "queued" and "started", tasks per minute, and each
component's memory (PSS) idle and at its peak during the runs. Stops and removes everything.
Needs PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

import hq_sync_cluster as hc  # noqa: E402


def pss_mb(session: int) -> float:
    total = 0
    for pid in hc.session_pids(session):
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):  # noqa: SIM115
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def empty_redis_db() -> int:
    import redis

    for db in random.sample(range(3, 16), 13):
        client = redis.Redis.from_url(f"{hc.REDIS_BASE}/{db}")
        if client.dbsize() == 0 and client.set("hq_sync_cluster_claim", "bench", nx=True, ex=3600):
            return db
    raise SystemExit("no empty Redis db (3–15)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    parser.add_argument("--persons", type=int, default=8, help="people per demo tenant")
    parser.add_argument("--entry-days", type=int, default=10, help="days of awork time entries")
    args = parser.parse_args()

    from sandboxes.scenario import load_scenario
    from sandboxes.scenarios.demo import demo_credentials, demo_scenario
    from sandboxes.testing import SandboxServers

    with tempfile.TemporaryDirectory(prefix="hq-sync-bench-cluster-") as tmp_name:
        tmp = Path(tmp_name)
        sandboxes = SandboxServers(tmp / "sandboxes").start()
        urls = {v: sandboxes.url(v) for v in ("hq", "awork", "personio")}
        load_scenario(demo_scenario(persons=args.persons, entry_days=args.entry_days), urls, reset=True)
        cluster = hc.Cluster(root=tmp / "airflow", api_port=hc.free_port(), name=f"hqs_b{uuid.uuid4().hex[:8]}",
                             redis_db=empty_redis_db(), connections=hc.demo_connections(urls, demo_credentials()),
                             worker_concurrency=args.concurrency)
        try:
            started = time.monotonic()
            cluster.prepare()
            cluster.start()
            dag_ids = [d for d in hc.demo_dag_ids() if not d.startswith("hq_offer_to_awork__")]
            cluster.wait_dags(set(dag_ids))
            ready = time.monotonic() - started
            time.sleep(10)
            idle = {name: pss_mb(p.pid) for name, p in cluster.processes.items()}
            peak: dict[str, float] = defaultdict(float)
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    for name, proc in list(cluster.processes.items()):
                        peak[name] = max(peak[name], pss_mb(proc.pid))
                    stop.wait(1.0)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            api = cluster.api()
            t0 = time.monotonic()
            for dag_id in dag_ids:
                api.set_paused(dag_id, False)
            runs = cluster.wait_for("the scheduled runs", lambda: (r := {d: api.dag_runs(d) for d in dag_ids})
                                    and all(r.values()) and {d: v[0]["dag_run_id"] for d, v in r.items()}, 120)
            states = cluster.wait_runs(runs, timeout=900)
            wall = time.monotonic() - t0
            stop.set()
            sampler.join()
            cluster.quiesce(hc.demo_dag_ids())
            tis = [ti for d, r in runs.items() for ti in api.task_instances(d, r)]
        finally:
            cluster.stop()
            cluster.drop_databases()
            cluster.flush_redis()
            sandboxes.stop()

    def ts(value: str) -> float:
        return datetime.fromisoformat(value).timestamp()

    by_step: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for ti in tis:
        by_step[ti["task_id"]].append((ts(ti["end_date"]) - ts(ti["start_date"]),
                                       ts(ti["start_date"]) - ts(ti["queued_when"])))
    print(f"cluster ready (migrate + start + parse) in {ready:.0f}s; {len(runs)} DAG runs, {len(tis)} task instances, "
          f"worker concurrency {args.concurrency} x 2, scenario {args.persons} persons, {args.entry_days} days of entries")
    print(f"runs: {dict(sorted(states.items()))}")
    print(f"all runs finished in {wall:.0f}s: {60 * len(tis) / wall:.1f} tasks per minute")
    print(f"{'step':<20} {'n':>3} {'run s median':>12} {'run s max':>9} {'queued→start s median':>22}")
    for step, values in sorted(by_step.items()):
        runs_s, waits = [v[0] for v in values], [v[1] for v in values]
        print(f"{step:<20} {len(values):>3} {statistics.median(runs_s):>12.1f} {max(runs_s):>9.1f} "
              f"{statistics.median(waits):>22.1f}")
    print(f"{'component':<14} {'idle PSS MB':>11} {'peak PSS MB':>11}")
    for name in idle:
        print(f"{name:<14} {idle[name]:>11.0f} {peak[name]:>11.0f}")
    print(f"{'total':<14} {sum(idle.values()):>11.0f} {sum(peak.values()):>11.0f}")
    return 0 if set(states.values()) == {"success"} else 1


if __name__ == "__main__":
    sys.exit(main())
