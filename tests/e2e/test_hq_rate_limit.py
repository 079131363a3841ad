"""HQ's rate limit (issue #12): the sandbox enforces it per token as HQ documents it (429 +
``Retry-After``), and a load at the limit completes with no duplicates at >= 90 % of the
throughput the limit allows, its writes concurrent within the tenant's request budget shared in
Redis (as under Celery).

HQ's limit is per minute; a minute window would make the load test last minutes, so it uses the
sandbox's per-second window of the same harness (the same code path, 60 times shorter)."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from hq_sync.clients.budget import RedisRequestBudget
from hq_sync.clients.hq import HqClient
from hq_sync.clients.personio import PersonioClient, PersonioCredentials
from hq_sync.config import TenantConfig
from hq_sync.pipelines import RunContext, personio_absences
from hq_sync.staging import create_staging_engine, upgrade
from sandboxes.hq.app import RATE_LIMIT_ENV, rate_limit_from_env
from sandboxes.scenarios.demo import demo_credentials, demo_scenario
from sandboxes.testing import SandboxServers

TENANT = "muster-agentur"
REDIS_URL = os.environ.get("HQ_SYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LIMIT_PER_SECOND = 12


def test_the_sandbox_enforces_hqs_limit_per_token(fresh_sandboxes: SandboxServers) -> None:
    from sandboxes.hq.seed import seed_tenant

    seed_tenant(fresh_sandboxes.url("hq"), "limited", {"sync_token": "hq-limited", "users": [
        {"name": "Anna Schmidt", "email": "anna@limited.example"}]})
    seed_tenant(fresh_sandboxes.url("hq"), "other", {"sync_token": "hq-other", "users": [
        {"name": "Bob Berg", "email": "bob@other.example"}]})
    fresh_sandboxes.admin("hq").set_rate_limit(per_minute=5)
    url = fresh_sandboxes.url("hq") + "/v1/Users"
    answers = [requests.get(url, headers={"Authorization": "Bearer hq-limited"}, timeout=10) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "TooManyRequests"
    # Per token: another tenant's token has its own window.
    assert requests.get(url, headers={"Authorization": "Bearer hq-other"}, timeout=10).status_code == 200
    # A 429 performs nothing: the refused request is not in HQ's data (the log shows the refusal).
    assert [r["fault"] for r in fresh_sandboxes.admin("hq").requests()][-2:] == ["rate_limit", None]


def test_the_start_up_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, expected in (("", None), ("off", None), ("hq", 1000), ("250", 250)):
        monkeypatch.setenv(RATE_LIMIT_ENV, raw)
        assert rate_limit_from_env() == expected
    monkeypatch.setenv(RATE_LIMIT_ENV, "fast")
    with pytest.raises(ValueError, match=RATE_LIMIT_ENV):
        rate_limit_from_env()


@pytest.fixture
def redis_client() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} does not answer ({exc}); set HQ_SYNC_TEST_REDIS_URL")
    return client


@pytest.mark.serial  # paced against the wall clock: alone on the cores
def test_a_load_at_the_limit_books_everything_once_at_the_limits_pace(fresh_sandboxes: SandboxServers, tmp_path: Path,
                                                                      redis_client: Any) -> None:
    sb = fresh_sandboxes
    creds = demo_credentials()[TENANT]
    [section] = [t for t in demo_scenario(persons=8)["tenants"] if t["id"] == TENANT]
    from sandboxes.hq.seed import seed_tenant as seed_hq
    from sandboxes.personio.seed import seed_tenant as seed_personio

    seed_hq(sb.url("hq"), TENANT, section["hq"])
    seed_personio(sb.url("personio"), TENANT, section["personio"])
    # HQ over the internet: every write takes a while; one writer at a time could not keep up.
    for method in ("POST", "DELETE"):
        sb.admin("hq").add_fault(path="^/v1/", method=method, mode="delay", ratio=1.0, seconds=0.25)
    sb.admin("hq").set_rate_limit(per_minute=None, per_second=LIMIT_PER_SECOND)
    key = f"hq_sync_test:budget:hq:{uuid.uuid4().hex}"
    # The budget measures its windows ``margin`` longer than the vendor (0.1 s by default: 0.2 % of
    # HQ's minute, but 10 % of this test's second); 40 ms keeps most of that safety against jitter.
    budget = RedisRequestBudget(redis_client, key, per_minute=None, per_second=LIMIT_PER_SECOND, margin=0.04)
    hq = HqClient(sb.url("hq") + "/v1", creds["hq_sync_token"], budget=budget, write_concurrency=8)

    class Clients:
        def hq(self) -> HqClient:
            return hq

        def personio(self) -> PersonioClient:
            return PersonioClient(sb.url("personio"), PersonioCredentials(creds["personio_client_id"],
                                                                          creds["personio_client_secret"]))

    engine = create_staging_engine(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    upgrade(engine)
    tenant = TenantConfig.model_validate({"id": TENANT, "display_name": "Muster", "timezone": "Europe/Berlin",
                                         "sources": {"personio": {"sync_start_date": f"{datetime.now(UTC).year}-01-01"}}})
    ctx = RunContext(tenant=tenant, source="personio", dag_id="limit", run_id="r1", data_interval_start=None,
                     data_interval_end=None, staging=engine, clients=Clients())  # type: ignore[arg-type]
    results: dict[str, Any] = {}
    for step in ("extract", "reconcile_deletions", "transform"):
        results[step] = getattr(personio_absences, step)(ctx, step_results=results)
    time.sleep(1.2)  # the extract's HQ reads leave the window
    start = sb.admin("hq").requests()[-1]["seq"]
    t0 = time.monotonic()
    loaded = personio_absences.load(ctx, step_results=results)
    elapsed = time.monotonic() - t0
    redis_client.delete(key)

    log = sb.admin("hq").requests(since=start)
    created = loaded["absence"]["created"]
    assert created >= 60, loaded  # enough writes for the pace to show
    answered = [r for r in log if r["status"] != 429]
    assert Counter(r["method"] for r in answered)["POST"] == created  # one write per record, no lookups
    # No duplicates: every created absence is in HQ once.
    booked = Counter()
    for user in hq.users():
        for a in hq.absences(user["Id"]):
            booked[(user["Id"], a["Type"], a["Start"], a["End"])] += 1
    assert sum(booked.values()) >= created and max(booked.values()) == 1
    # The pace while writing (first to last answered request, as HQ sees them): at least 90 % of the
    # LIMIT_PER_SECOND requests per second the limit allows.
    seen = [datetime.fromisoformat(r["at"]) for r in answered]
    rate = (len(answered) - 1) / (max(seen) - min(seen)).total_seconds()
    print(f"load at the limit: {created} created, {len(answered)} HQ requests ({len(log) - len(answered)} answered 429) "
          f"in {elapsed:.1f}s, {rate:.2f}/s while writing, of {LIMIT_PER_SECOND}/s")
    # A second's window leaves 40 ms for the jitter between the budget's admission and HQ's count;
    # on a machine loaded far beyond its cores that jitter is larger, and every 429 costs a slot.
    overloaded = os.getloadavg()[0] > 2 * (os.cpu_count() or 1)
    target = 0.75 if overloaded else 0.9
    assert rate >= target * LIMIT_PER_SECOND, (
        f"{len(answered)} requests in {elapsed:.1f}s: {rate:.1f}/s (load average {os.getloadavg()[0]:.1f})")
    # Sequential writes at 0.25 s each would have needed created * 0.25 s.
    assert elapsed < created * 0.25 * 0.5
