"""The note a run leaves for the Sync status page (why it waits or failed), from inside a task.

One place for what the run lock's sensor (``hq_sync.airflow.run_lock``: waiting for the lock) and
the task entry points (``hq_sync.airflow.tasks``: up for retry, failed) write: the running task's
DAG run names the note (``hq_sync.staging.run_control`` stores it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from hq_sync.staging.run_control import NoteKind, clear_note, write_note


def note(engine: Engine, dag_run: Any, **fields: Any) -> None:
    """Write (or replace) the note of ``dag_run``: ``tenant``, ``source``, ``task_id``, ``kind``, ``reason``
    and optionally ``try_number``, ``max_tries``, ``retry_at`` (``run_control.write_note``)."""
    write_note(engine, dag_id=dag_run.dag_id, run_id=dag_run.run_id, **fields)


def clear(engine: Engine, dag_run: Any, *kinds: NoteKind) -> None:
    """Drop the note of ``dag_run`` if it is of one of ``kinds``."""
    clear_note(engine, dag_id=dag_run.dag_id, run_id=dag_run.run_id, kinds=kinds)
