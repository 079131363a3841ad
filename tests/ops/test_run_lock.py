"""Issue 15: scheduled, manual and backfill runs of one tenant DAG never overlap (a real Airflow).

A probe DAG wired like the factory's source DAGs (``dag_factory.with_run_lock``: the
``acquire_run_lock`` sensor, the steps, the ``release_run_lock`` teardown) whose one step records
when it ran. Unpausing it starts a scheduled run; a manual run and a backfill of two days with two
runs at once start at the same moment: four runs want to run together, the run lock lets one at a
time through, and the waiting ones say why (their run note names the run holding the lock). A
stale lock (its run is gone: a killed worker) is taken over.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hq_sync.ops.airflow_api import AirflowApiError

from tests.ops.harness import World

PROBE = "run_lock_probe"
PROBE_FILE = '''
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from hq_sync.airflow.dag_factory import with_run_lock


def work(**context):
    import json, os, time

    started = time.time()
    time.sleep(1)
    os.makedirs(os.environ["HQ_SYNC_DATA_DIR"], exist_ok=True)
    with open(os.path.join(os.environ["HQ_SYNC_DATA_DIR"], "run_lock_probe.jsonl"), "a") as out:
        out.write(json.dumps({"run_id": context["dag_run"].run_id, "start": started, "end": time.time()}) + "\\n")


with DAG(dag_id="run_lock_probe", schedule="0 1 * * *", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, max_active_runs=1, default_args={"retries": 2, "retry_delay": timedelta(seconds=2)}, tags=["lock-probe"]) as dag:
    with_run_lock(dag, "probe", "probe", [PythonOperator(task_id="work", python_callable=work)], poke_interval=1)
'''


def retrying(call):
    """An SQLite metadata database answers "database is locked" (500/503) while the scheduler writes."""
    for attempt in range(10):
        try:
            return call()
        except AirflowApiError as exc:
            if exc.status not in (500, 503) or attempt == 9:
                raise
            time.sleep(1)


def test_scheduled_manual_and_backfill_runs_never_overlap(airflow_world: World) -> None:
    (airflow_world.root / "dags" / "run_lock_probe.py").write_text(PROBE_FILE)
    api = airflow_world.api()
    airflow_world.wait_for("the probe DAG to be parsed", lambda: api.dag(PROBE), timeout=60)
    record = airflow_world.root / "data" / "run_lock_probe.jsonl"

    engine = sa.create_engine(airflow_world.staging_url)
    # A lock left behind by a run whose worker was killed before the teardown (the run is gone):
    # stale, so the first run takes it over instead of waiting forever.
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO run_locks (tenant, source, dag_id, run_id, run_type, holder, acquired_at) "
                             "VALUES ('probe', 'probe', :d, 'manual__killed', 'manual', 'gone:1', :t)"),
                     {"d": PROBE, "t": datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)})
    today = datetime.now(UTC).date()
    backfill = {"dag_id": PROBE, "from_date": f"{today - timedelta(days=4)}T00:00:00Z",
                "to_date": f"{today - timedelta(days=3)}T23:00:00Z", "max_active_runs": 2, "reprocess_behavior": "none"}
    retrying(lambda: api.post("/backfills", backfill))
    retrying(lambda: api.set_paused(PROBE, False))  # catchup off: the latest interval's scheduled run starts now
    retrying(lambda: api.trigger(PROBE))

    lock_notes: set[str] = set()

    def all_done() -> bool:
        with engine.connect() as conn:
            lock_notes.update(r.reason for r in conn.execute(sa.text(
                "SELECT reason FROM run_notes WHERE dag_id = :d AND kind = 'lock'"), {"d": PROBE}))
        runs = api.dag_runs(PROBE)
        return len(runs) >= 4 and all(r["state"] in ("success", "failed") for r in runs)

    try:
        airflow_world.wait_for("the probe's four runs", all_done, timeout=90, interval=2)
        runs = api.dag_runs(PROBE)
        assert {r["run_type"] for r in runs} == {"scheduled", "manual", "backfill"}
        assert all(r["state"] == "success" for r in runs), [(r["dag_run_id"], r["state"], r.get("end_date")) for r in runs]
        worked = sorted((json.loads(line) for line in record.read_text().splitlines()), key=lambda w: w["start"])
        assert {w["run_id"] for w in worked} == {r["dag_run_id"] for r in runs}
        for before, after in zip(worked, worked[1:]):
            assert before["end"] <= after["start"], f"{before['run_id']} and {after['run_id']} overlapped"
        # While they waited, the waiting runs said why: which run holds the lock.
        assert any("waits for the run lock of probe/probe: held by" in n for n in lock_notes), lock_notes
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM run_locks WHERE tenant = 'probe'")).scalar() == 0
        logs = airflow_world.root / "airflow-home" / "logs" / f"dag_id={PROBE}"
        taken = [p for p in logs.rglob("task_id=acquire_run_lock/*.log") if "taken over from manual run manual__killed"
                 in p.read_text(errors="replace")]
        assert len(taken) == 1, "the stale lock was taken over once"
    finally:
        api.set_paused(PROBE, True)
        engine.dispose()
