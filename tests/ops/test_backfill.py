"""``python -m hq_sync.ops.backfill`` against a real Airflow: paused DAG, CLI backfill, progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.ops.harness import World

DELTA = "awork_times__delta"


def test_backfill_unpauses_creates_and_follows_to_the_end(airflow_world: World) -> None:
    api = airflow_world.api()
    assert api.dag(DELTA)["is_paused"] is True
    today = datetime.now(UTC).date()
    start, end = (today - timedelta(days=4)).isoformat(), (today - timedelta(days=3)).isoformat()

    dry = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--from", start, "--to", end, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"would unpause {DELTA}" in dry.stdout and "Runs to be attempted" in dry.stdout
    assert api.dag(DELTA)["is_paused"] is True and api.backfills(DELTA) == []

    result = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--from", start, "--to", end,
                               "--poll", "1", "--timeout", "150")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"unpaused {DELTA}" in out
    assert f"$ airflow backfill create --dag-id {DELTA} --from-date {start} --to-date {end} --max-active-runs 1" in out
    assert "runs finished" in out and "run(s) succeeded" in out
    assert api.dag(DELTA)["is_paused"] is False
    [backfill] = api.backfills(DELTA)
    assert backfill["max_active_runs"] == 1 and backfill["completed_at"] is not None
    runs = [r for r in api.dag_runs(DELTA, run_type="backfill")]
    assert runs and all(r["state"] == "success" for r in runs)
    assert f"{len(runs)} run(s) succeeded" in out

    # The same range again (reprocess "none"): no new runs, the existing ones are reported done.
    again = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--from", start, "--to", end,
                              "--poll", "1", "--timeout", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unpaused" not in again.stdout
    assert len(api.dag_runs(DELTA, run_type="backfill")) == len(runs)


def test_unknown_tenant_and_source_are_explained(airflow_world: World) -> None:
    missing = airflow_world.ops("backfill", "--tenant", "nobody", "--source", "personio")
    assert missing.returncode == 2 and "no tenant file for 'nobody'" in missing.stderr
    no_source = airflow_world.ops("backfill", "--tenant", "beta", "--source", "awork")
    assert no_source.returncode != 0 and "has no awork source" in (no_source.stderr + no_source.stdout)
