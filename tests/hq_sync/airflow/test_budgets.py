"""One budget per vendor account: which budget a connection gets (Redis or this process)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from hq_sync.airflow import budgets
from hq_sync.clients.budget import RedisRequestBudget, SlidingWindowBudget


def conn(password: str = "key-1", login: str | None = None, **extra):
    return SimpleNamespace(password=password, login=login, extra_dejson=extra)


def test_without_redis_each_account_has_one_budget_in_this_process(monkeypatch, airflow_db):
    monkeypatch.delenv(budgets.REDIS_URL_ENV, raising=False)
    base = f"http://127.0.0.1:1/{uuid.uuid4().hex}"
    first = budgets.shared_budget("hq", conn(), base)
    assert isinstance(first, SlidingWindowBudget)
    assert (first.per_minute, first.per_second) == budgets.DEFAULT_LIMITS["hq"]
    assert budgets.shared_budget("hq", conn(), base) is first  # another tenant, same HQ account
    assert budgets.shared_budget("hq", conn("key-2"), base) is not first
    assert budgets.shared_budget("personio", conn(), base) is not first


def test_with_redis_the_budget_lives_under_the_configured_prefix(monkeypatch):
    pytest.importorskip("redis")
    monkeypatch.setenv(budgets.REDIS_URL_ENV, "redis://127.0.0.1:6379/0")
    monkeypatch.setenv(budgets.REDIS_PREFIX_ENV, "hq_sync_test_x")
    base = "https://api.awork.com/api/v1"
    one = budgets.shared_budget("awork", conn(requests_per_minute=40, requests_per_second=0), base)  # 0: window off
    assert isinstance(one, RedisRequestBudget)
    assert (one.per_minute, one.per_second) == (40, None)
    assert one.key.startswith("hq_sync_test_x:budget:awork:")
    assert "key-1" not in one.key  # a digest, never the secret
    assert budgets.shared_budget("awork", conn(), base).key == one.key
    assert budgets.shared_budget("awork", conn("key-2"), base).key != one.key
    named = budgets.shared_budget("awork", conn("key-3", rate_account="acme-workspace"), base)
    assert named.key == "hq_sync_test_x:budget:awork:acme-workspace"


def test_limits_from_the_connection_are_checked():
    assert budgets.limits_of("personio", {"requests_per_second": "3"}) == (budgets.DEFAULT_LIMITS["personio"][0], 3)
    with pytest.raises(ValueError, match="requests_per_minute"):
        budgets.limits_of("hq", {"requests_per_minute": "lots"})
    with pytest.raises(ValueError, match="at least 1"):
        SlidingWindowBudget(0, 1)


def test_the_redis_can_come_from_the_hq_sync_redis_connection(monkeypatch, airflow_db):
    import json

    monkeypatch.delenv(budgets.REDIS_URL_ENV, raising=False)
    monkeypatch.delenv(budgets.REDIS_PREFIX_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_HQ_SYNC_REDIS", json.dumps(
        {"conn_type": "redis", "host": "redis.internal", "port": 6380, "password": "p w",
         "extra": {"db": 5, "key_prefix": "acme_sync"}}))
    assert budgets._redis_settings() == ("redis://:p%20w@redis.internal:6380/5", "acme_sync")
    monkeypatch.delenv("AIRFLOW_CONN_HQ_SYNC_REDIS")
    assert budgets._redis_settings() is None
