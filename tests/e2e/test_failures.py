"""Issue 15: errors a retry cannot fix fail the run at once (and alert); transient ones keep their
retries; either way the run's note says why (the Sync status page shows it). dag.test() against the
sandboxes, with the tasks' real retries (a short delay)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from tests.e2e import test_awork_times as awork_e2e
from tests.e2e import test_personio_absences as personio_e2e
from tests.e2e.conftest import TENANT, World


def run_with_retries(world: World, source: str, retries: int = 2) -> tuple[Any, dict[str, int], list[Any]]:
    """One dag.test() run whose tasks keep ``retries`` (1 s apart); (run, try number per task,
    the DAG failure callback's calls: the alert)."""
    from hq_sync.airflow.dag_factory import build_dags
    from hq_sync.config import dag_id_for

    dag = build_dags()[dag_id_for(source, TENANT)]
    alerts: list[Any] = []
    dag.on_failure_callback = lambda context: alerts.append(context)
    dag.has_on_failure_callback = True  # computed when the DAG is built
    for task in dag.tasks:
        task.retries = retries
        task.retry_delay = timedelta(seconds=1)
        task.retry_exponential_backoff = 0
    dag_run = dag.test()
    tries = {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()}
    return dag_run, tries, alerts


def note(world: World, run_id: str) -> dict[str, Any] | None:
    engine = sa.create_engine(world.staging_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT * FROM run_notes WHERE run_id = :r"), {"r": run_id}).mappings().first()
            return dict(row) if row else None
    finally:
        engine.dispose()


def set_connection(monkeypatch: Any, conn_id: str, **changes: Any) -> None:
    import os

    key = f"AIRFLOW_CONN_{conn_id.upper()}"
    body = json.loads(os.environ[key])
    body.update(changes)
    monkeypatch.setenv(key, json.dumps(body))


def test_a_wrong_personio_secret_fails_at_once_with_the_reason(world, monkeypatch):
    personio_e2e.seed(world)
    set_connection(monkeypatch, "personio_acme", password="not-the-secret")
    dag_run, tries, alerts = run_with_retries(world, "personio")
    assert dag_run.state == "failed"
    assert tries["extract"] == 1  # not retried: no "up for retry" for a quarter of an hour
    assert len(alerts) == 1  # the DAG's failure callback (the alert) fired
    n = note(world, dag_run.run_id)
    assert n is not None and n["kind"] == "failed" and n["task_id"] == "extract"
    assert n["reason"].startswith("credentials refused: Personio rejected the client credentials")
    assert "not-the-secret" not in n["reason"]


def test_a_wrong_awork_key_and_hq_token_fail_at_once(world, monkeypatch):
    awork_e2e.seed(world)
    set_connection(monkeypatch, "awork_acme", password="wrong-awork-key")
    dag_run, tries, _ = run_with_retries(world, "awork")
    assert dag_run.state == "failed" and tries["extract"] == 1
    assert note(world, dag_run.run_id)["reason"].startswith("credentials refused: awork GET")

    set_connection(monkeypatch, "awork_acme", password=awork_e2e.AWORK_KEY)
    set_connection(monkeypatch, "hq_acme", password="wrong-hq-token")
    dag_run, tries, _ = run_with_retries(world, "awork")
    assert dag_run.state == "failed"
    failed = note(world, dag_run.run_id)
    assert failed["kind"] == "failed" and failed["reason"].startswith("credentials refused: hq GET")
    assert tries[failed["task_id"]] == 1


def test_a_missing_connection_is_a_config_error_and_fails_at_once(world, monkeypatch):
    personio_e2e.seed(world)
    monkeypatch.delenv("AIRFLOW_CONN_PERSONIO_ACME")
    dag_run, tries, _ = run_with_retries(world, "personio")
    assert dag_run.state == "failed" and tries["extract"] == 1
    assert note(world, dag_run.run_id)["reason"].startswith("configuration error: Airflow connection 'personio_acme'")


def test_a_network_blip_is_retried_and_the_run_succeeds(world):
    awork_e2e.seed(world)
    # Every attempt of the client's own retries is dropped once: the task fails as transient, Airflow
    # retries it, and the next try finds the network back.
    world.sandboxes.admin("awork").add_fault(path="^/api/v1/users", method="GET", mode="drop", count=6)
    dag_run, tries, alerts = run_with_retries(world, "awork")
    assert dag_run.state == "success", tries
    assert max(tries.values()) == 2 and alerts == []
    assert note(world, dag_run.run_id) is None  # the retry that got going cleared "up for retry"
