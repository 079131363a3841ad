"""The harness around the HQ sandbox: HQ-shaped 429/500 answers (injected and real), and the
performance and persistence of a tenant with a year of reportings."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from sandboxes.common.store import Store
from sandboxes.hq.seed import seed_tenant
from sandboxes.testing import SandboxServers

from .conftest import ACME, ACME_SYNC, GLOBEX_SYNC, HQ, Client, acme_scenario


def test_injected_429_carries_hqs_headers_and_error_shape(hq: HQ) -> None:
    hq.admin.add_fault(path="^/v1/UserReportings$", mode="429", count=1)
    resp = hq.sync.get("/v1/UserReportings")
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) >= 1
    assert resp.json()["error"]["code"] == "TooManyRequests"
    assert hq.sync.get("/v1/UserReportings").status_code == 200


def test_injected_server_errors_use_the_error_shape(hq: HQ) -> None:
    hq.admin.add_fault(path="do.CreateReporting", mode="503", count=1)
    pid = hq.project("Ohne Regel")["Id"]
    resp = hq.sync.post(f"/v1/Projects({pid})/do.CreateReporting", {"UserId": hq.user_id("bob@acme.example"), "StartDate": "2025-01-01T08:00:00Z", "Duration": 60})
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "ServiceUnavailable"
    assert len(hq.sync.values("/v1/UserReportings")) == 3  # nothing was performed


def test_rate_limit_per_token(hq: HQ) -> None:
    hq.admin.set_rate_limit(3)
    try:
        statuses = [hq.sync.get("/v1/TaskTypes").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = hq.sync.get("/v1/TaskTypes")
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "1000 requests per minute" in limited.json()["error"]["message"]
        assert hq.client(GLOBEX_SYNC).get("/v1/TaskTypes").status_code == 200  # per token
    finally:
        hq.admin.set_rate_limit(None)  # /_sandbox/reset keeps the limit (reported to the lead)


@pytest.fixture
def big_tenant(tmp_path: Path) -> tuple[SandboxServers, dict[str, int]]:
    """A tenant with ~15k reportings, written straight into the data dir, then served again."""
    data_dir = tmp_path / "data"
    servers = SandboxServers(data_dir).start()
    try:
        seed_tenant(servers.url("hq"), ACME, acme_scenario())
        client = Client(servers.url("hq"), ACME_SYNC)
        template = client.values("/v1/UserReportings", **{"$top": "1"})[0]
        users = [u["Id"] for u in client.values("/v1/Users")]
        tasks = [t["Id"] for t in client.values("/v1/ProjectTasks", **{"$filter": "ParentId ne null"})]
    finally:
        servers.stop()
    store = Store(data_dir / "hq" / "hq.sqlite3")
    rng = random.Random(7)
    records = []
    for i in range(15_000):
        day = 1 + i % 365
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_735_689_600 + day * 86_400 + (i % 8) * 3600))
        rid = 9_000_000 + i
        records.append((rid, {**template, "Id": rid, "UserId": rng.choice(users), "TaskId": rng.choice(tasks),
                              "StartOn": start, "Note": f"entry {i}", "Duration": 900 * (1 + i % 8)}))
    store.put_many(ACME, "UserReportings", records)
    store.close()
    restarted = SandboxServers(data_dir).start()
    yield restarted, {"user": users[0]}
    restarted.stop()


@pytest.mark.serial  # a time budget: alone on the cores
def test_a_filtered_page_of_1000_out_of_15000_answers_fast(big_tenant: tuple[SandboxServers, dict[str, int]]) -> None:
    servers, ids = big_tenant
    client = Client(servers.url("hq"), ACME_SYNC)  # the registration survived the restart too
    assert client.get("/v1/UserReportings", **{"$count": "true", "$top": "0"}).json()["@odata.count"] == 15_003
    params = {"$filter": f"UserId eq {ids['user']} and StartOn ge 2025-03-01T00:00:00Z", "$orderby": "StartOn",
              "$top": "1000", "$count": "true", "$expand": "Task($select=Name,TaskTypeId)"}
    client.get("/v1/UserReportings", **params)  # warm-up
    started = time.perf_counter()
    resp = client.get("/v1/UserReportings", **params)
    elapsed = time.perf_counter() - started
    body = resp.json()
    assert resp.status_code == 200 and len(body["value"]) == 1000 and body["@odata.count"] > 1000
    assert elapsed < 1.0, f"{elapsed:.3f}s"
    started = time.perf_counter()
    pages = [client.get("/v1/UserReportings", **{"$skip": str(s), "$top": "1000"}) for s in (0, 14_000)]
    assert all(p.status_code == 200 for p in pages)
    assert (time.perf_counter() - started) / 2 < 1.0
