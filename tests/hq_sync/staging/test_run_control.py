"""The run lock and run notes (issue 15), on SQLite and PostgreSQL: one run per tenant and source."""

from __future__ import annotations

import threading
from datetime import timedelta

from hq_sync.staging.run_control import (
    NoteKind, acquire_run_lock, clear_note, lock_holder, notes_for_runs, release_run_lock, run_note, write_note,
)
from hq_sync.staging.schema import utcnow

DAG = "personio_absences__acme"


def take(engine, run_id, *, active=lambda dag_id, run_id: True, source="personio", dag_id=DAG):
    return acquire_run_lock(engine, tenant="acme", source=source, dag_id=dag_id, run_id=run_id,
                            run_type=run_id.split("__")[0], is_active=active)


def test_one_run_holds_the_lock_until_it_releases_it(staging_engine):
    assert take(staging_engine, "manual__1").acquired
    held = take(staging_engine, "backfill__2")
    assert not held.acquired and held.holder.run_id == "manual__1" and held.holder.run_type == "manual"
    assert "manual run manual__1 of personio_absences__acme" in held.holder.describe()
    assert take(staging_engine, "manual__1").acquired  # its own (a retried or cleared first task)
    assert take(staging_engine, "x__3", source="awork", dag_id="awork_times__acme").acquired  # another source
    assert not release_run_lock(staging_engine, tenant="acme", source="personio", dag_id=DAG, run_id="backfill__2")
    assert release_run_lock(staging_engine, tenant="acme", source="personio", dag_id=DAG, run_id="manual__1")
    assert take(staging_engine, "backfill__2").acquired


def test_a_stale_lock_is_taken_over_only_when_its_run_is_no_longer_active(staging_engine):
    assert take(staging_engine, "scheduled__1").acquired  # its worker is killed: never released
    asked = []

    def active(dag_id, run_id):
        asked.append(run_id)
        return False

    attempt = take(staging_engine, "manual__2", active=active)
    assert attempt.acquired and attempt.took_over and attempt.holder.run_id == "scheduled__1"
    assert asked == ["scheduled__1"]
    with staging_engine.connect() as conn:
        assert lock_holder(conn, "acme", "personio").run_id == "manual__2"


def test_concurrent_runs_never_both_get_the_lock(staging_engine):
    winners, barrier = [], threading.Barrier(6)

    def run(i):
        barrier.wait()
        if take(staging_engine, f"backfill__{i}").acquired:
            winners.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_run_notes_keep_the_newest_note_per_run(staging_engine):
    later = utcnow() + timedelta(minutes=4)
    write_note(staging_engine, tenant="acme", source="personio", dag_id=DAG, run_id="r1", task_id="acquire_run_lock",
               kind=NoteKind.LOCK, reason="waits for the run lock")
    write_note(staging_engine, tenant="acme", source="personio", dag_id=DAG, run_id="r1", task_id="extract",
               kind=NoteKind.RETRY, reason="personio GET /v2/persons: ConnectionError after 6 attempts",
               try_number=1, max_tries=4, retry_at=later)
    with staging_engine.connect() as conn:
        note = run_note(conn, DAG, "r1")
        assert note.kind is NoteKind.RETRY and note.try_number == 1 and note.max_tries == 4
        assert abs((note.retry_at - later).total_seconds()) < 1
        assert set(notes_for_runs(conn, [(DAG, "r1"), (DAG, "r2")])) == {(DAG, "r1")}
    clear_note(staging_engine, dag_id=DAG, run_id="r1", kinds=(NoteKind.LOCK,))
    with staging_engine.connect() as conn:
        assert run_note(conn, DAG, "r1") is not None
    clear_note(staging_engine, dag_id=DAG, run_id="r1", kinds=(NoteKind.RETRY, NoteKind.FAILED))
    with staging_engine.connect() as conn:
        assert run_note(conn, DAG, "r1") is None
