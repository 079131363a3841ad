"""``python -m hq_sync.ops.backfill --source``: only the DAG kinds a backfill can replay (D2).

No Airflow needed: every case here ends before the command talks to the REST API.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from hq_sync.config import DAG_ID_PREFIX, load_tenants
BACKFILL_KINDS = ("personio", "awork")
from hq_sync.ops.backfill import main, resolve_range

START = date(2026, 1, 5)


def tenant_dir(tmp_path: Path, **awork: object) -> Path:
    """A tenant 'acme' with every source (awork settings overridable)."""
    sources = {
        "personio": {"sync_start_date": START.isoformat()},
        "awork": {"sync_start_date": START.isoformat(), **awork},
        "hq_to_awork": {},
        "timesheets": {"folder": str(tmp_path / "sheets")},
    }
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump({"id": "acme", "display_name": "ACME", "sources": sources}))
    return tmp_path


def backfill(tmp_path: Path, source: str) -> None:
    # An API address nobody listens on: reaching it would be a failure of its own.
    main(["--tenant", "acme", "--source", source, "--tenants-dir", str(tmp_path), "--token", "t",
          "--airflow-url", "http://127.0.0.1:9", "--dry-run"])


def test_the_backfillable_kinds_are_the_sources_read_by_date():
    assert set(BACKFILL_KINDS) == {"personio", "awork"} and set(BACKFILL_KINDS) <= set(DAG_ID_PREFIX)


@pytest.mark.parametrize("kind", sorted(set(DAG_ID_PREFIX) - set(BACKFILL_KINDS)))
def test_every_other_dag_kind_is_refused_with_a_reason(kind, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        backfill(tenant_dir(tmp_path), kind)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert f"'{kind}' DAGs cannot be backfilled" in err and "personio, awork" in err and "Traceback" not in err


def test_an_unknown_source_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        backfill(tenant_dir(tmp_path), "jira")
    assert exit_.value.code == 2 and "'jira' is not a source; backfillable: personio, awork" in capsys.readouterr().err


@pytest.mark.parametrize("kind", BACKFILL_KINDS)
def test_a_backfillable_kind_runs_from_its_sync_start_date(kind, tmp_path):
    [tenant] = load_tenants(tenant_dir(tmp_path)).tenants
    assert resolve_range(tenant, kind, None, date(2026, 2, 1)) == (START, date(2026, 2, 1))


def test_a_disabled_source_is_explained(tmp_path):
    with pytest.raises(SystemExit, match="its awork source .* is disabled, so it has no DAG to backfill"):
        backfill(tenant_dir(tmp_path, enabled=False), "awork")


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Auckland"])
def test_to_is_inclusive_in_the_tenants_zone(zone, tmp_path):
    """``--from D --to D`` covers the runs of day D in the tenant's zone (issue 15: it planned 0),
    counted by Airflow's own timetable iteration over the factory's DAG, as ``backfill create`` does."""
    from airflow.serialization.serialized_objects import DagSerialization

    from hq_sync.airflow.dag_factory import build_source_dag
    from hq_sync.ops.backfill import window

    sources = {"personio": {"sync_start_date": START.isoformat(), "schedule": "0 */3 * * *"}}
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(
        {"id": "acme", "display_name": "ACME", "timezone": zone, "sources": sources}))
    [tenant] = load_tenants(tmp_path).tenants
    day = date(2026, 3, 10)
    first, last = window(tenant, day, day)
    assert first.isoformat().startswith("2026-03-10T00:00:00") and last.isoformat().startswith("2026-03-10T23:59:59")
    dag = DagSerialization.from_dict(DagSerialization.to_dict(build_source_dag(tenant, "personio")))
    from zoneinfo import ZoneInfo

    infos = list(dag.iter_dagrun_infos_between(first, last))
    local_starts = [i.logical_date.astimezone(ZoneInfo(zone)) for i in infos]
    assert [s.hour for s in local_starts] == [0, 3, 6, 9, 12, 15, 18, 21]  # every run of that local day
    assert {s.date() for s in local_starts} == {day}
    assert len(list(dag.iter_dagrun_infos_between(*window(tenant, day, day + timedelta(days=1))))) == 16


def test_following_a_backfill_says_why_runs_wait():
    """Issue 15: a run up for retry (with the failure and the earliest next try, from its run note),
    a run waiting for the run lock (and who holds it), a run queued for a backfill slot."""
    from datetime import UTC, datetime

    from hq_sync.ops.backfill import waiting_reasons
    from hq_sync.staging.run_control import NoteKind, RunNote

    class Api:
        def task_instances(self, dag_id, run_id):
            return {"r1": [{"task_id": "acquire_run_lock", "state": "success"},
                           {"task_id": "extract", "state": "up_for_retry", "try_number": 1}],
                    "r2": [{"task_id": "acquire_run_lock", "state": "up_for_reschedule"}]}[run_id]

    at = datetime(2026, 11, 29, 8, 12, 30, tzinfo=UTC)
    notes = {"r1": RunNote("acme", "personio", "d", "r1", "extract", NoteKind.RETRY, "personio GET /v2/persons: "
                           "ConnectionError after 6 attempts", at, 1, 4, at),
             "r2": RunNote("acme", "personio", "d", "r2", "acquire_run_lock", NoteKind.LOCK,
                           "waits for the run lock of acme/personio: held by manual run m1", at)}
    runs = [{"dag_run_id": "r1", "state": "running"}, {"dag_run_id": "r2", "state": "running"},
            {"dag_run_id": "r3", "state": "queued"}, {"dag_run_id": "r4", "state": "success"}]
    reasons = waiting_reasons(Api(), "d", runs, lambda dag_id, run_id: notes.get(run_id))
    assert reasons == {
        "r1": "extract is up for retry (try 1 failed: personio GET /v2/persons: ConnectionError after 6 attempts), "
              "next try not before 08:12:30 UTC",
        "r2": "waits for the run lock of acme/personio: held by manual run m1",
        "r3": "queued: waits for a free run slot of the backfill (--max-active-runs)",
    }
    assert waiting_reasons(Api(), "d", runs[1:2]) == {
        "r2": "waits for the run lock: another run of this tenant and source is running"}
