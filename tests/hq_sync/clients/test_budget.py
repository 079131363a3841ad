"""Request budgets: the in-process sliding window and the one shared in Redis across processes.

The Redis tests use the Redis server at ``HQ_SYNC_TEST_REDIS_URL`` (default 127.0.0.1:6379, db 0)
under a random key prefix, and skip with the reason when none answers.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid

import pytest

from hq_sync.clients.budget import BudgetUnavailable, RedisRequestBudget, SlidingWindowBudget
from hq_sync.clients.http import HttpClient

REDIS_URL = os.environ.get("HQ_SYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(sum(1 for s in stamps[i:] if s - start < window) for i, start in enumerate(stamps))


@pytest.fixture
def redis_key():
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({exc}); set HQ_SYNC_TEST_REDIS_URL")
    key = f"hq_sync_test_{uuid.uuid4().hex[:10]}:budget:awork:x"
    yield client, key
    client.delete(key)
    client.close()


def test_sliding_window_is_shared_by_threads():
    budget = SlidingWindowBudget(per_minute=None, per_second=8)

    def work() -> None:
        for _ in range(5):
            budget.acquire()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps = list(budget._sent)  # the admission times, on the budget's clock (no thread jitter)
    assert len(stamps) == 20
    assert max_in_window(stamps, 1.0) <= 8
    assert max(stamps) - min(stamps) >= 2.0  # 20 requests at 8/s: the last ones had to wait


def _acquire_in_process(url: str, key: str, count: int, out: multiprocessing.Queue) -> None:
    import redis

    budget = RedisRequestBudget(redis.Redis.from_url(url), key, per_minute=None, per_second=5)
    for _ in range(count):
        budget.acquire()
        out.put(1)


def test_redis_budget_is_one_budget_for_several_processes(redis_key):
    client, key = redis_key
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_acquire_in_process, args=(REDIS_URL, key, 6, out)) for _ in range(3)]
    for p in procs:
        p.start()
    assert sum(out.get(timeout=30) for _ in range(18)) == 18
    for p in procs:
        p.join(timeout=10)
    # The admissions, on Redis's clock. Alone, each process would have sent its 6 at once;
    # together they never pass 5 in any second.
    stamps = [score for _, score in client.zrange(key, 0, -1, withscores=True)]
    assert len(stamps) == 18
    assert max_in_window(stamps, 1.0) <= 5
    assert max(stamps) - min(stamps) >= 2.0


def test_redis_budget_is_thread_safe_and_counts_the_minute(redis_key):
    client, key = redis_key
    budget = RedisRequestBudget(client, key, per_minute=6, per_second=None)
    threads = [threading.Thread(target=budget.acquire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.zcard(key) == 6
    # The seventh request of the minute has to wait for the first one to leave the window.
    wait = budget._try()
    assert 59.0 < wait <= 60.0 + budget.margin


def test_unreachable_redis_sends_nothing_and_says_why():
    redis = pytest.importorskip("redis")
    from sandboxes.testing import free_port

    budget = RedisRequestBudget(redis.Redis(port=free_port(), socket_connect_timeout=1), "k", 10, 2)
    client = HttpClient("http://127.0.0.1:9", budget=budget)
    with pytest.raises(BudgetUnavailable, match="HQ_SYNC_REDIS_URL"):
        client.request("GET", "/anything")
    assert client.requests_sent == 0


def test_every_attempt_spends_the_clients_budget(fresh_sandboxes):
    """HQ and Personio clients too: one unit per attempt, retries included."""
    from hq_sync.clients.hq import HqClient

    fresh_sandboxes.admin("hq").add_fault(path="Users", method="GET", mode="503", count=2)
    budget = SlidingWindowBudget(per_minute=100, per_second=None)
    client = HqClient(f"{fresh_sandboxes.url('hq')}/v1", "hq-acme-sync", budget=budget,
                      sleep=lambda s: None)
    try:
        client.users()
    except Exception:  # noqa: BLE001 - the token may be unknown; the attempts are what counts
        pass
    assert len(budget._sent) == client.requests_sent >= 3


class FakeClock:
    """The budget's clock and sleep: sleeping advances the clock and records the wait."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_the_minute_window_slides_and_old_requests_leave_it():
    clock = FakeClock()
    budget = SlidingWindowBudget(per_minute=3, per_second=None, clock=clock, sleep=clock.sleep)
    for step in (0.0, 10.0, 20.0):
        clock.now += step
        assert budget.acquire() == 0.0
    clock.now += 5.0  # t = 35: the fourth request must wait until the first leaves the window (t = 60)
    assert budget.acquire() == pytest.approx(25.0)
    assert clock.waits == [pytest.approx(25.0)] and budget.waited == pytest.approx(25.0)
    clock.now += 60.0  # everything older than a minute is forgotten: no wait
    assert budget.acquire() == 0.0 and len(budget._sent) == 1


def test_both_windows_hold_and_the_longer_wait_wins():
    clock = FakeClock()
    budget = SlidingWindowBudget(per_minute=4, per_second=2, clock=clock, sleep=clock.sleep)
    waits = [budget.acquire() for _ in range(5)]
    # 2 per second: the 3rd waits a second; 4 per minute: the 5th waits for the 1st to be a minute old.
    assert waits == [0.0, 0.0, pytest.approx(1.0), 0.0, pytest.approx(59.0)]
    stamps = list(budget._sent)
    assert max_in_window(stamps, 1.0) <= 2 and max_in_window(stamps, 60.0) <= 4


@pytest.mark.parametrize(("per_minute", "per_second"), [(0, None), (None, 0), (-1, 5)])
def test_a_budget_of_less_than_one_request_is_refused(per_minute, per_second):
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindowBudget(per_minute, per_second)


def test_no_limits_never_wait():
    clock = FakeClock()
    budget = SlidingWindowBudget(None, None, clock=clock, sleep=clock.sleep)
    assert sum(budget.acquire() for _ in range(1000)) == 0.0 and clock.waits == []
    assert repr(budget) == "SlidingWindowBudget(per_minute=None, per_second=None)"
