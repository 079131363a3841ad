"""awork's request budget and rate-limit headers (awork.md §5).

- ``RequestBudget``: the in-process budget with awork's defaults (300 requests per minute of the
  smallest plan's 1000, 10 per second of awork's 50), shared with other integrations of the
  workspace. Across processes: ``hq_sync.clients.budget.RedisRequestBudget``.
- ``retry_after(resp)``: the seconds a 429 asks to wait (``Retry-After``, else ``ratelimit-reset``).
- ``workspace_pause(resp, reserve_fraction)``: the seconds to wait when the workspace window is
  nearly spent by anyone, or None.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import requests

from hq_sync.clients.budget import SlidingWindowBudget
from hq_sync.clients.http import header_number

DEFAULT_REQUESTS_PER_MINUTE = 300  # of the smallest plan's 1000/min (§5), shared with other integrations
DEFAULT_REQUESTS_PER_SECOND = 10  # of awork's 50/s
DEFAULT_RESERVE_FRACTION = 0.05  # leave the last 5 % of a workspace window to the others
MAX_WINDOW_PAUSE_S = 61.0  # a workspace window is a minute


class RequestBudget(SlidingWindowBudget):
    """awork's in-process request budget: ``SlidingWindowBudget`` with awork's defaults
    (300 per minute, 10 per second). Across processes: ``hq_sync.clients.budget.RedisRequestBudget``."""

    def __init__(
        self,
        per_minute: int | None = DEFAULT_REQUESTS_PER_MINUTE,
        per_second: int | None = DEFAULT_REQUESTS_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(per_minute, per_second, clock=clock, sleep=sleep)


def retry_after(resp: requests.Response) -> float | None:
    """Seconds to wait after a 429: ``Retry-After`` if sent, else ``ratelimit-reset`` (§5)."""
    explicit = header_number(resp, "Retry-After")
    if explicit is not None:
        return explicit
    if resp.status_code == 429:  # a 5xx's ratelimit-reset is the window's, not a retry hint
        return header_number(resp, "ratelimit-reset")
    return None


def workspace_pause(resp: requests.Response, reserve_fraction: float) -> tuple[float, float, float] | None:
    """(seconds to wait, requests left, window limit) when the workspace window is nearly spent
    (at most ``reserve_fraction`` of it left, at least one request), else None."""
    remaining = header_number(resp, "ratelimit-remaining")
    reset = header_number(resp, "ratelimit-reset")
    limit = header_number(resp, "ratelimit-limit")
    if remaining is None or reset is None or not limit:
        return None
    reserve = max(1, math.ceil(limit * reserve_fraction))
    if remaining > reserve:
        return None
    return min(max(reset, 0.0), MAX_WINDOW_PAUSE_S), remaining, limit
