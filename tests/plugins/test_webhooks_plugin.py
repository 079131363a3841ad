"""The webhook receiver inside a real Airflow (issue #14): plugin, connection secret, asset → runs.

The shared ``airflow standalone`` of tests/ops/harness.py loads ``plugins/`` (with the receiver) and
has tenant ``echo`` whose Personio DAG is scheduled on its cron or its webhook asset (the factory's
``source_schedule``), its secret in connection ``personio_echo``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa

from tests.ops.harness import ECHO_SECRET
from tests.webhook_support import personio_envelope

DAG_ID = "personio_absences__echo"


def _runs(world, token: str) -> list[dict]:
    resp = requests.get(f"{world.url}/api/v2/dags/{DAG_ID}/dagRuns", headers={"Authorization": f"Bearer {token}"},
                        params={"limit": 100}, timeout=10)
    resp.raise_for_status()
    return resp.json()["dag_runs"]


def _inbox(world) -> list[dict]:
    engine = sa.create_engine(world.staging_url)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(
                "SELECT * FROM webhook_inbox WHERE tenant = 'echo' ORDER BY id")).mappings()]
    finally:
        engine.dispose()


@pytest.mark.serial  # a 3 s acknowledgement budget: alone on the cores
def test_a_burst_of_500_events_becomes_one_or_two_asset_triggered_runs(airflow_world):
    url = f"{airflow_world.url}/hq-sync-webhooks/echo/personio"
    refused = requests.post(url, json=personio_envelope("p-0"), headers={"Authorization": "hqsw_wrong"}, timeout=10)
    assert refused.status_code == 401
    assert requests.post(f"{airflow_world.url}/hq-sync-webhooks/acme/personio", json=personio_envelope("p-0"),
                         headers={"Authorization": ECHO_SECRET}, timeout=10).status_code == 401  # echo's secret, acme's URL
    assert _inbox(airflow_world) == []

    def deliver(i: int) -> tuple[int, float]:
        started = time.monotonic()
        resp = requests.post(url, json=personio_envelope(f"p-{i}", occurred_at=f"2026-11-27T10:{i // 60:02d}:{i % 60:02d}Z"),
                             headers={"Authorization": ECHO_SECRET}, timeout=10)
        return resp.status_code, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(deliver, range(500)))
    assert {status for status, _ in answers} == {200}
    assert max(seconds for _, seconds in answers) < 3.0, "Personio's acknowledgement budget"
    assert len(_inbox(airflow_world)) == 500

    token = airflow_world.token()

    def settled() -> bool:
        rows = _inbox(airflow_world)
        runs = _runs(airflow_world, token)
        return (all(r["forward_note"] == "asset event emitted" for r in rows) and runs
                and all(r["state"] in ("success", "failed") for r in runs))

    airflow_world.wait_for("the events to be forwarded and their runs to finish", settled, timeout=150)
    time.sleep(3)  # a run the last asset event queued would show up by now
    airflow_world.wait_for("no run to be active", settled, timeout=90)
    runs = _runs(airflow_world, token)
    assert 1 <= len(runs) <= 2, [(r["run_type"], r["run_after"]) for r in runs]
    assert {(r["run_type"], r["triggered_by"]) for r in runs} == {("asset_triggered", "asset")}
    assert {r["state"] for r in runs} == {"success"}
    events = requests.get(f"{airflow_world.url}/api/v2/dags/{DAG_ID}/dagRuns/{runs[0]['dag_run_id']}/upstreamAssetEvents",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["asset_events"]
    assert events and events[0]["uri"] == "hq-sync://webhooks/echo/personio"
    assert events[0]["extra"]["vendor"] == "personio" and events[0]["extra"]["events"] >= 1
