"""Rate limits (x-ratelimit-* headers, 429 without Retry-After), injected faults, error shapes."""

from __future__ import annotations

import time

import requests

RATE_HEADERS = ("X-RateLimit-Remaining", "X-RateLimit-Replenish-Rate",
                "X-RateLimit-Burst-Capacity", "X-RateLimit-Requested-Tokens")


def test_every_answer_carries_the_rate_limit_headers(acme):
    for path, rate in (("/v2/persons", "30"), ("/v2/absence-periods", "10"),
                       ("/v2/absence-types", "10")):
        resp = acme.get(path)
        assert all(name in resp.headers for name in RATE_HEADERS), path
        assert resp.headers["X-RateLimit-Replenish-Rate"] == rate
        assert resp.headers["X-RateLimit-Requested-Tokens"] == "1"
    assert "X-RateLimit-Remaining" in acme.token_response().headers


def test_exhausted_bucket_answers_429_without_retry_after(personio, acme):
    personio.settings(rate_limits={"enabled": True, "buckets": {
        "absence-periods": {"replenish_rate": 2, "burst_capacity": 3}}})
    remaining = [acme.get("/v2/absence-periods").headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    limited = acme.get("/v2/absence-periods")
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Burst-Capacity"] == "3"
    assert limited.json()["errors"][0]["title"] == "Too Many Requests"
    # Buckets are per endpoint: persons still answer.
    assert acme.get("/v2/persons").status_code == 200
    # And per tenant: another tenant has its own bucket.
    other = personio.tenant("globex")
    assert other.get("/v2/absence-periods").status_code == 200
    time.sleep(0.6)  # 2 tokens per second refill
    assert acme.get("/v2/absence-periods").status_code == 200


def test_rate_limited_body_can_be_empty(personio, acme):
    personio.settings(rate_limits={"enabled": True, "body": "empty",
                                   "buckets": {"persons": {"replenish_rate": 1, "burst_capacity": 1}}})
    assert acme.get("/v2/persons").status_code == 200
    limited = acme.get("/v2/persons")
    assert limited.status_code == 429 and limited.content == b""


def test_injected_429_carries_personio_headers(personio, acme):
    personio.admin.add_fault(path="^/v2/absence-periods", mode="429", count=1)
    resp = acme.get("/v2/absence-periods")
    assert resp.status_code == 429
    assert "Retry-After" not in resp.headers
    assert resp.headers["X-RateLimit-Remaining"] == "0"
    assert all(name in resp.headers for name in RATE_HEADERS)
    assert resp.json()["errors"][0]["type"].endswith("common.too_many_requests")
    assert acme.get("/v2/absence-periods").status_code == 200


def test_harness_rate_limit_answers_like_personio(personio, acme):
    personio.admin.set_rate_limit(1)
    try:
        assert acme.get("/v2/persons").status_code == 200
        limited = acme.get("/v2/persons")
        assert limited.status_code == 429
        assert "Retry-After" not in limited.headers
        assert "X-RateLimit-Replenish-Rate" in limited.headers
    finally:
        # POST /_sandbox/reset does not clear the harness's per-minute limit (reported).
        personio.admin.set_rate_limit(None)


def test_injected_server_errors_use_the_v2_envelope(personio, acme):
    personio.admin.add_fault(path="^/v2/persons", mode="503", count=1)
    personio.admin.add_fault(path="^/v2/absence-types", mode="500", count=1)
    unavailable = acme.get("/v2/persons")
    assert unavailable.status_code == 503
    assert unavailable.json()["errors"][0]["type"].endswith("common.service_unavailable")
    crashed = acme.get("/v2/absence-types")
    assert crashed.status_code == 500
    assert crashed.json()["errors"][0]["title"] == "Internal Server Error"


def test_unknown_routes_and_methods_use_the_v2_envelope(acme):
    missing = acme.get("/v2/absence-periodz")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["detail"] == "The endpoint with /v2/absence-periodz was not found."
    wrong_method = acme.request("PUT", "/v2/absence-periods")
    assert wrong_method.status_code == 405
    assert "errors" in wrong_method.json()
    # Breakdowns and attendances are not served by this sandbox.
    assert acme.get("/v2/absence-periods/x/breakdowns").status_code == 404


def test_settings_are_validated_and_reset(personio):
    assert personio.admin.get("/settings")["day_end_boundary"] == "exclusive"
    resp = requests.put(personio.url + "/_sandbox/settings", json={"day_end_boundary": "sometimes"},
                        timeout=5)
    assert resp.status_code == 422
    resp = requests.put(personio.url + "/_sandbox/settings", json={"no_such_switch": 1}, timeout=5)
    assert resp.status_code == 422
    personio.settings(day_end_boundary="inclusive")
    personio.admin.reset()
    assert personio.admin.get("/settings")["day_end_boundary"] == "exclusive"
