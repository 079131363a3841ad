"""Client-side request budgets: at most N requests per minute and M per second to one vendor account.

Every vendor client (``HttpClient(budget=...)``) spends one unit of its budget before each attempt,
retries included. Two implementations, both thread-safe:

- ``SlidingWindowBudget``: in this process only (one instance shared by the clients of an account);
  enough for the embedded demo, where every task runs in one process.
- ``RedisRequestBudget``: in Redis, so that every process on every worker that talks to the same
  account shares one budget (issue #11: under Celery each task instance is its own process). The
  check-and-spend is one Lua script on Redis's clock, so it is atomic across processes and hosts.

Both enforce sliding windows: no more than ``per_minute`` requests in any 60 s and ``per_second`` in
any 1 s. ``RedisRequestBudget`` measures each window ``margin`` seconds longer, so that the jitter
between the moment a request is admitted and the moment it reaches the vendor cannot make the
vendor see one request too many in its own window.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

log = logging.getLogger(__name__)

DEFAULT_MARGIN_S = 0.1
NOTICE_WAIT_S = 1.0  # waits at least this long are logged at INFO (a budget that is the bottleneck)


def _log_wait(what: str, wait: float) -> None:
    if wait >= NOTICE_WAIT_S:
        log.info("%s spent: waiting %.1fs before the next request", what, wait)
    else:
        log.debug("%s spent: waiting %.2fs", what, wait)


class Budget(Protocol):
    """What a client needs from a budget."""

    per_minute: int | None
    per_second: int | None
    waited: float  # total seconds spent waiting

    def acquire(self) -> float:
        """Wait until one more request fits, count it; returns the seconds waited."""
        ...


class _Windows:
    """What both budgets share: the limits, the waiting, the total waited.

    ``acquire()`` asks ``_try()`` (admit one request now and return 0, or return the seconds to
    wait) until the request is admitted, sleeping in between, inside ``_queue()`` (a lock that makes
    waiters take turns, or none).
    """

    def __init__(self, per_minute: int | None, per_second: int | None, sleep: Callable[[float], None]) -> None:
        for name, value in (("per_minute", per_minute), ("per_second", per_second)):
            if value is not None and value < 1:
                raise ValueError(f"request budget {name} must be at least 1 (or None for no limit)")
        self.per_minute = per_minute
        self.per_second = per_second
        self._sleep = sleep
        self._waited_lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting

    def _what(self) -> str:
        """The budget as named in the log."""
        return "request budget"

    def _queue(self) -> AbstractContextManager[object]:
        return nullcontext()

    def _try(self) -> float:
        raise NotImplementedError

    def acquire(self) -> float:
        """Wait until one more request fits; returns the seconds waited."""
        waited = 0.0
        with self._queue():
            while (wait := self._try()) > 0:
                _log_wait(self._what(), wait)
                self._sleep(wait)
                waited += wait
            with self._waited_lock:
                self.waited += waited
        return waited


class SlidingWindowBudget(_Windows):
    """At most ``per_minute`` requests in any 60 s and ``per_second`` in any 1 s (sliding windows).

    ``acquire()`` blocks (through ``sleep``) until a request fits, then counts it. Thread-safe;
    share one instance between the clients of one account in a process to share the budget.
    """

    def __init__(
        self,
        per_minute: int | None,
        per_second: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(per_minute, per_second, sleep)
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(per_minute={self.per_minute}, per_second={self.per_second})"

    def _queue(self) -> AbstractContextManager[object]:
        return self._lock  # waiters queue up here, so they are admitted in turn

    def _wait_needed(self, now: float) -> float:
        sent = self._sent
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        wait = 0.0
        if self.per_minute is not None and len(sent) >= self.per_minute:
            wait = max(wait, sent[len(sent) - self.per_minute] + 60.0 - now)
        if self.per_second is not None and len(sent) >= self.per_second:
            wait = max(wait, sent[len(sent) - self.per_second] + 1.0 - now)
        return wait

    def _try(self) -> float:
        now = self._clock()
        wait = self._wait_needed(now)
        if wait <= 0:
            self._sent.append(now)
        return wait


# KEYS[1]: the budget's sorted set (member: one admitted request, score: its Redis time).
# ARGV: per_minute, per_second (0: no limit), margin (s), a unique member id.
# Returns "0" when the request was admitted (and recorded), else the seconds to wait, as a string
# (Lua numbers would be truncated to integers on the way out).
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local per_minute = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local minute = 60 + tonumber(ARGV[3])
local second = 1 + tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - minute)
local n = redis.call('ZCARD', KEYS[1])
local wait = 0
if per_minute > 0 and n >= per_minute then
  local r = redis.call('ZRANGE', KEYS[1], n - per_minute, n - per_minute, 'WITHSCORES')
  wait = math.max(wait, tonumber(r[2]) + minute - now)
end
if per_second > 0 and n >= per_second then
  local r = redis.call('ZRANGE', KEYS[1], n - per_second, n - per_second, 'WITHSCORES')
  wait = math.max(wait, tonumber(r[2]) + second - now)
end
if wait > 0 then
  return tostring(wait)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(minute * 1000) + 1000)
return '0'
"""


class BudgetUnavailable(RuntimeError):
    """The shared budget's Redis could not be reached: no request is sent without it."""


class RedisRequestBudget(_Windows):
    """The same windows as ``SlidingWindowBudget``, kept in Redis under ``key`` and shared by every
    process that uses the same key. Thread-safe (redis-py clients are)."""

    def __init__(
        self,
        redis: Any,
        key: str,
        per_minute: int | None,
        per_second: int | None,
        *,
        margin: float = DEFAULT_MARGIN_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(per_minute, per_second, sleep)
        self.redis = redis
        self.key = key
        self.margin = margin
        self._script = redis.register_script(_ACQUIRE_LUA)

    def __repr__(self) -> str:
        return f"RedisRequestBudget({self.key!r}, per_minute={self.per_minute}, per_second={self.per_second})"

    def _what(self) -> str:
        return f"shared request budget {self.key}"

    def _try(self) -> float:
        """Admit one request now (0.0) or return the seconds to wait."""
        args = [self.per_minute or 0, self.per_second or 0, self.margin, uuid.uuid4().hex]
        try:
            answer = self._script(keys=[self.key], args=args)
        except Exception as exc:  # noqa: BLE001 - any redis error: name it, send nothing
            raise BudgetUnavailable(
                f"the shared request budget in Redis is unreachable ({type(exc).__name__}: {exc}); "
                "check HQ_SYNC_REDIS_URL / the hq_sync_redis connection (docs/deployment.md)"
            ) from exc
        return float(answer.decode() if isinstance(answer, bytes) else answer)
