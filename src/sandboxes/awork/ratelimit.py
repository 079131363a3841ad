"""awork's workspace rate limit: fixed per-second and per-minute windows shared by every token.

awork's edge counts requests per workspace in clock-aligned windows (Kong's rate-limiting plugin);
a refused request is not counted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sandboxes.awork.errors import rate_limit_headers


@dataclass
class _Window:
    start: int = -1
    count: int = 0


class WorkspaceRateLimiter:
    """Counts requests per tenant; ``hit()`` says whether one is allowed and the headers to send."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, _Window] = {}
        self._minutes: dict[str, _Window] = {}

    def reset(self) -> None:
        with self._lock:
            self._seconds.clear()
            self._minutes.clear()

    def hit(self, tenant: str, per_second: int | None, per_minute: int | None) -> tuple[bool, dict[str, str]]:
        """Count one request of ``tenant``; returns (allowed, ratelimit headers)."""
        now = time.time()
        sec_start, min_start = int(now), int(now // 60)
        with self._lock:
            sec = self._seconds.setdefault(tenant, _Window())
            mnt = self._minutes.setdefault(tenant, _Window())
            if sec.start != sec_start:
                sec.start, sec.count = sec_start, 0
            if mnt.start != min_start:
                mnt.start, mnt.count = min_start, 0
            allowed = (per_second is None or sec.count < per_second) and (per_minute is None or mnt.count < per_minute)
            if allowed:
                # A window that is switched off does not count (switching it on starts afresh).
                sec.count += per_second is not None
                mnt.count += per_minute is not None
            headers = rate_limit_headers(
                per_second=per_second,
                per_minute=per_minute,
                remaining_second=None if per_second is None else max(0, per_second - sec.count),
                remaining_minute=None if per_minute is None else max(0, per_minute - mnt.count),
                reset_second=(sec_start + 1) - now,
                reset_minute=(min_start + 1) * 60 - now,
            )
        return allowed, headers
