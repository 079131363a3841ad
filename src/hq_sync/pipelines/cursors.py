"""Incremental cursors that move with the vendor's clock, and the first run's full read (issue #12).

- ``ServerClock``: the vendor's clock (its ``Date`` header) when a read began. The next run asks
  for changes since then minus an overlap (``cursor_overlap_seconds``): a local clock that runs
  ahead of the vendor's cannot skip changes, and a bulk update is read once instead of on every
  run until something newer changes (the old cursor was the newest ``updated_at`` seen).
- ``full_read_marker``/``full_read_started``: a first run reads everything; that read is the
  run's full deletion check, so ``reconcile_deletions`` compares staging with it instead of
  reading everything again (rows the read saw have ``last_seen_at`` >= its start).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from hq_sync.timeutil import parse_timestamp

FULL_READ = "full_read"  # sync_cursors entity: the run whose extract read everything


class ServerClock:
    """The vendor's clock when a read began: the ``Date`` of its first answer (our clock when the
    server sends none). An incremental cursor taken from it cannot skip changes because our clock
    runs ahead of the vendor's (issue #12)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.local = datetime.now(UTC)
        self._value: datetime | None = None

    def watch(self, pages: Iterator[Any]) -> Iterator[Any]:
        for page in pages:
            if self._value is None:
                self._value = getattr(self.client, "last_server_time", None) or self.local
            yield page

    def value(self) -> datetime:
        return self._value or getattr(self.client, "last_server_time", None) or self.local


def full_read_marker(run_id: str, started: datetime) -> str:
    """``<started>|<run hash>`` (fits ``sync_cursors.cursor``): this run's extract read everything."""
    return f"{started.isoformat()}|{hashlib.sha256(run_id.encode()).hexdigest()[:16]}"


def full_read_started(marker: str | None, run_id: str) -> datetime | None:
    """When the full read of run ``run_id`` started, from its marker; None for another run's."""
    started, _, digest = (marker or "").partition("|")
    if not digest or digest != hashlib.sha256(run_id.encode()).hexdigest()[:16]:
        return None
    return parse_timestamp(started)
