"""Run control (issue 15): at most one run per tenant and source, and why a run waits or failed.

**The run lock** (``run_locks``, one row per tenant and source) is taken by a run's first task and
released by its last (a teardown, so also after a failure). It lives in the staging database, not
in a process: it holds across Celery workers (PostgreSQL) as well as for the embedded SQLite. A run
that finds it held by another run waits; a lock whose run is no longer active (its worker was
killed before the teardown ran, or the run was marked failed by hand) is stale and taken over.
Whether a run is active is asked of Airflow by the caller (``is_active``), so this module stays
free of Airflow.

**Run notes** (``run_notes``, one row per DAG run: its newest note) say why a run is not moving or
why it failed: a task up for retry and its reason (with the earliest next try), a failure that a
retry cannot fix, or waiting for the run lock and who holds it. The Sync status page shows them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from hq_sync.staging.schema import run_locks, run_notes, utcnow


class NoteKind(StrEnum):
    """Why a run shows a note."""

    RETRY = "retry"  # a task failed with an error a retry may fix; it is up for retry
    FAILED = "failed"  # a task failed for good (not retryable, or its last try)
    LOCK = "lock"  # the run waits for another run of the same tenant and source


@dataclass(frozen=True)
class LockHolder:
    dag_id: str
    run_id: str
    run_type: str | None
    holder: str
    acquired_at: datetime

    def describe(self) -> str:
        kind = f"{self.run_type} " if self.run_type else ""
        return (
            f"{kind}run {self.run_id} of {self.dag_id} (since "
            f"{self.acquired_at.strftime('%Y-%m-%d %H:%M:%S')} UTC, on {self.holder})"
        )


@dataclass(frozen=True)
class LockAttempt:
    """The outcome of ``acquire_run_lock``: acquired or not; ``holder`` is who holds the lock when
    not acquired, or whose stale lock was taken over when ``took_over``."""

    acquired: bool
    holder: LockHolder | None = None
    took_over: bool = False


@dataclass(frozen=True)
class RunNote:
    tenant: str
    source: str
    dag_id: str
    run_id: str
    task_id: str
    kind: NoteKind
    reason: str
    since: datetime
    try_number: int | None = None
    max_tries: int | None = None
    retry_at: datetime | None = None


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder(row: object) -> LockHolder:
    return LockHolder(row.dag_id, row.run_id, row.run_type, row.holder, row.acquired_at)  # type: ignore[attr-defined]


def lock_holder(conn: Connection, tenant: str, source: str) -> LockHolder | None:
    row = conn.execute(select(run_locks).where(run_locks.c.tenant == tenant, run_locks.c.source == source)).first()
    return _holder(row) if row is not None else None


def acquire_run_lock(
    engine: Engine,
    *,
    tenant: str,
    source: str,
    dag_id: str,
    run_id: str,
    is_active: Callable[[str, str], bool],
    run_type: str | None = None,
    holder: str | None = None,
) -> LockAttempt:
    """Take the run lock of ``tenant``/``source`` for this run, if it is free, already this run's
    (a retried or cleared first task), or stale (``is_active(dag_id, run_id)`` of its holder is
    False). Atomic across processes and hosts: an insert that only one writer can win, and a
    take-over that only succeeds while the stale holder is still the one recorded."""
    values = {
        "tenant": tenant,
        "source": source,
        "dag_id": dag_id,
        "run_id": run_id,
        "run_type": run_type,
        "holder": holder or this_process(),
        "acquired_at": utcnow(),
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(run_locks).values(**values))
        return LockAttempt(True)
    except IntegrityError:
        pass  # somebody holds it (or just took it): look who
    with engine.connect() as conn:
        current = lock_holder(conn, tenant, source)
    if current is None:  # released in between: try again at the next check
        return LockAttempt(False)
    if current.dag_id == dag_id and current.run_id == run_id:
        return LockAttempt(True)
    if is_active(current.dag_id, current.run_id):
        return LockAttempt(False, current)
    with engine.begin() as conn:
        taken = conn.execute(
            update(run_locks)
            .where(
                run_locks.c.tenant == tenant,
                run_locks.c.source == source,
                run_locks.c.dag_id == current.dag_id,
                run_locks.c.run_id == current.run_id,
            )
            .values(**{k: v for k, v in values.items() if k not in ("tenant", "source")})
        ).rowcount
    if taken == 1:
        return LockAttempt(True, current, took_over=True)
    return LockAttempt(False)  # another waiting run took it over first


def release_run_lock(engine: Engine, *, tenant: str, source: str, dag_id: str, run_id: str) -> bool:
    """Release the lock if this run holds it; True when it did."""
    with engine.begin() as conn:
        return (
            conn.execute(
                delete(run_locks).where(
                    run_locks.c.tenant == tenant,
                    run_locks.c.source == source,
                    run_locks.c.dag_id == dag_id,
                    run_locks.c.run_id == run_id,
                )
            ).rowcount
            == 1
        )


# -- run notes ----------------------------------------------------------------------------------
def write_note(
    engine: Engine,
    *,
    tenant: str,
    source: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    kind: NoteKind,
    reason: str,
    try_number: int | None = None,
    max_tries: int | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Replace the run's note (a run has one: its newest)."""
    with engine.begin() as conn:
        conn.execute(delete(run_notes).where(run_notes.c.dag_id == dag_id, run_notes.c.run_id == run_id))
        conn.execute(
            insert(run_notes).values(
                dag_id=dag_id,
                run_id=run_id,
                tenant=tenant,
                source=source,
                task_id=task_id,
                kind=NoteKind(kind).value,
                try_number=try_number,
                max_tries=max_tries,
                reason=reason[:4000],
                since=utcnow(),
                retry_at=retry_at,
            )
        )


def clear_note(engine: Engine, *, dag_id: str, run_id: str, kinds: Iterable[NoteKind] | None = None) -> None:
    """Drop the run's note (a task of the run got going again)."""
    query = delete(run_notes).where(run_notes.c.dag_id == dag_id, run_notes.c.run_id == run_id)
    if kinds is not None:
        query = query.where(run_notes.c.kind.in_([NoteKind(k).value for k in kinds]))
    with engine.begin() as conn:
        conn.execute(query)


def run_note(conn: Connection, dag_id: str, run_id: str) -> RunNote | None:
    row = conn.execute(select(run_notes).where(run_notes.c.dag_id == dag_id, run_notes.c.run_id == run_id)).first()
    return _note(row) if row is not None else None


def _note(row: Any) -> RunNote:
    """A ``run_notes`` row as a ``RunNote``."""
    r = row
    return RunNote(
        r.tenant,
        r.source,
        r.dag_id,
        r.run_id,
        r.task_id,
        NoteKind(r.kind),
        r.reason,
        r.since,
        r.try_number,
        r.max_tries,
        r.retry_at,
    )


def notes_for_runs(conn: Connection, runs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RunNote]:
    """The notes of the given (dag_id, run_id) pairs (the status page: of each DAG's last run)."""
    wanted = sorted(set(runs))
    found: dict[tuple[str, str], RunNote] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(run_notes).where(tuple_(run_notes.c.dag_id, run_notes.c.run_id).in_(chunk))
        found.update({(row.dag_id, row.run_id): _note(row) for row in conn.execute(query)})
    return found
