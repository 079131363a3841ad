"""The sandbox harness shared by all vendors: health, request log, fault injection, reset."""

from __future__ import annotations

import pytest
import requests

from sandboxes import VENDORS
from sandboxes.hq.seed import seed_tenant

TOKEN = {"Authorization": "Bearer harness-sync"}


@pytest.fixture
def hq(fresh_sandboxes):
    seed_tenant(fresh_sandboxes.url("hq"), "harness", {"sync_token": "harness-sync", "users": [{"name": "A B", "email": "a@b.example"}]})
    return fresh_sandboxes


def companies(sb) -> list[str]:
    resp = requests.get(sb.url("hq") + "/v1/Companies", headers=TOKEN, timeout=5)
    return [c["Name"] for c in resp.json()["value"]]


def test_every_sandbox_answers_its_health_check(sandboxes):
    for vendor in VENDORS:
        body = requests.get(sandboxes.url(vendor) + "/_sandbox/health", timeout=5).json()
        assert body == {"status": "ok", "vendor": vendor}


def test_request_log_records_method_path_status_tenant_and_time(hq):
    hq.admin("hq").clear_requests()
    requests.get(hq.url("hq") + "/v1/Users", params={"$top": 5}, headers=TOKEN, timeout=5)
    requests.get(hq.url("hq") + "/v1/Users", headers={"Authorization": "Bearer wrong"}, timeout=5)
    log = hq.admin("hq").requests(path="^/v1/Users")
    assert [(r["method"], r["path"], r["status"]) for r in log] == [("GET", "/v1/Users", 200), ("GET", "/v1/Users", 401)]
    assert log[0]["tenant"] == "harness" and "%24top=5" in log[0]["query"]
    assert all(r["duration_ms"] >= 0 and r["at"] for r in log)
    assert hq.admin("hq").requests(since=log[0]["seq"], path="^/v1/Users") == log[1:]


@pytest.mark.parametrize("mode", ["429", "500", "503"])
def test_error_faults_answer_in_the_vendor_shape_and_perform_nothing(hq, mode):
    hq.admin("hq").add_fault(path="^/v1/Companies$", method="POST", mode=mode, count=1)
    resp = requests.post(hq.url("hq") + "/v1/Companies", json={"Name": "Fault GmbH"}, headers=TOKEN, timeout=5)
    assert resp.status_code == int(mode)
    assert "error" in resp.json()
    if mode == "429":
        assert "Retry-After" in resp.headers
    assert companies(hq) == []
    again = requests.post(hq.url("hq") + "/v1/Companies", json={"Name": "Fault GmbH"}, headers=TOKEN, timeout=5)
    assert again.status_code == 201  # count=1: only the next matching request failed


def test_drop_closes_the_connection_mid_answer_without_performing(hq):
    hq.admin("hq").add_fault(path="^/v1/Companies$", method="POST", mode="drop", count=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(hq.url("hq") + "/v1/Companies", json={"Name": "Drop GmbH"}, headers=TOKEN, timeout=5)
    assert companies(hq) == []


def test_lose_answer_performs_the_write_then_drops_the_connection(hq):
    hq.admin("hq").add_fault(path="^/v1/Companies$", method="POST", mode="lose_answer", count=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(hq.url("hq") + "/v1/Companies", json={"Name": "Lost GmbH"}, headers=TOKEN, timeout=5)
    assert companies(hq) == ["Lost GmbH"]
    [entry] = [r for r in hq.admin("hq").requests(path="^/v1/Companies$") if r["method"] == "POST"]
    assert entry["fault"] == "lose_answer" and entry["status"] == 201


def test_hang_outlasts_the_client_timeout(hq):
    hq.admin("hq").add_fault(path="^/v1/Users$", mode="hang", seconds=3, count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(hq.url("hq") + "/v1/Users", headers=TOKEN, timeout=(2, 0.5))


def test_ratio_faults_are_deterministic_and_reset_clears_everything(hq):
    hq.admin("hq").add_fault(path="^/v1/Users$", mode="503", ratio=0.5, seed=3)
    statuses = [requests.get(hq.url("hq") + "/v1/Users", headers=TOKEN, timeout=5).status_code for _ in range(20)]
    assert 0 < statuses.count(503) < 20
    hq.admin("hq").clear_faults()
    hq.admin("hq").add_fault(path="^/v1/Users$", mode="503", ratio=0.5, seed=3)
    again = [requests.get(hq.url("hq") + "/v1/Users", headers=TOKEN, timeout=5).status_code for _ in range(20)]
    assert again == statuses
    hq.admin("hq").set_rate_limit(1)
    hq.reset()
    assert hq.admin("hq").get("/faults") == {"faults": []}
    assert hq.admin("hq").get("/rate-limit") == {"per_minute": None}
    assert hq.admin("hq").requests() == []


def test_per_minute_rate_limit_answers_the_vendor_429(hq):
    hq.admin("hq").set_rate_limit(3)
    statuses = [requests.get(hq.url("hq") + "/v1/Users", headers=TOKEN, timeout=5).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_bad_fault_rules_are_refused():
    from sandboxes.common.harness import FaultRule

    with pytest.raises(ValueError, match="unknown fault mode"):
        FaultRule(id=1, path="x", mode="explode", count=1)
    with pytest.raises(ValueError, match="exactly one"):
        FaultRule(id=1, path="x", mode="500")


def test_per_second_rate_limit_and_the_delay_fault(hq):
    import time

    hq.admin("hq").set_rate_limit(None, per_second=2)
    assert hq.admin("hq").get("/rate-limit") == {"per_minute": None, "per_second": 2}
    statuses = [requests.get(hq.url("hq") + "/v1/Users", headers=TOKEN, timeout=5).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    time.sleep(1.05)
    assert requests.get(hq.url("hq") + "/v1/Users", headers=TOKEN, timeout=5).status_code == 200
    hq.admin("hq").set_rate_limit(None)
    hq.admin("hq").add_fault(path="^/v1/Users$", mode="delay", seconds=0.5, count=1)
    started = time.monotonic()
    assert requests.get(hq.url("hq") + "/v1/Users", headers=TOKEN, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.5
    assert hq.admin("hq").requests()[-1]["fault"] == "delay"
