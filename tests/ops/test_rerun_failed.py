"""``python -m hq_sync.ops.rerun_failed`` against a real Airflow: one failed and one healthy tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hq_sync.ops.rerun_failed import parse_since
from tests.ops.harness import World

ACME, BETA = "personio_absences__acme", "personio_absences__beta"


def _finished(world: World, dag_id: str, run_id: str) -> str | None:
    [run] = [r for r in world.api().dag_runs(dag_id, limit=100) if r["dag_run_id"] == run_id]
    return run["state"] if run["state"] in ("success", "failed") else None


def test_only_the_failed_tenant_is_cleared_and_then_succeeds(airflow_world: World) -> None:
    api = airflow_world.api()
    acme = api.trigger(ACME)["dag_run_id"]
    beta = api.trigger(BETA)["dag_run_id"]
    assert airflow_world.wait_for("acme's run", lambda: _finished(airflow_world, ACME, acme), timeout=90) == "success"
    assert airflow_world.wait_for("beta's run", lambda: _finished(airflow_world, BETA, beta), timeout=90) == "failed"
    beta_tis = {ti["task_id"]: ti for ti in api.task_instances(BETA, beta)}
    assert beta_tis["load"]["state"] == "failed" and beta_tis["report"]["state"] == "upstream_failed"
    acme_before = {ti["task_id"]: (ti["try_number"], ti["end_date"]) for ti in api.task_instances(ACME, acme)}

    # Dry run: names beta's run and its tasks, changes nothing; the broken tenant file is pointed out.
    dry = airflow_world.ops("rerun_failed", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would clear {BETA} run {beta}: load, report" in dry.stdout
    assert ACME not in dry.stdout
    assert "skip  tenant_config_error__gamma" in dry.stdout
    assert _finished(airflow_world, BETA, beta) == "failed"

    # --since after the failure: nothing in the window.
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    later = airflow_world.ops("rerun_failed", "--since", future)
    assert later.returncode == 0 and "older than --since" in later.stdout and "nothing to do" in later.stdout

    # Fix the cause (the missing connection), then re-run the failed tenants.
    airflow_world.airflow("connections", "add", "hq_beta", "--conn-type", "http", "--conn-host", "http://127.0.0.1:9/v1")
    rerun = airflow_world.ops("rerun_failed", "--since", "1h")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"cleared {BETA} run {beta}: load, report" in rerun.stdout
    assert "1 tenant DAG run(s) cleared" in rerun.stdout
    assert airflow_world.wait_for("beta's cleared run", lambda: _finished(airflow_world, BETA, beta), timeout=90) == "success"
    beta_after = {ti["task_id"]: ti for ti in api.task_instances(BETA, beta)}
    assert beta_after["extract"]["try_number"] == 1  # only the failed tasks ran again
    assert beta_after["load"]["try_number"] == 2 and beta_after["report"]["state"] == "success"

    # The healthy tenant was not touched: same run, same task tries and end dates, no new run.
    acme_after = {ti["task_id"]: (ti["try_number"], ti["end_date"]) for ti in api.task_instances(ACME, acme)}
    assert acme_after == acme_before
    assert api.latest_runs([ACME])[ACME]["dag_run_id"] == acme

    # Nothing failed any more: a second call does nothing.
    again = airflow_world.ops("rerun_failed")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_without_credentials_it_says_what_to_pass(airflow_world: World) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in airflow_world.env.items() if not k.startswith("HQ_SYNC_AIRFLOW")}
    result = subprocess.run([sys.executable, "-m", "hq_sync.ops.rerun_failed", "--airflow-url", airflow_world.url],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--username and --password" in result.stderr


@pytest.mark.parametrize(("value", "expected"), [
    ("2d", datetime(2026, 11, 25, 12, tzinfo=UTC)),
    ("12h", datetime(2026, 11, 27, 0, tzinfo=UTC)),
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
    ("2026-11-20T10:00:00+01:00", datetime(2026, 11, 20, 9, tzinfo=UTC)),
])
def test_since_accepts_durations_and_dates(value: str, expected: datetime) -> None:
    assert parse_since(value, now=datetime(2026, 11, 27, 12, tzinfo=UTC)) == expected
