"""Concurrent HQ writes and where a load's time goes.

``WritePool``: a bounded thread pool for HTTP writes. The request budget (``hq_sync.clients.budget``)
paces every attempt, so the pool only has to be wide enough to fill the budget despite HQ's latency:
with ~150 ms per write, 8 workers reach ~50 writes/s, above HQ's 1000/min (16.7/s). Staging is never
written from a worker: loaders write staging on their own thread, one transaction per chunk.

``LoadTiming``: seconds spent in staging transactions and in HQ phases of a load, so a run (and
``make bench``) can tell the bookkeeping share of the load step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_WORKERS = 8
MAX_WORKERS = 64
DEFAULT_CHUNK = 200  # records per staging transaction in the loaders


def workers_of(value: Any, default: int = DEFAULT_WORKERS) -> int:
    """A write concurrency from configuration (connection extra ``write_concurrency``)."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"write_concurrency must be a whole number from 1 to {MAX_WORKERS}, got {value!r}") from None
    if not 1 <= number <= MAX_WORKERS:
        raise ValueError(f"write_concurrency must be a whole number from 1 to {MAX_WORKERS}, got {value!r}")
    return number


class WritePool:
    """``map(fn, items)`` on at most ``workers`` threads; returns each result or the exception it
    raised, in order (so a caller can confirm what succeeded before it raises)."""

    def __init__(self, workers: int = DEFAULT_WORKERS) -> None:
        self.workers = workers_of(workers)
        self._executor: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:
        return f"WritePool(workers={self.workers})"

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R | BaseException]:
        if self.workers == 1 or len(items) <= 1:
            return [_call(fn, item) for item in items]
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="hq-write")
        futures = [self._executor.submit(_call, fn, item) for item in items]
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self) -> WritePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _call(fn: Callable[[T], R], item: T) -> R | BaseException:
    try:
        return fn(item)
    except Exception as exc:  # noqa: BLE001 - handed back to the caller, who raises it
        return exc


@dataclass
class LoadTiming:
    """Wall-clock seconds of a load step by kind: staging transactions vs. HQ phases."""

    staging_s: float = 0.0
    hq_s: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @contextmanager
    def staging(self) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.staging_s += time.monotonic() - t0

    @contextmanager
    def hq(self) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.hq_s += time.monotonic() - t0

    def as_dict(self) -> dict[str, float]:
        total = time.monotonic() - self.started
        return {
            "total_s": round(total, 3),
            "staging_s": round(self.staging_s, 3),
            "hq_s": round(self.hq_s, 3),
            "staging_share": round(self.staging_s / total, 3) if total > 0 else 0.0,
        }
