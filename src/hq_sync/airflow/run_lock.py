"""One run per tenant and source at any time, whatever started it (issue 15).

Airflow's ``max_active_runs`` does not cover backfills in Airflow 3, and a manual run, a scheduled
run, a backfill run and a webhook (asset) run of the same tenant DAG could run at once and write the
same staging rows and HQ objects. So every source DAG begins with ``acquire_run_lock`` and ends with
the teardown ``release_run_lock`` (``hq_sync.airflow.dag_factory``):

- ``acquire_run_lock`` is a sensor in *reschedule* mode: it takes the staging database's run lock
  of the tenant and source (``hq_sync.staging.run_control``); while another run holds it, it logs
  which run holds it and since when, leaves a ``lock`` note for the Sync status page, gives its
  worker slot back and looks again after ``poke_interval`` (state *up for reschedule*). It gives up
  after ``RUN_LOCK_TIMEOUT`` (the run fails and alerts).
- ``release_run_lock`` is a teardown: it runs when the steps are done, also when one failed.
- **Stale locks**: a lock whose run is no longer queued or running (its worker was killed before the
  teardown ran, or someone marked the run failed) is taken over; Airflow is asked through the task's
  own execution API, so this works on every executor.

The lock is a row in the staging database (SQLite or PostgreSQL), never a process-local lock.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from hq_sync.settings import settings

log = logging.getLogger(__name__)

DEFAULT_POKE_S = 30.0
RUN_LOCK_TIMEOUT = timedelta(hours=12)
ACTIVE_STATES = ("queued", "running")


def poke_interval() -> float:
    """Seconds between looks at a held lock (``$HQ_SYNC_RUN_LOCK_POKE_SECONDS``, default 30)."""
    configured = settings().run_lock_poke_seconds  # a typo is logged there and the default kept
    return DEFAULT_POKE_S if configured is None else max(1.0, configured)


def is_run_active(dag_id: str, run_id: str) -> bool:
    """Whether Airflow still has the run queued or running (asked through the task's execution API)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    return RuntimeTaskInstance.get_dr_count(dag_id=dag_id, run_ids=[run_id], states=list(ACTIVE_STATES)) > 0


def _run_type(dag_run: Any) -> str | None:
    value = getattr(dag_run, "run_type", None)
    return None if value is None else str(getattr(value, "value", value))


def acquire(tenant_id: str, source: str, **context: Any) -> bool:
    """The sensor's poke: True once this run holds the lock of ``tenant_id``/``source``."""
    from hq_sync.airflow import run_notes
    from hq_sync.airflow.hooks import StagingHook
    from hq_sync.staging.run_control import NoteKind, acquire_run_lock

    dag_run = context["dag_run"]
    engine = StagingHook().get_engine()
    attempt = acquire_run_lock(
        engine,
        tenant=tenant_id,
        source=source,
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        run_type=_run_type(dag_run),
        is_active=is_run_active,
    )
    if attempt.acquired:
        run_notes.clear(engine, dag_run, NoteKind.LOCK)
        if attempt.took_over and attempt.holder is not None:
            log.warning(
                "run lock of %s/%s taken over from %s: that run is no longer active (its worker was "
                "stopped before it released the lock)",
                tenant_id,
                source,
                attempt.holder.describe(),
            )
        log.info("run lock of %s/%s acquired by %s", tenant_id, source, dag_run.run_id)
        return True
    if attempt.holder is not None:
        reason = (
            f"waits for the run lock of {tenant_id}/{source}: held by {attempt.holder.describe()}; "
            f"one run per tenant and source at a time, looking again every {poke_interval():.0f}s"
        )
    else:
        reason = f"waits for the run lock of {tenant_id}/{source}: it was just released, looking again"
    log.info("%s", reason)
    ti = context.get("ti")
    from hq_sync.staging.run_control import run_note

    with engine.connect() as conn:
        noted = run_note(conn, dag_run.dag_id, dag_run.run_id)
    if noted is not None and noted.kind is NoteKind.LOCK and noted.reason == reason:
        return False  # already noted: keep "since" at the first look
    run_notes.note(
        engine,
        dag_run,
        tenant=tenant_id,
        source=source,
        task_id=getattr(ti, "task_id", "acquire_run_lock"),
        kind=NoteKind.LOCK,
        reason=reason,
    )
    return False


def release(tenant_id: str, source: str, **context: Any) -> None:
    """The teardown: release the lock if this run holds it."""
    from hq_sync.airflow.hooks import StagingHook
    from hq_sync.staging.run_control import release_run_lock

    dag_run = context["dag_run"]
    released = release_run_lock(
        StagingHook().get_engine(), tenant=tenant_id, source=source, dag_id=dag_run.dag_id, run_id=dag_run.run_id
    )
    log.info(
        "run lock of %s/%s %s",
        tenant_id,
        source,
        "released" if released else "was not held by this run (nothing to release)",
    )


class RunLockSensor(BaseSensorOperator):
    """``acquire_run_lock``: pokes ``acquire`` until this run holds the tenant and source's run lock.

    A sensor of the SDK's own base class (pre-imported by the DAG processor, unlike the standard
    provider's ``PythonSensor``), built at parse time from two strings: nothing is read then."""

    def __init__(self, *, tenant_id: str, source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.source = source

    def poke(self, context: Any) -> bool:
        return acquire(self.tenant_id, self.source, **context)
