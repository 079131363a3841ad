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
    # Both days whole, in the tenant's zone (Europe/Berlin): from the first's midnight to the last's 23:59:59.
    assert f"$ airflow backfill create --dag-id {DELTA} --from-date {start}T00:00:00+01:00 --to-date {end}T23:59:59+01:00 " \
           "--max-active-runs 1" in out
    assert "both inclusive, in the tenant's time zone Europe/Berlin" in out
    assert "runs finished" in out and "run(s) succeeded" in out
    assert api.dag(DELTA)["is_paused"] is False
    [backfill] = api.backfills(DELTA)
    assert backfill["max_active_runs"] == 1 and backfill["completed_at"] is not None
    runs = [r for r in api.dag_runs(DELTA, run_type="backfill")]
    assert len(runs) == 2 and all(r["state"] == "success" for r in runs)  # one run a day (03:00 UTC), both days
    assert f"{len(runs)} run(s) succeeded" in out

    # The same range again (reprocess "none"): no new runs, the existing ones are reported done.
    again = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--from", start, "--to", end,
                              "--poll", "1", "--timeout", "60")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unpaused" not in again.stdout
    assert len(api.dag_runs(DELTA, run_type="backfill")) == len(runs)


def test_to_is_inclusive_and_a_running_backfill_is_not_overlapped(airflow_world: World) -> None:
    api = airflow_world.api()
    day = (datetime.now(UTC).date() - timedelta(days=6)).isoformat()
    # --from D --to D: the runs of day D (it planned none when --to meant D's midnight, UTC).
    dry = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--from", day, "--to", day, "--dry-run",
                            "--reprocess-behavior", "completed")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Runs to be attempted" in dry.stdout and f"{day} 03:00:00+00:00" in dry.stdout

    # A backfill of the DAG is running: a second one is refused (it would overlap), with how to follow it.
    before = api.backfills(DELTA)
    created = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--from", day, "--to", day,
                                "--no-wait", "--reprocess-behavior", "completed")
    assert created.returncode == 0, created.stdout + created.stderr
    api.set_paused(DELTA, True)  # its run stays queued: the backfill is still running, whatever the machine's speed
    [running] = [b for b in api.backfills(DELTA) if not b.get("completed_at")]
    second = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--from", day, "--to", day)
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"a backfill of {DELTA} is still running (id {running['id']}" in second.stderr
    assert f"--attach {running['id']}" in second.stderr
    assert len(api.backfills(DELTA)) == len(before) + 1 and api.dag(DELTA)["is_paused"]  # nothing created or unpaused
    api.set_paused(DELTA, False)
    follow = airflow_world.ops("backfill", "--tenant", "delta", "--source", "awork", "--attach",
                               str(max(b["id"] for b in api.backfills(DELTA))), "--poll", "1", "--timeout", "120")
    assert follow.returncode == 0, follow.stdout + follow.stderr


def test_unknown_tenant_and_source_are_explained(airflow_world: World) -> None:
    missing = airflow_world.ops("backfill", "--tenant", "nobody", "--source", "personio")
    assert missing.returncode == 2 and "no tenant file for 'nobody'" in missing.stderr
    no_source = airflow_world.ops("backfill", "--tenant", "beta", "--source", "awork")
    assert no_source.returncode != 0 and "has no awork source" in (no_source.stderr + no_source.stdout)
